"""One delivery from the inbox to the lake: plain functions, wired by the nightly flow.

Every outcome leaves the file somewhere safe before it leaves the inbox: encrypted in
the archive when processed, byte for byte in quarantine when rejected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from udc.catalog.store import CheckRecord
from udc.pseudonymize.encryption import seal
from udc.pseudonymize.hashing import pseudonymise, subject_digests
from udc.quality.feedback import MAX_TREND_POINTS, DeliveryFacts, TrendPoint, write_feedback
from udc.quality.suites import PreviousDelivery
from udc.quality.validate import ValidationReport, validate_delivery
from udc.sources.inbox import gemeente_of_file, peildatum_of_file, safe_label
from udc.sources.ingest import to_lake_frame
from udc.sources.reader import DeliveryRejected, parse_delivery
from udc.workspace.layout import Regio
from udc.workspace.resources import Resources
from udc.workspace.timing import timed

UNKNOWN_SOURCE = "_onbekend"
TREND_STATUSES = ("accepted", "accepted_with_warnings", "quarantined", "replaced")


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one file; holds no delivered value."""

    source: str
    file_name: str
    status: str
    peildatum: str | None = None
    rows: int | None = None
    rows_rejected: int | None = None
    warnings: int | None = None
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    spans: dict[str, list[float]] = field(default_factory=dict)
    sha256: str | None = None  # of the delivered file
    lake_hash: str | None = None  # of the lake dataset written
    received: float | None = None  # epoch seconds
    refused: bool = False  # no approved purpose uses the source: kept, loaded nowhere
    gemeente: str | None = None  # the gemeente the file name names

    def to_dict(self) -> dict:
        return asdict(self)


def _free_path(folder: Path, name: str, digest: str) -> Path:
    target = folder / name
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() != digest:
        target = folder / f"{name}.{digest[:12]}"
    return target


def _write_new(path: Path, data: bytes) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


def quarantine(res: Resources, folder: str, path: Path, data: bytes, digest: str, why: str) -> Path:
    """Move a rejected file to quarantine unchanged, with the reason beside it."""
    target_dir = res.workspace.quarantine / folder
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = _free_path(target_dir, path.name, digest)
    _write_new(target, data)
    reason_file = target.with_name(f"{target.name}.reason.txt")
    reason_file.write_text(
        f"file: {path.name}\nsha256: {digest}\nbytes: {len(data)}\n"
        f"quarantined_at: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n"
        f"reason: {why}\n",
        encoding="utf-8",
    )
    path.unlink()
    return target


def archive(res: Resources, source: str, path: Path, data: bytes, digest: str) -> Path:
    """Encrypt the raw delivery into the archive (AES-GCM) and remove it from the inbox."""
    target_dir = res.workspace.archive / source
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = target_dir / f"{path.name}.{digest[:12]}.enc"
    associated = f"{source}/{path.name}/{digest}".encode()
    _write_new(target, seal(data, res.keys.archive_key(), associated))
    path.unlink()
    return target


def _verdict_of(status: str, rejected: int | None, warnings: int | None) -> str:
    """A replaced delivery was accepted once: its verdict follows from its counts."""
    if status != "replaced":
        return status
    return "accepted_with_warnings" if rejected or warnings else "accepted"


def delivery_history(res: Resources, source: str, gemeente: str | None = None) -> list[TrendPoint]:
    """The source's earlier deliveries (for ``gemeente``) with a peildatum, for the report's
    trend section."""
    earlier = [
        d
        for d in res.catalog.deliveries(source)
        if d.peildatum is not None and d.status in TREND_STATUSES and d.gemeentecode == gemeente
    ]
    earlier.sort(key=lambda d: (d.peildatum, d.id))
    return [
        TrendPoint(
            peildatum=d.peildatum,
            received_at=d.received_at.replace(tzinfo=d.received_at.tzinfo or dt.UTC),
            rows=d.rows,
            rejected=d.rows_rejected,
            warnings=d.warnings,
            verdict=_verdict_of(d.status, d.rows_rejected, d.warnings),
            check_failures={c.check_id: c.failed_count for c in res.catalog.checks(d.id)},
        )
        for d in earlier[-MAX_TREND_POINTS:]
    ]


def _feedback(
    res: Resources,
    facts: DeliveryFacts,
    verdict: str,
    reason: str | None,
    report: ValidationReport | None,
    gemeente: str | None,
) -> Path:
    history = delivery_history(res, facts.source, gemeente)
    folder = res.workspace.feedback / facts.source
    html, _ = write_feedback(folder, facts, verdict, reason, report, history=history)
    return html


