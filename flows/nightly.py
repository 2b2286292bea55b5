"""The nightly flow: thin Prefect wiring around the plain steps in ``udc.workspace``.

Prefect keeps flow parameters, task-run names, results and exception messages in its
database, so tasks receive only paths, names and ids, return only counts and labels,
persist nothing, and turn unexpected exceptions into messages without values.
"""

from __future__ import annotations

import datetime as dt
import shutil
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from threadpoolctl import threadpool_limits

from udc.flows.runners import components_where_the_task_runs, forget_result
from udc.sources.inbox import inbox_files, safe_label
from udc.workspace.crosscheck import cross_check_run
from udc.workspace.dashboards import build_dashboards
from udc.workspace.ingest import DeliveryOutcome, process_delivery
from udc.workspace.layout import Workspace
from udc.workspace.logbook import record_run
from udc.workspace.publish import (
    AuditedRelease,
    CountedMart,
    MartOutcome,
    MartPlan,
    PlannedRelease,
    ProtectedRelease,
    StepFailed,
    audit_release,
    count_for_release,
    plan_releases,
    protect_release,
    publish_audited,
    publish_release,
)
from udc.workspace.resources import Resources, open_resources
from udc.workspace.retention import apply_retention


def _unexpected(exc: BaseException) -> str:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"unexpected {type(exc).__name__} (message withheld; it may hold data)\n{frames}"


@task(cache_policy=NO_CACHE, persist_result=False)
def ingest_delivery(workspace: str, relative_path: str, run_id: str) -> dict:
    res = open_resources(Path(workspace))
    path = res.settings.inbox / relative_path
    try:
        outcome = process_delivery(res, path, run_id)
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        label = safe_label(relative_path)
        outcome = DeliveryOutcome(
            source=safe_label(Path(relative_path).parts[0]),
            file_name=safe_label(path.name),
            status="failed",
            message=f"{label}: failed with an unexpected {type(exc).__name__}; the file stays "
            "in the inbox; see the Prefect log of this run",
        )
    else:
        level = "warning" if outcome.status == "quarantined" else "info"
        getattr(get_run_logger(), level)(
            "%s: %s", safe_label(relative_path), outcome.message or outcome.status
        )
    return outcome.to_dict()


@contextmanager
def _foreseen(marts: Sequence[str], peildatum: str | None) -> Iterator[None]:
    """Let a foreseen failure through; turn any other into one whose message holds no
    value, so that the task fails in the UI without Prefect keeping data."""
    try:
        yield
    except StepFailed:
        raise
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        raise StepFailed(
            [
                MartOutcome(
                    name,
                    "failed",
                    peildatum,
                    message=f"{name}: failed with an unexpected {type(exc).__name__}; the "
                    "last published version stays; see the Prefect log of this run",
                )
                for name in marts
            ]
        ) from None


def _day(peildatum: str) -> dt.date:
    return dt.datetime.strptime(peildatum, "%Y%m%d").date()


# The mart tasks hand counts and frames on in memory (no result is persisted); Prefect
# sees only their names, states and the peildatum and mart names they are given.
@task(cache_policy=NO_CACHE, persist_result=False)
def plan_marts(workspace: str) -> MartPlan:
    res = open_resources(Path(workspace))
    with _foreseen(sorted(res.marts), None):
        plan = plan_releases(res)
    for outcome in plan.settled:
        get_run_logger().info("%s", outcome.message or f"{outcome.mart}: {outcome.status}")
    return plan


@task(cache_policy=NO_CACHE, persist_result=False)
def build_mart(workspace: str, peildatum: str, mart: str) -> CountedMart:
    res = open_resources(Path(workspace))
    with _foreseen([mart], peildatum):
        return count_for_release(res, _day(peildatum), mart)


@task(cache_policy=NO_CACHE, persist_result=False)
def protect(workspace: str, peildatum: str, counted: list[CountedMart]) -> ProtectedRelease:
    res = open_resources(Path(workspace))
    with _foreseen([c.counts.definition.name for c in counted], peildatum):
        return protect_release(res, _day(peildatum), counted)


@task(cache_policy=NO_CACHE, persist_result=False)
def audit(workspace: str, protected: ProtectedRelease) -> AuditedRelease:
    res = open_resources(Path(workspace))
    names = [b.definition.name for b in protected.built]
    with _foreseen(names, f"{protected.peildatum:%Y%m%d}"):
        return audit_release(res, protected)


@task(cache_policy=NO_CACHE, persist_result=False)
def publish(workspace: str, audited: AuditedRelease, run_id: str) -> list[dict]:
    res = open_resources(Path(workspace))
    protected = audited.protected
    names = [b.definition.name for b in protected.built]
    with _foreseen(names, f"{protected.peildatum:%Y%m%d}"):
        outcomes = publish_audited(res, audited, run_id)
    for outcome in outcomes:
        get_run_logger().info("%s", outcome.message or f"{outcome.mart}: {outcome.status}")
    return [outcome.to_dict() for outcome in outcomes]


