"""`make bench`: a city of 1,000,000 residents through the nightly flow, against two floors.

Prints and writes bench-results.json: wall time per stage and in total, rows per second,
peak memory, the I/O floor (polars reading the same CSVs and writing the same lake
parquet, nothing else), OpenSSL's single-core HMAC-SHA256 rate for 16-byte inputs, and
validation's share of the flow: the wall time during which any delivery was being
validated (overlaps counted once; the target is under 25%), the same deliveries validated
alone one after another, and the sum of the concurrent tasks' validation times; then the
disclosure audit of the published marts (time, suppressed cells, cells pinned narrower
than the protection level), and the suppressed cells against a simple baseline (primary
plus one complement per line, which the audit then shows to be unsafe). Each part runs in
its own process so that one part's memory does not count for another. The temporary
Prefect server's start-up is reported apart and left out of the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEILDATUM = "20261101"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, workspace: Path) -> dict:
    """Run one part in a fresh interpreter and return its JSON result."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--workspace", str(workspace)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def io_floor(workspace: Path) -> dict:
    """Read each CSV's lake columns with polars and write them as the lake's parquet."""
    import polars as pl

    from udc.sources.lake import Lake
    from udc.workspace.resources import open_resources

    res = open_resources(workspace)
    needed = res.allowed_columns()
    target = Lake(workspace / "floor")
    started = time.perf_counter()
    rows = 0
    for path in sorted((workspace / "inbox").glob("*/*.csv")):
        contract = res.contracts[path.parent.name]
        columns = sorted(needed.get(contract.id, set()) & set(contract.column_names))
        columns += [contract.bsn_column] if contract.bsn_column else []
        frame = pl.read_csv(path, separator=";", infer_schema=False, columns=columns)
        rows += frame.height
        target.write(contract.id, dt.date(2026, 11, 1), frame)
    seconds = time.perf_counter() - started
    shutil.rmtree(workspace / "floor")
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def flow(workspace: Path) -> dict:
    """Imports happen once per process (a served deployment pays them once), so apart."""
    started = time.perf_counter()
    from udc.flows.cli.engineer import prefect_environment, run_nightly
    from udc.workspace.layout import Workspace

    prefect_environment(Workspace(workspace))
    import udc.flows.nightly
    import udc.quality.validate  # noqa: F401

    imports = time.perf_counter() - started
    started, wall_started = time.perf_counter(), time.time()
    summary, startup = run_nightly(Workspace(workspace))
    total = time.perf_counter() - started
    return {
        "import_seconds": imports,
        "flow_window": [wall_started + (startup or 0.0), time.time()],
        "seconds_including_server": total,
        "server_startup_seconds": startup or 0.0,
        "summary": summary,
        "peak_rss_mb": peak_rss_mb(),
    }


def validation_alone(workspace: Path) -> dict:
    """Each delivery read and validated on its own, one after the other: validation's cost
    without other tasks competing for the cores and the GIL. A warm-up call first creates
    the thread's GX context, which the flow pays once per worker thread."""
    import datetime as dt

    from udc.quality.validate import validate_delivery
    from udc.sources.reader import parse_delivery
    from udc.workspace.resources import open_resources

    res = open_resources(workspace)
    today = dt.date(2026, 11, 22)
    seconds: dict[str, float] = {}
    paths = sorted((workspace / "inbox").glob("*/*.csv"))
    for path in paths[:1] + paths:
        contract = res.contracts[path.parent.name]
        frame = parse_delivery(path.read_bytes(), contract).frame
        started = time.perf_counter()
        validate_delivery(frame, contract, today)
        seconds[contract.id] = time.perf_counter() - started
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def _relative(spans: dict[str, list[float]], start: float) -> dict[str, list[float]]:
    return {stage: [round(a - start, 2), round(b - start, 2)] for stage, (a, b) in spans.items()}


def disclosure_audit(workspace: Path) -> dict:
    """``udc marts audit`` over the published marts: its time and what it finds."""
    from udc.marts.audit import audit_published, declared_groups, declared_links
    from udc.workspace.resources import open_resources

    res = open_resources(workspace)
    started = time.perf_counter()
    audits, _ = audit_published(res.store, declared_links(res.marts), declared_groups(res.marts))
    return {
        "seconds": time.perf_counter() - started,
        "suppressed": sum(len(a.intervals) for a in audits),
        "exact": sum(len(a.exact) for a in audits),
        "too_narrow": sum(len(a.too_narrow) for a in audits),
        "whole_groups": sum(len(a.whole_groups) for a in audits),
        "peak_rss_mb": peak_rss_mb(),
    }