def process_delivery(res: Resources, path: Path, run_id: str) -> DeliveryOutcome:
    """Ingest, validate, pseudonymise and load one delivered file."""
    inbox = res.settings.inbox
    relative = path.relative_to(inbox)
    folder = relative.parts[0] if len(relative.parts) > 1 else UNKNOWN_SOURCE
    label, name = safe_label(str(relative)), safe_label(path.name)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    received = dt.datetime.now(dt.UTC)
    contract = res.contracts.get(folder)
    source = contract.id if contract else safe_label(folder)
    gemeente = gemeente_of_file(contract, path.name) if contract else None

    def record(
        status: str,
        peildatum: dt.date | None,
        stored: Path,
        feedback: Path,
        rows: int | None,
        report: ValidationReport | None,
        reason: str | None = None,
    ) -> int:
        delivery_id = res.catalog.add_delivery(
            run_id=run_id,
            source=source,
            peildatum=peildatum,
            gemeentecode=gemeente,
            file_name=name,
            sha256=digest,
            size_bytes=len(data),
            rows=rows,
            rows_rejected=len(report.rejected_lines) if report else None,
            warnings=report.warning_count if report else None,
            status=status,
            reason=reason,
            stored_path=str(stored),
            feedback_path=str(feedback),
        )
        if report:
            res.catalog.add_checks(delivery_id, report.rows, _check_records(report))
        return delivery_id

    def reject(
        error: DeliveryRejected,
        peildatum: dt.date | None,
        rows: int | None = None,
        report: ValidationReport | None = None,
        refused: bool = False,
    ) -> DeliveryOutcome:
        stored = quarantine(res, folder, path, data, digest, error.reason)
        # The sender chose these names: the catalog gets them masked like every log line.
        recorded = stored.parent.with_name(source) / (name + stored.name[len(path.name) :])
        facts = DeliveryFacts(source, name, peildatum, len(data), rows, digest, received)
        feedback = _feedback(res, facts, "quarantined", error.reden, report, gemeente)
        record("quarantined", peildatum, recorded, feedback, rows, report, error.reason)
        return DeliveryOutcome(
            source,
            name,
            "quarantined",
            f"{peildatum:%Y%m%d}" if peildatum else None,
            rows,
            message=f"{label}: quarantined: {error.reason}",
            sha256=digest,
            received=received.timestamp(),
            refused=refused,
            gemeente=gemeente,
        )

    if contract is None:
        return reject(
            DeliveryRejected(
                f"no source contract is configured for '{source}'",
                f"er is geen aanleverafspraak voor bron '{source}'",
            ),
            None,
        )
    try:
        peildatum = peildatum_of_file(contract, path.name, res.today())
    except DeliveryRejected as error:
        return reject(error, None)
    membership = member_refusal(res.settings.regios, source, gemeente)
    if membership is not None:
        return reject(membership, peildatum)

    allowed = res.allowed_columns()
    if source not in allowed:
        return reject(
            DeliveryRejected(
                f"refused: no approved purpose in force uses source '{source}' (see `udc "
                "purposes list`); the delivery is kept here and loaded nowhere",
                f"er is op dit moment geen goedgekeurd verwerkingsdoel voor bron '{source}'; "
                "de levering is niet verwerkt en wordt bewaard",
            ),
            peildatum,
            refused=True,
        )
    known = res.catalog.find_delivery(source, digest)
    if known is not None:
        path.unlink()
        return DeliveryOutcome(
            source,
            name,
            "duplicate",
            f"{peildatum:%Y%m%d}",
            sha256=digest,
            received=received.timestamp(),
            message=f"{label}: the same bytes were delivered before ({known.status}); "
            "nothing changed",
            gemeente=gemeente,
        )

    seconds: dict[str, float] = {}
    spans: dict[str, list[float]] = {}
    try:
        with timed(seconds, "read", spans):
            parsed = parse_delivery(data, contract)
    except DeliveryRejected as error:
        return reject(error, peildatum)
    if gemeente is not None:
        elsewhere = rows_of_other_gemeenten(parsed.frame, gemeente)
        if elsewhere:
            return reject(
                DeliveryRejected(
                    f"{elsewhere} rows name another gemeente in column gemeentecode than the "
                    f"file name ({gemeente}); deliver each municipality in its own file",
                    f"{elsewhere} regels noemen in kolom gemeentecode een andere gemeente dan "
                    f"de bestandsnaam ({gemeente}); lever elke gemeente in een eigen bestand",
                ),
                peildatum,
            )
    previous = previous_delivery(res, source, peildatum, gemeente)
    with timed(seconds, "validate", spans):
        report = validate_delivery(parsed.frame, contract, res.today(), previous)
    verdict = report.verdict(contract.max_rejected_share)
    if verdict == "quarantined":
        share = report.rejected_share
        if share > contract.max_rejected_share:
            why = (
                f"{len(report.rejected_lines)} of {report.rows} rows ({share:.1%}) fail error "
                f"checks, more than the {contract.max_rejected_share:.0%} allowed"
            )
        else:
            # The Dutch texts hold counts, dates and column names, never a delivered value.
            why = "the delivery as a whole fails: " + " ".join(report.delivery_errors)
        error = DeliveryRejected(why, report.reason() or why)
        return reject(error, peildatum, report.rows, report)

    keep = allowed[source]
    with timed(seconds, "minimise", spans):
        rows = to_lake_frame(parsed.frame, contract, keep, report.rejected_lines)
    del parsed
    subjects = None
    if contract.bsn_column:
        with timed(seconds, "subject_index", spans):
            subjects = subject_digests(rows, contract.bsn_column, res.log_subject_key())
        with timed(seconds, "pseudonymise", spans):
            rows = pseudonymise(rows, contract.bsn_column, res.link_key())
            if "pseudonym" not in keep:
                rows = rows.drop("pseudonym")
    with timed(seconds, "lake", spans):
        lake_path, lake_hash = res.lake.write(source, peildatum, rows, gemeente)
    with timed(seconds, "archive", spans):
        stored = archive(res, source, path, data, digest)
    with timed(seconds, "feedback", spans):
        facts = DeliveryFacts(source, name, peildatum, len(data), report.rows, digest, received)
        feedback = _feedback(res, facts, verdict, None, report, gemeente)
    delivery_id = record(verdict, peildatum, stored, feedback, report.rows, report)
    if subjects is not None:
        res.catalog.add_subjects(delivery_id, subjects)
    res.catalog.supersede_earlier(delivery_id, source, peildatum, gemeente)
    res.catalog.add_dataset(
        run_id=run_id,
        kind="lake",
        name=source,
        peildatum=peildatum,
        path=str(lake_path),
        rows=rows.height,
        content_hash=lake_hash,
        deliveries=[delivery_id],
    )
    return DeliveryOutcome(
        source,
        name,
        verdict,
        f"{peildatum:%Y%m%d}",
        report.rows,
        len(report.rejected_lines),
        report.warning_count,
        seconds=seconds,
        spans=spans,
        sha256=digest,
        lake_hash=lake_hash,
        received=received.timestamp(),
        gemeente=gemeente,
    )


