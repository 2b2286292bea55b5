"""What an attacker can derive about suppressed cells from the published marts alone.

Independent of the code that chose the suppressions (``disclosure``, ``tables``): this
module reads published frames only, rebuilds the additive relations every table states
(a ``totaal`` category is the sum of the others; a wijk the sum of its buurten, a gemeente
of its wijken) and, for every suppressed cell, solves two linear programs with HiGHS: the
smallest and the largest value the cell can take given every published value, every
relation and non-negativity. Integrality tightens the bounds to whole numbers.

Group disclosure is checked the same way: for every cell that must not be shown to hold
its whole group (``WholeGroup``), the largest amount its group's total can exceed it; 0
proves that everyone in the group shares the cell's value.

Areas nest as the frame's ``bovenliggende_gebiedscode`` says (a gemeente in its regio: a
regio's members are public, and an attacker adds them up). A frame without that column
(published before it existed) nests by CBS codes: ``BU`` + gemeente (4) + wijk (2) +
buurt (2), ``WK`` + gemeente (4) + wijk (2), ``GM`` + gemeente (4).
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

LEVEL, CODE, PARENT = "gebiedsniveau", "gebiedscode", "bovenliggende_gebiedscode"
SECRET_SUFFIX = "_geheim"
TOTAL = "totaal"
# The solver's tolerance; an interval narrower than this is a pinned value.
EPSILON = 1e-6


class IntervalError(RuntimeError):
    """The published values contradict the relations: the tables are not what they claim."""


@dataclass(frozen=True)
class WholeGroup:
    """Cells of ``mart``.``measure`` that must not be shown to hold their whole group. The
    group's total is the cell at ``along == totaal`` (a ``group_disclosure`` dimension) or,
    for a ratio, the cell of ``total_measure`` with the same area and categories."""

    mart: str
    measure: str
    along: str | None = None
    total_measure: str | None = None


@dataclass(frozen=True)
class GroupGap:
    """How far a cell can lie below its group's total, as far as the published marts tell."""

    key: tuple[tuple[str, str], ...]  # the cell, as in ``CellInterval``
    largest: float  # the largest total - cell (inf: unbounded; else whole)
    may_be_positive: bool  # the cell is not known to be 0

    @property
    def whole_group(self) -> bool:
        """Shown to hold its whole, non-empty group: the total can never exceed it."""
        return self.largest < 1 - EPSILON and self.may_be_positive


@dataclass(frozen=True)
class PublishedTable:
    """One measure of one published mart: its cells, with hidden values as null."""

    mart: str
    measure: str
    dimensions: tuple[str, ...]
    # LEVEL, CODE, PARENT (if the frame has it), *dimensions, "value" (null where suppressed)
    cells: pl.DataFrame


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
            *([PARENT] if PARENT in frame.columns else []),
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
    parent = pl.col(PARENT) if PARENT in cells.columns else _parent(pl.col(CODE))
    with_parent = cells.with_columns(parent.alias("_parent"))
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
        self.pair_totals = self.pair_cells = np.zeros(0, dtype=np.int64)
        self.pair_known = self.pair_seen = np.zeros(0)

    def track(self, totals: np.ndarray, cells: np.ndarray, known: np.ndarray) -> None:
        """Group pairs to watch: per pair the columns of its total and its cell (-1 where
        published) and the published part of ``total - cell``. Every solution found is a
        feasible table, so the largest gap a pair showed in any is a lower bound of its
        largest gap."""
        self.pair_totals, self.pair_cells, self.pair_known = totals, cells, known
        self.pair_seen = np.full(len(totals), -np.inf)

    def largest_gap(self, pair: int) -> float:
        """The largest ``total - cell`` of a watched pair."""
        columns = [c for c in (self.pair_totals[pair], self.pair_cells[pair]) if c >= 0]
        costs = [1.0 if self.pair_totals[pair] >= 0 else -1.0] + [-1.0] * (len(columns) - 1)
        index = np.array(columns, dtype=np.int32)
        self.highs.changeColsCost(len(columns), index, np.array(costs))
        try:
            return self.pair_known[pair] + self._solve(highspy.ObjSense.kMaximize)
        finally:
            self.highs.changeColsCost(len(columns), index, np.zeros(len(columns)))

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
        if len(self.pair_seen):
            padded = np.append(solution, 0.0)  # column -1: a published cell
            gaps = self.pair_known + padded[self.pair_totals] - padded[self.pair_cells]
            np.maximum(self.pair_seen, gaps, out=self.pair_seen)
        return self.highs.getInfo().objective_function_value


