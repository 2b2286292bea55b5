"""The processing log: an append-only, tamper-evident record of every processing step.

Every step (receive, quarantine, validate, pseudonymise, load, aggregate, protect,
publish, delete) is one entry with the fields of the Dutch government standard Logboek
Dataverwerkingen: a trace per nightly run (linked to the Prefect flow run), a span per
step with its parent, name, start and end, status, the processing activities it served
(purpose@version), its inputs and outputs (dataset ids and content hashes), rows and the
key fingerprint. No entry holds a BSN: the fields are ids, hashes, counts and names.

Entries are the leaves of a Merkle tree (RFC 6962, ``merkle``) in the order of their
position ``seq``. After each run a checkpoint signs (Ed25519) the tree's size and root,
with the proof that it extends the checkpoint before. ``verify`` recomputes everything
from the entries as stored: a changed, deleted, inserted or reordered entry changes a
root that a signature covers; a checkpoint that does not extend the one before fails its
proof. Two runs writing at once take turns on the one ``log_head`` row.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update

from udc.catalog.merkle import consistency_proof, leaf_hash, root, verify_consistency
from udc.catalog.models import LogCheckpoint, LogEntry, LogHead
from udc.catalog.store import Catalog

STEPS = (
    "receive", "quarantine", "validate", "pseudonymise", "load", "aggregate", "protect",
    "publish", "delete",
)  # fmt: skip
STATUSES = ("ok", "warning", "refused", "failed")
CHECKPOINT_LABEL = b"udc processing log checkpoint v1"
# A span's fields as the log stores them: as they are, or (lists) as JSON text.
LISTED = ("purposes", "inputs", "outputs")
STORED = (
    "trace_id", "span_id", "parent_span_id", "flow_run_id", "name", "started_at", "ended_at",
    "status", "source", "rows", "key_fingerprint", "message",
)  # fmt: skip


def new_span_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Span:
    """What a step reports of itself."""

    trace_id: str
    name: str
    started_at: dt.datetime
    ended_at: dt.datetime
    status: str
    purposes: tuple[str, ...] = ()  # "purpose@version"
    source: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    rows: int | None = None
    key_fingerprint: str | None = None
    message: str | None = None
    span_id: str = field(default_factory=new_span_id)
    parent_span_id: str | None = None
    flow_run_id: str | None = None

    def __post_init__(self) -> None:
        if self.name not in STEPS:
            raise ValueError(f"{self.name!r} is not a processing step ({', '.join(STEPS)})")
        if self.status not in STATUSES:
            raise ValueError(f"{self.status!r} is not a step status ({', '.join(STATUSES)})")


def _utc(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands naive UTC times back
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_bytes(seq: int, entry: Span | LogEntry) -> bytes:
    """The canonical bytes of an entry at position ``seq``: what its leaf hash covers."""
    fields: dict[str, object] = {"seq": seq}
    fields |= {name: getattr(entry, name) for name in STORED}
    fields |= {name: _listed(getattr(entry, name)) for name in LISTED}
    fields["started_at"], fields["ended_at"] = _utc(entry.started_at), _utc(entry.ended_at)
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def _listed(value: str | Sequence[str]) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value)


def checkpoint_message(size: int, root_hex: str) -> bytes:
    return CHECKPOINT_LABEL + f"\n{size}\n{root_hex}\n".encode()


@dataclass(frozen=True)
class Verification:
    entries: int
    checkpoints: int
    problems: tuple[str, ...]
    unsigned: int  # entries after the last checkpoint: not yet covered by a signature

    @property
    def intact(self) -> bool:
        return not self.problems


class ProcessingLog:
    """The processing log in a workspace's catalog database."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def append(self, spans: Sequence[Span]) -> list[int]:
        """Add entries at the end, in one transaction; returns their positions."""
        if not spans:
            return []
        with self.catalog.session() as session:
            # Locks the head row until commit: a concurrent run waits, positions stay dense.
            end = session.execute(
                update(LogHead)
                .where(LogHead.id == 1)
                .values(size=LogHead.size + len(spans))
                .returning(LogHead.size)
            ).scalar_one()
            first = end - len(spans)
            for seq, span in enumerate(spans, start=first):
                stored = {name: getattr(span, name) for name in STORED}
                stored |= {name: json.dumps(list(getattr(span, name))) for name in LISTED}
                leaf = leaf_hash(entry_bytes(seq, span)).hex()
                session.add(LogEntry(seq=seq, leaf=leaf, **stored))
        return list(range(first, end))

    def checkpoint(self, key: Ed25519PrivateKey, trace_id: str | None = None) -> LogCheckpoint:
        """Sign the tree of every entry so far, with the proof that it extends the last
        checkpoint."""
        with self.catalog.session() as session:
            size = session.execute(
                update(LogHead).where(LogHead.id == 1).values(size=LogHead.size)
                .returning(LogHead.size)
            ).scalar_one()  # fmt: skip
            leaves = [
                bytes.fromhex(h)
                for h in session.scalars(
                    select(LogEntry.leaf).where(LogEntry.seq < size).order_by(LogEntry.seq)
                )
            ]
            previous = session.scalars(
                select(LogCheckpoint).order_by(LogCheckpoint.id.desc()).limit(1)
            ).first()
            previous_size = previous.size if previous else 0
            tree_root = root(leaves).hex()
            proof = [node.hex() for node in consistency_proof(previous_size, leaves)]
            public = key.public_key().public_bytes_raw().hex()
            row = LogCheckpoint(
                size=size,
                root=tree_root,
                previous_size=previous_size,
                consistency=json.dumps(proof),
                trace_id=trace_id,
                public_key=public,
                signature=key.sign(checkpoint_message(size, tree_root)).hex(),
            )
            session.add(row)
        return row

    def entries(
        self,
        trace_id: str | None = None,
        purpose: str | None = None,
        source: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        status: str | None = None,
    ) -> list[LogEntry]:
        """Entries in log order, filtered by run (trace), purpose, source, date and status."""
        query = select(LogEntry).order_by(LogEntry.seq)
        if trace_id:
            query = query.where(LogEntry.trace_id == trace_id)
        if source:
            query = query.where(LogEntry.source == source)
        if status:
            query = query.where(LogEntry.status == status)
        if since:
            start = dt.datetime.combine(since, dt.time(), dt.UTC)
            query = query.where(LogEntry.started_at >= start)
        if until:
            end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
            query = query.where(LogEntry.started_at < end)
        with self.catalog.session() as session:
            found = list(session.scalars(query))
        if purpose:
            found = [e for e in found if any(p.split("@")[0] == purpose
                                             for p in json.loads(e.purposes))]  # fmt: skip
        return found

    def checkpoints(self) -> list[LogCheckpoint]:
        with self.catalog.session() as session:
            return list(session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.id)))

    def verify(self, public_key: Ed25519PublicKey) -> Verification:
        """Recompute the tree from the entries as stored and check every checkpoint."""
        with self.catalog.session() as session:
            entries = list(session.scalars(select(LogEntry).order_by(LogEntry.seq)))
            head = session.get(LogHead, 1)
            size = head.size if head else 0
        checkpoints = self.checkpoints()
        problems: list[str] = []
        positions = [e.seq for e in entries]
        if positions != list(range(len(entries))) or len(entries) != size:
            problems.append(_gaps(positions, size))
        leaves = [leaf_hash(entry_bytes(e.seq, e)) for e in entries]
        for entry, leaf in zip(entries, leaves, strict=True):
            if entry.leaf != leaf.hex():
                problems.append(f"entry {entry.seq} differs from what was logged")
        expected_key = public_key.public_bytes_raw().hex()
        previous_size, previous_root = 0, root([]).hex()
        for number, point in enumerate(checkpoints, start=1):
            where = f"checkpoint {number} (size {point.size}, {_utc(point.signed_at)[:19]})"
            problems += _check_point(point, where, expected_key, public_key)
            if point.previous_size != previous_size or point.size < previous_size:
                problems.append(f"{where} does not follow the checkpoint before it")
            elif not verify_consistency(
                previous_size,
                point.size,
                bytes.fromhex(previous_root),
                bytes.fromhex(point.root),
                [bytes.fromhex(h) for h in json.loads(point.consistency)],
            ):
                problems.append(f"{where} does not extend the checkpoint before it")
            if point.size > len(leaves) or root(leaves[: point.size]).hex() != point.root:
                problems.append(
                    f"{where}: the entries up to it no longer give its root: changed, removed, "
                    "inserted or reordered"
                )
            previous_size, previous_root = point.size, point.root
        return Verification(
            entries=len(entries),
            checkpoints=len(checkpoints),
            problems=tuple(dict.fromkeys(problems)),
            unsigned=max(len(entries) - previous_size, 0),
        )


def _check_point(
    point: LogCheckpoint, where: str, expected_key: str, public_key: Ed25519PublicKey
) -> Iterable[str]:
    if point.public_key != expected_key:
        yield f"{where} is signed by another key than this workspace's"
        return
    try:
        public_key.verify(
            bytes.fromhex(point.signature), checkpoint_message(point.size, point.root)
        )
    except (InvalidSignature, ValueError):
        yield f"{where} has no valid signature"


def _gaps(positions: list[int], size: int) -> str:
    present = set(positions)
    missing = [p for p in range(max(size, len(positions))) if p not in present]
    if missing:
        return f"entries missing at positions {missing[:10]}{' ...' if len(missing) > 10 else ''}"
    return f"the log holds {len(positions)} entries but recorded {size}"
