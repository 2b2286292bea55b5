"""udc.toml's [execution]: where the nightly flow's tasks run."""

from __future__ import annotations

import socket

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from udc.flows.runners import SchedulerUnavailableError, require_scheduler, task_runner
from udc.workspace.layout import Workspace, WorkspaceError


def _workspace(tmp_path, execution: str) -> Workspace:
    workspace = Workspace(tmp_path / "ws")
    workspace.create_folders()
    text = workspace.settings_file.read_text(encoding="utf-8")
    start = text.index("[execution]")
    end = text.index("[prefect]")
    workspace.settings_file.write_text(
        text[:start] + "[execution]\n" + execution + "\n\n" + text[end:], encoding="utf-8"
    )
    return workspace


def test_threads_by_default_and_dask_by_address_or_local_workers(tmp_path):
    workspace = Workspace(tmp_path / "default")
    workspace.create_folders()
    assert isinstance(task_runner(workspace.settings(), workspace), ThreadPoolTaskRunner)
    remote = _workspace(tmp_path, 'runner = "dask"\ndask_address = "tcp://10.0.0.5:8786"')
    runner = task_runner(remote.settings(), remote)
    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://10.0.0.5:8786"
    local = _workspace(tmp_path / "local", 'runner = "dask"\ndask_workers = 3')
    runner = task_runner(local.settings(), local)
    assert runner.address is None and runner.cluster_kwargs["n_workers"] == 3
    # Spilled task results stay in the workspace, never in /tmp.
    assert runner.cluster_kwargs["local_directory"] == str(local.dask_scratch)
    assert local.dask_scratch.is_dir()


@pytest.mark.parametrize(
    ("execution", "says"),
    [
        ('runner = "spark"', "execution.runner must be one of"),
        ('runner = "dask"\ndask_address = "10.0.0.5"', "must be a scheduler address"),
        ('runner = "dask"\ndask_workers = 0', "dask_workers must be >= 1"),
    ],
)
def test_an_execution_setting_that_cannot_work_is_refused(tmp_path, execution, says):
    with pytest.raises(WorkspaceError, match=says):
        _workspace(tmp_path, execution).settings()


def test_a_scheduler_that_does_not_answer_is_one_clear_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(SchedulerUnavailableError, match=f"the Dask scheduler at {address}"):
        require_scheduler(address, timeout=2)
