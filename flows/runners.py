"""Where the nightly flow's tasks run: threads in the flow's process, or a dask.distributed
cluster through Prefect's DaskTaskRunner (udc.toml ``[execution]``).

Dask names a task's key after its Python function and a hash of its arguments (never the
task-run name), and the tasks get only paths, names and ids: what its dashboard and logs
show holds no personal data, as in the Prefect UI. A task's result (a mart's counts
before protection) may spill to a worker's disk, so local workers spill inside the
workspace, never into /tmp.

A release's protection splits into independent components (``udc.marts.protection``): on
a cluster, the release task hands them to the cluster's workers as Dask tasks of their
own, not as Prefect tasks (a Prefect task run costs a round trip to its server and a row
in its database each, and a release has from one to hundreds of components)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

import numpy as np

from udc.marts.protection import PartFunction, PartResult, ReleaseParts, components_mapped_by
from udc.workspace.layout import Settings, Workspace

if TYPE_CHECKING:  # Prefect reads its settings at import: the CLI imports it late.
    from prefect.task_runners import TaskRunner


class SchedulerUnavailableError(RuntimeError):
    """The Dask scheduler udc.toml names does not answer."""


def require_scheduler(address: str, timeout: float = 10) -> None:
    """Fail before the flow starts, in one line, when the scheduler cannot be reached."""
    from distributed import Client

    try:
        Client(address, timeout=timeout).close()
    except OSError as exc:
        raise SchedulerUnavailableError(
            f"the Dask scheduler at {address} does not answer ({type(exc).__name__}); start "
            "it (`dask scheduler`) and its workers, or set [execution] dask_address empty for "
            "local workers, or runner = \"threads\""
        ) from None


def task_runner(settings: Settings, workspace: Workspace) -> TaskRunner:
    if settings.runner != "dask":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    workspace.dask_scratch.mkdir(mode=0o700, exist_ok=True)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
            "local_directory": str(workspace.dask_scratch),
        },
    )


def forget_result(future: object) -> None:
    """Let a Dask cluster drop a task's result once the flow holds it. A result the flow
    still refers to is one Dask keeps, and recomputes when the worker holding it is lost:
    a finished ingest ran again and found its delivery gone from the inbox."""
    # Not imported, it cannot be Dask's: a run on threads does not load distributed for it.
    dask_runner = sys.modules.get("prefect_dask.task_runners")
    if dask_runner is not None and isinstance(future, dask_runner.PrefectDaskFuture):
        future.wrapped_future.release()


def components_where_the_task_runs() -> AbstractContextManager[None]:
    """In a task on a Dask worker: the components of each release protected in this block
    run as tasks on the cluster (``protect-component-<run>-<n>``, reading the release's
    relations as ``protect-release-<run>``: numbers only), and the task's thread makes way
    for them meanwhile (``worker_client``), so that a release task never waits for a slot
    it holds itself. Elsewhere: the process's own threads."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return nullcontext()
    return _on_the_cluster()


@contextmanager
def _on_the_cluster() -> Iterator[None]:
    from distributed import worker_client

    with worker_client() as client:

        def run(
            function: PartFunction, release: ReleaseParts, components: list[np.ndarray]
        ) -> list[PartResult]:
            run_id = uuid.uuid4().hex[:12]
            name = f"protect-release-{run_id}"
            shared = client.scatter({name: release}, hash=False)[name]
            futures = client.map(
                function,
                [shared] * len(components),
                components,
                key=[f"protect-component-{run_id}-{n}" for n in range(len(components))],
                pure=False,
            )
            return client.gather(futures)

        with components_mapped_by(run):
            yield
