"""The mart stage, step by step: plan the releases, then per release build (count each
mart from the lake), protect, audit and publish. Plain functions over the catalog, the
lake and the mart store; the nightly flow runs each step as a Prefect task."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import polars as pl

from udc.catalog.models import Delivery, PurposeVersion
from udc.catalog.register import PurposeSpec
from udc.marts.audit import (
    AuditInput,
    audit_gate,
    audit_records,
    earlier_designs,
    earlier_releases,
    release_input,
    shown_before,
)
from udc.marts.build import MEMBER_MARK, MartCounts, MartTable, measure_fingerprints
from udc.marts.definitions import GEOGRAPHY_SOURCE, MartDefinition, MartError
from udc.marts.design import DesignChoice, DesignCounts, count_designs, protect_designs
from udc.marts.intervals import TableAudit
from udc.marts.protection import HiddenLimitReached, ProtectionStats
from udc.marts.release import protect_marts
from udc.marts.tables import DisclosureError
from udc.sources.contracts import Contract
from udc.sources.lake import Lake
from udc.workspace.layout import Regio, Workspace
from udc.workspace.resources import Resources, open_resources
from udc.workspace.timing import timed


@dataclass(frozen=True)
class MartOutcome:
    mart: str
    status: str
    peildatum: str | None = None
    cells: int | None = None
    suppressed: int | None = None
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    release: str | None = None
    spans: dict[str, list[float]] = field(default_factory=dict)  # epoch s, the release's stages
    deliveries: list[str] = field(default_factory=list)  # source:peildatum:sha256 read

    def to_dict(self) -> dict:
        return asdict(self)


def choose_inputs(
    definition: MartDefinition,
    contracts: dict[str, Contract],
    accepted: list[Delivery],
) -> tuple[dt.date, dict[str, Delivery]] | str:
    """The peildatum a mart is built for, and the delivery of each source it reads.

    The peildatum is the latest one on which every non-reference source delivered; a
    reference source (the buurtindeling) contributes its latest delivery on or before it.
    Returns the reason instead when the sources do not line up yet.
    """
    by_source: dict[str, dict[dt.date, Delivery]] = {}
    for delivery in accepted:
        by_source.setdefault(delivery.source, {})[delivery.peildatum] = delivery
    missing = [s for s in definition.inputs if s not in by_source]
    if missing:
        return f"no accepted delivery yet from {', '.join(sorted(missing))}"
    events = [s for s in definition.inputs if not contracts[s].reference]
    references = [s for s in definition.inputs if contracts[s].reference]
    if events:
        common = set.intersection(*(set(by_source[s]) for s in events))
        if not common:
            return f"{', '.join(events)} have no peildatum in common yet"
        peildatum = max(common)
    else:
        peildatum = max(max(by_source[s]) for s in references)
    chosen = {s: by_source[s][peildatum] for s in events}
    for source in references:
        earlier = [d for d in by_source[source] if d <= peildatum]
        if not earlier:
            return f"no {source} delivery on or before {peildatum:%Y%m%d}"
        chosen[source] = by_source[source][max(earlier)]
    return peildatum, chosen


def input_key(source: str, gemeente: str | None) -> str:
    """How a release names the delivery it reads of a source (of a gemeente)."""
    return source if gemeente is None else f"{source}{MEMBER_MARK}{gemeente}"


def source_of_key(key: str) -> tuple[str, str | None]:
    source, _, gemeente = key.partition(MEMBER_MARK)
    return source, gemeente or None


@dataclass(frozen=True)
class ReleaseInputs:
    """What a mart's release reads: per member gemeente (None in a workspace of one
    municipality) the delivery of each source, keyed ``input_key``; the regios whose
    members all delivered; and why the other members and regios wait."""

    peildatum: dt.date
    chosen: dict[str, Delivery]
    members: tuple[str | None, ...]
    regios: Mapping[str, tuple[str, ...]]  # published regio -> its members
    waiting: tuple[str, ...] = ()

    def member_inputs(self, member: str | None) -> dict[str, Delivery]:
        return {
            source_of_key(k)[0]: d for k, d in self.chosen.items() if source_of_key(k)[1] == member
        }


def _lacking_at(
    definition: MartDefinition, contracts: dict[str, Contract], deliveries: list[Delivery],
    peildatum: dt.date,
) -> str:
    events = [s for s in definition.inputs if not contracts[s].reference]
    at = {d.source for d in deliveries if d.peildatum == peildatum}
    lacking = [s for s in events if s not in at]
    if lacking:
        return f"no accepted {', '.join(lacking)} of {peildatum:%Y%m%d}"
    return f"its deliveries do not line up for {peildatum:%Y%m%d}"


def choose_release(
    definition: MartDefinition,
    contracts: dict[str, Contract],
    accepted: list[Delivery],
    regios: Mapping[str, Regio] | None = None,
) -> ReleaseInputs | str:
    """``choose_inputs`` per member gemeente: the release is of the latest peildatum any
    member's deliveries line up for, and holds the members that line up for it. A regio is
    published only when all its members are in; the others wait (and say why). Returns the
    reason instead when no member lines up yet."""
    regios = regios or {}
    by_member: dict[str | None, list[Delivery]] = {}
    for delivery in accepted:
        if regios and delivery.gemeentecode is None:
            continue  # from before the workspace had regios: nobody's member figures
        by_member.setdefault(delivery.gemeentecode, []).append(delivery)
    members: list[str | None] = sorted(
        set(by_member) | {g for r in regios.values() for g in r.gemeenten}, key=lambda g: g or ""
    )
    if not members:
        members = [None]
    choices = {m: choose_inputs(definition, contracts, by_member.get(m, [])) for m in members}
    lined_up = {m: c for m, c in choices.items() if not isinstance(c, str)}
    if not lined_up:
        if members == [None]:
            return str(choices[None])
        return "no member lines up yet: " + "; ".join(f"{m}: {c}" for m, c in choices.items())
    peildatum = max(c[0] for c in lined_up.values())
    included = tuple(m for m, c in lined_up.items() if c[0] == peildatum)
    chosen = {
        input_key(source, member): delivery
        for member in included
        for source, delivery in lined_up[member][1].items()
    }
    waiting = [
        f"{m} is not in it ({c})"
        if isinstance(c, str)
        else f"{m} is not in it ({_lacking_at(definition, contracts, by_member[m], peildatum)})"
        for m, c in choices.items()
        if m not in included
    ]
    published = {}
    for code, regio in regios.items():
        absent = [g for g in regio.gemeenten if g not in included]
        if absent:
            waiting.append(f"regio {code} waits for {', '.join(absent)}")
        elif "regio" in definition.geography:
            published[code] = regio.gemeenten
    return ReleaseInputs(peildatum, chosen, included, published, tuple(waiting))


def input_signature(
    definition: MartDefinition,
    chosen: dict[str, Delivery],
    fingerprint: str,
    regios: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """What a release depends on: its definition, its deliveries, the key and the regios it
    publishes (with their members)."""
    payload: dict[str, object] = {
        "definition": repr(definition),
        "deliveries": sorted((s, d.sha256) for s, d in chosen.items()),
        "key": fingerprint,
    }
    if regios:
        payload["regios"] = {code: list(members) for code, members in sorted(regios.items())}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _failed(names: list[str], peildatum: dt.date, message: str) -> list[MartOutcome]:
    return [
        MartOutcome(name, "failed", f"{peildatum:%Y%m%d}", message=f"{name}: {message}")
        for name in names
    ]


def lacking_columns(lake: Lake, definition: MartDefinition, chosen: dict[str, Delivery]) -> str:
    """Why a mart cannot read its inputs from the lake, if so: ingest keeps only the
    columns the marts needed when a delivery was loaded, so a mart that asks for more since
    needs the next delivery of that source."""
    for key, delivery in sorted(chosen.items()):
        source, gemeente = source_of_key(key)
        present = lake.columns(source, delivery.peildatum, gemeente)
        missing = sorted(set(definition.inputs[source]) - set(present))
        if missing:
            of = f" of {gemeente}" if gemeente else ""
            return (
                f"{definition.name}: not built: the {source} delivery{of} of "
                f"{delivery.peildatum:%Y%m%d} was loaded without {', '.join(missing)} (no mart "
                f"needed it then); it is read from the next {source} delivery, and the last "
                "published version stays"
            )
    return ""


def delivery_ids(chosen: dict[str, Delivery]) -> list[str]:
    """The deliveries a mart reads, as its metadata names them."""
    return [f"{s}:{d.peildatum:%Y%m%d}:{d.sha256}" for s, d in sorted(chosen.items())]


def _publish(
    res: Resources,
    built: MartTable,
    inputs: ReleaseInputs,
    run_id: str,
    seconds: dict[str, float],
    spans: dict[str, list[float]],
    choice: DesignChoice | None = None,
) -> MartOutcome:
    definition = built.definition
    name, peildatum, chosen = definition.name, built.peildatum, inputs.chosen
    base = definition.base or definition
    signature = input_signature(base, chosen, res.fingerprint(), inputs.regios)
    waiting = "; ".join(inputs.waiting)
    deliveries = delivery_ids(chosen)
    described = built.publication_metadata(deliveries, res.fingerprint())
    metadata = {"udc.mart": name, "udc.inputs": signature} | {
        f"udc.{key}": json.dumps(value) if isinstance(value, list) else value
        for key, value in described.items()
    }
    before = res.store.current(name)
    with timed(seconds, "publish", spans):
        release = res.store.publish(name, built.frame, metadata)
    logged = {"spans": spans, "deliveries": deliveries}
    stats = {
        "cells": built.cells,
        "suppressed": built.primary_suppressed + built.secondary_suppressed,
        "primary_suppressed": built.primary_suppressed,
        "secondary_suppressed": built.secondary_suppressed,
        "unplaced": built.unplaced,
        "release": release.release_id,
    }
    if choice is not None and choice.design is not None:
        # Internal only: the shares of designs not published say how many small cells
        # they had, so they stay out of the analysts' parquet.
        stats["design"] = choice.to_dict()
    if before is not None and before.release_id == release.release_id:
        return MartOutcome(
            name,
            "unchanged",
            f"{peildatum:%Y%m%d}",
            stats["cells"],
            stats["suppressed"],
            message=f"{name}: the same bytes as {release.release_id}"
            + (f"; {waiting}" if waiting else ""),
            release=release.release_id,
            **logged,
        )
    res.catalog.add_dataset(
        run_id=run_id,
        kind="mart",
        name=name,
        peildatum=peildatum,
        path=str(release.parquet),
        rows=built.frame.height,
        content_hash=release.content_hash,
        deliveries=[d.id for d in chosen.values()],
        stats=stats,
    )
    return MartOutcome(
        name,
        "published",
        f"{peildatum:%Y%m%d}",
        stats["cells"],
        stats["suppressed"],
        message=f"{name}: published without every member: {waiting}" if waiting else "",
        seconds=dict(seconds),
        release=release.release_id,
        **logged,
    )


def purpose_refusal(
    definition: MartDefinition, in_force: Mapping[str, tuple[PurposeSpec, PurposeVersion]]
) -> str:
    """Why a mart may not be built under the register (empty when it may): its purpose
    must be approved and unexpired, name the mart, and allow every column it reads."""
    name, purpose = definition.name, definition.purpose
    if purpose not in in_force:
        return (
            f"{name}: refused: its purpose {purpose!r} is not approved and in force (see "
            f"`udc purposes show {purpose}`); the mart is not built, the last published "
            "version stays"
        )
    spec, row = in_force[purpose]
    if name not in spec.marts:
        return (
            f"{name}: refused: purpose {purpose} (version {row.version}) does not name this "
            "mart; register a new version that does, or change the mart's purpose"
        )
    beyond = sorted(
        f"{source}.{column}"
        for source, columns in definition.inputs.items()
        for column in columns
        if column not in spec.sources.get(source, ())
    )
    if beyond:
        return (
            f"{name}: refused: it reads {', '.join(beyond)}, which purpose {purpose} "
            f"(version {row.version}) does not allow"
        )
    return ""


class StepFailed(Exception):
    """A step of a release failed as udc foresees (a mart that cannot be built, protection
    that cannot be proven, an audit that refuses): ``outcomes`` say why for each mart. The
    message names marts and the peildatum only, so the flow may let Prefect keep it."""

    def __init__(self, outcomes: list[MartOutcome]) -> None:
        self.outcomes = outcomes
        super().__init__("; ".join(o.message for o in outcomes))


@dataclass(frozen=True)
class PlannedRelease:
    """The marts of one peildatum to build, protect, audit and publish together."""

    peildatum: dt.date
    marts: tuple[str, ...]


@dataclass(frozen=True)
class MartPlan:
    settled: list[MartOutcome]  # refused, skipped and unchanged: nothing to build
    releases: list[PlannedRelease]


@dataclass(frozen=True)
class CountedMart:
    """One mart counted from the lake (build): its unprotected counts stay in memory."""

    counts: MartCounts  # the finest design (the mart itself when it lists none)
    inputs: ReleaseInputs  # the deliveries read, the members and regios it holds
    seconds: dict[str, float]
    span: tuple[float, float]
    designs: DesignCounts | None = None  # every design, counted when asked for

    @property
    def chosen(self) -> dict[str, Delivery]:
        return self.inputs.chosen


def designs_counting_seconds(counted: Sequence[CountedMart]) -> float:
    """Seconds spent counting the marts' designs so far: the choice counts some late."""
    return sum(c.designs.seconds for c in counted if c.designs is not None)