@task(cache_policy=NO_CACHE, persist_result=False)
def release_marts(workspace: str, peildatum: str, marts: list[str], run_id: str) -> list[dict]:
    """A whole release in one task (build, protect, audit, publish): on a Dask cluster the
    steps' in-memory counts would otherwise travel between workers."""
    res = open_resources(Path(workspace))
    with _foreseen(marts, peildatum), components_where_the_task_runs():
        outcomes = publish_release(res, PlannedRelease(_day(peildatum), tuple(marts)), run_id)
    for outcome in outcomes:
        get_run_logger().info("%s", outcome.message or f"{outcome.mart}: {outcome.status}")
    return [outcome.to_dict() for outcome in outcomes]


def _settled(
    future: PrefectFuture, marts: Sequence[str], peildatum: str | None
) -> tuple[object, list[dict]]:
    """A finished task's result, or the outcomes of its failure for each of ``marts``."""
    try:
        result = future.result(raise_on_failure=False)
    except Exception as exc:
        # The runner gave the task up without a state of ours: Dask does when the workers
        # running it are lost again and again (KilledWorker: over their memory budget).
        ended = f"was lost by the task runner ({type(exc).__name__})"
    else:
        forget_result(future)
        if future.state.is_completed():
            return result, []
        if isinstance(result, StepFailed):
            return None, [o.to_dict() for o in result.outcomes]
        ended = f"ended {future.state.name}"
    # Crashed, cancelled or lost: nothing of ours says why, so nothing is passed on.
    return None, [
        MartOutcome(
            name,
            "failed",
            peildatum,
            message=f"{name}: its task {ended}; the last published version stays; see the "
            "Prefect log of this run",
        ).to_dict()
        for name in marts
    ]


def _mart_stage(workspace: str, run_id: str) -> list[dict]:
    """Plan, then per release build each mart, protect, audit and publish: a task each, so
    the UI shows which release and which mart failed while the other releases go on."""
    planning = plan_marts.with_options(task_run_name="plan-marts").submit(workspace)
    plan, outcomes = _settled(planning, sorted(open_resources(Path(workspace)).marts), None)
    if not isinstance(plan, MartPlan):
        return outcomes
    outcomes = [o.to_dict() for o in plan.settled]
    if open_resources(Path(workspace)).settings.runner == "dask":
        releases = [
            (
                f"{release.peildatum:%Y%m%d}",
                list(release.marts),
                release_marts.with_options(
                    task_run_name=f"release-{release.peildatum:%Y%m%d} ({', '.join(release.marts)})"
                ).submit(workspace, f"{release.peildatum:%Y%m%d}", list(release.marts), run_id),
            )
            for release in plan.releases
        ]
        for peildatum, names, future in releases:
            published, failed = _settled(future, names, peildatum)
            outcomes += (published or []) + failed
        return sorted(outcomes, key=lambda o: o["mart"])
    builds = {
        release: [
            build_mart.with_options(
                task_run_name=f"build-{release.peildatum:%Y%m%d}-{name}"
            ).submit(workspace, f"{release.peildatum:%Y%m%d}", name)
            for name in release.marts
        ]
        for release in plan.releases
    }
    for release, futures in builds.items():
        peildatum = f"{release.peildatum:%Y%m%d}"
        counted, names = [], []
        for name, future in zip(release.marts, futures, strict=True):
            built, failed = _settled(future, [name], peildatum)
            outcomes += failed
            if built is not None:
                counted.append(future)
                names.append(name)
        if not counted:
            continue
        label = f"{peildatum} ({', '.join(names)})"
        step = protect.with_options(task_run_name=f"protect-{label}").submit(
            workspace, peildatum, counted
        )
        protected, failed = _settled(step, names, peildatum)
        if protected is not None:
            step = audit.with_options(task_run_name=f"audit-{label}").submit(workspace, step)
            audited, failed = _settled(step, names, peildatum)
            if audited is not None:
                step = publish.with_options(task_run_name=f"publish-{label}").submit(
                    workspace, step, run_id
                )
                published, failed = _settled(step, names, peildatum)
                outcomes += published or []
        outcomes += failed
    return sorted(outcomes, key=lambda o: o["mart"])


