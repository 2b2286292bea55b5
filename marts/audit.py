"""The disclosure audit: of frames about to be published (the nightly flow, which publishes
nothing of a release that fails) and of published releases (``udc marts audit``). It reads
only what analysts would read: the frames, their dimensions and measures, and the links
the definitions declare.

Releases stay readable after a newer one of the same peildatum (a rebuild after a changed
definition, say). Where a measure's fingerprint says both hold the same values, an
attacker combines them: a cell either release publishes is known. The audit reads that
combined view (``earlier``): a cell counts as hidden only where every such release hides
it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from udc.marts.build import (
    CODE_COLUMN,
    MartCounts,
    MartTable,
    member_of_area_expr,
    tied_members,
)
from udc.marts.definitions import MartDefinition
from udc.marts.intervals import (
    CODE,
    LEVEL,
    SECRET_SUFFIX,
    IntervalError,
    Link,
    TableAudit,
    WholeGroup,
    audit_release,
    published_tables,
)
from udc.marts.publish import MartStore, Release
from udc.marts.release import cells_shown


def declared_links(definitions: Mapping[str, MartDefinition]) -> list[Link]:
    """The cells that measures declare equal (``same_as``): what an attacker knows too."""
    return [
        ((d.name, m.name), tuple(m.same_as.split(".")))  # type: ignore[misc]
        for d in definitions.values()
        for m in d.measures
        if m.same_as
    ]


def declared_groups(definitions: Mapping[str, MartDefinition]) -> list[WholeGroup]:
    """The cells that must not be shown to hold their whole group: along each measure's
    ``group_disclosure`` dimensions, and each ratio's numerator within its denominator."""
    groups = [
        WholeGroup(d.name, m.name, along=dimension)
        for d in definitions.values()
        for m in d.measures
        for dimension in m.group_disclosure
    ]
    groups += [
        WholeGroup(d.name, r.numerator, total_measure=r.denominator)
        for d in definitions.values()
        for r in d.ratios
        if r.group_disclosure
    ]
    return groups


@dataclass(frozen=True)
class AuditInput:
    mart: str
    frame: pl.DataFrame
    dimensions: list[str]
    measures: list[str]
    required_width: int
    protection: str = "suppression"
    # Sums (magnitudes): their protection depends on the contributions, which the audit
    # cannot see; it checks that none is exactly determined.
    sums: tuple[str, ...] = ()
    # Per measure, what its true values depend on (``build.measure_fingerprints``).
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    design: str | None = None  # the table design it is published in (``design``)


def audit_input(
    mart: str,
    frame: pl.DataFrame,
    definition: MartDefinition,
    fingerprints: Mapping[str, str] | None = None,
) -> AuditInput:
    """A frame about to be published, with what its definition says it must keep."""
    return AuditInput(
        mart,
        frame,
        [d.name for d in definition.dimensions],
        [m.name for m in definition.measures],
        definition.protection_level or definition.min_cell_size,
        definition.protection,
        tuple(m.name for m in definition.measures if m.kind == "sum"),
        dict(fingerprints or {}),
        definition.design.name if definition.design else None,
    )


def release_input(release: Release) -> AuditInput:
    """A published release, read as an analyst reads it: its parquet and its metadata."""
    metadata = release.metadata
    width = metadata.get("udc.protection_level", metadata["udc.min_cell_size"])
    return AuditInput(
        release.mart,
        pl.read_parquet(release.parquet),
        json.loads(metadata["udc.dimensions"]),
        json.loads(metadata["udc.measures"]),
        int(width),
        metadata.get("udc.protection", "suppression"),
        tuple(json.loads(metadata.get("udc.sums", "[]"))),
        json.loads(metadata.get("udc.measure_fingerprints", "{}")),
        metadata.get("udc.design"),
    )


def earlier_releases(
    store: MartStore, mart: str, peildatum: dt.date, besides: str | None = None
) -> list[Release]:
    """The still-readable releases of ``mart`` for ``peildatum``, other than ``besides``."""
    wanted = peildatum.isoformat()
    return [
        r
        for r in store.releases(mart)
        if r.metadata.get("udc.peildatum") == wanted and r.release_id != besides
    ]