@dataclass(frozen=True)
class ProtectedRelease:
    peildatum: dt.date
    built: list[MartTable]
    inputs: dict[str, ReleaseInputs]  # per mart
    fingerprints: dict[str, dict[str, str]]
    earlier: list[AuditInput]  # the still-readable releases of this peildatum
    seconds: dict[str, float]
    spans: dict[str, list[float]]
    stats: ProtectionStats = field(default_factory=ProtectionStats)
    designs: dict[str, DesignChoice] = field(default_factory=dict)

    @property
    def chosen(self) -> dict[str, dict[str, Delivery]]:
        """Per mart, the deliveries it reads."""
        return {name: inputs.chosen for name, inputs in self.inputs.items()}


@dataclass(frozen=True)
class AuditedRelease:
    protected: ProtectedRelease
    audits: list[TableAudit]
    seconds: dict[str, float]
    spans: dict[str, list[float]]


def plan_releases(res: Resources) -> MartPlan:
    """Every mart whose inputs changed goes into a release with the other marts of its
    peildatum (they are protected together: a changed mart can change the pattern of a
    mart it shares cells with). A release whose inputs did not change at all is left as it
    is. A mart the register of purposes does not allow is refused."""
    accepted = res.catalog.accepted_deliveries()
    in_force = res.catalog.purposes_in_force(res.today())
    settled: list[MartOutcome] = []
    releases: dict[dt.date, list[str]] = {}
    changed: set[dt.date] = set()
    for name in sorted(res.marts):
        definition = res.marts[name]
        refusal = purpose_refusal(definition, in_force)
        if refusal:
            settled.append(MartOutcome(name, "refused", message=refusal))
            continue
        choice = choose_release(definition, res.contracts, accepted, res.settings.regios)
        if isinstance(choice, str):
            settled.append(MartOutcome(name, "skipped", message=f"{name}: not built: {choice}"))
            continue
        peildatum = choice.peildatum
        releases.setdefault(peildatum, []).append(name)
        current = res.store.current(name)
        signature = input_signature(definition, choice.chosen, res.fingerprint(), choice.regios)
        if current is None or current.metadata.get("udc.inputs") != signature:
            changed.add(peildatum)
    planned = []
    for peildatum, names in sorted(releases.items()):
        if peildatum in changed:
            planned.append(PlannedRelease(peildatum, tuple(names)))
            continue
        for name in names:
            current = res.store.current(name)
            assert current is not None
            settled.append(
                MartOutcome(
                    name,
                    "unchanged",
                    f"{peildatum:%Y%m%d}",
                    int(current.metadata.get("udc.cells", 0)),
                    int(current.metadata.get("udc.suppressed", 0)),
                    message=f"{name}: inputs unchanged since {current.release_id}",
                    release=current.release_id,
                )
            )
    return MartPlan(settled, planned)