@task(cache_policy=NO_CACHE, persist_result=False)
def cross_check(workspace: str, run_id: str) -> dict:
    res = open_resources(Path(workspace))
    try:
        results, reports = cross_check_run(res, run_id)
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        return {
            "status": "failed",
            "message": f"cross-checks failed with an unexpected {type(exc).__name__}; see the "
            "Prefect log of this run",
            "checks": [],
            "reports": [],
        }
    return {
        "status": "completed",
        "message": "",
        "checks": [
            {
                "source": r.source,
                "peildatum": f"{r.peildatum:%Y%m%d}",
                "check": r.check_id,
                "reference": r.reference,
                "status": r.status,
                "rows": r.rows,
                "missing": r.missing,
            }
            for r in results
        ],
        "reports": [str(p) for p in reports],
    }


@task(cache_policy=NO_CACHE, persist_result=False)
def dashboards(workspace: str) -> dict:
    """The dashboard site from what is published now; it never touches the lake (nor the
    catalog or the keys, so it opens none of them)."""
    try:
        outcome = build_dashboards(Workspace(Path(workspace)))
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        return {
            "status": "failed",
            "message": f"the dashboards could not be built ({type(exc).__name__}); the marts "
            "are published; see the Prefect log of this run, then `udc dashboard build`",
            "index": None,
            "pages": 0,
            "warnings": [],
        }
    for warning in outcome.warnings:
        get_run_logger().warning(warning)
    return {
        "status": "built",
        "message": "",
        "index": str(outcome.site.index),
        "pages": len(outcome.site.pages),
        "warnings": list(outcome.warnings),
    }


@flow(name="udc-nightly", persist_result=False, log_prints=False)
def nightly(workspace: str) -> dict:
    """Process everything in the inbox once, then rebuild, audit and publish the marts that
    changed."""
    res = open_resources(Path(workspace))
    with res.workspace.exclusive() as holding:
        if not holding:
            message = f"another udc run is processing {workspace}; nothing was done"
            get_run_logger().warning(message)
            return {"run_id": None, "deliveries": [], "marts": [], "busy": message}
        # What counting spilled is gone when its connection closes; a run that was killed
        # while counting leaves it behind, and no other run is counting now.
        shutil.rmtree(res.workspace.counting_scratch, ignore_errors=True)
        # Marts build in several threads on few cores: a BLAS thread pool per
        # factorisation on top of that oversubscribes the machine (measured up to 10x slower).
        with threadpool_limits(limits=1, user_api="blas"):
            return _process(res, workspace)


def _process(res: Resources, workspace: str) -> dict:
    res.check_key()
    # A configured check GX cannot build stops the run before any delivery is touched.
    res.check_contracts()
    run_id = res.catalog.start_run(flow_run_id=str(flow_run.id) if flow_run.id else None)
    inbox = res.settings.inbox
    files = [str(p.relative_to(inbox)) for p in inbox_files(inbox)]
    ingests = [
        ingest_delivery.with_options(task_run_name=f"ingest-{safe_label(name)}").submit(
            workspace, name, run_id
        )
        for name in files
    ]
    deliveries = []
    for future in ingests:
        deliveries.append(future.result())
        forget_result(future)
    # Reads the lake only, so it runs beside the mart builds.
    checked = cross_check.with_options(task_run_name="cross-check").submit(workspace, run_id)
    marts = _mart_stage(workspace, run_id)
    cross_checks = checked.result()
    flow_run_id = str(flow_run.id) if flow_run.id else None
    try:
        deletions = apply_retention(res, run_id, res.today())
        retention = {"status": "completed", "deleted": len(deletions), "message": ""}
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        deletions = []
        retention = {
            "status": "failed",
            "deleted": 0,
            "message": f"retention failed with an unexpected {type(exc).__name__}; nothing "
            "more was deleted; see the Prefect log of this run",
        }
    # After retention, so that the trend shows only releases that are still kept.
    site = dashboards.with_options(task_run_name="dashboards").submit(workspace).result()
    try:
        entries, size = record_run(res, run_id, flow_run_id, deliveries, marts, deletions)
        logged = {"status": "written", "entries": entries, "size": size, "message": ""}
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        logged = {
            "status": "failed",
            "entries": 0,
            "size": None,
            "message": f"the processing log could not be written ({type(exc).__name__}); see "
            "the Prefect log of this run and `udc log verify`",
        }
    failed = (
        any(d["status"] in ("quarantined", "failed") for d in deliveries)
        or any(m["status"] == "failed" for m in marts)
        or cross_checks["status"] == "failed"
        or logged["status"] == "failed"
        or retention["status"] == "failed"
        or site["status"] == "failed"
    )
    summary = {
        "run_id": run_id,
        "deliveries": deliveries,
        "marts": marts,
        "cross_checks": cross_checks,
        "processing_log": logged,
        "retention": retention,
        "dashboards": site,
    }
    res.catalog.finish_run(
        run_id, "completed_with_errors" if failed else "completed", summary, res.fingerprint()
    )
    return summary
