"""`make bench-protection`: disclosure control of one release at several city sizes.

For each size a workspace gets a synthetic city, its deliveries are ingested without
Prefect (the same plain steps the flow runs), and the release of the default marts is
counted, protected and audited. Printed per size: the time of each step, the protection's
statistics, and the information loss per mart and measure: cells, hidden cells (primary
and secondary apart), hidden mass (the sum of the hidden values) and the share hidden;
per mart as published, udc's complements beside the proven cheapest ones where HiGHS
proves an optimum within a generous budget, and what the cell key method would change
instead (the share of cells perturbed, the mean absolute change).
Then the growth exponent of protection time against residents (a least-squares fit of
log time on log residents). Each size runs in its own process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEILDATUM = "20261101"
SIZES = (100_000, 300_000, 1_000_000, 3_000_000)


def prepare(workspace: Path, persons: int) -> float:
    """A workspace with the city's deliveries ingested; reused when it holds this size."""
    marker = workspace / "bench-persons"
    if marker.exists() and marker.read_text() == str(persons):
        return 0.0
    shutil.rmtree(workspace, ignore_errors=True)
    udc = str(Path(sys.executable).with_name("udc"))
    started = time.perf_counter()
    subprocess.run([udc, "init", "-w", str(workspace)], check=True, capture_output=True)
    subprocess.run(
        [udc, "generate", "-w", str(workspace), "--persons", str(persons),
         "--peildatum", PEILDATUM],
        check=True, capture_output=True,
    )  # fmt: skip
    from udc.sources.inbox import inbox_files
    from udc.workspace.ingest import process_delivery
    from udc.workspace.resources import open_resources

    res = open_resources(workspace)
    run_id = res.catalog.start_run(None)
    for path in inbox_files(res.settings.inbox):
        outcome = process_delivery(res, path, run_id)
        if outcome.status not in ("accepted", "accepted_with_warnings"):
            raise RuntimeError(f"{path.name}: {outcome.status}: {outcome.message}")
    marker.write_text(str(persons))
    return time.perf_counter() - started


def loss(built) -> list[dict]:
    """Information loss per measure of a protected mart."""
    rows = []
    for stats in built.measures:
        cells = stats.cells
        hidden = stats.primary_suppressed + stats.secondary_suppressed
        rows.append(
            {
                "mart": built.definition.name,
                "design": built.definition.design.name if built.definition.design else None,
                "measure": stats.name,
                "cells": cells,
                "primary": stats.primary_suppressed,
                "secondary": stats.secondary_suppressed,
                "hidden": hidden,
                "hidden_share": round(hidden / cells, 4) if cells else 0.0,
                "hidden_mass": stats.hidden_mass,
                "total_mass": stats.total_mass,
            }
        )
    return rows


OPTIMUM_SECONDS = 30.0  # per component: generous beside udc's, too slow for a nightly run
OPTIMUM_CELLS = 2_000