def count_for_release(res: Resources, peildatum: dt.date, name: str) -> CountedMart:
    """Build: read the mart's inputs from the lake and count every cell of its grid."""
    started = time.time()
    definition = res.marts[name]
    accepted = res.catalog.accepted_deliveries()
    choice = choose_release(definition, res.contracts, accepted, res.settings.regios)
    if isinstance(choice, str) or choice.peildatum != peildatum:
        # The catalog changed since the plan (another run): this release is stale.
        raise StepFailed(_failed([name], peildatum, "not built: its inputs changed meanwhile"))
    chosen = choice.chosen
    lacking = lacking_columns(res.lake, definition, chosen)
    if lacking:
        raise StepFailed([MartOutcome(name, "failed", f"{peildatum:%Y%m%d}", message=lacking)])
    seconds: dict[str, float] = {}
    # Members are read as they are counted: their reading is part of mart_count.
    with timed(seconds, "mart_read"):
        tables = read_release_inputs(res.lake, definition, choice, res.settings.regios)
    try:
        with timed(seconds, "mart_count"):
            designs = count_designs(
                definition, tables, peildatum, res.record_key(), res.workspace.counting_scratch
            )
    except MartError as exc:
        raise StepFailed(
            _failed([name], peildatum, f"not built: {exc}; the last published version stays")
        ) from None
    return CountedMart(designs[0], choice, seconds, (started, time.time()), designs)


