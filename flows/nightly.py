"""The nightly flow: thin Prefect wiring around the plain steps in ``udc.flows``.

Prefect keeps flow parameters, task-run names, results and exception messages in its
database, so tasks receive only paths, names and ids, return only counts and labels,
persist nothing, and turn unexpected exceptions into messages without values.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from threadpoolctl import threadpool_limits

from udc.sources.inbox import inbox_files, safe_label
from udc.workspace.crosscheck import cross_check_run
from udc.workspace.ingest import DeliveryOutcome, process_delivery
from udc.workspace.logbook import record_run
from udc.workspace.publish import MartOutcome, publish_marts
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


@task(cache_policy=NO_CACHE, persist_result=False)
def build_marts(workspace: str, run_id: str) -> list[dict]:
    res = open_resources(Path(workspace))
    try:
        outcomes = publish_marts(res, run_id)
    except Exception as exc:
        get_run_logger().error(_unexpected(exc))
        return [
            MartOutcome(
                name,
                "failed",
                message=f"{name}: failed with an unexpected {type(exc).__name__}; the last "
                "published version stays; see the Prefect log of this run",
            ).to_dict()
            for name in sorted(res.marts)
        ]
    for outcome in outcomes:
        get_run_logger().info("%s: %s", outcome.mart, outcome.message or outcome.status)
    return [outcome.to_dict() for outcome in outcomes]


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
    deliveries = [future.result() for future in ingests]
    # Reads the lake only, so it runs beside the mart builds.
    checked = cross_check.with_options(task_run_name="cross-check").submit(workspace, run_id)
    # One task: the marts of a peildatum are protected and audited together.
    marts = build_marts.with_options(task_run_name="marts").submit(workspace, run_id).result()
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
    )
    summary = {
        "run_id": run_id,
        "deliveries": deliveries,
        "marts": marts,
        "cross_checks": cross_checks,
        "processing_log": logged,
        "retention": retention,
    }
    res.catalog.finish_run(
        run_id, "completed_with_errors" if failed else "completed", summary, res.fingerprint()
    )
    return summary