def combined_view(item: AuditInput, earlier: Sequence[AuditInput]) -> AuditInput:
    """``item`` as an attacker who also reads ``earlier`` releases of its mart sees it: in
    every measure whose fingerprint says they hold the same values, a cell one of them
    publishes is published."""
    frame = item.frame
    keys = [LEVEL, CODE, *item.dimensions]
    for other in earlier:
        if other.mart != item.mart or other.dimensions != item.dimensions:
            continue
        for measure in item.measures:
            tied = tied_members(item.fingerprints, other.fingerprints, measure)
            if tied is not None and not tied:
                continue
            secret = f"{measure}{SECRET_SUFFIX}"
            shown = other.frame.filter(~pl.col(secret).fill_null(True))
            if tied is not None:
                # Only the members whose deliveries both releases read hold the same values.
                shown = shown.filter(member_of_area_expr(CODE).is_in(sorted(tied)))
            revealed = pl.col(secret).fill_null(False) & pl.col("_shown").is_not_null()
            frame = (
                frame.join(
                    shown.select(*keys, pl.col(measure).alias("_shown")),
                    on=keys,
                    how="left",
                    maintain_order="left",
                )
                .with_columns(
                    pl.when(revealed).then(pl.col("_shown")).otherwise(pl.col(measure))
                    .alias(measure),
                    pl.when(revealed).then(False).otherwise(pl.col(secret)).alias(secret),
                )
                .drop("_shown")
            )  # fmt: skip
    return dataclasses.replace(item, frame=frame)


def audit_tables(
    inputs: list[AuditInput],
    links: list[Link],
    groups: list[WholeGroup],
    earlier: Sequence[AuditInput] = (),
) -> list[TableAudit]:
    """Audit marts together: every measure's table, linked cells tied, whole groups
    checked, each mart as seen together with the ``earlier`` releases of its peildatum.
    Marts under the cell key method hide nothing and their totals need not add up, so
    they are not audited."""
    tables, widths = [], []
    for item in inputs:
        if item.protection == "cell_key":
            continue
        seen = combined_view(item, earlier)
        for table in published_tables(seen.mart, seen.frame, seen.dimensions, seen.measures):
            tables.append(table)
            widths.append(1 if table.measure in item.sums else item.required_width)
    return audit_release(tables, links, widths, groups)


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
                tied = tied_members(fingerprints[name], item.fingerprints, measure)
                if tied is not None and not tied:
                    continue
                hidden, published = cells_shown(item.frame, counts, table)
                if tied is not None:
                    codes = table.grid.select(member_of_area_expr(CODE_COLUMN).is_in(sorted(tied)))
                    within = codes.to_series().fill_null(False).to_numpy()
                    hidden, published = hidden & within, published & within
                if (name, measure) in found:
                    hid, shown = found[(name, measure)]
                    hidden, published = hid | hidden, shown | published
                found[(name, measure)] = (hidden & ~published, published)
    return found


def earlier_designs(
    names: Sequence[str],
    fingerprints: Mapping[str, Mapping[str, str]],
    earlier: Sequence[AuditInput],
) -> dict[str, str]:
    """Per mart, the design of an earlier release that holds the same values as this one in
    some measure: the rebuild must keep it (two designs of the same values would be linked
    tables that neither release was protected against)."""
    found = {}
    for item in earlier:
        if item.mart not in names or item.design is None:
            continue
        ours = fingerprints.get(item.mart, {})
        if any(ours.get(m) == f for m, f in item.fingerprints.items()):
            found.setdefault(item.mart, item.design)
    return found


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


def audit_published(
    store: MartStore,
    links: list[Link],
    groups: list[WholeGroup],
    marts: list[str] | None = None,
    peildatum: dt.date | None = None,
) -> tuple[list[TableAudit], dict[str, str]]:
    """Audit the published releases of ``marts`` (default: all) together: the current ones,
    or with ``peildatum`` the newest release of that peildatum, each as seen with the other
    releases of its peildatum. Returns the audits and the release id of each mart audited."""
    releases = []
    for name in marts or store.names():
        if peildatum is None:
            release = store.current(name)
        else:
            wanted = peildatum.isoformat()
            found = [r for r in store.releases(name) if r.metadata["udc.peildatum"] == wanted]
            release = found[-1] if found else None
        if release is not None:
            releases.append(release)
    inputs = [release_input(r) for r in releases]
    earlier = [
        release_input(other)
        for release in releases
        for other in earlier_releases(
            store,
            release.mart,
            dt.date.fromisoformat(release.metadata["udc.peildatum"]),
            release.release_id,
        )
    ]
    audits = audit_tables(inputs, links, groups, earlier)
    return audits, {r.mart: r.release_id for r in releases}


def audit_records(
    audits: list[TableAudit], release_ids: Mapping[str, str]
) -> list[dict[str, object]]:
    """What the catalog keeps of each table's audit (counts and widths, never a value)."""
    records = []
    for audit in audits:
        width = audit.min_width
        records.append(
            {
                "mart": audit.mart,
                "release_id": release_ids[audit.mart],
                "measure": audit.measure,
                "cells": audit.cells,
                "suppressed": len(audit.intervals),
                "exact": len(audit.exact),
                "too_narrow": len(audit.too_narrow),
                "whole_groups": len(audit.whole_groups),
                "required_width": audit.required_width,
                "min_width": None if width is None or width == float("inf") else width,
            }
        )
    return records
