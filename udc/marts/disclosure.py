"""Disclosure control for one table of counts: primary and secondary cell suppression.

A table (``tables``) is a set of cells with linear relations: along every hierarchy a
total equals the sum of its children, rows of a sparse matrix ``R`` with ``R @ x = 0``.

Primary suppression hides the counts ``0 < n < min_cell_size``. Secondary suppression
hides complementary cells so that no hidden cell can be computed back from the published
cells of its own table. The attacker knows every published count and every relation, so a
hidden cell ``i`` is computable exactly when every vector ``v`` of the null space of
``R[:, hidden]`` has ``v_i = 0``. If some null vector has ``v_i != 0``, then ``x + t v``
for a small ``t`` of either sign satisfies every relation, agrees on all published cells
and keeps every hidden cell non-negative, because zeros are never hidden: every hidden cell
holds at least 1, so it can move both up and down and is not pinned. (An attacker who also
uses the bounds ``1 <= x < min_cell_size`` of hidden cells can sometimes narrow a cell to
an interval, rarely of width zero; that interval audit belongs to the global protection
across marts, which will solve it with a MILP.)

Secondary suppression runs the classic line heuristic to its fixed point (a relation with
exactly one hidden cell gets the smallest non-zero published cell of that relation hidden
as well), then verifies with the null space (``nullspace``). Each cell still computable
gets the cheapest box of complements around it (``boxes``): a set of hidden cells that can
move together, so the cell and the box's corners are then free by construction. If no box
exists the table is refused (``DisclosureError``: fail closed).

The functions are small and pure so that the global protection across marts can reuse them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse

from udc.marts.boxes import cheapest_box
from udc.marts.nullspace import (
    EXACT_LIMIT,
    NULL_TOLERANCE,
    SEED,
    components,
    incidence,
    null_vectors,
)
from udc.marts.tables import DisclosureError, Hierarchy, Table, table

__all__ = [
    "DisclosureError",
    "Hierarchy",
    "Protection",
    "check_table",
    "computable_cells",
    "free_cells",
    "line_heuristic",
    "primary_suppression",
    "protect",
    "secondary_suppression",
]


@dataclass(frozen=True)
class Protection:
    primary: np.ndarray  # bool per cell
    suppressed: np.ndarray  # bool per cell: primary or secondary

    @property
    def secondary(self) -> np.ndarray:
        return self.suppressed & ~self.primary


def primary_suppression(values: np.ndarray, min_cell_size: int) -> np.ndarray:
    """Cells with ``0 < n < min_cell_size``."""
    values = np.asarray(values)
    return (values > 0) & (values < min_cell_size)


def line_heuristic(
    relations: sparse.csr_array, values: np.ndarray, suppressed: np.ndarray
) -> np.ndarray:
    """Until no relation hides exactly one cell: hide the smallest non-zero published cell of
    each such relation (ties: the lowest cell index). Zeros are never chosen: a hidden zero
    gives no cover, since it cannot move down."""
    values = np.asarray(values)
    suppressed = np.asarray(suppressed, dtype=bool).copy()
    pattern = incidence(relations)
    while True:
        needy = np.flatnonzero(pattern @ suppressed.astype(np.int64) == 1)
        if not len(needy):
            return suppressed
        entries = pattern[needy].tocoo()
        rows, cols = entries.row, entries.col
        keep = ~suppressed[cols] & (values[cols] > 0)
        rows, cols = rows[keep], cols[keep]
        order = np.lexsort((cols, values[cols], rows))
        rows, cols = rows[order], cols[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        if first.sum() < len(needy):
            raise DisclosureError("a relation with one hidden cell has no cell to hide with it")
        suppressed[cols[first]] = True


def free_cells(
    table: Table,
    suppressed: np.ndarray,
    safe: np.ndarray | None = None,
    cache: dict[bytes, np.ndarray] | None = None,
) -> np.ndarray:
    """Hidden cells shown free (not computable).

    ``safe`` are cells shown free under a smaller hidden set; that proof stays valid when
    more cells are hidden, so components holding only such cells are skipped. Each
    component gets its own random generator, so its verdict depends on its cells alone;
    ``cache`` keeps verdicts by component and returns them when the same component recurs.
    """
    suppressed = np.asarray(suppressed, dtype=bool)
    known = np.zeros(len(suppressed), dtype=bool) if safe is None else safe & suppressed
    free = known.copy()
    hidden = np.flatnonzero(suppressed)
    if not len(hidden):
        return free
    hidden_relations = sparse.csr_array(table.relations.tocsc()[:, hidden])
    for cols, rows in components(hidden_relations):
        cells = hidden[cols]
        if known[cells].all():
            continue
        key = cells.tobytes()
        if cache is None or key not in cache:
            block = sparse.csr_array(hidden_relations[rows][:, cols])
            vectors = null_vectors(block, np.random.default_rng([SEED, int(cells[0])]))
            verdict = np.abs(vectors).max(axis=1) > NULL_TOLERANCE
            if cache is not None:
                cache[key] = verdict
        else:
            verdict = cache[key]
        free[cells] |= verdict
    return free


def computable_cells(table: Table, suppressed: np.ndarray) -> np.ndarray:
    """Hidden cells that can be computed back (in a component beyond the exact limit:
    that could not be shown free)."""
    suppressed = np.asarray(suppressed, dtype=bool)
    return suppressed & ~free_cells(table, suppressed)


def _add_boxes(
    table: Table, values: np.ndarray, suppressed: np.ndarray, exposed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hide the cheapest box around each exposed cell (one box can cover several).
    Returns the new hidden cells and the boxes' corners, which are free by construction."""
    suppressed = suppressed.copy()
    boxed = np.zeros(len(values), dtype=bool)
    for cell in np.flatnonzero(exposed).tolist():
        if boxed[cell]:
            continue
        corners = cheapest_box(table, values, suppressed, cell)
        if corners is None:
            raise DisclosureError("a computable hidden cell has no box of complements")
        suppressed[corners] = True
        boxed[corners] = True
    return suppressed, boxed