def read_release_inputs(
    lake: Lake, definition: MartDefinition, inputs: ReleaseInputs, regios: Mapping[str, Regio]
) -> dict[str, pl.DataFrame] | Iterator[dict[str, pl.DataFrame]]:
    """The mart's allowed columns of its deliveries: one set of tables in a workspace of one
    municipality, a set per member otherwise, read as counting comes to it (one member's
    inputs in memory at a time), whose buurtindeling names the regio each gemeente's
    figures add up to (where that regio is published)."""
    if inputs.members == (None,):
        return {
            source: lake.read(source, delivery.peildatum, list(definition.inputs[source]))
            for source, delivery in inputs.chosen.items()
        }
    return _member_inputs(lake, definition, inputs, regios)


def _member_inputs(
    lake: Lake, definition: MartDefinition, inputs: ReleaseInputs, regios: Mapping[str, Regio]
) -> Iterator[dict[str, pl.DataFrame]]:
    regio_of = {g: code for code, members in inputs.regios.items() for g in members}
    for member in inputs.members:
        tables = {
            source: lake.read(
                source, delivery.peildatum, list(definition.inputs[source]), member
            )
            for source, delivery in inputs.member_inputs(member).items()
        }
        code = regio_of.get(member or "")
        tables[GEOGRAPHY_SOURCE] = tables[GEOGRAPHY_SOURCE].with_columns(
            pl.lit(code, pl.String).alias("regiocode"),
            pl.lit(regios[code].naam if code else None, pl.String).alias("regionaam"),
        )
        yield tables


