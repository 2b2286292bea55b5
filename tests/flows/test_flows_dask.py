"""The nightly flow on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on localhost run a small region's flow, whose marts must be byte for byte those
of the same workspace run in one process; nothing the cluster shows or logs holds a BSN."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client
from test_flows_end_to_end import delivered_bsns, udc

from udc.sources.synthetic.country import municipalities, regios_toml, write_region

pytestmark = pytest.mark.prefect

PEILDATUM = dt.date(2026, 11, 1)
DASK = str(Path(sys.executable).with_name("dask"))
# The tasks of the nightly flow, and the protection components a release task hands to the
# cluster: what Dask names its keys after.
TASKS = {"ingest_delivery", "plan_marts", "release_marts", "cross_check", "dashboards",
         "protect-release", "protect-component"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker(address: str, logs: Path, number: int) -> subprocess.Popen:
    return subprocess.Popen(
        [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
         "--name", f"w{number}", "--local-directory", str(logs / f"w{number}")],
        stdout=subprocess.DEVNULL, stderr=(logs / f"worker{number}.log").open("wb"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-threaded workers, each its own process."""
    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=(logs / "scheduler.log").open("wb"),
    )  # fmt: skip
    workers = [_worker(address, logs, number) for number in range(2)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, logs
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            process.wait(timeout=30)


def test_the_flow_on_a_dask_cluster_publishes_the_same_marts_and_shows_no_bsn(cluster, tmp_path):
    address, logs = cluster
    single, spread = tmp_path / "single", tmp_path / "spread"
    assert udc(single, "init").returncode == 0
    gemeenten = municipalities("regio", 4500, seed=11, count=3)
    write_region(single / "inbox", gemeenten, 11, PEILDATUM)
    settings = single / "udc.toml"
    settings.write_text(settings.read_text() + regios_toml(gemeenten, "regio"))
    bsns = delivered_bsns(single / "inbox")
    # The same keys and deliveries: only where the tasks run differs.
    shutil.copytree(single, spread)
    text = (spread / "udc.toml").read_text()
    (spread / "udc.toml").write_text(
        text.replace('runner = "threads"', 'runner = "dask"').replace(
            'dask_address = ""', f'dask_address = "{address}"'
        )
    )
    one = udc(single, "run")
    assert one.returncode == 0, one.stdout + one.stderr
    started = time.perf_counter()
    many = udc(spread, "run")
    assert many.returncode == 0, many.stdout + many.stderr
    assert time.perf_counter() - started < 600

    marts = sorted(p.name for p in (single / "marts").iterdir() if p.is_dir())
    assert len(marts) == 6
    for mart in marts:
        ours = (single / "marts" / mart / "current" / f"{mart}.parquet").read_bytes()
        theirs = (spread / "marts" / mart / "current" / f"{mart}.parquet").read_bytes()
        assert ours == theirs, mart

    with Client(address, timeout=60) as client:
        # Work ran on both workers, under keys named after the flow's functions.
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
        )
        ran = client.run(
            lambda dask_worker: sorted(
                {str(entry[0]).rsplit("-", 1)[0] for entry in dask_worker.state.log}
            )
        )
    assert set(prefixes) <= TASKS, prefixes
    assert {"ingest_delivery", "protect-component"} <= set(prefixes), prefixes
    assert len(ran) == 2 and all("ingest_delivery" in found for found in ran.values()), ran
    shown = b"".join(path.read_bytes() for path in logs.rglob("*") if path.is_file())
    shown += many.stdout.encode() + many.stderr.encode()
    assert bsns and not [b for b in bsns if b.encode() in shown]
