"""The disclosure audit of the published marts: reads the current releases, nothing else."""

from __future__ import annotations

import json

import polars as pl

from udc.marts.intervals import TableAudit, audit_table, published_tables
from udc.marts.publish import MartStore


def audit_published(store: MartStore, marts: list[str] | None = None) -> list[TableAudit]:
    """Audit every table of the current release of ``marts`` (default: all published)."""
    audits = []
    for name in marts or store.names():
        release = store.current(name)
        if release is None:
            raise KeyError(name)
        frame = pl.read_parquet(store.current_path(name))
        metadata = release.metadata
        required = int(metadata["udc.min_cell_size"])
        for table in published_tables(
            name,
            frame,
            json.loads(metadata["udc.dimensions"]),
            json.loads(metadata["udc.measures"]),
        ):
            audits.append(audit_table(table, required))
    return audits
