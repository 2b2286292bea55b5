"""Turn validated delivery text into typed, minimised rows for the lake."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from udc.sources.contracts import Column, Contract
from udc.sources.reader import LINE_NUMBER

DATE_FORMAT = "%Y%m%d"


def _typed(column: Column) -> pl.Expr:
    value = pl.col(column.name)
    match column.type:
        case "date":
            return value.str.to_date(DATE_FORMAT, strict=False)
        case "integer":
            return value.cast(pl.Int64, strict=False)
        case "decimal":
            return value.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
        case "postcode":
            return value.str.replace_all(" ", "", literal=True).str.to_uppercase()
        case _:
            return value


def to_lake_frame(
    frame: pl.DataFrame,
    contract: Contract,
    keep: Collection[str],
    rejected_lines: Collection[int] = (),
) -> pl.DataFrame:
    """Drop rejected rows and every column no purpose needs, and give the rest their types.

    The BSN column (if the contract has one) is kept as text for pseudonymisation, which
    must follow immediately.
    """
    wanted = [c for c in contract.columns if c.name in keep or c.name == contract.bsn_column]
    present = [c for c in wanted if c.name in frame.columns]
    rows = frame
    if rejected_lines:
        rejected = pl.Series(LINE_NUMBER, sorted(rejected_lines), dtype=pl.Int64)
        rows = rows.filter(~pl.col(LINE_NUMBER).is_in(rejected.implode()))
    absent = [pl.lit(None, dtype=pl.String).alias(c.name) for c in wanted if c not in present]
    return rows.select(
        [_typed(c).alias(c.name) for c in present] + absent + [pl.col(LINE_NUMBER)]
    ).select([c.name for c in wanted] + [LINE_NUMBER])
