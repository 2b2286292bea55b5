"""What the flow asks of its task runner, against a real (in-process) Dask cluster."""

from __future__ import annotations

import time
import uuid

from distributed import Client, LocalCluster
from prefect_dask.task_runners import PrefectDaskFuture

from udc.flows.runners import forget_result


def _keys(client: Client) -> set[str]:
    return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))


def test_a_result_the_flow_holds_is_one_the_cluster_may_forget():
    """Dask recomputes a result it still keeps when the worker holding it is lost: a
    finished ingest would run again, its delivery gone from the inbox."""
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        wrapped = client.submit(sum, [1, 2], key="ingest_delivery-kept")
        future = PrefectDaskFuture(wrapped_future=wrapped, task_run_id=uuid.uuid4())
        assert wrapped.result() == 3
        assert "ingest_delivery-kept" in _keys(client)
        forget_result(future)
        deadline = time.monotonic() + 10
        while "ingest_delivery-kept" in _keys(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "ingest_delivery-kept" not in _keys(client)
    forget_result(object())  # a thread's future: nothing to forget
