"""Build, protect and publish one mart from the lake: plain functions, wired by the flow."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field

from udc.catalog.models import Delivery
from udc.flows.ingest import timed
from udc.flows.resources import Resources, open_resources
from udc.marts.build import build_mart
from udc.marts.definitions import MartDefinition, MartError
from udc.marts.disclosure import DisclosureError
from udc.sources.contracts import Contract
from udc.workspace import Workspace


@dataclass(frozen=True)
class MartOutcome:
    mart: str
    status: str
    peildatum: str | None = None
    cells: int | None = None
    suppressed: int | None = None
    message: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

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


def publish_mart(res: Resources, name: str, run_id: str) -> MartOutcome:
    definition = res.marts[name]
    choice = choose_inputs(definition, res.contracts, res.catalog.accepted_deliveries())
    if isinstance(choice, str):
        return MartOutcome(name, "skipped", message=f"{name}: not built: {choice}")
    peildatum, chosen = choice
    signature = input_signature(definition, chosen, res.fingerprint())
    current = res.store.current(name)
    if current is not None and current.metadata.get("udc.inputs") == signature:
        return MartOutcome(
            name,
            "unchanged",
            f"{peildatum:%Y%m%d}",
            int(current.metadata.get("udc.cells", 0)),
            int(current.metadata.get("udc.suppressed", 0)),
            message=f"{name}: inputs unchanged since {current.release_id}",
        )
    seconds: dict[str, float] = {}
    with timed(seconds, "mart_read"):
        tables = {
            source: res.lake.read(source, delivery.peildatum, list(definition.inputs[source]))
            for source, delivery in chosen.items()
        }
    try:
        with timed(seconds, "mart_build"):
            built = build_mart(definition, tables, peildatum)
    except DisclosureError as exc:
        return MartOutcome(
            name,
            "failed",
            f"{peildatum:%Y%m%d}",
            message=f"{name}: not published, protection could not be proven: {exc}; "
            "the last published version stays",
        )
    except MartError as exc:
        return MartOutcome(
            name,
            "failed",
            f"{peildatum:%Y%m%d}",
            message=f"{name}: not built: {exc}; the last published version stays",
        )
    deliveries = [f"{s}:{d.peildatum:%Y%m%d}:{d.sha256}" for s, d in sorted(chosen.items())]
    described = built.publication_metadata(deliveries, res.fingerprint())
    metadata = {"udc.mart": name, "udc.inputs": signature} | {
        f"udc.{key}": json.dumps(value) if isinstance(value, list) else value
        for key, value in described.items()
    }
    with timed(seconds, "publish"):
        release = res.store.publish(name, built.frame, metadata)
    stats = {
        "cells": built.cells,
        "suppressed": built.primary_suppressed + built.secondary_suppressed,
        "primary_suppressed": built.primary_suppressed,
        "secondary_suppressed": built.secondary_suppressed,
        "unplaced": built.unplaced,
        "release": release.release_id,
    }
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
        seconds=seconds,
    )


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
                        "required_width": a.required_width,
                        "min_width": a.min_width,
                    }
                    for a in res.catalog.latest_audits(name, release.release_id)
                ]
                or "not audited yet: run `udc marts audit`",
            }
        )
    return found
