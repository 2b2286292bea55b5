"""Delivery defects at low rates, so that validation and terugmelding have real work.

Each function takes the rows of a delivery (all text) and returns them with some rows
damaged the way real extracts are damaged. BSN errors stick to the person (keyed on the
BSN), so they recur in later deliveries; the others are drawn per delivery from a generator
seeded with the city seed, the peildatum and the source.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from udc.sources.synthetic._keyed import RESIDENT_INDEX_LIMIT, Keyed, bsn_indices_to_numbers
from udc.sources.synthetic.geography import UNUSED_PAIRS
from udc.sources.synthetic.residents import bsn_text

_OUTSIDER_INDICES = 1_000_000


def pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """``rate`` of ``n`` rows, rounded: a small delivery gets no defect of a rare kind."""
    return np.sort(rng.choice(n, size=round(rate * n), replace=False))


def _patched(frame: pl.DataFrame, column: str, rows: np.ndarray, values: pl.Series) -> pl.DataFrame:
    series = frame.get_column(column).clone()
    if rows.size:
        series.scatter(rows, values)
    return frame.with_columns(series)


def _apply(frame: pl.DataFrame, column: str, rows: np.ndarray, change: pl.Expr) -> pl.DataFrame:
    values = frame.select(pl.col(column).gather(rows)).select(change).to_series()
    return _patched(frame, column, rows, values)


def _by_person(
    frame: pl.DataFrame, column: str, rate: float, seed: int, stream: str, eligible: np.ndarray
) -> np.ndarray:
    """``rate`` of the rows, taking the eligible BSNs that rank lowest under a keyed hash.

    The ranking depends on the BSN only, so mostly the same people's data is wrong in every
    delivery; the count is rounded like ``pick``.
    """
    numbers = frame.get_column(column).cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    rank = np.where(eligible, Keyed(seed).uniform(stream, numbers), np.inf)
    count = min(round(rate * frame.height), int(eligible.sum()))
    return np.sort(np.argsort(rank, kind="stable")[:count])


def wrong_check_digit(frame: pl.DataFrame, column: str, rate: float, seed: int) -> pl.DataFrame:
    """Change the last digit: any change of d9 alone breaks the 11-check."""
    values = frame.get_column(column)
    nine_digits = (values.str.len_bytes() == 9).to_numpy()
    rows = _by_person(frame, column, rate, seed, "defect.check_digit." + column, nine_digits)
    shift = pl.Series(1 + (values.gather(rows).cast(pl.Int64) % 9))
    last = pl.col(column).str.slice(8, 1).cast(pl.Int64)
    change = pl.concat_str(
        [pl.col(column).str.slice(0, 8), ((last + pl.lit(shift)) % 10).cast(pl.String)]
    )
    return _apply(frame, column, rows, change)


def lost_leading_zero(frame: pl.DataFrame, column: str, rate: float, seed: int) -> pl.DataFrame:
    """A spreadsheet read the BSN as a number; ``rate`` is the share of all rows."""
    zero_first = frame.get_column(column).str.starts_with("0").to_numpy()
    rows = _by_person(frame, column, rate, seed, "defect.leading_zero." + column, zero_first)
    return _apply(frame, column, rows, pl.col(column).str.slice(1))


def duplicated(frame: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    """The same rows once more, right after the original."""
    order = np.sort(np.concatenate([np.arange(frame.height), rows]))
    return frame[order]


def spaced_postcode(frame: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    """``1234AB`` written as ``1234 ab``."""
    change = pl.concat_str(
        [
            pl.col("postcode").str.slice(0, 4),
            pl.lit(" "),
            pl.col("postcode").str.slice(4).str.to_lowercase(),
        ]
    )
    return _apply(frame, "postcode", rows, change)


def unknown_postcode(
    frame: pl.DataFrame, rows: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """A postcode with letters no address of the city has, so it is not in the buurtindeling."""
    letters = pl.Series(np.array(UNUSED_PAIRS)[rng.integers(0, len(UNUSED_PAIRS), rows.size)])
    change = pl.concat_str([pl.col("postcode").str.slice(0, 4), pl.lit(letters)])
    return _apply(frame, "postcode", rows, change)


def end_before_start(
    frame: pl.DataFrame, rows: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    back = pl.Series(rng.integers(1, 400, size=rows.size))
    change = (
        (pl.col("ingangsdatum").str.to_date("%Y%m%d") - pl.duration(days=pl.lit(back)))
        .dt.strftime("%Y%m%d")
        .alias("einddatum")
    )
    values = frame.select(pl.col("ingangsdatum").gather(rows)).select(change).to_series()
    return _patched(frame, "einddatum", rows, values)


def outsiders(
    frame: pl.DataFrame, column: str, rate: float, seed: int, rng: np.random.Generator
) -> pl.DataFrame:
    """Rows for people with a valid BSN who do not live in the city (not in the BRP)."""
    rows = pick(rng, frame.height, rate)
    index = RESIDENT_INDEX_LIMIT + rng.choice(_OUTSIDER_INDICES, size=rows.size, replace=False)
    extra = frame[rows].with_columns(bsn_text(bsn_indices_to_numbers(seed, index)).alias(column))
    combined = pl.concat([frame, extra])
    order = np.argsort(np.concatenate([np.arange(frame.height), rows]), kind="stable")
    return combined[order]
