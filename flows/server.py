"""A temporary Prefect server for one run, quiet on the terminal."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect.server.api.server import SubprocessASGIServer

# A first start creates and migrates Prefect's database, which can take a while.
STARTUP_TIMEOUT = 180


class ServerStartError(RuntimeError):
    """The temporary server did not come up."""


class _LoggedServer(SubprocessASGIServer):
    """Prefect's subprocess server with its output in a file instead of our stderr.

    On shutdown the server cancels its event recorders mid-write and logs the
    cancellation as a traceback; on a terminal that reads like a failed run.
    """

    log_path: Path

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        with self.log_path.open("ab") as log, _standard_streams_to(log.fileno()):
            return super()._run_uvicorn_command()


@contextmanager
def _standard_streams_to(fd: int) -> Iterator[None]:
    """Point fds 1 and 2 at ``fd`` for a moment, so a child started now inherits it."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        for target, original in zip((1, 2), saved, strict=True):
            os.dup2(original, target)
            os.close(original)


def _drain_client_workers() -> None:
    """Send the run's queued logs and events before the server goes away."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:
            pass  # no log was sent, so the worker never started
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())


@contextmanager
def temporary_server(log_path: Path) -> Iterator[str]:
    """Start a Prefect server on a free port; yields its API url; logs to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = _LoggedServer()
    server.log_path = log_path
    try:
        server.start(timeout=STARTUP_TIMEOUT)
    except RuntimeError as exc:
        server.stop()
        raise ServerStartError(f"{exc}; its log is {log_path}") from None
    try:
        yield server.api_url
    finally:
        _drain_client_workers()
        server.stop()