def cell_intervals(
    table: PublishedTable, required_width: float | None = None
) -> list[CellInterval]:
    """For every suppressed cell of ``table``, the interval the published cells allow.

    With ``required_width``, a cell that solutions found for other cells already show to
    range at least that wide is not computed to the end (``tight`` False): the answer to
    "is any cell too narrow" stays exact, at a fraction of the programs.
    """
    return release_intervals([table], (), required_width)[0][0]


Link = tuple[tuple[str, str], tuple[str, str]]  # ((mart, measure), (same as mart, measure))


def link_pairs(table: PublishedTable, same: PublishedTable) -> list[tuple[int, int]]:
    """(row in ``table``, row in ``same``) of the cells that are equal: the same area and
    categories along the dimensions both have, each table's other dimensions at their
    total."""

    def at_total(one: PublishedTable, other: PublishedTable, row: str) -> pl.DataFrame:
        totals = [pl.col(d) == TOTAL for d in one.dimensions if d not in other.dimensions]
        cells = one.cells.with_row_index(row)
        return cells.filter(*totals) if totals else cells

    keys = [LEVEL, CODE, *(d for d in table.dimensions if d in same.dimensions)]
    other = at_total(same, table, "_j").select(*keys, "_j")
    pairs = at_total(table, same, "_i").join(other, on=keys)
    return list(pairs.select("_i", "_j").iter_rows())


def group_pairs(table: PublishedTable, along: str) -> list[tuple[int, int]]:
    """(row of a cell, row of its group's total) along an additive dimension."""
    if along not in table.dimensions:
        return []
    keys = [LEVEL, CODE, *(d for d in table.dimensions if d != along)]
    cells = table.cells.with_row_index("_i")
    totals = cells.filter(pl.col(along) == TOTAL).select(*keys, pl.col("_i").alias("_t"))
    pairs = cells.filter(pl.col(along) != TOTAL).join(totals, on=keys)
    return list(pairs.select("_i", "_t").iter_rows())


def ratio_pairs(numerator: PublishedTable, denominator: PublishedTable) -> list[tuple[int, int]]:
    """(row in ``numerator``, row in ``denominator``) of a ratio's numerator cells and the
    denominator cell they are a share of: the same area and the denominator's categories."""
    keys = [LEVEL, CODE, *denominator.dimensions]
    if not set(denominator.dimensions) <= set(numerator.dimensions):
        raise IntervalError(
            f"{numerator.mart}.{numerator.measure} cannot be a share of "
            f"{denominator.mart}.{denominator.measure}: it lacks some of its dimensions"
        )
    totals = denominator.cells.with_row_index("_t").select(*keys, "_t")
    pairs = numerator.cells.with_row_index("_i").join(totals, on=keys)
    return list(pairs.select("_i", "_t").iter_rows())


