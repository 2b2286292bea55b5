"""Where the nightly flow's tasks run: threads in the flow's process, or a dask.distributed
cluster through Prefect's DaskTaskRunner (udc.toml ``[execution]``).

Dask names a task's key after its Python function and a hash of its arguments (never the
task-run name), and the tasks get only paths, names and ids: what its dashboard and logs
show holds no personal data, as in the Prefect UI. A task's result (a mart's counts
before protection) may spill to a worker's disk, so local workers spill inside the
workspace, never into /tmp."""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from udc.workspace.layout import Settings, Workspace


def task_runner(settings: Settings, workspace: Workspace) -> TaskRunner:
    if settings.runner != "dask":
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