def _one_complement_per_line(relations, values, hidden):
    """The baseline: while some relation hides exactly one cell, hide its smallest non-zero
    published cell too (primary plus one complement per line)."""
    import numpy as np

    pattern = (relations != 0).astype(np.int64).tocsr()
    hidden = hidden.copy()
    while True:
        lonely = np.flatnonzero(pattern @ hidden.astype(np.int64) == 1)
        added = False
        for row in lonely.tolist():
            cells = pattern.indices[pattern.indptr[row] : pattern.indptr[row + 1]]
            if hidden[cells].sum() != 1:
                continue
            open_cells = cells[~hidden[cells] & (values[cells] > 0)]
            if len(open_cells):
                hidden[open_cells[np.argmin(values[open_cells])]] = True
                added = True
        if not added:
            return hidden


def suppression_baseline(workspace: Path) -> dict:
    """The default marts protected by the baseline, and what the audit says of it."""
    from udc.marts.audit import audit_input, audit_tables, declared_groups, declared_links
    from udc.marts.build import assemble_mart, count_mart
    from udc.marts.release import protection_table
    from udc.marts.tables import table
    from udc.workspace.publish import choose_inputs
    from udc.workspace.resources import open_resources

    res = open_resources(workspace)
    accepted = res.catalog.accepted_deliveries()
    built, suppressed = [], 0
    for definition in res.marts.values():
        choice = choose_inputs(definition, res.contracts, accepted)
        if isinstance(choice, str):
            continue
        peildatum, chosen = choice
        inputs = {
            source: res.lake.read(source, d.peildatum, list(definition.inputs[source]))
            for source, d in chosen.items()
        }
        counts = count_mart(definition, inputs, peildatum)
        masks, primaries = [], []
        for measure in counts.measures:
            primary = protection_table(counts, measure).primary
            relations = table(measure.grid, measure.hierarchies).relations
            masks.append(_one_complement_per_line(relations, measure.values, primary))
            primaries.append(primary)
            suppressed += int(masks[-1].sum())
        built.append(assemble_mart(counts, masks, primaries))
    audits = audit_tables(
        [audit_input(b.definition.name, b.frame, b.definition) for b in built],
        declared_links(res.marts),
        declared_groups(res.marts),
    )
    return {
        "suppressed": suppressed,
        "exact": sum(len(a.exact) for a in audits),
        "too_narrow": sum(len(a.too_narrow) for a in audits),
        "whole_groups": sum(len(a.whole_groups) for a in audits),
    }