def against_optimum(protected, counted) -> list[dict]:
    """Per mart as published (its chosen design, on its own, without group links): udc's
    complements beside the proven cheapest ones (``protection.optimal_patterns``), in the
    components where HiGHS proves an optimum within the budget."""
    import numpy as np

    from udc.marts.protection import optimal_patterns
    from udc.marts.protection import protect_release as protect_tables
    from udc.marts.release import protection_table

    rows = []
    for built in protected.built:
        if built.definition.protection != "suppression":
            continue
        item = next(c for c in counted if c.counts.definition.name == built.definition.name)
        design = built.definition.design
        counts = item.counts if design is None else item.designs.named(design.name)
        tables = [protection_table(counts, t) for t in counts.measures]
        ours = protect_tables(tables)
        hidden = np.concatenate(ours.suppressed)
        primary = np.concatenate(ours.primary)
        values = np.concatenate([t.values for t in tables]).astype(float)
        proven = floors = udc_cells = udc_mass = best_cells = best_mass = unproven = too_big = 0
        started = time.perf_counter()
        patterns = optimal_patterns(tables, time_limit=OPTIMUM_SECONDS, max_cells=OPTIMUM_CELLS)
        for component, optimum in patterns:
            if optimum is None:
                too_big += len(component) > OPTIMUM_CELLS
                unproven += len(component) <= OPTIMUM_CELLS
                continue
            secondary = component[hidden[component] & ~primary[component]]
            proven += 1
            floors += not optimum.widths
            udc_cells += len(secondary)
            udc_mass += float(values[secondary].sum())
            best_cells += optimum.secondary
            best_mass += optimum.secondary_mass
        rows.append(
            {
                "mart": built.definition.name,
                "design": built.definition.design.name if built.definition.design else None,
                "components_proven": proven,
                # of which proven without the complements' widths: a floor
                "components_floor_only": floors,
                "components_unproven": unproven,
                "components_not_attempted": too_big,
                "udc_secondary": udc_cells,
                "optimum_secondary": best_cells,
                "udc_secondary_mass": udc_mass,
                "optimum_secondary_mass": best_mass,
                "cells_over_optimum": round(udc_cells / best_cells - 1, 3) if best_cells else None,
                "mass_over_optimum": round(udc_mass / best_mass - 1, 3) if best_mass else None,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return rows


def cell_key_loss(res, protected) -> list[dict]:
    """Per mart as published (its chosen design), what the cell key method would change
    instead of hiding: the share of cells it perturbs and the mean absolute change."""
    import dataclasses as dc

    import numpy as np

    from udc.marts.build import count_mart
    from udc.marts.cellkey import cell_keys, load_ptable, perturb

    ptable = load_ptable()
    rows = []
    for built in protected.built:
        definition = built.definition
        if any(m.kind != "count" for m in definition.measures):
            continue  # the p-table perturbs counts, not sums
        chosen = protected.chosen[definition.name]
        tables = {
            source: res.lake.read(source, d.peildatum, list(definition.inputs[source]))
            for source, d in chosen.items()
        }
        keyed = dc.replace(definition, protection="cell_key")
        counts = count_mart(keyed, tables, protected.peildatum, res.record_key())
        changed = cells = 0
        change = 0.0
        for table in counts.measures:
            noisy = perturb(table.values, cell_keys(table.record_key_sums), ptable)
            delta = np.abs(noisy.astype(float) - table.values)
            changed += int((delta > 0).sum())
            change += float(delta.sum())
            cells += len(delta)
        hidden = built.primary_suppressed + built.secondary_suppressed
        rows.append(
            {
                "mart": definition.name,
                "cells": cells,
                "suppression_hidden_share": round(hidden / built.cells, 4),
                "cell_key_changed_share": round(changed / cells, 4),
                "cell_key_mean_absolute_change": round(change / cells, 4),
            }
        )
    return rows


def measure(workspace: Path, persons: int) -> dict:
    prepare_seconds = prepare(workspace, persons)
    from udc.workspace.publish import (
        audit_release,
        count_for_release,
        designs_counting_seconds,
        plan_releases,
        protect_release,
    )
    from udc.workspace.resources import open_resources

    res = open_resources(workspace)
    plan = plan_releases(res)
    (release,) = plan.releases
    started = time.perf_counter()
    counted = [count_for_release(res, release.peildatum, name) for name in release.marts]
    count_seconds = time.perf_counter() - started
    before = designs_counting_seconds(counted)
    started = time.perf_counter()
    protected = protect_release(res, release.peildatum, counted)
    # Designs the choice reaches are counted then: counting, not protection.
    lazily = designs_counting_seconds(counted) - before
    count_seconds += lazily
    protect_seconds = time.perf_counter() - started - lazily
    started = time.perf_counter()
    audited = audit_release(res, protected)
    audit_seconds = time.perf_counter() - started
    measures = [row for built in protected.built for row in loss(built)]
    optimum = against_optimum(protected, counted)
    perturbed = cell_key_loss(res, protected)
    cells = sum(r["cells"] for r in measures)
    hidden = sum(r["hidden"] for r in measures)
    return {
        "persons": persons,
        "prepare_seconds": round(prepare_seconds, 1),
        "count_seconds": round(count_seconds, 2),
        "protect_seconds": round(protect_seconds, 2),
        "audit_seconds": round(audit_seconds, 2),
        "protection_stats": dataclasses.asdict(protected.stats),
        "designs": {name: choice.to_dict() for name, choice in protected.designs.items()},
        "audited_cells": sum(len(a.intervals) for a in audited.audits),
        "release": {
            "cells": cells,
            "primary": sum(r["primary"] for r in measures),
            "secondary": sum(r["secondary"] for r in measures),
            "hidden": hidden,
            "hidden_share": round(hidden / cells, 4),
            "hidden_mass": sum(r["hidden_mass"] for r in measures),
        },
        "measures": measures,
        "against_optimum": optimum,
        "cell_key": perturbed,
    }


def growth_exponent(points: list[tuple[int, float]]) -> float | None:
    """The slope of log seconds on log residents (least squares)."""
    if len(points) < 2:
        return None
    xs = [math.log(p) for p, _ in points]
    ys = [math.log(max(s, 1e-3)) for _, s in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main(sizes: list[int]) -> None:
    results = []
    for persons in sizes:
        workspace = ROOT / f"bench-workspace-{persons}"
        completed = subprocess.run(
            [sys.executable, __file__, "--child", str(persons), "--workspace", str(workspace)],
            capture_output=True, text=True,
        )  # fmt: skip
        if completed.returncode:
            sys.exit(f"{persons:,} residents failed:\n{completed.stderr[-4000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        results.append(result)
        release = result["release"]
        print(
            f"{persons:>9,} residents: count {result['count_seconds']:6.2f} s, protect "
            f"{result['protect_seconds']:6.2f} s, audit {result['audit_seconds']:6.2f} s; "
            f"{release['hidden']:,} of {release['cells']:,} cells hidden "
            f"({release['hidden_share']:.1%}: {release['primary']:,} primary, "
            f"{release['secondary']:,} secondary), hidden mass {release['hidden_mass']:,}",
            flush=True,
        )
        for row in result["measures"]:
            print(
                f"    {row['mart'] + '.' + row['measure']:<40} {row['hidden']:>6,} of "
                f"{row['cells']:>6,} hidden ({row['hidden_share']:6.1%}; {row['primary']:,} "
                f"primary, {row['secondary']:,} secondary), mass {row['hidden_mass']:,} "
                f"of {row['total_mass']:,}",
                flush=True,
            )
        for row in result["against_optimum"]:
            print(
                f"    optimum {row['mart']:<28} in {row['components_proven']} proven "
                f"component(s) ({row['components_floor_only']} without widths, a floor): "
                f"udc {row['udc_secondary']} complements (mass "
                f"{row['udc_secondary_mass']:,.0f}), optimum {row['optimum_secondary']} (mass "
                f"{row['optimum_secondary_mass']:,.0f}); {row['components_unproven']} unproven, "
                f"{row['components_not_attempted']} over {OPTIMUM_CELLS:,} cells not attempted",
                flush=True,
            )
        for row in result["cell_key"]:
            print(
                f"    cell key {row['mart']:<27} would change {row['cell_key_changed_share']:.1%}"
                f" of {row['cells']:,} cells (mean |change| "
                f"{row['cell_key_mean_absolute_change']:.2f}) where suppression hides "
                f"{row['suppression_hidden_share']:.1%}",
                flush=True,
            )
    summary = {
        "sizes": results,
        "protect_growth_exponent": growth_exponent(
            [(r["persons"], r["protect_seconds"]) for r in results]
        ),
        "protect_and_audit_growth_exponent": growth_exponent(
            [(r["persons"], r["protect_seconds"] + r["audit_seconds"]) for r in results]
        ),
    }
    for key in ("protect_growth_exponent", "protect_and_audit_growth_exponent"):
        if summary[key] is not None:
            print(f"{key}: {summary[key]:.2f}")
    (ROOT / "bench-protection.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--child", type=int)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.workspace, args.child), default=str))
    else:
        main([int(s) for s in args.sizes.split(",")])
