"""The catalog schema: runs, deliveries, quality results, datasets, lineage and keys.

Nothing here ever holds a BSN: deliveries are described by hash, counts and line
numbers, datasets by path and content hash.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")
    key_fingerprint: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    source: Mapped[str] = mapped_column(String(64), index=True)
    peildatum: Mapped[dt.date | None] = mapped_column(Date)
    # The gemeente the file name names (GM + 4 digits); None: the workspace's one municipality.
    gemeentecode: Mapped[str | None] = mapped_column(String(6))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer)
    rows_rejected: Mapped[int | None] = mapped_column(Integer)
    warnings: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stored_path: Mapped[str | None] = mapped_column(Text)
    feedback_path: Mapped[str | None] = mapped_column(Text)


class QualityCheck(Base):
    __tablename__ = "quality_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    check_id: Mapped[str] = mapped_column(String(128))
    column_name: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    failed_count: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    row_level: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    description: Mapped[str | None] = mapped_column(Text)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64), index=True)
    peildatum: Mapped[dt.date] = mapped_column(Date)
    path: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="current")
    stats: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lineage(Base):
    __tablename__ = "lineage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    input_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))


class KeyFingerprint(Base):
    __tablename__ = "key_fingerprints"
    __table_args__ = (UniqueConstraint("domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    domain: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrossCheckRecord(Base):
    """One cross-source check of a source's pseudonymised keys against a reference source.

    Counts only, never a key value; for the data steward, never for the source.
    """

    __tablename__ = "cross_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    source: Mapped[str] = mapped_column(String(64), index=True)
    peildatum: Mapped[dt.date] = mapped_column(Date)
    check_id: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(64))
    reference_peildatum: Mapped[dt.date | None] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DisclosureAudit(Base):
    """The disclosure audit of one table of a mart release: counts and widths, no values."""

    __tablename__ = "disclosure_audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mart: Mapped[str] = mapped_column(String(64), index=True)
    release_id: Mapped[str] = mapped_column(String(64))
    measure: Mapped[str] = mapped_column(String(64))
    cells: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[int] = mapped_column(Integer)
    exact: Mapped[int] = mapped_column(Integer)
    too_narrow: Mapped[int] = mapped_column(Integer)
    # Cells shown to hold their whole group (everyone in it shares the cell's value);
    # None for audits recorded before udc checked it.
    whole_groups: Mapped[int | None] = mapped_column(Integer)
    required_width: Mapped[int] = mapped_column(Integer)
    # None: no cell is suppressed; infinite widths are stored as None too (unbounded).
    min_width: Mapped[float | None] = mapped_column(Float)
    audited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PurposeVersion(Base):
    """One version of a processing purpose in the register: its specification (JSON,
    ``register.PurposeSpec``), its status and who set it when. A change adds a version;
    none is ever updated or deleted, so every earlier version stays readable."""

    __tablename__ = "purposes"
    __table_args__ = (UniqueConstraint("purpose_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # draft, approved, withdrawn
    spec: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class LogHead(Base):
    """The processing log's size: one row, locked by every append and checkpoint, so two
    runs writing at once take turns and the entries' positions have no gaps."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)


class LogEntry(Base):
    """One processing step, with the fields of the Logboek Dataverwerkingen: trace and
    span, name, times, status, the processing activities (purpose@version), inputs and
    outputs (dataset ids and content hashes), rows and the key fingerprint. Never a BSN.
    ``seq`` is its leaf position in the Merkle tree; ``leaf`` the leaf hash (hex)."""

    __tablename__ = "processing_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trace_id: Mapped[str] = mapped_column(String(36), index=True)
    span_id: Mapped[str] = mapped_column(String(32))
    parent_span_id: Mapped[str | None] = mapped_column(String(32))
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    purposes: Mapped[str] = mapped_column(Text)  # JSON list of "purpose@version"
    source: Mapped[str | None] = mapped_column(String(64), index=True)
    inputs: Mapped[str] = mapped_column(Text)  # JSON list of dataset ids and hashes
    outputs: Mapped[str] = mapped_column(Text)
    rows: Mapped[int | None] = mapped_column(Integer)
    key_fingerprint: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    leaf: Mapped[str] = mapped_column(String(64))


class LogCheckpoint(Base):
    """A signed Merkle root over the first ``size`` entries, with the proof that it extends
    the checkpoint before it (RFC 6962)."""

    __tablename__ = "log_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    previous_size: Mapped[int] = mapped_column(Integer)
    consistency: Mapped[str] = mapped_column(Text)  # JSON list of hex node hashes
    trace_id: Mapped[str | None] = mapped_column(String(36))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class SubjectIndex(Base):
    """Who a loaded delivery held, for access requests (AVG Art. 15): the sorted first 8
    bytes of each person's pseudonym in the log's own domain (not the lake's), so the
    log cannot be joined to the lake."""

    __tablename__ = "log_subjects"

    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    digests: Mapped[bytes] = mapped_column(LargeBinary)