def protect_release(
    res: Resources, peildatum: dt.date, counted: Sequence[CountedMart]
) -> ProtectedRelease:
    """Protect: primary and secondary suppression (or the cell key) over the counted marts
    of the release together, keeping what earlier releases of the peildatum showed."""
    names = [c.counts.definition.name for c in counted]
    seconds: dict[str, float] = {}
    for item in counted:
        for stage, spent in item.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + spent
    spans = {"aggregate": [min(c.span[0] for c in counted), max(c.span[1] for c in counted)]}
    inputs = {c.counts.definition.name: c.inputs for c in counted}
    chosen = {name: item.chosen for name, item in inputs.items()}
    fingerprints = {
        name: measure_fingerprints(res.marts[name], delivery_ids(chosen[name])) for name in names
    }
    earlier = [
        release_input(release)
        for name in names
        for release in earlier_releases(res.store, name, peildatum)
    ]
    ptables = [res.workspace.root / "config" / "ptables"]
    alone: dict[int, tuple[MartTable, ProtectionStats]] = {}

    def protect_alone(counts: MartCounts, stop_over: float | None) -> float:
        cells = sum(len(t.values) for t in counts.measures)
        limit = None if stop_over is None else math.floor(stop_over * cells)
        try:
            (built,), stats = protect_marts([counts], ptables, max_hidden=limit)
        except HiddenLimitReached as stopped:
            return stopped.hidden / cells
        alone[id(counts)] = (built, stats)
        return (built.primary_suppressed + built.secondary_suppressed) / built.cells

    counted_before = designs_counting_seconds(counted)
    try:
        with timed(seconds, "protect", spans):
            built, stats, choices = protect_designs(
                [c.designs or (c.counts,) for c in counted],
                lambda counts: protect_marts(
                    counts, ptables, shown_before(counts, fingerprints, earlier), alone
                ),
                protect_alone,
                earlier_designs(names, fingerprints, earlier),
            )
        # Designs the choice reached are counted then: counting, not protection.
        counted_later = designs_counting_seconds(counted) - counted_before
        seconds["mart_count"] = seconds.get("mart_count", 0.0) + counted_later
        seconds["protect"] -= counted_later
    except MartError as exc:
        raise StepFailed(
            _failed(names, peildatum, f"not built: {exc}; the last published version stays")
        ) from None
    except DisclosureError as exc:
        raise StepFailed(
            _failed(
                names,
                peildatum,
                f"not published, protection could not be proven: {exc}; the last published "
                "version stays",
            )
        ) from None
    finally:
        for item in counted:
            if item.designs is not None:
                item.designs.close()
    return ProtectedRelease(
        peildatum, built, inputs, fingerprints, earlier, seconds, spans, stats,
        {choice.mart: choice for choice in choices},
    )  # fmt: skip