def covered(spans: list[list[float]]) -> float:
    """Seconds covered by at least one of the (start, end) spans: overlaps counted once."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


def hmac_rate() -> dict:
    from udc.pseudonymize.hashing import hmac_rate as rate

    return {"per_second": rate(1_000_000), "peak_rss_mb": peak_rss_mb()}


def openssl_hmac_rate() -> float:
    completed = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "-hmac", "sha256", "-bytes", "16"],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"hmac\(sha256\)\s+([\d.]+)k", completed.stdout)
    if not match:
        raise RuntimeError("could not read openssl speed's output")
    return float(match.group(1)) * 1000 / 16


def main(persons: int) -> None:
    workspace = ROOT / "bench-workspace"
    shutil.rmtree(workspace, ignore_errors=True)
    udc = [str(Path(sys.executable).with_name("udc")), "--workspace", str(workspace)]
    subprocess.run([udc[0], "init", *udc[1:]], check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        [udc[0], "generate", *udc[1:], "--persons", str(persons), "--peildatum", PEILDATUM],
        check=True,
        capture_output=True,
    )
    generate_seconds = time.perf_counter() - started
    inbox_bytes = sum(p.stat().st_size for p in (workspace / "inbox").glob("*/*.csv"))

    floor = child("floor", workspace)
    openssl = openssl_hmac_rate()
    isolated = child("hmac", workspace)
    alone = child("validate", workspace)
    run = child("flow", workspace)
    audit = child("audit", workspace)
    baseline = child("baseline", workspace)

    deliveries, marts = run["summary"]["deliveries"], run["summary"]["marts"]
    flow_seconds = run["seconds_including_server"] - run["server_startup_seconds"]
    stages: dict[str, float] = {}
    for item in deliveries + marts:
        for stage, seconds in item.get("seconds", {}).items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    pseudonymised = sum(
        d["rows"] - d["rows_rejected"] for d in deliveries if "pseudonymise" in d["seconds"]
    )
    pseudonym_rate = pseudonymised / stages["pseudonymise"] if stages.get("pseudonymise") else 0
    validating = covered([d["spans"]["validate"] for d in deliveries if "validate" in d["spans"]])
    flow_window = run["flow_window"][1] - run["flow_window"][0]
    validation_alone_seconds = sum(alone["seconds"].values())
    results = {
        "persons": persons,
        "inbox_bytes": inbox_bytes,
        "generate_seconds": round(generate_seconds, 2),
        "prefect_server_startup_seconds": round(run["server_startup_seconds"], 2),
        "python_import_seconds": round(run["import_seconds"], 2),
        "flow_seconds": round(flow_seconds, 2),
        "stage_seconds_summed_over_tasks": {k: round(v, 3) for k, v in sorted(stages.items())},
        "rows": floor["rows"],
        "rows_per_second": round(floor["rows"] / flow_seconds),
        "peak_memory_mb": round(run["peak_rss_mb"]),
        "io_floor_seconds": round(floor["seconds"], 2),
        "flow_to_io_floor_ratio": round(flow_seconds / floor["seconds"], 2),
        "openssl_hmac_sha256_16b_per_second": round(openssl),
        "pseudonymise_in_flow_per_second": round(pseudonym_rate),
        "pseudonymise_isolated_per_second": round(isolated["per_second"]),
        "pseudonymise_in_flow_to_openssl_ratio": round(pseudonym_rate / openssl, 2),
        "pseudonymise_isolated_to_openssl_ratio": round(isolated["per_second"] / openssl, 2),
        "validation": {
            "wall_seconds_while_any_delivery_validates": round(validating, 2),
            "share_of_flow_wall": round(validating / flow_window, 3),
            "seconds_summed_over_concurrent_tasks": round(stages.get("validate", 0.0), 2),
            "seconds_alone_one_after_another": round(validation_alone_seconds, 2),
            "alone_share_of_flow_wall": round(validation_alone_seconds / flow_seconds, 3),
            "seconds_alone_per_source": {
                k: round(v, 2) for k, v in sorted(alone["seconds"].items())
            },
        },
        "disclosure_audit": {
            "seconds": round(audit["seconds"], 2),
            "suppressed_cells": audit["suppressed"],
            "exactly_determined": audit["exact"],
            "narrower_than_protection_level": audit["too_narrow"],
            "shown_to_hold_whole_group": audit["whole_groups"],
        },
        "suppression_against_baseline": {
            "udc_suppressed_cells": sum(m["suppressed"] or 0 for m in marts),
            "udc_protect_seconds": round(stages.get("protect", 0.0), 2),
            "udc_audit_before_publishing_seconds": round(stages.get("audit", 0.0), 2),
            "baseline": "primary plus one complement per line (each mart on its own)",
            "baseline_suppressed_cells": baseline["suppressed"],
            "baseline_exactly_determined": baseline["exact"],
            "baseline_narrower_than_protection": baseline["too_narrow"],
            "baseline_shown_to_hold_whole_group": baseline["whole_groups"],
        },
        "deliveries": [
            {k: d[k] for k in ("source", "status", "rows", "rows_rejected", "seconds")}
            | {"spans_from_flow_start": _relative(d["spans"], run["flow_window"][0])}
            for d in deliveries
        ],
        "marts": [{k: m[k] for k in ("mart", "status", "cells", "suppressed")} for m in marts],
        "targets": {
            "flow_at_most_4x_io_floor": flow_seconds <= 4 * floor["seconds"],
            "pseudonymise_at_least_half_openssl": pseudonym_rate >= 0.5 * openssl,
            "peak_memory_under_3gb": run["peak_rss_mb"] < 3 * 1024,
            "validation_under_25_percent_of_flow_wall": validating / flow_window < 0.25,
        },
    }
    (ROOT / "bench-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument(
        "--child", choices=["floor", "flow", "hmac", "validate", "audit", "baseline"]
    )
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    if args.child:
        modes = {
            "floor": io_floor,
            "flow": flow,
            "hmac": lambda _: hmac_rate(),
            "validate": validation_alone,
            "audit": disclosure_audit,
            "baseline": suppression_baseline,
        }
        result = modes[args.child](args.workspace)
        print(json.dumps(result, default=str))
    else:
        main(args.persons)
