"""Where the nightly flow's tasks run: threads in the flow's process, or a dask.distributed
cluster through Prefect's DaskTaskRunner (udc.toml ``[execution]``).

Dask names a task's key after its Python function and a hash of its arguments (never the
task-run name), and the tasks get only paths, names and ids: what its dashboard and logs
show holds no personal data, as in the Prefect UI. A task's result (a mart's counts
before protection) may spill to a worker's disk, so local workers spill inside the
workspace, never into /tmp."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