def release_intervals(
    tables: Sequence[PublishedTable],
    links: Iterable[Link],
    required_width: float | None,
    groups: Iterable[WholeGroup] = (),
) -> tuple[list[list[CellInterval]], list[list[GroupGap]]]:
    """:func:`cell_intervals` for several tables at once, with the cells that ``links``
    say are equal tied together: a value hidden in one table but published in another is
    no secret. One list per table, in order; and per table, the gap of each cell of
    ``groups`` to its group's total (hidden or not)."""
    if not tables:  # a release of cell key marts only: nothing is suppressed
        return [], []
    offsets = np.cumsum([0] + [t.cells.height for t in tables])
    where = {(t.mart, t.measure): n for n, t in enumerate(tables)}
    pairs: list[tuple[int, int]] = []  # (cell, its group's total), numbered over all tables
    for group in groups:
        if (group.mart, group.measure) not in where:
            continue
        a = where[(group.mart, group.measure)]
        if group.along is not None:
            found_pairs = [(offsets[a] + i, offsets[a] + t)
                           for i, t in group_pairs(tables[a], group.along)]  # fmt: skip
        elif (group.mart, group.total_measure) in where:
            b = where[(group.mart, group.total_measure)]
            found_pairs = [(offsets[a] + i, offsets[b] + t)
                           for i, t in ratio_pairs(tables[a], tables[b])]  # fmt: skip
        else:
            continue
        pairs += found_pairs
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
    pair_cells = np.array([c for c, _ in pairs], dtype=np.int64)
    pair_totals = np.array([t for _, t in pairs], dtype=np.int64)
    bounds = _hidden_bounds(values, found, required_width, what, pair_cells, pair_totals)
    hidden, lower, upper, tight, gaps = bounds
    results: list[list[CellInterval]] = [[] for _ in tables]
    keys = [t.cells.select(LEVEL, CODE, *t.dimensions).rows() for t in tables]

    def key(cell: int) -> tuple[int, tuple[tuple[str, str], ...]]:
        n = int(np.searchsorted(offsets, cell, side="right")) - 1
        columns = [LEVEL, CODE, *tables[n].dimensions]
        return n, tuple(zip(columns, keys[n][cell - offsets[n]], strict=True))

    for cell, low, high, is_tight in zip(hidden.tolist(), lower, upper, tight, strict=True):
        n, named = key(cell)
        results[n].append(
            CellInterval(
                tables[n].mart,
                tables[n].measure,
                named,
                math.ceil(low - EPSILON),
                None if math.isinf(high) else math.floor(high + EPSILON),
                bool(is_tight),
            )
        )
    highest = values.copy()
    highest[hidden] = upper
    group_results: list[list[GroupGap]] = [[] for _ in tables]
    for cell, gap in zip(pair_cells.tolist(), gaps.tolist(), strict=True):
        n, named = key(cell)
        largest = gap if math.isinf(gap) else float(math.floor(gap + EPSILON))
        group_results[n].append(GroupGap(named, largest, bool(highest[cell] >= 1 - EPSILON)))
    return results, group_results


