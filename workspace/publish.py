"""Build, protect, audit and publish the marts from the lake: plain functions, wired by the flow."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from udc.catalog.models import Delivery, PurposeVersion
from udc.catalog.register import PurposeSpec
from udc.marts.audit import (
    AuditInput,
    audit_input,
    audit_records,
    audit_tables,
    declared_groups,
    declared_links,
    earlier_releases,
    release_input,
)
from udc.marts.build import MartCounts, MartTable, count_mart, measure_fingerprints
from udc.marts.definitions import MartDefinition, MartError
from udc.marts.intervals import IntervalError, TableAudit
from udc.marts.release import cells_shown, protect_marts
from udc.marts.tables import DisclosureError
from udc.sources.contracts import Contract
from udc.sources.lake import Lake
from udc.workspace.layout import Workspace
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


def input_signature(
    definition: MartDefinition, chosen: dict[str, Delivery], fingerprint: str
) -> str:
    """What a release depends on: its definition, its deliveries and the key."""
    payload = {
        "definition": repr(definition),
        "deliveries": sorted((s, d.sha256) for s, d in chosen.items()),
        "key": fingerprint,
    }
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
    for source, delivery in sorted(chosen.items()):
        missing = sorted(
            set(definition.inputs[source]) - set(lake.columns(source, delivery.peildatum))
        )
        if missing:
            return (
                f"{definition.name}: not built: the {source} delivery of "
                f"{delivery.peildatum:%Y%m%d} was loaded without {', '.join(missing)} (no mart "
                f"needed it then); it is read from the next {source} delivery, and the last "
                "published version stays"
            )
    return ""


def shown_before(
    counted: Sequence[MartCounts],
    fingerprints: Mapping[str, Mapping[str, str]],
    earlier: Sequence[AuditInput],
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Per (mart, measure), the cells that earlier releases of the peildatum with the same
    values hid and those they published (hidden in one, published in another: published)."""
    found: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for counts in counted:
        name = counts.definition.name
        for item in earlier:
            if item.mart != name:
                continue
            for table in counts.measures:
                measure = table.measure.name
                if item.fingerprints.get(measure) != fingerprints[name].get(measure):
                    continue
                hidden, published = cells_shown(item.frame, counts, table)
                if (name, measure) in found:
                    hid, shown = found[(name, measure)]
                    hidden, published = hid | hidden, shown | published
                found[(name, measure)] = (hidden & ~published, published)
    return found


def delivery_ids(chosen: dict[str, Delivery]) -> list[str]:
    """The deliveries a mart reads, as its metadata names them."""
    return [f"{s}:{d.peildatum:%Y%m%d}:{d.sha256}" for s, d in sorted(chosen.items())]


def audit_gate(
    built: list[MartTable],
    definitions: Mapping[str, MartDefinition],
    fingerprints: Mapping[str, Mapping[str, str]] | None = None,
    earlier: Sequence[AuditInput] = (),
) -> tuple[list[TableAudit], str]:
    """The disclosure audit of frames about to be published, together with the ``earlier``
    releases of their peildatum still readable, and why they must not be published (empty
    when every hidden cell keeps its protection and no whole group shows)."""
    fingerprints = fingerprints or {}
    inputs = [
        audit_input(b.definition.name, b.frame, b.definition, fingerprints.get(b.definition.name))
        for b in built
    ]
    try:
        audits = audit_tables(
            inputs, declared_links(definitions), declared_groups(definitions), earlier
        )
    except IntervalError as exc:
        return [], (
            f"not published: the disclosure audit of the {built[0].peildatum:%Y%m%d} release "
            f"cannot read it: {exc}; the last published version stays"
        )
    narrow = sum(len(a.too_narrow) for a in audits)
    whole = sum(len(a.whole_groups) for a in audits)
    if not narrow and not whole:
        return audits, ""
    found = []
    if narrow:
        found.append(f"narrows {narrow} hidden cell(s) below their protection")
    if whole:
        found.append(f"shows {whole} cell(s) to hold their whole group")
    together = (
        f" (read together with the {len(earlier)} earlier release(s) of "
        "this peildatum, which stay readable)"
        if earlier
        else ""
    )
    return audits, (
        f"not published: the disclosure audit of the {built[0].peildatum:%Y%m%d} release "
        f"{' and '.join(found)}{together}; the last published version stays"
    )


