"""What an attacker can derive about suppressed cells from the published marts alone.

Independent of the code that chose the suppressions (``disclosure``, ``tables``): this
module reads published frames only, rebuilds the additive relations every table states
(a ``totaal`` category is the sum of the others; a wijk the sum of its buurten, a gemeente
of its wijken) and, for every suppressed cell, solves two linear programs with HiGHS: the
smallest and the largest value the cell can take given every published value, every
relation and non-negativity. Integrality tightens the bounds to whole numbers.

Areas nest by their CBS codes: ``BU`` + gemeente (4) + wijk (2) + buurt (2), ``WK`` +
gemeente (4) + wijk (2), ``GM`` + gemeente (4).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import polars as pl
from scipy.sparse import coo_matrix, csc_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

LEVEL, CODE = "gebiedsniveau", "gebiedscode"
SECRET_SUFFIX = "_geheim"
TOTAL = "totaal"
PARENT_LEVEL = {"buurt": "wijk", "wijk": "gemeente"}
# The solver's tolerance; an interval narrower than this is a pinned value.
EPSILON = 1e-6


class IntervalError(RuntimeError):
    """The published values contradict the relations: the tables are not what they claim."""


@dataclass(frozen=True)
class PublishedTable:
    """One measure of one published mart: its cells, with hidden values as null."""

    mart: str
    measure: str
    dimensions: tuple[str, ...]
    cells: pl.DataFrame  # LEVEL, CODE, *dimensions, "value" (null where suppressed)


@dataclass(frozen=True)
class CellInterval:
    """The values a suppressed cell can take, as far as the published marts tell."""

    mart: str
    measure: str
    key: tuple[tuple[str, str], ...]  # (column, value) pairs naming the cell
    lower: int
    upper: int | None  # None: unbounded
    # False: the cell was proven wide enough by solutions found for other cells, and the
    # attacker's interval is at least [lower, upper] (not computed to the end).
    tight: bool = True

    @property
    def width(self) -> float:
        return math.inf if self.upper is None else self.upper - self.lower


def published_tables(
    mart: str, frame: pl.DataFrame, dimensions: Sequence[str], measures: Sequence[str]
) -> list[PublishedTable]:
    """The tables of a published mart frame, one per measure (``<measure>_geheim`` marks
    suppression; rows where it is null are not part of that measure's table)."""
    tables = []
    for measure in measures:
        secret = f"{measure}{SECRET_SUFFIX}"
        cells = frame.filter(pl.col(secret).is_not_null()).select(
            LEVEL,
            CODE,
            *dimensions,
            pl.when(pl.col(secret)).then(None).otherwise(pl.col(measure)).alias("value"),
        )
        # A dimension this measure is not broken down by holds only its total.
        used = tuple(d for d in dimensions if cells[d].n_unique() > 1 or cells[d][0] != TOTAL)
        tables.append(PublishedTable(mart, measure, used, cells.drop(set(dimensions) - set(used))))
    return tables


def _parent(code: pl.Expr) -> pl.Expr:
    """The area one level up by CBS code structure; null for a gemeente or another code."""
    return (
        pl.when(code.str.starts_with("BU") & (code.str.len_chars() == 10))
        .then(pl.lit("WK") + code.str.slice(2, 6))
        .when(code.str.starts_with("WK") & (code.str.len_chars() == 8))
        .then(pl.lit("GM") + code.str.slice(2, 4))
    )


def relations(table: PublishedTable) -> list[tuple[int, list[int]]]:
    """Every additive relation of the table as (index of the total, indexes of the parts)."""
    cells = table.cells.with_row_index("_i")
    found: list[tuple[int, list[int]]] = []
    keys = [CODE, *table.dimensions]
    for dimension in table.dimensions:
        others = [k for k in keys if k != dimension]
        grouped = cells.group_by(others).agg(
            pl.col("_i").filter(pl.col(dimension) == TOTAL).alias("total"),
            pl.col("_i").filter(pl.col(dimension) != TOTAL).alias("parts"),
        )
        for total, parts in grouped.select("total", "parts").iter_rows():
            if len(total) == 1 and parts:
                found.append((total[0], parts))
    with_parent = cells.with_columns(_parent(pl.col(CODE)).alias("_parent"))
    parents = with_parent.select(pl.col(CODE).alias("_parent"), *table.dimensions, "_i")
    children = (
        with_parent.filter(pl.col("_parent").is_not_null())
        .group_by(["_parent", *table.dimensions])
        .agg(pl.col("_i").alias("parts"))
    )
    linked = parents.join(children, on=["_parent", *table.dimensions], how="inner")
    found += linked.select("_i", "parts").iter_rows()
    return found


def _relation_matrix(n_cells: int, found: Sequence[tuple[int, list[int]]]) -> csr_matrix:
    rows, columns, coefficients = [], [], []
    for number, (total, parts) in enumerate(found):
        rows += [number] * (len(parts) + 1)
        columns += [total, *parts]
        coefficients += [1.0] + [-1.0] * len(parts)
    shape = (len(found), n_cells)
    return coo_matrix((coefficients, (rows, columns)), shape=shape).tocsr()


_BANNER_SHOWN = []


def _new_highs() -> highspy.Highs:
    """A HiGHS instance. Its C++ constructor prints a banner to standard output once per
    process, before any option can switch it off; that first time, stdout is muted."""
    if _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _BANNER_SHOWN.append(True)


class _Attack:
    """One component's linear program, solved once per bound with a warm start: after the
    first solve each cell's bounds take a few simplex pivots, not a solve from scratch."""

    def __init__(self, a_eq: csc_matrix, b_eq: np.ndarray) -> None:
        self.highs = _new_highs()
        self.highs.setOptionValue("output_flag", False)
        # Only the objective changes between solves: the last basis stays primal feasible.
        self.highs.setOptionValue("simplex_strategy", 4)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = a_eq.shape[1], a_eq.shape[0]
        lp.col_cost_ = np.zeros(lp.num_col_)
        lp.col_lower_ = np.zeros(lp.num_col_)
        lp.col_upper_ = np.full(lp.num_col_, highspy.kHighsInf)
        lp.row_lower_ = lp.row_upper_ = b_eq
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a_eq.indptr
        lp.a_matrix_.index_ = a_eq.indices
        lp.a_matrix_.value_ = a_eq.data
        self.highs.passModel(lp)
        # The range each cell took over the solutions found so far: every solution is a
        # feasible table, so a cell's true interval holds at least this range.
        self.seen_low = np.full(lp.num_col_, np.inf)
        self.seen_high = np.full(lp.num_col_, -np.inf)
        self.size = lp.num_col_

    def spread(self) -> None:
        """Two far-apart feasible tables: all hidden cells as small, then as large as can be."""
        everything = np.arange(self.size, dtype=np.int32)
        self.highs.changeColsCost(self.size, everything, np.ones(self.size))
        try:
            self._solve(highspy.ObjSense.kMinimize)
            self._solve(highspy.ObjSense.kMaximize)
        finally:
            self.highs.changeColsCost(self.size, everything, np.zeros(self.size))

    def bounds(self, column: int) -> tuple[float, float]:
        """The cell's smallest and largest value (a cell seen at 0 needs no minimising)."""
        self.highs.changeColCost(column, 1.0)
        try:
            high = self._solve(highspy.ObjSense.kMaximize)
            if self.seen_low[column] <= EPSILON:
                return 0.0, high
            return self._solve(highspy.ObjSense.kMinimize), high
        finally:
            self.highs.changeColCost(column, 0.0)

    def _solve(self, sense) -> float:
        self.highs.changeObjectiveSense(sense)
        self.highs.run()
        status = self.highs.getModelStatus()
        if status == highspy.HighsModelStatus.kUnbounded:
            return math.inf
        if status != highspy.HighsModelStatus.kOptimal:
            raise IntervalError(
                f"the published values admit no solution ({self.highs.modelStatusToString(status)})"
            )
        solution = np.asarray(self.highs.getSolution().col_value)
        np.minimum(self.seen_low, solution, out=self.seen_low)
        np.maximum(self.seen_high, solution, out=self.seen_high)
        return self.highs.getInfo().objective_function_value


def cell_intervals(
    table: PublishedTable, required_width: float | None = None
) -> list[CellInterval]:
    """For every suppressed cell of ``table``, the interval the published cells allow.

    With ``required_width``, a cell that solutions found for other cells already show to
    range at least that wide is not computed to the end (``tight`` False): the answer to
    "is any cell too narrow" stays exact, at a fraction of the programs.
    """
    return release_intervals([table], (), required_width)[0]


Link = tuple[tuple[str, str], tuple[str, str]]  # ((mart, measure), (same as mart, measure))


def link_pairs(table: PublishedTable, same: PublishedTable) -> list[tuple[int, int]]:
    """(row in ``table``, row in ``same``) of the cells that are equal: the same area and
    categories, with ``same``'s other dimensions at their total."""
    if not set(table.dimensions) <= set(same.dimensions):
        raise IntervalError(
            f"{table.mart}.{table.measure} cannot equal {same.mart}.{same.measure}: "
            "it has dimensions the other lacks"
        )
    keys = [LEVEL, CODE, *table.dimensions]
    totals = [pl.col(d) == TOTAL for d in same.dimensions if d not in table.dimensions]
    other = same.cells.with_row_index("_j")
    if totals:
        other = other.filter(pl.all_horizontal(totals))
    pairs = table.cells.with_row_index("_i").join(other.select(*keys, "_j"), on=keys)
    return list(pairs.select("_i", "_j").iter_rows())


def release_intervals(
    tables: Sequence[PublishedTable], links: Iterable[Link], required_width: float | None
) -> list[list[CellInterval]]:
    """:func:`cell_intervals` for several tables at once, with the cells that ``links``
    say are equal tied together: a value hidden in one table but published in another is
    no secret. One list per table, in order."""
    offsets = np.cumsum([0] + [t.cells.height for t in tables])
    where = {(t.mart, t.measure): n for n, t in enumerate(tables)}
    found: list[tuple[int, list[int]]] = []
    for n, table in enumerate(tables):
        found += [(offsets[n] + a, [offsets[n] + b for b in bs]) for a, bs in relations(table)]
    for source, target in links:
        if source in where and target in where:
            a, b = where[source], where[target]
            found += [
                (offsets[a] + i, [offsets[b] + j]) for i, j in link_pairs(tables[a], tables[b])
            ]
    values = np.concatenate(
        [t.cells["value"].to_numpy(allow_copy=True).astype(float) for t in tables]
    )
    what = ", ".join(f"{t.mart}.{t.measure}" for t in tables)
    hidden, lower, upper, tight = _hidden_bounds(values, found, required_width, what)
    results: list[list[CellInterval]] = [[] for _ in tables]
    keys = [t.cells.select(LEVEL, CODE, *t.dimensions).rows() for t in tables]
    for cell, low, high, is_tight in zip(hidden.tolist(), lower, upper, tight, strict=True):
        n = int(np.searchsorted(offsets, cell, side="right")) - 1
        table = tables[n]
        columns = [LEVEL, CODE, *table.dimensions]
        results[n].append(
            CellInterval(
                table.mart,
                table.measure,
                tuple(zip(columns, keys[n][cell - offsets[n]], strict=True)),
                math.ceil(low - EPSILON),
                None if math.isinf(high) else math.floor(high + EPSILON),
                bool(is_tight),
            )
        )
    return results


def _hidden_bounds(
    values: np.ndarray,
    found: list[tuple[int, list[int]]],
    required_width: float | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hidden cells (NaN in ``values``) and their lower and upper bounds."""
    hidden = np.flatnonzero(np.isnan(values))
    lower = np.zeros(hidden.size)
    upper = np.full(hidden.size, np.inf)
    tight = np.ones(hidden.size, dtype=bool)
    if hidden.size == 0:
        return hidden, lower, upper, tight
    matrix = _relation_matrix(len(values), found)
    known = np.where(np.isnan(values), 0.0, values)
    unknown = matrix[:, hidden]
    rhs = -(matrix @ known)
    involved = np.flatnonzero(np.asarray(abs(unknown).sum(axis=1)).ravel() > 0)
    if np.any(np.abs(rhs[np.setdiff1d(np.arange(matrix.shape[0]), involved)]) > EPSILON):
        raise IntervalError(f"{what}: published totals do not add up")
    unknown, rhs = unknown[involved], rhs[involved]
    # Cells linked by no chain of relations are solved apart: smaller programs.
    link = (abs(unknown).T @ abs(unknown)).tocsr()
    _, component = connected_components(link, directed=False)
    for part in np.unique(component):
        members = np.flatnonzero(component == part)
        rows = np.flatnonzero(np.asarray(abs(unknown[:, members]).sum(axis=1)).ravel() > 0)
        if rows.size == 0:
            continue
        attack = _Attack(unknown[rows][:, members].tocsc(), rhs[rows])
        if required_width is not None:
            attack.spread()
        for position, member in enumerate(members):
            seen = attack.seen_high[position] - attack.seen_low[position]
            if required_width is not None and seen >= required_width:
                lower[member], upper[member] = attack.seen_low[position], attack.seen_high[position]
                tight[member] = False
                continue
            lower[member], upper[member] = attack.bounds(position)
    return hidden, lower, upper, tight


@dataclass(frozen=True)
class TableAudit:
    """The attacker's view of one published table, against the protection it must keep."""

    mart: str
    measure: str
    cells: int
    intervals: tuple[CellInterval, ...]
    required_width: int

    @property
    def exact(self) -> tuple[CellInterval, ...]:
        return tuple(i for i in self.intervals if i.width == 0)

    @property
    def too_narrow(self) -> tuple[CellInterval, ...]:
        """Cells pinned closer than ``required_width``: the protection is not kept."""
        return tuple(i for i in self.intervals if i.width < self.required_width)

    @property
    def min_width(self) -> float | None:
        """The narrowest interval; exact when below the requirement, else a lower bound."""
        return min((i.width for i in self.intervals), default=None)


def audit_release(
    tables: Sequence[PublishedTable], links: Iterable[Link], required_widths: Sequence[int]
) -> list[TableAudit]:
    """Every suppressed cell's interval in every table of a release, linked cells tied, and
    which are narrower than their table's required width.

    From published values alone the audit cannot tell where a hidden value lies in its
    interval, so a required width is the width every interval must at least have: a
    protection of ± p around any value needs at least p (a value below p needs its
    interval to reach from 0 to beyond p). Each table keeps its own mart's required width;
    the shortcut in :func:`release_intervals` uses the largest, so no cell is skipped too
    early.
    """
    found = release_intervals(tables, links, max(required_widths, default=0))
    return [
        TableAudit(t.mart, t.measure, t.cells.height, tuple(cells), width)
        for t, cells, width in zip(tables, found, required_widths, strict=True)
    ]
