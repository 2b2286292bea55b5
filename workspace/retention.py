"""Retention: what each kept file may be kept for, and deleting what has expired.

- archived raw deliveries: the source contract's ``archive_months`` (else
  ``retention.archive_months``) after receipt;
- quarantined deliveries: ``retention.quarantine_months`` after receipt;
- lake datasets: the longest ``retention_months`` of the approved purposes that use the
  source, after the dataset's peildatum; the newest peildatum of a source stays while a
  purpose in force uses it (the current marts are built from it); a source no purpose in
  force uses keeps the retention of the purposes that last used it;
- mart releases that are no longer current: ``retention.mart_release_months`` after
  publication.

``retention_plan`` lists every kept item with the day it falls due (the privacy
officer's report shows it); ``apply_retention`` deletes what is due and returns the
processing-log entries that record each deletion.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from udc.catalog.processing_log import Span
from udc.catalog.register import PurposeSpec
from udc.workspace.resources import Resources


@dataclass(frozen=True)
class Kept:
    """One kept item and when its retention ends."""

    kind: str  # archive, quarantine, lake, mart_release
    name: str  # the source or mart
    path: Path
    since: dt.date  # received, peildatum or published
    due: dt.date
    reason: str
    delivery_id: int | None = None
    gemeente: str | None = None  # of a lake dataset in a regional workspace


def _lake_folders(lake: Path) -> list[tuple[str, str | None, Path]]:
    """(source, gemeente, folder holding its peildatum=... folders) for every lake dataset."""
    found: list[tuple[str, str | None, Path]] = []
    if not lake.is_dir():
        return found
    for source_folder in sorted(p for p in lake.iterdir() if p.is_dir()):
        found.append((source_folder.name, None, source_folder))
        for folder in sorted(source_folder.glob("gemeente=*")):
            found.append((source_folder.name, folder.name.removeprefix("gemeente="), folder))
    return found


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day where it is shorter)."""
    year, month = divmod(day.month - 1 + months, 12)
    target = dt.date(day.year + year, month + 1, 1)
    following = dt.date(target.year + (target.month == 12), target.month % 12 + 1, 1)
    return target.replace(day=min(day.day, (following - dt.timedelta(days=1)).day))


def _lake_months(res: Resources, today: dt.date) -> tuple[dict[str, int], set[str]]:
    """Per source the longest retention of the purposes that use it (those in force, else
    the latest version of any that did), and the sources a purpose in force uses."""
    in_force = res.catalog.purposes_in_force(today)
    months: dict[str, int] = {}
    for row in res.catalog.purposes():
        spec = PurposeSpec.from_json(row.spec)
        for source in spec.sources:
            months[source] = max(months.get(source, 0), spec.retention_months)
    used: set[str] = set()
    held: dict[str, int] = {}
    for spec, _ in in_force.values():
        for source in spec.sources:
            used.add(source)
            held[source] = max(held.get(source, 0), spec.retention_months)
    return months | held, used


def retention_plan(res: Resources, today: dt.date) -> list[Kept]:
    """Every kept item, with the day its retention ends (past or future)."""
    settings = res.settings
    found: list[Kept] = []
    for d in res.catalog.deliveries():
        if d.status == "quarantined" or not d.stored_path or not Path(d.stored_path).exists():
            continue
        received = d.received_at.date()
        contract = res.contracts.get(d.source)
        if contract is not None and contract.archive_months is not None:
            months, rule = contract.archive_months, f"the {d.source} contract's archive_months"
        else:
            months, rule = settings.archive_months, "retention.archive_months"
        found.append(
            Kept(
                "archive",
                d.source,
                Path(d.stored_path),
                received,
                add_months(received, months),
                f"{months} months after receipt ({rule})",
                d.id,
            )
        )
    # Quarantined files by their own time: the catalog names them masked.
    for path in sorted(res.workspace.quarantine.glob("*/*")):
        if path.name.endswith(".reason.txt") or not path.is_file():
            continue
        since = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date()
        found.append(
            Kept(
                "quarantine",
                path.parent.name,
                path,
                since,
                add_months(since, settings.quarantine_months),
                f"{settings.quarantine_months} months after quarantine "
                "(retention.quarantine_months)",
            )
        )
    months, used = _lake_months(res, today)
    for source, gemeente, folder in _lake_folders(res.workspace.lake):
        days = sorted(
            dt.datetime.strptime(p.name.removeprefix("peildatum="), "%Y%m%d").date()
            for p in folder.glob("peildatum=*")
        )
        for number, day in enumerate(days):
            # Per gemeente: each member's marts are built from its own newest dataset.
            newest_in_use = number == len(days) - 1 and source in used
            kept = months.get(source, 0)
            due = dt.date.max if newest_in_use else add_months(day, kept)
            found.append(
                Kept(
                    "lake",
                    source,
                    folder / f"peildatum={day:%Y%m%d}",
                    day,
                    due,
                    "the newest dataset of a source in use"
                    if newest_in_use
                    else f"{kept} months after its peildatum (the purposes that use {source})",
                    gemeente=gemeente,
                )
            )
    for name in sorted(p.name for p in res.workspace.marts.iterdir() if p.is_dir()):
        current = res.store.current(name)
        for release in res.store.releases(name):
            if current is not None and release.release_id == current.release_id:
                continue
            published = dt.date.fromisoformat(release.published_at[:10])
            found.append(
                Kept(
                    "mart_release",
                    name,
                    release.path,
                    published,
                    add_months(published, settings.mart_release_months),
                    f"{settings.mart_release_months} months after publication, no longer current",
                )
            )
    return found


def apply_retention(res: Resources, trace_id: str, today: dt.date) -> list[Span]:
    """Delete everything due by ``today``; one "delete" log entry per item."""
    spans = []
    for item in retention_plan(res, today):
        if item.due > today:
            continue
        started = time.time()
        if item.path.is_dir():
            shutil.rmtree(item.path)
        else:
            item.path.unlink(missing_ok=True)
            reason = item.path.with_name(item.path.name + ".reason.txt")
            reason.unlink(missing_ok=True)
        if item.kind == "lake":
            res.catalog.forget_lake_subjects(item.name, item.since, item.gemeente)
        spans.append(
            Span(
                trace_id=trace_id,
                name="delete",
                started_at=dt.datetime.fromtimestamp(started, dt.UTC),
                ended_at=dt.datetime.now(dt.UTC),
                status="ok",
                source=item.name if item.kind != "mart_release" else None,
                inputs=(f"{item.kind}:{item.name}:{item.path.name}",),
                message=f"retention ended {item.due:%Y-%m-%d}: {item.reason}",
            )
        )
    return spans
