"""Load 1: pseudonymised, minimised microdata in parquet, one dataset per source and peildatum."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import polars as pl


class Lake:
    """The lake folder; files are written whole and then renamed into place. A delivery that
    names its gemeente goes under ``<source>/gemeente=GMnnnn/``; the columns of a dataset
    never hold the partition values, so hive readers (DuckDB, pyarrow) take the folders."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, source: str, peildatum: dt.date, gemeente: str | None = None) -> Path:
        folder = self.root / source
        if gemeente is not None:
            folder = folder / f"gemeente={gemeente}"
        return folder / f"peildatum={peildatum:%Y%m%d}" / f"{source}.parquet"

    def write(
        self, source: str, peildatum: dt.date, frame: pl.DataFrame, gemeente: str | None = None
    ) -> tuple[Path, str]:
        """Write a dataset atomically; returns its path and the SHA-256 of the file."""
        target = self.path(source, peildatum, gemeente)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        frame.write_parquet(staging, compression="zstd", statistics=False)
        digest = hashlib.sha256(staging.read_bytes()).hexdigest()
        os.replace(staging, target)
        return target, digest

    def columns(self, source: str, peildatum: dt.date, gemeente: str | None = None) -> list[str]:
        """The columns a dataset holds: only those the marts asked for when it was loaded."""
        return list(pl.read_parquet_schema(self.path(source, peildatum, gemeente)))

    def read(
        self,
        source: str,
        peildatum: dt.date,
        columns: list[str] | None = None,
        gemeente: str | None = None,
    ) -> pl.DataFrame:
        return pl.read_parquet(self.path(source, peildatum, gemeente), columns=columns)