def member_refusal(
    regios: Mapping[str, Regio], source: str, gemeente: str | None
) -> DeliveryRejected | None:
    """Why a regional workspace refuses a file for its gemeente, if it does: each file must
    name a member, or nobody could tell whose figures it holds."""
    if not regios:
        return None
    if gemeente is None:
        return DeliveryRejected(
            f"this workspace holds several municipalities ([regios] in udc.toml): the file "
            f"name must name its gemeente, {source}_GMnnnn_YYYYMMDD.csv",
            f"deze werkplaats bevat meerdere gemeenten: de bestandsnaam moet de gemeente "
            f"noemen, {source}_GMnnnn_JJJJMMDD.csv",
        )
    if not any(gemeente in regio.gemeenten for regio in regios.values()):
        return DeliveryRejected(
            f"{gemeente} is not a member of any regio in udc.toml; add it to its regio's "
            "gemeenten, or check the file name",
            f"{gemeente} is geen lid van een regio van deze werkplaats; controleer de "
            "bestandsnaam",
        )
    return None


def rows_of_other_gemeenten(frame: pl.DataFrame, gemeente: str) -> int:
    """Rows whose gemeentecode (``0200`` in the BRP, ``GM0200`` in the buurtindeling) is not
    the gemeente the file name names; 0 for a source without that column."""
    if "gemeentecode" not in frame.columns:
        return 0
    code = pl.col("gemeentecode").str.strip_chars().str.to_uppercase()
    own = code.is_in([gemeente, gemeente.removeprefix("GM")])
    return int(frame.select((~own.fill_null(True)).sum()).item())


def previous_delivery(
    res: Resources, source: str, peildatum: dt.date, gemeente: str | None = None
) -> PreviousDelivery | None:
    """The source's accepted delivery (for ``gemeente``) with the latest peildatum before
    ``peildatum``."""
    latest = res.catalog.latest_accepted_before(source, peildatum, gemeente)
    return PreviousDelivery(latest.peildatum, latest.rows or 0) if latest else None


def _check_records(report: ValidationReport) -> list[CheckRecord]:
    return [
        CheckRecord(
            c.check_id, c.column, c.severity, c.failed_count, c.passed, c.row_level, c.description
        )
        for c in report.checks
    ]