def audit_release(res: Resources, protected: ProtectedRelease) -> AuditedRelease:
    """Audit: the independent disclosure audit of exactly the frames about to be published,
    read together with the earlier releases of the peildatum. Nothing of a release it
    refuses is published: the last published versions stay."""
    seconds, spans = dict(protected.seconds), dict(protected.spans)
    with timed(seconds, "audit", spans):
        audits, refusal = audit_gate(
            protected.built, res.marts, protected.fingerprints, protected.earlier
        )
    if refusal:
        names = [b.definition.name for b in protected.built]
        raise StepFailed(_failed(names, protected.peildatum, refusal))
    return AuditedRelease(protected, audits, seconds, spans)


def publish_audited(res: Resources, audited: AuditedRelease, run_id: str) -> list[MartOutcome]:
    """Publish: every mart of an audited release; marts whose bytes come out the same keep
    their release (unchanged)."""
    protected = audited.protected
    seconds = dict(audited.seconds)
    outcomes, release_ids = [], {}
    for table in protected.built:
        name = table.definition.name
        outcome = _publish(
            res, table, protected.inputs[name], run_id, seconds, dict(audited.spans),
            protected.designs.get(name),
        )  # fmt: skip
        release_ids[name] = outcome.release
        outcomes.append(outcome)
    res.catalog.add_audits(audit_records(audited.audits, release_ids))
    # The release's stage times go with its first mart only, so sums stay true.
    return [
        dataclasses.replace(outcome, seconds=seconds if number == 0 else {})
        for number, outcome in enumerate(outcomes)
    ]


def publish_release(res: Resources, release: PlannedRelease, run_id: str) -> list[MartOutcome]:
    """Build, protect, audit and publish one release in this process, one step after the
    other; the flow runs the same steps as Prefect tasks."""
    outcomes, counted = [], []
    for name in release.marts:
        try:
            counted.append(count_for_release(res, release.peildatum, name))
        except StepFailed as failed:
            outcomes += failed.outcomes
    if not counted:
        return outcomes
    try:
        audited = audit_release(res, protect_release(res, release.peildatum, counted))
    except StepFailed as failed:
        return outcomes + failed.outcomes
    return outcomes + publish_audited(res, audited, run_id)


def publish_marts(res: Resources, run_id: str) -> list[MartOutcome]:
    """Plan the releases, then build, protect, audit and publish each."""
    plan = plan_releases(res)
    outcomes = list(plan.settled)
    for release in plan.releases:
        outcomes += publish_release(res, release, run_id)
    return sorted(outcomes, key=lambda o: o.mart)


def published_marts(ws: Workspace) -> list[dict]:
    """What analysts can query now, with where it came from."""
    res = open_resources(ws.root)
    found = []
    for name in res.store.names():
        release = res.store.current(name)
        if release is None:
            continue
        datasets = [d for d in res.catalog.datasets("mart", name) if d.path == str(release.parquet)]
        stats = json.loads(datasets[-1].stats) if datasets and datasets[-1].stats else {}
        found.append(
            {
                "mart": name,
                "purpose": release.metadata.get("udc.purpose", ""),
                "peildatum": release.metadata.get("udc.peildatum", ""),
                "published_at": release.published_at,
                "release": release.release_id,
                "path": str(release.parquet),
                "cells": stats.get("cells", 0),
                "suppressed": stats.get("suppressed", 0),
                "design": release.metadata.get("udc.design"),
                "hidden_share": release.metadata.get("udc.hidden_share"),
                "min_cell_size": release.metadata.get("udc.min_cell_size"),
                "dimensions": json.loads(release.metadata.get("udc.dimensions", "[]")),
                "measures": json.loads(release.metadata.get("udc.measures", "[]")),
                "deliveries": json.loads(release.metadata.get("udc.deliveries", "[]")),
                "key_fingerprint": release.metadata.get("udc.key_fingerprint"),
                "stats": stats,
                "disclosure_audit": [
                    {
                        "measure": a.measure,
                        "audited_at": a.audited_at,
                        "suppressed": a.suppressed,
                        "exactly_determined": a.exact,
                        "narrower_than_required": a.too_narrow,
                        "shown_to_hold_whole_group": a.whole_groups,
                        "required_width": a.required_width,
                        "min_width": a.min_width,
                    }
                    for a in res.catalog.latest_audits(name, release.release_id)
                ]
                or (
                    "cell key method: every cell perturbed, nothing hidden, not audited"
                    if release.metadata.get("udc.protection") == "cell_key"
                    else "not audited yet: run `udc marts audit`"
                ),
                "protection": release.metadata.get("udc.protection", "suppression"),
            }
        )
    return found
