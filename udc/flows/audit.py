"""The disclosure audit of the published marts: reads the current releases, nothing else."""

from __future__ import annotations

import json
from collections.abc import Mapping

import polars as pl

from udc.marts.definitions import MartDefinition
from udc.marts.intervals import Link, TableAudit, audit_release, published_tables
from udc.marts.publish import MartStore


def declared_links(definitions: Mapping[str, MartDefinition]) -> list[Link]:
    """The cells that measures declare equal (``same_as``): what an attacker knows too."""
    return [
        ((d.name, m.name), tuple(m.same_as.split(".")))  # type: ignore[misc]
        for d in definitions.values()
        for m in d.measures
        if m.same_as
    ]


def audit_published(
    store: MartStore, links: list[Link], marts: list[str] | None = None
) -> tuple[list[TableAudit], dict[str, str]]:
    """Audit the current releases of ``marts`` (default: all published) together; returns
    the audits and the release id of each mart audited."""
    tables, widths, release_ids = [], [], {}
    for name in marts or store.names():
        release = store.current(name)
        if release is None:
            raise KeyError(name)
        release_ids[name] = release.release_id
        frame = pl.read_parquet(release.parquet)
        metadata = release.metadata
        for table in published_tables(
            name,
            frame,
            json.loads(metadata["udc.dimensions"]),
            json.loads(metadata["udc.measures"]),
        ):
            tables.append(table)
            widths.append(int(metadata["udc.min_cell_size"]))
    return audit_release(tables, links, widths), release_ids


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
                "required_width": audit.required_width,
                "min_width": None if width is None or width == float("inf") else width,
            }
        )
    return records