def _hidden_bounds(
    values: np.ndarray,
    found: list[tuple[int, list[int]]],
    required_width: float | None,
    what: str,
    pair_cells: np.ndarray,
    pair_totals: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The hidden cells (NaN in ``values``), their lower and upper bounds, and per group
    pair the largest ``total - cell`` (exact when below 1, else at least that)."""
    hidden = np.flatnonzero(np.isnan(values))
    lower = np.zeros(hidden.size)
    upper = np.full(hidden.size, np.inf)
    tight = np.ones(hidden.size, dtype=bool)
    known = np.where(np.isnan(values), 0.0, values)
    published_gap = known[pair_totals] - known[pair_cells]
    # A hidden total bounded by no relation can be anything; watched pairs are solved below.
    gaps = np.where(np.isnan(values[pair_totals]), np.inf, published_gap)
    if hidden.size == 0:
        return hidden, lower, upper, tight, gaps
    matrix = _relation_matrix(len(values), found)
    unknown = matrix[:, hidden]
    rhs = -(matrix @ known)
    involved = np.flatnonzero(np.asarray(abs(unknown).sum(axis=1)).ravel() > 0)
    if np.any(np.abs(rhs[np.setdiff1d(np.arange(matrix.shape[0]), involved)]) > EPSILON):
        raise IntervalError(f"{what}: published totals do not add up")
    unknown, rhs = unknown[involved], rhs[involved]
    # Cells linked by no chain of relations are solved apart: smaller programs.
    link = (abs(unknown).T @ abs(unknown)).tocsr()
    _, component = connected_components(link, directed=False)
    position = np.full(len(values), -1)
    position[hidden] = np.arange(hidden.size)
    total_at, cell_at = position[pair_totals], position[pair_cells]
    pair_part = np.where(total_at >= 0, component[total_at], -1)
    cell_part = np.where(cell_at >= 0, component[cell_at], -1)
    # A pair whose total and cell lie in different programs: independent, so its largest
    # gap is the total's largest value less the cell's smallest, both computed exactly.
    apart = (pair_part >= 0) & (cell_part >= 0) & (pair_part != cell_part)
    exact = np.zeros(hidden.size, dtype=bool)
    exact[total_at[apart]] = exact[cell_at[apart]] = True
    for part in np.unique(component):
        members = np.flatnonzero(component == part)
        rows = np.flatnonzero(np.asarray(abs(unknown[:, members]).sum(axis=1)).ravel() > 0)
        if rows.size == 0:
            continue
        attack = _Attack(unknown[rows][:, members].tocsc(), rhs[rows])
        column = np.full(hidden.size, -1)
        column[members] = np.arange(members.size)
        watched = np.flatnonzero(~apart & ((pair_part == part) | (cell_part == part)))
        attack.track(
            np.where(total_at[watched] >= 0, column[total_at[watched]], -1),
            np.where(cell_at[watched] >= 0, column[cell_at[watched]], -1),
            published_gap[watched],
        )
        if required_width is not None:
            attack.spread()
        for place, member in enumerate(members):
            seen = attack.seen_high[place] - attack.seen_low[place]
            if required_width is not None and seen >= required_width and not exact[member]:
                lower[member], upper[member] = attack.seen_low[place], attack.seen_high[place]
                tight[member] = False
                continue
            lower[member], upper[member] = attack.bounds(place)
        for number, pair in enumerate(watched.tolist()):
            shown = attack.pair_seen[number]
            gaps[pair] = shown if shown >= 1 - EPSILON else attack.largest_gap(number)
    gaps[apart] = upper[total_at[apart]] - lower[cell_at[apart]]
    return hidden, lower, upper, tight, gaps


@dataclass(frozen=True)
class TableAudit:
    """The attacker's view of one published table, against the protection it must keep."""

    mart: str
    measure: str
    cells: int
    intervals: tuple[CellInterval, ...]
    required_width: int
    groups: tuple[GroupGap, ...] = ()  # its cells that must not hold their whole group

    @property
    def exact(self) -> tuple[CellInterval, ...]:
        return tuple(i for i in self.intervals if i.width == 0)

    @property
    def too_narrow(self) -> tuple[CellInterval, ...]:
        """Cells pinned closer than ``required_width``: the protection is not kept."""
        return tuple(i for i in self.intervals if i.width < self.required_width)

    @property
    def whole_groups(self) -> tuple[GroupGap, ...]:
        """Cells shown to hold their whole group: everyone in it shares their value."""
        return tuple(g for g in self.groups if g.whole_group)

    @property
    def min_width(self) -> float | None:
        """The narrowest interval; exact when below the requirement, else a lower bound."""
        return min((i.width for i in self.intervals), default=None)


def audit_release(
    tables: Sequence[PublishedTable],
    links: Iterable[Link],
    required_widths: Sequence[int],
    groups: Iterable[WholeGroup] = (),
) -> list[TableAudit]:
    """Every suppressed cell's interval in every table of a release, linked cells tied, and
    which are narrower than their table's required width; and every cell of ``groups``
    shown to hold its whole group.

    From published values alone the audit cannot tell where a hidden value lies in its
    interval, so a required width is the width every interval must at least have: a
    protection of ± p around any value needs at least p (a value below p needs its
    interval to reach from 0 to beyond p). Each table keeps its own mart's required width;
    the shortcut in :func:`release_intervals` uses the largest, so no cell is skipped too
    early. A whole group fails when its total can never exceed the cell: the protection
    gives more (the cell's ``p`` below a fixed total), which the audit cannot check without
    the true values.
    """
    found, gaps = release_intervals(tables, links, max(required_widths, default=0), groups)
    return [
        TableAudit(t.mart, t.measure, t.cells.height, tuple(cells), width, tuple(group))
        for t, cells, width, group in zip(tables, found, required_widths, gaps, strict=True)
    ]
