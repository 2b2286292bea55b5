"""`make bench-national`: a synthetic Netherlands through the nightly flow.

Generates ``--persons`` residents (default 18,000,000) in ``--gemeenten`` municipalities
(default 342) in the 12 provinces, declared as regios, and runs the nightly flow once, on
threads or on local Dask worker processes (``--runner``). Prints and writes
bench-national.json: the generator's time, the flow's wall time (the temporary Prefect
server's start-up apart), each stage summed over its tasks (read, validate, pseudonymise,
lake; counting, protection, audit, publication), the wall time of the ingest and of the
mart stage, rows per second, peak memory (the flow's process, and the largest worker
process when Dask runs the tasks), the marts' cells and hidden cells, and the growth
against the 1,000,000-resident city of ``make bench`` (bench-results.json) when it is
there: the flow's seconds per resident here against there.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEILDATUM = "20261101"
GIB = 1024**3


def peak_rss_mb() -> tuple[float, float]:
    """This process's peak, and the largest of its finished children (Dask's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def flow(workspace: Path) -> dict:
    from udc.flows.cli.engineer import prefect_environment, run_nightly
    from udc.workspace.layout import Workspace

    prefect_environment(Workspace(workspace))
    import udc.flows.nightly  # noqa: F401

    started, wall_started = time.perf_counter(), time.time()
    summary, startup = run_nightly(Workspace(workspace))
    own, children = peak_rss_mb()
    return {
        "seconds_including_server": time.perf_counter() - started,
        "server_startup_seconds": startup or 0.0,
        "flow_started": wall_started + (startup or 0.0),
        "summary": summary,
        "peak_rss_mb": own,
        "peak_worker_rss_mb": children,
    }


def _window(items: list[dict], stages: tuple[str, ...]) -> float:
    """Wall seconds from the first of these stages starting to the last one ending."""
    spans = [s for item in items for stage, s in item.get("spans", {}).items() if stage in stages]
    return max(b for _, b in spans) - min(a for a, _ in spans) if spans else 0.0


def main(persons: int, gemeenten: int, runner: str) -> None:
    workspace = ROOT / "bench-workspace-national"
    shutil.rmtree(workspace, ignore_errors=True)
    udc = [str(Path(sys.executable).with_name("udc")), "--workspace", str(workspace)]
    subprocess.run([udc[0], "init", *udc[1:]], check=True, capture_output=True)
    if runner == "dask":
        settings = workspace / "udc.toml"
        settings.write_text(settings.read_text().replace('runner = "threads"', 'runner = "dask"'))
    started = time.perf_counter()
    subprocess.run(
        [udc[0], "generate", *udc[1:], "--scope", "land", "--persons", str(persons),
         "--gemeenten", str(gemeenten), "--peildatum", PEILDATUM],
        check=True, capture_output=True,
    )  # fmt: skip
    generate_seconds = time.perf_counter() - started
    inbox_bytes = sum(p.stat().st_size for p in (workspace / "inbox").glob("*/*.csv"))
    completed = subprocess.run(
        [sys.executable, __file__, "--child", "--workspace", str(workspace)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    run = json.loads(completed.stdout.strip().splitlines()[-1])
    summary = run["summary"]
    deliveries, marts = summary["deliveries"], summary["marts"]
    flow_seconds = run["seconds_including_server"] - run["server_startup_seconds"]
    stages: dict[str, float] = {}
    for item in deliveries + marts:
        for stage, seconds in item.get("seconds", {}).items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    rows = sum(d["rows"] or 0 for d in deliveries)
    results = {
        "persons": persons,
        "gemeenten": gemeenten,
        "runner": runner,
        "deliveries": len(deliveries),
        "inbox_bytes": inbox_bytes,
        "generate_seconds": round(generate_seconds, 1),
        "prefect_server_startup_seconds": round(run["server_startup_seconds"], 1),
        "flow_seconds": round(flow_seconds, 1),
        "ingest_wall_seconds": round(
            _window(deliveries, ("read", "validate", "pseudonymise", "lake", "feedback")), 1
        ),
        "mart_wall_seconds": round(_window(marts, ("aggregate", "protect", "audit", "publish")), 1),
        "stage_seconds_summed_over_tasks": {k: round(v, 2) for k, v in sorted(stages.items())},
        "protection_seconds": round(stages.get("protect", 0.0), 2),
        "rows": rows,
        "rows_per_second": round(rows / flow_seconds),
        "peak_memory_mb": round(run["peak_rss_mb"]),
        "peak_worker_memory_mb": round(run["peak_worker_rss_mb"]),
        "statuses": {
            status: sum(d["status"] == status for d in deliveries)
            for status in sorted({d["status"] for d in deliveries})
        },
        "marts": [
            {k: m[k] for k in ("mart", "status", "cells", "suppressed", "message")} for m in marts
        ],
    }
    city = ROOT / "bench-results.json"
    if city.exists():
        reference = json.loads(city.read_text())
        per_resident = flow_seconds / persons
        there = reference["flow_seconds"] / reference["persons"]
        results["growth_against_city"] = {
            "city_persons": reference["persons"],
            "city_flow_seconds": reference["flow_seconds"],
            "seconds_per_resident_ratio": round(per_resident / there, 2),
            "at_most_linear": per_resident <= there,
        }
    results["targets"] = {
        "peak_memory_under_12gb": max(run["peak_rss_mb"], run["peak_worker_rss_mb"]) * 2**20
        < 12 * GIB,
    }
    (ROOT / "bench-national.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=18_000_000)
    parser.add_argument("--gemeenten", type=int, default=342)
    parser.add_argument("--runner", choices=["threads", "dask"], default="dask")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(flow(args.workspace), default=str))
    else:
        main(args.persons, args.gemeenten, args.runner)
