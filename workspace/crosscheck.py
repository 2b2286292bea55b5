"""Cross-source checks after ingest: plain functions, wired by the nightly flow.

The results go to the data steward (an internal report under ``reports/quality`` and the
catalog), never into a source's feedback report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from pathlib import Path

import polars as pl

from udc.catalog.store import ACCEPTED
from udc.quality.crosscheck import CrossCheckResult, pick_reference_peildatum, run_cross_check
from udc.quality.internal_report import write_internal_report
from udc.workspace.resources import Resources


def internal_reports(res: Resources) -> Path:
    return res.workspace.reports / "quality"


class _LakeColumns:
    """Lake columns read once per run: several partners are checked against the same BRP."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.read_before: dict[
            tuple[str, dt.date, str | None, tuple[str, ...]], pl.DataFrame
        ] = {}

    def __call__(
        self, source: str, peildatum: dt.date, gemeente: str | None, columns: tuple[str, ...]
    ) -> pl.DataFrame:
        """The columns a check needs, or the whole dataset if one is missing (reported)."""
        key = (source, peildatum, gemeente, columns)
        if key not in self.read_before:
            lake = self.res.lake
            present = set(pl.read_parquet_schema(lake.path(source, peildatum, gemeente)))
            wanted = list(columns) if set(columns) <= present else None
            self.read_before[key] = lake.read(source, peildatum, wanted, gemeente)
        return self.read_before[key]


def cross_check_run(res: Resources, run_id: str) -> tuple[list[CrossCheckResult], list[Path]]:
    """Cross-check the deliveries in force for each peildatum this run accepted a delivery for.

    Every delivery of such a peildatum is checked again, not only this run's: a new BRP
    changes what a partner delivery of the same day is checked against, and the internal
    report of a peildatum covers all its sources. In a regional workspace a delivery is
    checked against the reference of its own gemeente. Returns the results and report paths.
    """
    days = {
        d.peildatum
        for d in res.catalog.deliveries()
        if d.run_id == run_id and d.status in ACCEPTED and d.peildatum is not None
    }
    in_force = res.catalog.accepted_deliveries()
    accepted = [d for d in in_force if d.peildatum in days]
    lake_days: dict[tuple[str, str | None], list[dt.date]] = defaultdict(list)
    for delivery in in_force:
        if res.lake.path(delivery.source, delivery.peildatum, delivery.gemeentecode).exists():
            lake_days[(delivery.source, delivery.gemeentecode)].append(delivery.peildatum)
    read = _LakeColumns(res)
    results: list[CrossCheckResult] = []
    for delivery in accepted:
        contract = res.contracts.get(delivery.source)
        if contract is None:
            continue
        gemeente = delivery.gemeentecode
        checked = []
        for check in contract.cross_checks:
            frame = read(delivery.source, delivery.peildatum, gemeente, check.columns)
            day = pick_reference_peildatum(
                lake_days[(check.reference, gemeente)], delivery.peildatum
            )
            reference = (
                read(check.reference, day, gemeente, check.reference_columns) if day else None
            )
            result = run_cross_check(
                frame, check, reference, delivery.source, delivery.peildatum, day
            )
            checked.append(dataclasses.replace(result, gemeente=gemeente))
        res.catalog.add_cross_checks(
            run_id, checked, {(delivery.source, delivery.peildatum): delivery.id}
        )
        results += checked
    if not results:
        return [], []
    by_day: dict[dt.date, list[CrossCheckResult]] = defaultdict(list)
    for result in results:
        by_day[result.peildatum].append(result)
    reports = [
        write_internal_report(internal_reports(res), day, day_results)[0]
        for day, day_results in sorted(by_day.items())
    ]
    return results, reports
