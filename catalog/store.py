"""The catalog database behind a small object: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from udc.catalog.models import (
    CrossCheckRecord,
    Dataset,
    Delivery,
    DisclosureAudit,
    KeyFingerprint,
    Lineage,
    PurposeVersion,
    QualityCheck,
    Run,
    SubjectIndex,
    utcnow,
)
from udc.catalog.register import PurposeSpec, RegisterError

MIGRATIONS = Path(__file__).parent / "migrations"
ACCEPTED = ("accepted", "accepted_with_warnings")


class CatalogError(RuntimeError):
    """The catalog cannot be opened or refuses an operation; the message says what to do."""


class KeyMismatchError(CatalogError):
    """The key in use is not the key the lake was built with."""


@dataclass(frozen=True)
class CheckRecord:
    check_id: str
    column: str | None
    severity: str
    failed_count: int
    passed: bool = True
    row_level: bool = True
    description: str | None = None


class CrossCheckOutcome(Protocol):
    """What the catalog keeps of a cross-source check (``udc.quality.crosscheck`` gives these)."""

    @property
    def source(self) -> str: ...
    @property
    def peildatum(self) -> dt.date: ...
    @property
    def check_id(self) -> str: ...
    @property
    def reference(self) -> str: ...
    @property
    def reference_peildatum(self) -> dt.date | None: ...
    @property
    def rows(self) -> int: ...
    @property
    def missing(self) -> int: ...
    @property
    def status(self) -> str: ...


def _of_gemeente(gemeente: str | None):
    if gemeente is None:
        return Delivery.gemeentecode.is_(None)
    return Delivery.gemeentecode == gemeente


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Catalog:
    """Runs, deliveries, quality results, datasets and lineage of one workspace."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise CatalogError(
                f"cannot open the catalog database ({self.engine.url.render_as_string()}): "
                f"{exc.orig}"
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def start_run(self, flow_run_id: str | None) -> str:
        run_id = str(uuid.uuid4())
        with self.session() as session:
            session.add(Run(id=run_id, flow_run_id=flow_run_id))
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict, fingerprint: str | None) -> None:
        with self.session() as session:
            session.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    status=status,
                    finished_at=utcnow(),
                    summary=json.dumps(summary, sort_keys=True),
                    key_fingerprint=fingerprint,
                )
            )

    def runs(self, limit: int = 20) -> list[Run]:
        with self.session() as session:
            query = select(Run).order_by(Run.started_at.desc()).limit(limit)
            return list(session.scalars(query))

    def check_key(self, domain: str, fingerprint: str) -> None:
        """Record the key fingerprint of a domain, or refuse a key that differs from it."""
        with self.session() as session:
            known = session.scalar(select(KeyFingerprint).where(KeyFingerprint.domain == domain))
            if known is None:
                session.add(KeyFingerprint(domain=domain, fingerprint=fingerprint))
            elif known.fingerprint != fingerprint:
                raise KeyMismatchError(
                    f"the master key (fingerprint {fingerprint}) is not the key this lake was "
                    f"built with (fingerprint {known.fingerprint}); pseudonyms would not link. "
                    "Restore the original keys/master.key, or start a new workspace."
                )

    def find_delivery(self, source: str, sha256: str) -> Delivery | None:
        """The accepted or quarantined delivery with these exact bytes, if any."""
        with self.session() as session:
            query = (
                select(Delivery)
                .where(Delivery.source == source, Delivery.sha256 == sha256)
                .where(Delivery.status.in_((*ACCEPTED, "replaced", "quarantined")))
                .order_by(Delivery.id.desc())
            )
            return session.scalars(query).first()

    def add_delivery(self, **fields: object) -> int:
        with self.session() as session:
            delivery = Delivery(**fields)
            session.add(delivery)
            session.flush()
            return delivery.id

    def update_delivery(self, delivery_id: int, **fields: object) -> None:
        with self.session() as session:
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**fields))

    def supersede_earlier(
        self, delivery_id: int, source: str, peildatum: dt.date, gemeente: str | None = None
    ) -> None:
        """An earlier accepted delivery for the same source, gemeente and peildatum becomes
        replaced."""
        with self.session() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.source == source, Delivery.peildatum == peildatum)
                .where(_of_gemeente(gemeente))
                .where(Delivery.status.in_(ACCEPTED), Delivery.id != delivery_id)
                .values(status="replaced")
            )

    def add_checks(self, delivery_id: int, rows: int, checks: Sequence[CheckRecord]) -> None:
        with self.session() as session:
            session.add_all(
                QualityCheck(
                    delivery_id=delivery_id,
                    check_id=c.check_id,
                    column_name=c.column,
                    severity=c.severity,
                    failed_count=c.failed_count,
                    rows=rows,
                    passed=c.passed,
                    row_level=c.row_level,
                    description=c.description,
                )
                for c in checks
            )

    def deliveries(self, source: str | None = None) -> list[Delivery]:
        with self.session() as session:
            query = select(Delivery).order_by(Delivery.id)
            if source:
                query = query.where(Delivery.source == source)
            return list(session.scalars(query))

    def checks(self, delivery_id: int) -> list[QualityCheck]:
        with self.session() as session:
            query = select(QualityCheck).where(QualityCheck.delivery_id == delivery_id)
            return list(session.scalars(query.order_by(QualityCheck.id)))

    def latest_accepted_before(
        self, source: str, peildatum: dt.date, gemeente: str | None = None
    ) -> Delivery | None:
        """The delivery in force of ``source`` (for ``gemeente``) with the latest peildatum
        before ``peildatum``."""
        with self.session() as session:
            query = (
                select(Delivery)
                .where(Delivery.source == source, Delivery.status.in_(ACCEPTED))
                .where(_of_gemeente(gemeente))
                .where(Delivery.peildatum < peildatum)
                .order_by(Delivery.peildatum.desc(), Delivery.id.desc())
                .limit(1)
            )
            return session.scalars(query).first()

    def accepted_deliveries(self) -> list[Delivery]:
        """The delivery in force per source and peildatum."""
        with self.session() as session:
            query = select(Delivery).where(Delivery.status.in_(ACCEPTED))
            return list(session.scalars(query.order_by(Delivery.source, Delivery.peildatum)))

    def add_dataset(
        self,
        *,
        run_id: str,
        kind: str,
        name: str,
        peildatum: dt.date,
        path: str,
        rows: int,
        content_hash: str,
        deliveries: Sequence[int] = (),
        inputs: Sequence[int] = (),
        stats: dict | None = None,
    ) -> int:
        """Record a dataset, superseding the current one of that name and peildatum."""
        with self.session() as session:
            session.execute(
                update(Dataset)
                .where(Dataset.kind == kind, Dataset.name == name, Dataset.peildatum == peildatum)
                .where(Dataset.status == "current")
                .values(status="superseded")
            )
            dataset = Dataset(
                run_id=run_id,
                kind=kind,
                name=name,
                peildatum=peildatum,
                path=path,
                rows=rows,
                content_hash=content_hash,
                stats=json.dumps(stats, sort_keys=True) if stats is not None else None,
            )
            session.add(dataset)
            session.flush()
            session.add_all(Lineage(dataset_id=dataset.id, delivery_id=d) for d in deliveries)
            session.add_all(Lineage(dataset_id=dataset.id, input_dataset_id=i) for i in inputs)
            return dataset.id

    def datasets(self, kind: str, name: str | None = None, current_only: bool = True) -> list:
        with self.session() as session:
            query = select(Dataset).where(Dataset.kind == kind)
            if name:
                query = query.where(Dataset.name == name)
            if current_only:
                query = query.where(Dataset.status == "current")
            return list(session.scalars(query.order_by(Dataset.name, Dataset.peildatum)))

    def lineage(self, dataset_id: int) -> list[Delivery]:
        with self.session() as session:
            query = (
                select(Delivery)
                .join(Lineage, Lineage.delivery_id == Delivery.id)
                .where(Lineage.dataset_id == dataset_id)
                .order_by(Delivery.source, Delivery.peildatum)
            )
            return list(session.scalars(query))

    def add_cross_checks(
        self,
        run_id: str | None,
        results: Sequence[CrossCheckOutcome],
        delivery_ids: Mapping[tuple[str, dt.date], int] | None = None,
    ) -> None:
        """Record cross-source checks; ``delivery_ids`` links each to its source's delivery."""
        links = delivery_ids or {}
        with self.session() as session:
            session.add_all(
                CrossCheckRecord(
                    run_id=run_id,
                    delivery_id=links.get((r.source, r.peildatum)),
                    source=r.source,
                    peildatum=r.peildatum,
                    check_id=r.check_id,
                    reference=r.reference,
                    reference_peildatum=r.reference_peildatum,
                    rows=r.rows,
                    missing=r.missing,
                    status=r.status,
                )
                for r in results
            )

    def cross_checks(
        self, source: str | None = None, peildatum: dt.date | None = None
    ) -> list[CrossCheckRecord]:
        with self.session() as session:
            query = select(CrossCheckRecord)
            if source is not None:
                query = query.where(CrossCheckRecord.source == source)
            if peildatum is not None:
                query = query.where(CrossCheckRecord.peildatum == peildatum)
            return list(session.scalars(query.order_by(CrossCheckRecord.id)))

    def add_audits(self, records: Sequence[Mapping[str, object]]) -> None:
        """Record disclosure audits: per table mart, release_id, measure and the counts."""
        with self.session() as session:
            session.add_all(DisclosureAudit(**record) for record in records)

    def latest_audits(self, mart: str, release_id: str) -> list[DisclosureAudit]:
        """The newest audit of each measure of one release."""
        with self.session() as session:
            query = (
                select(DisclosureAudit)
                .where(DisclosureAudit.mart == mart, DisclosureAudit.release_id == release_id)
                .order_by(DisclosureAudit.id)
            )
            latest = {a.measure: a for a in session.scalars(query)}
            return list(latest.values())

    # The register of processing purposes: every change is a new version.

    def purpose_versions(self, purpose_id: str) -> list[PurposeVersion]:
        """Every version of one purpose, oldest first."""
        with self.session() as session:
            query = select(PurposeVersion).where(PurposeVersion.purpose_id == purpose_id)
            return list(session.scalars(query.order_by(PurposeVersion.version)))

    def purposes(self) -> list[PurposeVersion]:
        """The latest version of every purpose, by id."""
        with self.session() as session:
            rows = session.scalars(select(PurposeVersion).order_by(PurposeVersion.version))
            latest = {row.purpose_id: row for row in rows}
        return [latest[key] for key in sorted(latest)]

    def purposes_in_force(self, on: dt.date) -> dict[str, tuple[PurposeSpec, PurposeVersion]]:
        """The purposes that hold on ``on``: per purpose its latest decided version (a draft
        awaiting approval changes nothing yet), if that is approved and not expired."""
        with self.session() as session:
            rows = session.scalars(
                select(PurposeVersion)
                .where(PurposeVersion.status != "draft")
                .order_by(PurposeVersion.version)
            )
            decided = {row.purpose_id: row for row in rows}
        found = {}
        for purpose_id, row in sorted(decided.items()):
            spec = PurposeSpec.from_json(row.spec)
            if row.status == "approved" and not spec.expired(on):
                found[purpose_id] = (spec, row)
        return found

    def _add_version(
        self, session: Session, spec: PurposeSpec, status: str, by: str, note: str | None
    ) -> PurposeVersion:
        latest = self._latest(session, spec.id)
        row = PurposeVersion(
            purpose_id=spec.id,
            version=1 if latest is None else latest.version + 1,
            status=status,
            spec=spec.to_json(),
            changed_by=by,
            changed_at=utcnow(),
            note=note,
        )
        session.add(row)
        session.flush()
        return row

    def _latest(self, session: Session, purpose_id: str) -> PurposeVersion | None:
        return session.scalars(
            select(PurposeVersion)
            .where(PurposeVersion.purpose_id == purpose_id)
            .order_by(PurposeVersion.version.desc())
            .limit(1)
        ).first()

    def _registered(self, session: Session, purpose_id: str) -> PurposeVersion:
        latest = self._latest(session, purpose_id)
        if latest is None:
            raise RegisterError(
                f"no purpose {purpose_id!r} in the register; see `udc purposes list`"
            )
        return latest

    def add_purpose(self, spec: PurposeSpec, by: str, note: str | None = None) -> PurposeVersion:
        """A new purpose, or a change to one, as a draft version awaiting approval."""
        with self.session() as session:
            existing = self._latest(session, spec.id)
            if existing is not None and existing.spec == spec.to_json() and (
                existing.status != "withdrawn"
            ):
                raise RegisterError(
                    f"{spec.id}: version {existing.version} ({existing.status}) is the same"
                )
            return self._add_version(session, spec, "draft", by, note)

    def approve_purpose(self, purpose_id: str, by: str, note: str | None = None) -> PurposeVersion:
        """Approve the draft that is the purpose's latest version."""
        with self.session() as session:
            latest = self._registered(session, purpose_id)
            if latest.status != "draft":
                raise RegisterError(
                    f"{purpose_id}: version {latest.version} is {latest.status}, not a draft "
                    "awaiting approval; `udc purposes add` a new version first"
                )
            spec = PurposeSpec.from_json(latest.spec)
            return self._add_version(session, spec, "approved", by, note)

    def withdraw_purpose(self, purpose_id: str, by: str, note: str | None = None) -> PurposeVersion:
        """Withdraw a purpose: from now on nothing is loaded or built for it."""
        with self.session() as session:
            latest = self._registered(session, purpose_id)
            if latest.status == "withdrawn":
                raise RegisterError(
                    f"{purpose_id} was withdrawn already (version {latest.version})"
                )
            spec = PurposeSpec.from_json(latest.spec)
            return self._add_version(session, spec, "withdrawn", by, note)

    def seed_purposes(self, specs: Sequence[PurposeSpec], by: str) -> int:
        """Register ``specs`` as approved when the register is empty (a new workspace, or
        one from before the register); returns how many were added."""
        with self.session() as session:
            if session.scalars(select(PurposeVersion).limit(1)).first() is not None:
                return 0
            for spec in specs:
                self._add_version(session, spec, "draft", by, "standaardconfiguratie")
                self._add_version(session, spec, "approved", by, "standaardconfiguratie")
        return len(specs)

    # Access requests: who each loaded delivery held, in the log's own pseudonym domain.

    def add_subjects(self, delivery_id: int, digests: bytes) -> None:
        with self.session() as session:
            session.add(SubjectIndex(delivery_id=delivery_id, digests=digests))

    def deliveries_holding(self, holds: Callable[[bytes], bool]) -> list[Delivery]:
        """The deliveries whose subject index ``holds`` accepts, oldest first."""
        with self.session() as session:
            rows = session.execute(
                select(SubjectIndex.delivery_id, SubjectIndex.digests).order_by(
                    SubjectIndex.delivery_id
                )
            ).all()
            found = [delivery_id for delivery_id, digests in rows if holds(digests)]
            return [session.get(Delivery, delivery_id) for delivery_id in found]

    def forget_lake_subjects(
        self, source: str, peildatum: dt.date, gemeente: str | None = None
    ) -> int:
        """Drop the access-request index of a source's deliveries (of ``gemeente``) for
        ``peildatum`` (its lake data are deleted); returns how many deliveries it covered."""
        with self.session() as session:
            ids = list(
                session.scalars(
                    select(Delivery.id)
                    .where(Delivery.source == source, Delivery.peildatum == peildatum)
                    .where(_of_gemeente(gemeente))
                )
            )
            for delivery_id in ids:
                row = session.get(SubjectIndex, delivery_id)
                if row is not None:
                    session.delete(row)
            return len(ids)
