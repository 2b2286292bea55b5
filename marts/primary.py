"""Primary suppression rules: which published cells are unsafe on their own.

Each rule looks at one cell (and, for group disclosure, the total of its group) and says
whether publishing it discloses something about a person or household. Secondary
suppression (``protection``) then hides complements so that the unsafe cells cannot be
computed back. The rules are pure numpy functions on aligned arrays, one element per cell,
so the build and the global protection across marts can share them.

Three kinds of disclosure are covered:

* identity disclosure by small counts (``count_unsafe``), also of the contributors to a
  magnitude;
* attribute disclosure: a group whose members all share the sensitive value
  (``group_disclosure_unsafe``, ``along_dimension_total_rows``);
* a magnitude dominated by its largest contributors (the p%-rule, ``dominance_unsafe``):
  the second largest can estimate the largest too closely.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = [
    "along_dimension_total_rows",
    "count_unsafe",
    "dominance_protection",
    "dominance_unsafe",
    "group_disclosure_unsafe",
    "totals_at",
]


def count_unsafe(values: np.ndarray, min_cell_size: int) -> np.ndarray:
    """Count cells with ``0 < n < min_cell_size``.

    A small count lets someone who knows a few of the persons in the cell recognise them
    and learn the rest of the cell's description. Zero is safe: it discloses nobody, and
    structural zeros carry no information about a person.
    """
    values = np.asarray(values)
    return (values > 0) & (values < min_cell_size)


def dominance_unsafe(
    total: np.ndarray, largest: np.ndarray, second: np.ndarray, p: float
) -> np.ndarray:
    """The p%-rule: a magnitude cell ``X`` with largest contributions ``x1 >= x2`` is unsafe
    when ``X - x1 - x2 < p/100 * x1``. The second largest contributor knows ``x2`` and reads
    ``X``; the rest is all that stands between it and ``x1``, so it must be at least p% of
    ``x1``. One or two contributors are always unsafe (nothing stands between)."""
    total, largest, second = (np.asarray(a, dtype=np.float64) for a in (total, largest, second))
    return (total > 0) & (total - largest - second < p / 100 * largest)


def dominance_protection(
    total: np.ndarray, largest: np.ndarray, second: np.ndarray, p: float
) -> np.ndarray:
    """How far a cell unsafe by the p%-rule must be able to move, up and down, in whole
    units: ``p/100 * x1 - (X - x1 - x2)`` rounded up (Hundepool et al., Statistical
    Disclosure Control, 4.2), so that ``x2`` plus the attacker's interval never pins ``x1``
    closer than p%. 0 where the rule holds."""
    total, largest, second = (np.asarray(a, dtype=np.float64) for a in (total, largest, second))
    needed = p / 100 * largest - (total - largest - second)
    return np.maximum(np.ceil(needed - 1e-9), 0.0)


def group_disclosure_unsafe(values: np.ndarray, group_totals: np.ndarray) -> np.ndarray:
    """Cells with ``0 < value == group total``: every member of a published group shares
    the cell's sensitive value, for instance all residents of a buurt receive bijstand, or
    all persons with a scheme in a wijk have '3+' schemes. Anyone who knows that a person
    belongs to the group then knows the sensitive value, however large the cell is.

    ``group_totals`` holds, per cell, the total of its group (aligned with ``values``); NaN
    where a cell has no group total, which never matches. An empty group (0 of 0) says
    nothing about anyone and is safe.
    """
    values = np.asarray(values)
    return (values > 0) & (values == np.asarray(group_totals))


def along_dimension_total_rows(
    coordinates: pl.DataFrame, dimension: str, total_label: str = "totaal"
) -> np.ndarray:
    """Per cell, the row of the cell with the same other coordinates and
    ``dimension == total_label``: its group's total along an additive dimension.

    -1 for the total cells themselves (a group is not disclosed by itself) and for cells
    whose total is not in the table.
    """
    if dimension not in coordinates.columns:
        raise ValueError(f"coordinates have no column {dimension!r}")
    others = [c for c in coordinates.columns if c != dimension]
    # A constant key lets a one-dimensional table join its single total like any other.
    key = "__group__"
    cells = coordinates.with_columns(pl.lit(0).alias(key)).with_row_index("__row__")
    is_total = pl.col(dimension) == total_label
    totals = cells.filter(is_total).select(key, *others, pl.col("__row__").alias("__total__"))
    if totals.select(key, *others).is_duplicated().any():
        raise ValueError(f"two cells are the {total_label!r} of {dimension!r} for one group")
    joined = cells.join(totals, on=[key, *others], how="left", maintain_order="left")
    rows = joined.select(pl.when(is_total).then(None).otherwise(pl.col("__total__")))
    return rows.to_series().fill_null(-1).cast(pl.Int64).to_numpy()


def totals_at(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values`` at ``rows`` as float, NaN where a row is -1: the group totals to pass to
    ``group_disclosure_unsafe``."""
    rows = np.asarray(rows)
    found = np.asarray(values, dtype=np.float64)[np.maximum(rows, 0)]
    return np.where(rows >= 0, found, np.nan)