def publish_release(
    res: Resources, peildatum: dt.date, names: list[str], run_id: str
) -> list[MartOutcome]:
    """Count, protect together, audit and publish the marts of one peildatum.

    Nothing of the release is published unless the disclosure audit, run on exactly the
    frames about to be published, finds every hidden cell wide enough: the last published
    versions stay. Marts whose bytes come out the same keep their release (unchanged).
    """
    accepted = res.catalog.accepted_deliveries()
    seconds: dict[str, float] = {}
    spans: dict[str, list[float]] = {}
    counted, chosen_by_mart, outcomes = [], {}, []
    aggregate_started = time.time()
    for name in names:
        definition = res.marts[name]
        choice = choose_inputs(definition, res.contracts, accepted)
        assert not isinstance(choice, str)
        _, chosen = choice
        chosen_by_mart[name] = chosen
        lacking = lacking_columns(res.lake, definition, chosen)
        if lacking:
            outcomes.append(MartOutcome(name, "failed", f"{peildatum:%Y%m%d}", message=lacking))
            continue
        with timed(seconds, "mart_read"):
            tables = {
                source: res.lake.read(source, delivery.peildatum, list(definition.inputs[source]))
                for source, delivery in chosen.items()
            }
        try:
            with timed(seconds, "mart_count"):
                counted.append(count_mart(definition, tables, peildatum))
        except MartError as exc:
            outcomes.append(
                MartOutcome(
                    name,
                    "failed",
                    f"{peildatum:%Y%m%d}",
                    message=f"{name}: not built: {exc}; the last published version stays",
                )
            )
    spans["aggregate"] = [aggregate_started, time.time()]
    if not counted:
        return outcomes
    built_names = [c.definition.name for c in counted]
    fingerprints = {
        name: measure_fingerprints(res.marts[name], delivery_ids(chosen_by_mart[name]))
        for name in built_names
    }
    earlier = [
        release_input(release)
        for name in built_names
        for release in earlier_releases(res.store, name, peildatum)
    ]
    try:
        with timed(seconds, "protect", spans):
            built, _ = protect_marts(
                counted,
                [res.workspace.root / "config" / "ptables"],
                shown_before(counted, fingerprints, earlier),
            )
    except MartError as exc:
        return outcomes + _failed(
            built_names, peildatum, f"not built: {exc}; the last published version stays"
        )
    except DisclosureError as exc:
        return outcomes + _failed(
            built_names,
            peildatum,
            f"not published, protection could not be proven: {exc}; the last published "
            "version stays",
        )
    with timed(seconds, "audit", spans):
        audits, refusal = audit_gate(built, res.marts, fingerprints, earlier)
    if refusal:
        return outcomes + _failed(built_names, peildatum, refusal)
    release_ids = {}
    for number, table in enumerate(built):
        name = table.definition.name
        outcome = _publish(res, table, chosen_by_mart[name], run_id, seconds, dict(spans))
        # The release's stage times go with its first mart only, so sums stay true.
        if number:
            outcome = dataclasses.replace(outcome, seconds={})
        release_ids[name] = outcome.release
        outcomes.append(outcome)
    res.catalog.add_audits(audit_records(audits, release_ids))
    return outcomes


def _publish(
    res: Resources,
    built: MartTable,
    chosen: dict[str, Delivery],
    run_id: str,
    seconds: dict[str, float],
    spans: dict[str, list[float]],
) -> MartOutcome:
    definition = built.definition
    name, peildatum = definition.name, built.peildatum
    signature = input_signature(definition, chosen, res.fingerprint())
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
    if before is not None and before.release_id == release.release_id:
        return MartOutcome(
            name,
            "unchanged",
            f"{peildatum:%Y%m%d}",
            stats["cells"],
            stats["suppressed"],
            message=f"{name}: the same bytes as {release.release_id}",
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


def publish_marts(res: Resources, run_id: str) -> list[MartOutcome]:
    """Every mart whose inputs changed, with the other marts of its peildatum (they are
    protected together: a changed mart can change the pattern of a mart it shares cells
    with). A release whose inputs did not change at all is left as it is. A mart the
    register of purposes does not allow is refused."""
    accepted = res.catalog.accepted_deliveries()
    in_force = res.catalog.purposes_in_force(res.today())
    outcomes: list[MartOutcome] = []
    releases: dict[dt.date, list[str]] = {}
    changed: set[dt.date] = set()
    for name in sorted(res.marts):
        definition = res.marts[name]
        refusal = purpose_refusal(definition, in_force)
        if refusal:
            outcomes.append(MartOutcome(name, "refused", message=refusal))
            continue
        choice = choose_inputs(definition, res.contracts, accepted)
        if isinstance(choice, str):
            outcomes.append(MartOutcome(name, "skipped", message=f"{name}: not built: {choice}"))
            continue
        peildatum, chosen = choice
        releases.setdefault(peildatum, []).append(name)
        current = res.store.current(name)
        signature = input_signature(definition, chosen, res.fingerprint())
        if current is None or current.metadata.get("udc.inputs") != signature:
            changed.add(peildatum)
    for peildatum, names in sorted(releases.items()):
        if peildatum in changed:
            outcomes += publish_release(res, peildatum, names, run_id)
            continue
        for name in names:
            current = res.store.current(name)
            assert current is not None
            outcomes.append(
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