def secondary_suppression(table: Table, values: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """All hidden cells (primary included) such that none can be computed back.

    After boxes were added, the next check trusts what is already shown (and the boxes);
    the last check always runs from scratch, exactly as ``check_table`` will (reusing the
    verdicts of components that did not change), so the result passes that audit.
    """
    values = np.asarray(values)
    suppressed = line_heuristic(table.relations, values, primary)
    safe: np.ndarray | None = None
    verdicts: dict[bytes, np.ndarray] = {}
    while True:
        shown = free_cells(table, suppressed, safe, verdicts if safe is None else None)
        exposed = suppressed & ~shown
        if not exposed.any():
            if safe is None:
                return suppressed
            safe = None
            continue
        grown, boxed = _add_boxes(table, values, suppressed, exposed)
        if (grown == suppressed).all():
            raise DisclosureError(f"{int(exposed.sum())} hidden cell(s) stay computable")
        suppressed, safe = grown, shown | boxed


def protect(
    coordinates: pl.DataFrame,
    values: np.ndarray,
    hierarchies: Sequence[Hierarchy],
    min_cell_size: int,
) -> Protection:
    """Primary and secondary suppression of one complete table (String coordinate columns,
    one row per cell, and its counts)."""
    values = np.asarray(values, dtype=np.int64)
    if (values < 0).any():
        raise DisclosureError("counts must not be negative")
    structure = table(coordinates, hierarchies)
    if np.abs(structure.relations @ values.astype(np.float64)).max(initial=0) > 0:
        raise DisclosureError("totals are not the sums of their children")
    primary = primary_suppression(values, min_cell_size)
    return Protection(primary, secondary_suppression(structure, values, primary))


def _computed_back(
    relations: sparse.csr_array, known: np.ndarray, suppressed: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Values of ``target`` cells solved from the published ones (NaN in a component too
    big to solve densely)."""
    computed = np.full(len(known), np.nan)
    hidden = np.flatnonzero(suppressed)
    by_column = relations.tocsc()
    hidden_relations = sparse.csr_array(by_column[:, hidden])
    rhs = -(by_column[:, np.flatnonzero(~suppressed)] @ known[~suppressed])
    for cols, rows in components(hidden_relations):
        if target[hidden[cols]].any() and len(cols) <= EXACT_LIMIT:
            block = hidden_relations[rows][:, cols].toarray()
            computed[hidden[cols]] = np.linalg.lstsq(block, rhs[rows])[0]
    return np.where(target, computed, np.nan)


def check_table(
    cells: pl.DataFrame, hierarchies: Sequence[Hierarchy], value_column: str = "value"
) -> pl.DataFrame:
    """Independent audit of a published table: the hidden cells (null ``value_column``)
    that can be computed back from the published ones, with ``computed_value`` (null when a
    cell in a very big component could only not be shown free). Empty means safe.

    It sees only what an analyst sees: the published values and the public hierarchies.
    Hidden cells count as non-zero, since zeros are never hidden.
    """
    coordinates = cells.drop(value_column)
    structure = table(coordinates, hierarchies)
    published = cells[value_column]
    suppressed = published.is_null().to_numpy()
    known = published.fill_null(0).cast(pl.Float64).to_numpy()
    exposed = computable_cells(structure, suppressed)
    computed = _computed_back(structure.relations, known, suppressed, exposed)
    values = pl.Series("computed_value", np.round(computed[exposed])).fill_nan(None)
    return coordinates.filter(pl.Series(exposed)).with_columns(values.cast(pl.Int64))
