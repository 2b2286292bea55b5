"""Secondary suppression over a whole release: every hidden cell keeps a protection interval.

The tables of a release (every measure of every mart built for one peildatum) form one
system: along each hierarchy a total is the sum of its children (``tables``), and cells
that two marts share are equal (``CellLink``). An attacker who sees every published cell
knows all of it, plus that counts are whole and not negative. For a hidden cell ``t`` with
true value ``x_t`` the protection holds when the attacker cannot narrow it to less than
``[x_t - lower_t, x_t + upper_t]``.

**Certificates.** That holds exactly when two other tables fit everything published: one
with ``t`` raised by ``upper_t``, one with ``t`` lowered by ``lower_t``. Such a table is
``x + y`` with a *direction* ``y`` that satisfies every relation (``R y = 0``), moves only
hidden cells and keeps every cell non-negative (``x + y >= 0``); with ``y`` whole, the
attacker's integrality does not exclude it either. Each direction found is checked
against the full relations and kept: one direction often certifies other hidden cells
too, and hiding more cells never invalidates it.

**Group disclosure.** A cell that holds its whole group (``GroupLink``) must also be shown
able to fall by its ``lower`` while its group's total stays put: a table in which the rest
of the group is not empty. Its falling demand holds those totals still.

**Choosing complements.** For a cell without certificates, a program looks for the
direction that moves it as required at the least cost of newly hidden cells, the
information loss ``1 + value`` (a suppressed cell and its mass; hidden cells cost nothing)
(Kelly, Golden and Assad's model for one cell; Fischetti and Salazar's for several):

    minimise  sum_j cost_j s_j
    subject to R_W (y+ - y-) = 0 for every demand,  y+_t = upper_t (or y-_t = lower_t),
               y-_j <= x_j,  y+_j + y-_j <= M s_j for published j,  s_j in {0, 1}

over a window ``W`` of cells (cells outside it stay put, so a window's direction is a
direction of the whole system). Two modes:

- *exact*: in a component of at most ``EXACT_CELLS`` cells, mixed-integer programs (shared
  ``s``, whole ``y``) over batches of the cells needing protection, as many per program as
  fit in ``EXACT_LIMIT`` flow variables in a component of at most ``BATCH_CELLS`` cells
  (one above that); HiGHS finds the cheapest pattern for each batch given what earlier
  batches hid (unless ``MIP_NODE_LIMIT`` stops it first), over the batch's area windows
  (below) and, if they admit none, the whole component. The whole is not proven
  optimal: one program for all demands at once hid ~3% fewer cells on 117-cell tables,
  but took 7-53 s per table instead of about 1 s, and cannot be bounded in time. The
  windows and the batch size are measured: on the default marts at 50,000 to 1,000,000
  residents, programs over a buurt's wijk instead of the whole component, and one demand
  per program in tables of 312-678 cells instead of two or three, hid the same cells or
  fewer in a fifth of the time (one three-demand program took 15 s); in 78-cell tables,
  batches of 8 instead of 12 hid one cell more.
  A demand a batch leaves unprotected goes to the heuristic.
- *heuristic* above that size, one cell at a time in a fixed order (a cell already
  certified costs nothing): first the cheapest box of complements in the cell's own table
  (``boxes``, the hypercube method), then the linear relaxation of the program over a
  window of the area hierarchy (the areas under the cell's parent, at most
  ``WINDOW_CELLS`` cells, else the cell's area with its ``SIBLINGS`` siblings of most
  mass), then over that window joined by every hidden cell of the component (they move
  at no cost: where a province ties its municipalities into one component, the
  direction is mostly found there), then over the whole component. A fractional
  direction is solved again with whole ``y`` in windows of at most ``WINDOW_CELLS``;
  above that it is kept, a certificate against the linear relaxation only (counted in
  ``ProtectionStats``).

**Cleanup.** Complements chosen one demand (or batch) at a time build on one another, so
an early one is often made needless by later ones. Once a component is protected, each
complement is tried for publication again, the costliest first (``_drop_redundant``): it
goes back when no relation is left with a single hidden cell and every hidden cell keeps
its requirement through the directions found that do not move it, or else through whole
directions over the remaining hidden cells only (where they are more than
``WINDOW_CELLS``, those of the cell's area windows: a program that must prove there is no
direction over thousands of cells costs seconds, and most complements are needed).
Measured on the default marts: bijstand
at 100,000 residents 10 complements (mass 518) -> 9 (463, the proven optimum); wmo at
2,500,000 36 (2,120) -> 34 (1,782, optimum 33 and 1,532). Trading a complement for cheaper
ones (an exchange step) was tried too: it hid the same cells at 100k-2.5M residents, with
a mass lower by 0.1%, for 17% more protection time, so it is left out.

**Polish.** A component of at most ``EXACT_CELLS`` cells gets a second pattern from one
program for all its primary demands at once, completed and cleaned up as the first; the
cheaper pattern is kept (``_polish``). Above ``POLISH_DEMANDS`` demands the program also
gives every complement its width, on condition that it is hidden (the optimum's own
program, cut at ``MIP_NODE_LIMIT`` nodes), as long as it has at most ``POLISH_FLOWS``
flow variables: without the widths, the completion that adds them undid the joint
program's gain. wmo_wijk at 3,000,000 residents: 18 complements of mass 1,703 -> 17 of
1,418, the proven optimum, for 3.1 s more protection; at 100,000 and 300,000 residents
the program runs too (about 4 s more) and finds nothing cheaper. The node limit does not
bound its time, HiGHS's root node does the work: on 64-cell tables where one cell in four
is small it took 3-40 s (``POLISH_FLOWS`` bounds its size, not its time).

Cells hidden as complements get a requirement of their own (``secondary_width``: a width
of at least that, on either side; the direction that made a cell a complement usually
gives it already), so no hidden cell is narrowed below the width the audit demands. The
result is deterministic: the same tables give the same pattern.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import optimize, sparse
from scipy.sparse import csgraph

from udc.marts.boxes import cheapest_box
from udc.marts.tables import DisclosureError, Hierarchy, Table, table

EXACT_LIMIT = 2_000  # flow variables of one exact program: demands go in batches
BATCH_CELLS = 200  # above this, one demand per program
EXACT_CELLS = 1_000  # cells of a component solved exactly
AREA_COLUMN = "gebiedscode"
WINDOW_CELLS = 2_000  # a window with every sibling at most this big,
SIBLINGS = 3  # else only the siblings with the most mass
FLOW_COST = 1e-4  # per unit of movement: among equal patterns, the shortest directions
TOLERANCE = 1e-6
MIP_NODE_LIMIT = 500  # deterministic, unlike a time limit
POLISH_DEMANDS = 12  # up to this many demands, the polishing program has no widths in it;
POLISH_FLOWS = 30_000  # above, it has them, up to this many flow variables (wmo_wijk at
# 3,000,000 residents: 62 demands and 86 widths in 91 cells, 27,000, in 3.6 s)


@dataclass(frozen=True)
class ProtectionTable:
    """One measure's complete table before protection, with its primary cells and what
    each must keep."""

    name: str  # "<mart>.<measure>"
    coordinates: pl.DataFrame  # String coordinate columns, one row per cell
    values: np.ndarray  # non-negative, whole for counts
    hierarchies: Sequence[Hierarchy]
    primary: np.ndarray  # bool per cell
    upper: np.ndarray  # protection needed above the value, per primary cell
    lower: np.ndarray  # protection needed below it (at most the value)
    secondary_width: float  # the interval width a complementary cell must keep
    # Cells an earlier release of the same values hid: hidden again from the start (as
    # complements), or the two releases together would publish them; and cells it
    # published: never complements (the earlier release shows them anyway).
    hidden_before: np.ndarray | None = None
    published_before: np.ndarray | None = None


@dataclass(frozen=True)
class CellLink:
    """Cells of two tables that count the same units: ``table`` row ``cells[i]`` equals
    ``other`` row ``other_cells[i]``."""

    table: int
    cells: np.ndarray
    other: int
    other_cells: np.ndarray


@dataclass(frozen=True)
class GroupLink:
    """Group disclosure: ``table`` row ``cells[i]`` holds its whole group, whose total is
    ``total_table`` row ``total_cells[i]``. Such a cell must be shown able to fall by its
    ``lower`` while that total stays where it is, so that the rest of its group may be
    non-empty; its protection may hide the published zeros beside it, which would
    otherwise prove that rest empty."""

    table: int
    cells: np.ndarray
    total_table: int
    total_cells: np.ndarray


@dataclass
class ProtectionStats:
    primary: int = 0
    secondary: int = 0
    exact_programs: int = 0
    heuristic_programs: int = 0
    boxes: int = 0
    fractional: int = 0  # directions certified against the linear relaxation only
    certified_by_earlier: int = 0
    widened_windows: int = 0
    components: int = 0
    dropped: int = 0  # complements found redundant afterwards and published after all
    dropping_programs: int = 0
    polished: int = 0  # components where the joint program's pattern was cheaper


# The counts each component adds to; primary and secondary are counted over the release.
PARALLEL_COUNTS = tuple(
    name for name in ProtectionStats.__dataclass_fields__ if name not in ("primary", "secondary")
)


def protection_threads() -> int:
    """Components protected at once: HiGHS solves without the GIL, so threads use every
    core the process may run on (``UDC_PROTECTION_THREADS`` sets another number)."""
    configured = os.environ.get("UDC_PROTECTION_THREADS")
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)))


class HiddenLimitReached(Exception):
    """Protection stopped once it hid more cells than ``max_hidden``."""

    def __init__(self, hidden: int) -> None:
        super().__init__(f"{hidden} cells hidden")
        self.hidden = hidden


def _within(hidden: np.ndarray, max_hidden: int | None) -> None:
    if max_hidden is not None and (count := int(hidden.sum())) > max_hidden:
        raise HiddenLimitReached(count)


@dataclass(frozen=True)
class ReleaseProtection:
    suppressed: tuple[np.ndarray, ...]  # per table, bool per cell
    primary: tuple[np.ndarray, ...]
    stats: ProtectionStats = field(default_factory=ProtectionStats)


@dataclass
class _System:
    tables: list[Table]
    offsets: np.ndarray  # first cell of each table
    relations: sparse.csr_array
    by_column: sparse.csc_array
    values: np.ndarray
    cost: np.ndarray
    adjacency: sparse.csr_array  # cells sharing a relation
    area_of_cell: np.ndarray
    area_parents: dict[int, int]
    area_mass: dict[int, float]  # per area: the sum of its cells
    # Cells that may not move: an earlier release of the same values publishes them.
    fixed: np.ndarray
    area_children: dict[int, list[int]]
    area_cells: dict[int, np.ndarray]  # per area: its cells, ascending
    labels: np.ndarray  # per cell: its component


@dataclass
class _Certificates:
    """Directions found so far, and how far each hidden cell is shown to move."""

    up: np.ndarray  # per cell: the largest rise some direction shows
    down: np.ndarray  # per cell: the largest fall some direction shows
    # Group disclosure pairs (whole-group cell, its group total), global cell numbers, and
    # per pair the largest amount some direction shows the total above the cell.
    group_cells: np.ndarray
    group_totals: np.ndarray
    apart: np.ndarray
    moves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (cells, amounts)

    @classmethod
    def empty(cls, n: int, group_cells: np.ndarray, group_totals: np.ndarray) -> _Certificates:
        return cls(np.zeros(n), np.zeros(n), group_cells, group_totals,
                   np.zeros(len(group_cells)))  # fmt: skip

    def record(self, cells: np.ndarray, direction: np.ndarray) -> None:
        moved = direction != 0
        order = np.argsort(cells[moved], kind="stable")
        cells, direction = cells[moved][order], direction[moved][order]
        self.moves.append((cells, direction))
        np.maximum.at(self.up, cells, np.maximum(direction, 0.0))
        np.maximum.at(self.down, cells, np.maximum(-direction, 0.0))
        if len(self.apart) and len(cells):
            gap = _amount_at(cells, direction, self.group_totals) - _amount_at(
                cells, direction, self.group_cells
            )
            np.maximum(self.apart, gap, out=self.apart)

    def fallen_apart(self, cell: int) -> float:
        """How far the cell is shown to fall below every group total it must not equal."""
        pairs = self.group_cells == cell
        return float(self.apart[pairs].min()) if pairs.any() else float(self.down[cell])


def _amount_at(cells: np.ndarray, direction: np.ndarray, at: np.ndarray) -> np.ndarray:
    """What a direction (on sorted ``cells``) moves each cell of ``at``."""
    place = np.minimum(np.searchsorted(cells, at), len(cells) - 1)
    return np.where(cells[place] == at, direction[place], 0.0)


def _system(tables: Sequence[ProtectionTable], links: Sequence[CellLink]) -> _System:
    offsets = np.cumsum([0] + [len(t.values) for t in tables])
    structures = [table(t.coordinates, t.hierarchies) for t in tables]
    relations = sparse.block_diag([s.relations for s in structures], format="csr")
    n = int(offsets[-1])
    rows, cols, data = [], [], []
    count = 0
    for link in links:
        a = offsets[link.table] + np.asarray(link.cells, dtype=np.int64)
        b = offsets[link.other] + np.asarray(link.other_cells, dtype=np.int64)
        for i, j in zip(a.tolist(), b.tolist(), strict=True):
            rows += [count, count]
            cols += [i, j]
            data += [1.0, -1.0]
            count += 1
    linked = sparse.csr_array((data, (rows, cols)), shape=(count, n))
    relations = sparse.csr_array(sparse.vstack([relations, linked], format="csr"))
    values = np.concatenate([np.asarray(t.values, dtype=np.float64) for t in tables])
    if (values < 0).any():
        raise DisclosureError("cell values must not be negative")
    if np.abs(relations @ values).max(initial=0.0) > TOLERANCE:
        raise DisclosureError("totals are not the sums of their children, or linked cells differ")
    pattern = sparse.csr_array(relations != 0).astype(np.float64)
    adjacency = sparse.csr_array(pattern.T @ pattern)
    area_of_cell, area_parents = _areas(tables)
    children: dict[int, list[int]] = {}
    for child, parent in area_parents.items():
        children.setdefault(parent, []).append(child)
    placed = np.flatnonzero(area_of_cell >= 0)
    order = placed[np.argsort(area_of_cell[placed], kind="stable")]
    count = int(area_of_cell.max(initial=-1)) + 1
    starts = np.searchsorted(area_of_cell[order], np.arange(count + 1))
    area_cells = {a: order[starts[a] : starts[a + 1]] for a in range(count)}
    _, labels = csgraph.connected_components(adjacency, directed=False)
    return _System(
        structures,
        offsets,
        relations,
        relations.tocsc(),
        values,
        1.0 + values,
        adjacency,
        area_of_cell,
        area_parents,
        {
            int(a): float(m)
            for a, m in enumerate(
                np.bincount(area_of_cell[area_of_cell >= 0], weights=values[area_of_cell >= 0])
            )
        },
        _fixed(tables),
        children,
        area_cells,
        labels,
    )


def _before(tables: Sequence[ProtectionTable], mask: str) -> np.ndarray:
    """``hidden_before`` or ``published_before`` over all tables (False where unset)."""
    return np.concatenate(
        [np.zeros(len(t.values), dtype=bool) if getattr(t, mask) is None
         else np.asarray(getattr(t, mask), dtype=bool) for t in tables]
    )  # fmt: skip


def _fixed(tables: Sequence[ProtectionTable]) -> np.ndarray:
    """Cells an earlier release of the same values published, except primary cells (only a
    stricter rule than that release's makes them primary; they are hidden all the same,
    though the earlier release cannot be taken back)."""
    primary = np.concatenate([np.asarray(t.primary, dtype=bool) for t in tables])
    return _before(tables, "published_before") & ~primary


def _areas(tables: Sequence[ProtectionTable]) -> tuple[np.ndarray, dict[int, int]]:
    """Per cell its area (a number; -1 for a table without ``AREA_COLUMN``), and each
    area's parent, from the tables' area hierarchies."""
    codes: dict[str, int] = {}
    parents: dict[int, int] = {}
    per_cell = []
    for t in tables:
        if AREA_COLUMN not in t.coordinates.columns:
            per_cell.append(np.full(len(t.values), -1))
            continue
        column = t.coordinates[AREA_COLUMN].to_list()
        per_cell.append(np.array([codes.setdefault(c, len(codes)) for c in column]))
        for h in t.hierarchies:
            if h.column == AREA_COLUMN:
                for child, parent in h.parents.items():
                    parents[codes.setdefault(child, len(codes))] = codes.setdefault(
                        parent, len(codes)
                    )
    return np.concatenate(per_cell), parents


def _windows(system: _System, target: int, component: np.ndarray) -> list[np.ndarray]:
    """Windows to try, smaller first, ending with the whole component: the target's area
    with its siblings (the areas under its parent; a buurt trades with the buurten of its
    wijk) and everything below them; where that is more than ``WINDOW_CELLS`` cells, only
    the ``SIBLINGS`` siblings with the most mass."""
    area = int(system.area_of_cell[target])
    if area not in system.area_parents:
        return [component]
    parent = system.area_parents[area]
    siblings = [a for a in system.area_children[parent] if a != area]
    windows = []
    for chosen in (siblings, sorted(siblings, key=lambda a: (-system.area_mass[a], a))[:SIBLINGS]):
        areas = [parent, *(a for top in (area, *chosen) for a in _under(system, top))]
        window = _cells_beside(system, target, areas)
        if len(window) <= WINDOW_CELLS or len(chosen) <= SIBLINGS:
            windows.append(window)
            break
    return [*windows, component]


_NO_CELLS = np.zeros(0, dtype=np.int64)


def _cells_beside(system: _System, target: int, areas: Sequence[int]) -> np.ndarray:
    """The cells of ``areas`` in the target's component, ascending."""
    cells = np.concatenate([system.area_cells.get(a, _NO_CELLS) for a in areas])
    return np.sort(cells[system.labels[cells] == system.labels[target]])


def _under(system: _System, area: int) -> list[int]:
    """The area and every area below it (once each, whatever the hierarchy)."""
    found, seen = [area], {area}
    for up in found:
        for child in system.area_children.get(up, ()):
            if child not in seen:
                seen.add(child)
                found.append(child)
    return found


def _exact_window(system: _System, demands: Sequence[_Demand], component: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([_windows(system, d.target, component)[0] for d in demands]))


@dataclass(frozen=True)
class _Demand:
    target: int
    amount: float
    rising: bool
    # Group disclosure: the published zeros beside the cell prove it is the whole group,
    # so they may be hidden (and rise) to protect it; falling, its group totals stay put.
    raise_zeros: bool = False
    hold: tuple[int, ...] = ()
    # A published cell's width should it become a complement (``optimal_patterns`` only):
    # it moves at most ``amount``, and its rise and fall together reach its width when it
    # is hidden, nothing when it is not.
    conditional: bool = False


def _solve(
    system: _System,
    window: np.ndarray,
    demands: Sequence[_Demand],
    hidden: np.ndarray,
    whole: bool,
    binary: bool,
    time_limit: float | None = None,
) -> list[np.ndarray] | None:
    """One program over ``window`` for ``demands``: a direction per demand (on the window's
    cells), or None when the window admits none. With ``time_limit`` the program runs to
    its optimum or that many seconds, instead of ``MIP_NODE_LIMIT`` nodes."""
    m, k = len(window), len(demands)
    position = np.full(len(system.values), -1)
    position[window] = np.arange(m)
    local = system.by_column[:, window]
    touching = np.flatnonzero(np.diff(local.tocsr().indptr))
    block = sparse.csr_array(local.tocsr()[touching])
    free = np.flatnonzero(~hidden[window])  # published cells: their s variables
    f = len(free)
    n_flow = 2 * m * k
    values = system.values[window]
    big = np.array([d.amount for d in demands])
    # A published zero stays published (except for group disclosure): it cannot fall, so
    # as a complement it would only need complements of its own.
    rising_bound = np.where(~hidden[window] & (values == 0), 0.0, np.inf)
    fixed = np.flatnonzero(system.fixed[window])
    upper_bound = np.full(n_flow, np.inf)
    lower_bound = np.zeros(n_flow)
    for d, demand in enumerate(demands):
        if not demand.raise_zeros:
            upper_bound[2 * d * m : (2 * d + 1) * m] = rising_bound
        minus = slice((2 * d + 1) * m, (2 * d + 2) * m)
        upper_bound[minus] = values
        t = position[demand.target]
        plus_t, minus_t = 2 * d * m + t, (2 * d + 1) * m + t
        moving, still = (plus_t, minus_t) if demand.rising else (minus_t, plus_t)
        lower_bound[moving] = 0.0 if demand.conditional else demand.amount
        upper_bound[moving] = demand.amount
        upper_bound[still] = 0.0
        held = position[list(demand.hold)]
        held = np.concatenate([held[held >= 0], fixed])
        upper_bound[2 * d * m + held] = upper_bound[(2 * d + 1) * m + held] = 0.0
    equality = sparse.kron(sparse.identity(k), sparse.hstack([block, -block]), format="csr")
    # y+_j + y-_j - M s_j <= 0 for published j, per demand.
    rows, cols, data = [], [], []
    for d in range(k):
        base = d * f
        rows += [base + np.arange(f)] * 2 + [base + np.arange(f)]
        cols += [2 * d * m + free, (2 * d + 1) * m + free, n_flow + np.arange(f)]
        data += [np.ones(f), np.ones(f), np.full(f, -big[d] * 2.0)]
    coupling = sparse.csr_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(k * f, n_flow + f),
    ) if f else sparse.csr_array((0, n_flow + f))  # fmt: skip
    if any(d.conditional for d in demands):
        coupling = sparse.vstack([coupling, _widths(demands, position, free, m, n_flow)])
    constraints = [
        optimize.LinearConstraint(
            sparse.hstack([equality, sparse.csr_array((equality.shape[0], f))]), 0.0, 0.0
        ),
    ]
    if f:
        constraints.append(optimize.LinearConstraint(coupling, -np.inf, 0.0))
    scale = np.repeat(big, 2 * m)
    cost = np.concatenate([FLOW_COST * system.cost[np.tile(window, 2 * k)] / scale,
                           system.cost[window[free]]])  # fmt: skip
    integrality = np.concatenate([np.full(n_flow, int(whole)), np.full(f, int(binary))])
    bounds = optimize.Bounds(
        np.concatenate([lower_bound, np.zeros(f)]),
        np.concatenate([upper_bound, np.ones(f) if binary else np.full(f, np.inf)]),
    )
    options = {"disp": False, "presolve": True}
    if time_limit is not None:
        options["time_limit"] = time_limit
    elif binary or whole:
        options["node_limit"] = MIP_NODE_LIMIT
    with _quiet_stdout():
        result = optimize.milp(
            cost, constraints=constraints, integrality=integrality, bounds=bounds, options=options
        )
    if time_limit is not None and result.status != 0:
        return None  # no proven optimum within the time limit
    if result.x is None:
        return None
    flows = result.x[:n_flow]
    return [flows[2 * d * m : (2 * d + 1) * m] - flows[(2 * d + 1) * m : (2 * d + 2) * m]
            for d in range(k)]  # fmt: skip


class _QuietStdout:
    """The HiGHS inside scipy prints a debug line with printf on some MIPs whatever ``disp``
    says (seen on regional marts); it would land between the console's tables. Only the
    file descriptor can silence a C printf. MIPs solve in several threads at once: the
    first to start points stdout at /dev/null, the last to finish points it back (logs go
    to stderr, so little else writes there meanwhile)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: int | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                sys.stdout.flush()
                self._saved = os.dup(1)
                with open(os.devnull, "wb") as devnull:
                    os.dup2(devnull.fileno(), 1)
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0 and self._saved is not None:
                    os.dup2(self._saved, 1)
                    os.close(self._saved)
                    self._saved = None


_quiet_stdout = _QuietStdout()


def _widths(
    demands: Sequence[_Demand], position: np.ndarray, free: np.ndarray, m: int, n_flow: int
) -> sparse.csr_array:
    """Per published cell with conditional demands: width * s - rise - fall <= 0."""
    s_of = np.full(m, -1)
    s_of[free] = np.arange(len(free))
    by_target: dict[int, list[int]] = {}
    for d, demand in enumerate(demands):
        if demand.conditional:
            by_target.setdefault(demand.target, []).append(d)
    rows, cols, data = [], [], []
    for row, (target, numbers) in enumerate(by_target.items()):
        t = position[target]
        rows.append(row)
        cols.append(n_flow + s_of[t])
        data.append(max(demands[d].amount for d in numbers))
        for d in numbers:
            rows.append(row)
            cols.append((2 * d if demands[d].rising else 2 * d + 1) * m + t)
            data.append(-1.0)
    return sparse.csr_array((data, (rows, cols)), shape=(len(by_target), n_flow + len(free)))


def _valid(system: _System, window: np.ndarray, direction: np.ndarray, demand: _Demand) -> bool:
    """A direction checked against every relation, non-negativity and its demand. Cells
    outside the window stay put, so only the relations of the window's cells can break
    (a product with the whole system would cost a pass over the release per direction)."""
    if np.abs(system.by_column[:, window] @ direction).max(initial=0.0) > TOLERANCE:
        return False
    if (system.values[window] + direction < -TOLERANCE).any():
        return False
    if np.abs(direction[np.isin(window, demand.hold)]).max(initial=0.0) > TOLERANCE:
        return False
    if np.abs(direction[system.fixed[window]]).max(initial=0.0) > TOLERANCE:
        return False
    moved = float(direction[window == demand.target].sum())
    wanted = demand.amount if demand.rising else -demand.amount
    return abs(moved - wanted) <= TOLERANCE


def _whole(direction: np.ndarray) -> bool:
    return bool(np.abs(direction - np.round(direction)).max(initial=0.0) <= TOLERANCE)


def _apply(
    system: _System,
    window: np.ndarray,
    demands: Sequence[_Demand],
    directions: Sequence[np.ndarray],
    hidden: np.ndarray,
    certificates: _Certificates,
    whole: bool,
) -> bool:
    """Hide what the directions move and record them; False if one fails its checks."""
    for demand, direction in zip(demands, directions, strict=True):
        cleaned = np.where(np.abs(direction) > TOLERANCE, direction, 0.0)
        if whole:
            cleaned = np.round(cleaned)
        if not _valid(system, window, cleaned, demand):
            return False
        hidden[window[cleaned != 0]] = True
        certificates.record(window, cleaned)
    return True


@dataclass(frozen=True)
class _Requirements:
    """Per cell, what an attacker must not be able to rule out: a primary cell rising by
    ``upper`` and falling by ``lower``; a complement moving ``width`` on either side."""

    upper: np.ndarray
    lower: np.ndarray
    width: np.ndarray


def _wide_enough(cell: int, width: np.ndarray, certificates: _Certificates) -> bool:
    """A complement needs a width, on whichever sides: the directions found may give it."""
    shown = certificates.up[cell] + certificates.down[cell]
    return bool(width[cell] > 0 and shown >= width[cell] - TOLERANCE)


def _needs(
    cells: np.ndarray, required: _Requirements, certificates: _Certificates
) -> list[_Demand]:
    upper, lower, width = required.upper, required.lower, required.width
    demands = []
    for cell in cells.tolist():
        if _wide_enough(cell, width, certificates):
            continue
        hold = tuple(certificates.group_totals[certificates.group_cells == cell].tolist())
        zeros = bool(hold)
        if upper[cell] > 0 and certificates.up[cell] < upper[cell] - TOLERANCE:
            demands.append(_Demand(cell, float(upper[cell]), True, zeros))
        if lower[cell] > 0 and certificates.fallen_apart(cell) < lower[cell] - TOLERANCE:
            demands.append(_Demand(cell, float(lower[cell]), False, zeros, hold))
    return demands


def _still_needed(demand: _Demand, width: np.ndarray, certificates: _Certificates) -> bool:
    if _wide_enough(demand.target, width, certificates):
        return False
    if demand.rising:
        return bool(certificates.up[demand.target] < demand.amount - TOLERANCE)
    return certificates.fallen_apart(demand.target) < demand.amount - TOLERANCE


def _box(system: _System, demand: _Demand, hidden: np.ndarray, certificates: _Certificates) -> bool:
    """Protect with the cheapest box of the cell's own table, if one is valid for the
    whole release (a box that moves a linked cell is not, unless its twin moves too)."""
    number = int(np.searchsorted(system.offsets, demand.target, side="right")) - 1
    start, end = system.offsets[number], system.offsets[number + 1]
    found = cheapest_box(
        system.tables[number],
        system.values[start:end],
        hidden[start:end],
        demand.target - start,
        demand.amount,
        demand.rising,
        demand.raise_zeros,
    )
    if found is None:
        return False
    corners, signs = found
    window = start + corners
    if np.isin(window, demand.hold).any() or system.fixed[window].any():
        return False
    direction = signs * (demand.amount if demand.rising else -demand.amount)
    return _apply(system, window, [demand], [direction], hidden, certificates, whole=True)


def _protect_one(
    system: _System,
    component: np.ndarray,
    demand: _Demand,
    hidden: np.ndarray,
    certificates: _Certificates,
    stats: ProtectionStats,
) -> bool:
    """Find a direction for one demand and record it; False when none exists."""
    if _box(system, demand, hidden, certificates):
        stats.boxes += 1
        return True
    for window in _widened(system, demand.target, component, hidden):
        directions = _solve(system, window, [demand], hidden, whole=False, binary=False)
        stats.heuristic_programs += 1
        whole = directions is not None and _whole(directions[0])
        if directions is not None and not whole and len(window) <= WINDOW_CELLS:
            directions = _solve(system, window, [demand], hidden, whole=True, binary=False)
            stats.heuristic_programs += 1
            whole = directions is not None
        if directions is not None and not whole:
            stats.fractional += 1
        if directions is not None and _apply(
            system, window, [demand], directions, hidden, certificates, whole=whole
        ):
            return True
        stats.widened_windows += 1
    return False


def _widened(
    system: _System, target: int, component: np.ndarray, hidden: np.ndarray
) -> list[np.ndarray]:
    """The target's windows, with one more before the whole component: the last of them
    (for an area at the top, its own cells) joined by every hidden cell of the component.
    Hidden cells move at no cost, so the program over the whole component mostly finds
    its direction among them; a province's hidden cells are a fraction of its cells (a
    regio of 30 municipalities at 600,000 residents: 145 programs over its 15,988 cells
    took 20 s, over at most 5,376 cells 5 s, for the same pattern)."""
    windows = _windows(system, target, component)
    area = system.area_of_cell[target]
    if len(windows) > 1:
        local = windows[-2]
    elif area >= 0:
        local = _cells_beside(system, target, [int(area)])
    else:
        return windows
    joined = np.union1d(local, component[hidden[component]])
    if len(joined) >= len(component) or (len(windows) > 1 and len(joined) == len(local)):
        return windows
    return [*windows[:-1], joined, component]


def _other_side(demand: _Demand, width: np.ndarray, certificates: _Certificates) -> _Demand:
    """A complement that cannot move one way: the rest of its width, beyond what it is
    shown to move the first way, in one direction the other way."""
    cell = demand.target
    first_way = certificates.down[cell] if demand.rising else certificates.up[cell]
    return _Demand(cell, float(width[cell] - first_way), not demand.rising)


def _either_side(
    demand: _Demand,
    width: np.ndarray,
    certificates: _Certificates,
    protect: Callable[[_Demand], bool],
) -> bool:
    """Protect a demand; a complement that cannot move its way gets the rest of its width
    the other way."""
    if protect(demand):
        return True
    return bool(width[demand.target] > 0) and protect(_other_side(demand, width, certificates))


def _protect_component(
    system: _System,
    component: np.ndarray,
    required: _Requirements,
    secondary_width: np.ndarray,
    hidden: np.ndarray,
    keep: np.ndarray,
    certificates: _Certificates,
    stats: ProtectionStats,
    max_hidden: int | None,
) -> None:
    """Protect every hidden cell of the component, its complements too, then publish the
    complements found redundant; ``certificates`` holds the component's directions only."""
    upper, lower, width = required.upper, required.lower, required.width
    asked = np.zeros(len(system.values), dtype=bool)
    while True:
        newly = component[hidden[component] & ~asked[component]]
        if not len(newly):
            _drop_redundant(system, component, required, hidden, keep, certificates, stats)
            return
        # A complement needs a width of its own, on either side; when the directions found
        # so far do not give it, it asks what it can fall (up to half) and the rest up.
        fresh = newly[upper[newly] + lower[newly] == 0]
        width[fresh] = secondary_width[fresh]
        lower[fresh] = np.minimum(system.values[fresh], np.floor(secondary_width[fresh] / 2))
        upper[fresh] = secondary_width[fresh] - lower[fresh]
        asked[newly] = True
        demands = _needs(newly, required, certificates)
        sides = int((upper[newly] > 0).sum() + (lower[newly] > 0).sum())
        stats.certified_by_earlier += sides - len(demands)
        if not demands:
            continue
        batch = EXACT_LIMIT // (2 * len(component)) if len(component) <= BATCH_CELLS else 1
        if len(component) <= EXACT_CELLS:
            # Batches of demands, each its own program: what one batch hides costs the
            # next nothing, so later batches build on earlier ones.
            for start in range(0, len(demands), batch):
                wanted = [d for d in demands[start : start + batch]
                          if _still_needed(d, width, certificates)]  # fmt: skip
                if not wanted:
                    continue
                window = _exact_window(system, wanted, component)
                directions = _solve(system, window, wanted, hidden, whole=True, binary=True)
                stats.exact_programs += 1
                if directions is None and len(window) < len(component):
                    window = component
                    directions = _solve(system, window, wanted, hidden, whole=True, binary=True)
                    stats.exact_programs += 1
                if directions is not None:
                    _apply(system, window, wanted, directions, hidden, certificates, True)
                    _within(hidden, max_hidden)
        for demand in demands:
            if not _still_needed(demand, width, certificates):
                stats.certified_by_earlier += 1
                continue
            if _either_side(
                demand,
                width,
                certificates,
                lambda d: _protect_one(system, component, d, hidden, certificates, stats),
            ):
                _within(hidden, max_hidden)
                continue
            raise DisclosureError(
                "no direction protects a hidden cell, not even in its whole table"
            )


def _polish(
    system: _System,
    component: np.ndarray,
    primary: np.ndarray,
    unprotected: _Requirements,
    secondary_width: np.ndarray,
    hidden: np.ndarray,
    keep: np.ndarray,
    certificates: _Certificates,
    stats: ProtectionStats,
    max_hidden: int | None,
) -> None:
    """Try a second pattern for a small component and keep the cheaper one.

    The first pattern builds demand on demand; this one starts from a single program for
    every primary demand at once (the cheapest joint pattern, as far as ``MIP_NODE_LIMIT``
    nodes find it), then gives its complements their widths and cleans up as the first
    did. Kept only when it costs less, so it never hides more. ``unprotected`` holds the
    component's requirements before the first pattern. Worth it where the first pattern
    picks a complement early that a joint choice avoids: bevolking_buurt at 300,000
    residents, 6 complements of mass 938 -> 6 of mass 839 (the proven optimum). With more
    than ``POLISH_DEMANDS`` demands the complements' widths are in the program too, and
    its directions for them are recorded: wmo_wijk at 3,000,000 residents, 18 of mass
    1,703 -> 17 of 1,418 (the proven optimum)."""
    if len(component) > EXACT_CELLS:
        return
    cells = component[primary[component]]
    trial = _Certificates.empty(len(system.values), certificates.group_cells,
                                certificates.group_totals)  # fmt: skip
    required = _Requirements(
        np.zeros(len(system.values)), np.zeros(len(system.values)), np.zeros(len(system.values))
    )
    required.upper[component] = unprotected.upper
    required.lower[component] = unprotected.lower
    demands = _needs(cells, required, trial)
    if not demands:
        return
    alternative = hidden.copy()
    alternative[component] = keep[component]
    widths: list[_Demand] = []
    if len(demands) > POLISH_DEMANDS:
        # Many demands: the joint program alone leaves the complements' widths to the
        # completion below, which then undoes its gain; with them inside it, it is the
        # optimum's program, cut at the node limit.
        candidates = component[~alternative[component] & (system.values[component] > 0)]
        widths = [
            _Demand(int(c), amount, rising, conditional=True)
            for c in candidates.tolist()
            for amount, rising in ((secondary_width[c], True),
                                   (min(secondary_width[c], system.values[c]), False))
            if amount > 0  # a table whose complements need no width (a magnitude's)
        ]  # fmt: skip
        if 2 * len(component) * (len(demands) + len(widths)) > POLISH_FLOWS:
            return
    directions = _solve(system, component, demands + widths, alternative, whole=True, binary=True)
    stats.exact_programs += 1
    if directions is None or not _apply(
        system, component, demands, directions[: len(demands)], alternative, trial, whole=True
    ):
        return
    for demand, direction in zip(widths, directions[len(demands) :], strict=True):
        # A complement's width, found on condition that it is hidden: recorded as the
        # direction it is, so that the completion below need not look for it again.
        cleaned = np.round(np.where(np.abs(direction) > TOLERANCE, direction, 0.0))
        moved = float(cleaned[np.flatnonzero(component == demand.target)[0]])
        if moved == 0 or (moved > 0) != demand.rising:
            continue
        if not _valid(system, component, cleaned, _Demand(demand.target, abs(moved), moved > 0)):
            return
        alternative[component[cleaned != 0]] = True
        trial.record(component, cleaned)
    complements = component[~keep[component]]
    cost = system.cost[complements[hidden[complements]]].sum()
    # The joint pattern is (within the node limit) the cheapest for the primary demands and
    # widths only add to it: one no cheaper than the first pattern is not worth them.
    if system.cost[complements[alternative[complements]]].sum() >= cost - TOLERANCE:
        return
    try:
        _protect_component(system, component, required, secondary_width, alternative, keep,
                           trial, stats, max_hidden)  # fmt: skip
    except (HiddenLimitReached, DisclosureError):
        return
    if system.cost[complements[alternative[complements]]].sum() < cost - TOLERANCE:
        hidden[component] = alternative[component]
        stats.polished += 1


def _drop_redundant(
    system: _System,
    component: np.ndarray,
    required: _Requirements,
    hidden: np.ndarray,
    keep: np.ndarray,
    certificates: _Certificates,
    stats: ProtectionStats,
) -> None:
    """Publish again each complement the others make redundant, the costliest first.

    Cells hidden one demand at a time build on one another: a complement chosen early is
    often made needless by those chosen after it (the cleanup step of Fischetti and
    Salazar's and of the hypercube methods). A complement is published when every hidden
    cell left keeps its requirement: the directions found that do not move the complement
    still hold; for what they no longer give, a whole direction over the hidden cells that
    remain is sought (so nothing more is hidden), a stricter test than the audit's.
    ``certificates`` holds the directions found in the component.

    Only the cells a dropped complement's directions moved can lose what they were shown
    (every other hidden cell keeps its directions): those alone are checked, against the
    directions that move them, so a province of thousands of complements is not checked
    whole for each of them."""
    moves = dict(enumerate(certificates.moves))
    next_number = len(moves)
    touching: dict[int, set[int]] = {}
    for number, (cells, _) in enumerate(certificates.moves):
        for moved in cells.tolist():
            touching.setdefault(moved, set()).add(number)
    group_cells, group_totals = certificates.group_cells, certificates.group_totals
    complements = component[hidden[component] & ~keep[component]]
    for cell in complements[np.lexsort((complements, -system.cost[complements]))].tolist():
        hidden[cell] = False
        if _pins_a_neighbour(system, cell, hidden):
            hidden[cell] = True
            continue
        removed = touching.get(cell, set())
        moved = {c for number in removed for c in moves[number][0].tolist()}
        # A whole-group cell also loses what it was shown when its total loses a direction.
        moved |= set(group_cells[np.isin(group_totals, list(moved))].tolist())
        affected = np.array(sorted(c for c in moved if hidden[c]), dtype=np.int64)
        wanted = {number for c in affected.tolist() for number in touching.get(c, ())}
        for total in group_totals[np.isin(group_cells, affected)].tolist():
            wanted |= touching.get(total, set())
        found = _Certificates.empty(len(system.values), group_cells, group_totals)
        for number in sorted(wanted - removed):
            found.record(*moves[number])
        first_new = len(found.moves)
        if _still_protected(system, component, required, hidden, found, stats, affected):
            stats.dropped += 1
            for number in sorted(removed):
                for c in moves.pop(number)[0].tolist():
                    touching[c].discard(number)
            for number, (cells, direction) in enumerate(found.moves[first_new:], next_number):
                for c in cells.tolist():
                    touching.setdefault(c, set()).add(number)
                moves[number] = (cells, direction)
            next_number += len(found.moves) - first_new
        else:
            hidden[cell] = True


def _pins_a_neighbour(system: _System, cell: int, hidden: np.ndarray) -> bool:
    """Whether publishing ``cell`` leaves a relation with a single hidden cell: one the
    attacker then reads off exactly."""
    rows = system.relations[system.by_column[:, [cell]].indices]
    shown = np.add.reduceat(np.abs(rows.data) * hidden[rows.indices], rows.indptr[:-1])
    return bool(np.any(shown == 1))


def _still_protected(
    system: _System,
    component: np.ndarray,
    required: _Requirements,
    hidden: np.ndarray,
    found: _Certificates,
    stats: ProtectionStats,
    checked: np.ndarray,
) -> bool:
    """Whether the ``checked`` hidden cells of the component keep their requirements, given
    what ``found`` shows and whole directions over the hidden cells, recorded in ``found``."""

    def over_hidden(demand: _Demand) -> bool:
        for window in _hidden_windows(system, demand.target, component, hidden):
            stats.dropping_programs += 1
            directions = _solve(system, window, [demand], hidden, whole=True, binary=True)
            if directions is not None and _apply(
                system, window, [demand], directions, hidden, found, whole=True
            ):
                return True
        return False

    return all(
        not _still_needed(demand, required.width, found)
        or _either_side(demand, required.width, found, over_hidden)
        for demand in _needs(checked, required, found)
    )


def _hidden_windows(
    system: _System, target: int, component: np.ndarray, hidden: np.ndarray
) -> list[np.ndarray]:
    """Where cleanup looks for a direction over the hidden cells that remain: all of them,
    where they are at most ``WINDOW_CELLS``; else those of the target's area windows. A
    program that has to prove there is none over thousands of cells costs seconds, and
    in a large component most complements are needed (a province of 30 municipalities at
    600,000 residents: 1,106 programs over 2,471 hidden cells, 84 s, for 21 dropped)."""
    remaining = component[hidden[component]]
    if len(remaining) <= WINDOW_CELLS:
        return [remaining]
    windows = []
    for window in _windows(system, target, component)[:-1]:
        local = window[hidden[window]]
        if len(local) and (not windows or len(local) > len(windows[-1])):
            windows.append(local)
    return windows


@dataclass(frozen=True)
class ReleaseParts:
    """What protecting one component of a release reads: the same for every component."""

    system: _System
    primary: np.ndarray
    keep: np.ndarray  # hidden from the start
    upper: np.ndarray
    lower: np.ndarray
    secondary_width: np.ndarray
    group_cells: np.ndarray
    group_totals: np.ndarray


def _protect_part(
    release: ReleaseParts,
    component: np.ndarray,
    hidden: np.ndarray,
    required: _Requirements,
    max_hidden: int | None,
) -> ProtectionStats:
    """Protect one component: reads and writes only its own cells of ``hidden`` and
    ``required``, and its directions and counts are its own."""
    system, n = release.system, len(release.system.values)
    found = ProtectionStats(components=1)
    certificates = _Certificates.empty(n, release.group_cells, release.group_totals)
    unprotected = _Requirements(
        required.upper[component].copy(), required.lower[component].copy(),
        np.zeros(len(component)),
    )  # fmt: skip
    _protect_component(system, component, required, release.secondary_width, hidden,
                       release.keep, certificates, found, max_hidden)  # fmt: skip
    _polish(system, component, release.primary, unprotected, release.secondary_width, hidden,
            release.keep, certificates, found, max_hidden)  # fmt: skip
    return found


def protect_part(release: ReleaseParts, component: np.ndarray) -> PartResult:
    """One component protected on its own: per cell of it, whether it is hidden. Wherever
    it runs (a thread, a Dask worker), the pattern is the same."""
    hidden = release.keep.copy()
    required = _Requirements(release.upper.copy(), release.lower.copy(),
                             np.zeros(len(release.system.values)))  # fmt: skip
    stats = _protect_part(release, component, hidden, required, None)
    return hidden[component], stats


PartResult = tuple[np.ndarray, ProtectionStats]
PartFunction = Callable[[ReleaseParts, np.ndarray], PartResult]
ComponentMap = Callable[[PartFunction, ReleaseParts, list[np.ndarray]], list[PartResult]]
_component_map: ComponentMap | None = None


@contextmanager
def components_mapped_by(run: ComponentMap) -> Iterator[None]:
    """Within the block, ``run(protect_part, release, components)`` protects the independent
    components of each release (a Dask cluster's workers, say) instead of this process's
    threads; it returns the results in the order of ``components``."""
    global _component_map
    previous, _component_map = _component_map, run
    try:
        yield
    finally:
        _component_map = previous


def _in_threads(
    function: PartFunction, release: ReleaseParts, components: list[np.ndarray]
) -> list[PartResult]:
    workers = min(len(components), protection_threads())
    if workers <= 1:
        return [function(release, component) for component in components]
    with ThreadPoolExecutor(workers, thread_name_prefix="udc-protect") as pool:
        return list(pool.map(lambda component: function(release, component), components))


def _components_with(labels: np.ndarray, cells: np.ndarray) -> list[np.ndarray]:
    """The components (each its cells, ascending) that hold any of ``cells``, found in one
    pass: a comparison per component would be a pass over the release each."""
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    found = np.split(order, bounds)
    wanted = set(np.unique(labels[cells]).tolist())
    return [part for part in found if int(labels[part[0]]) in wanted]


def _add_counts(stats: ProtectionStats, part: ProtectionStats) -> None:
    for name in PARALLEL_COUNTS:
        setattr(stats, name, getattr(stats, name) + getattr(part, name))


def protect_release(
    tables: Sequence[ProtectionTable],
    links: Sequence[CellLink] = (),
    groups: Sequence[GroupLink] = (),
    max_hidden: int | None = None,
) -> ReleaseProtection:
    """Primary cells as given, and the complements that give every hidden cell its
    protection interval against everything the release publishes (and every whole-group
    cell of ``groups`` its distance to its group total). With ``max_hidden`` it raises
    ``HiddenLimitReached`` as soon as more cells than that are hidden: a caller that only
    asks whether a table stays under a share is spared the rest."""
    stats = ProtectionStats()
    if not tables:
        return ReleaseProtection((), (), stats)
    system = _system(tables, links)
    n = len(system.values)
    primary = np.concatenate([np.asarray(t.primary, dtype=bool) for t in tables])
    upper = np.where(primary, np.concatenate([t.upper for t in tables]), 0.0).astype(float)
    lower = np.where(primary, np.concatenate([t.lower for t in tables]), 0.0).astype(float)
    lower = np.minimum(lower, system.values)
    secondary_width = np.concatenate(
        [np.full(len(t.values), float(t.secondary_width)) for t in tables]
    )
    group_cells = np.concatenate(
        [system.offsets[g.table] + np.asarray(g.cells, dtype=np.int64) for g in groups]
        or [np.zeros(0, dtype=np.int64)]
    )
    group_totals = np.concatenate(
        [system.offsets[g.total_table] + np.asarray(g.total_cells, dtype=np.int64)
         for g in groups] or [np.zeros(0, dtype=np.int64)]
    )  # fmt: skip
    if not primary[group_cells].all():
        raise DisclosureError("a whole-group cell is not primary")
    # Primary cells, and those an earlier release of the same values hid, stay hidden.
    keep = primary | _before(tables, "hidden_before")
    _within(keep, max_hidden)
    components = _components_with(system.labels, primary)
    release = ReleaseParts(system, primary, keep, upper, lower, secondary_width,
                           group_cells, group_totals)  # fmt: skip
    hidden = keep.copy()
    if max_hidden is None:
        parts = (_component_map or _in_threads)(protect_part, release, components)
        for component, (part, found) in zip(components, parts, strict=True):
            hidden[component] = part
            _add_counts(stats, found)
    else:
        # Under a hidden-cell limit the order decides when protection stops: one at a
        # time, each seeing what the others hid.
        required = _Requirements(upper.copy(), lower.copy(), np.zeros(n))
        for component in components:
            _add_counts(stats, _protect_part(release, component, hidden, required, max_hidden))
    stats.primary = int(primary.sum())
    stats.secondary = int((hidden & ~primary).sum())
    offsets = np.cumsum([0] + [len(t.values) for t in tables])
    return ReleaseProtection(
        tuple(hidden[offsets[i] : offsets[i + 1]] for i in range(len(tables))),
        tuple(primary[offsets[i] : offsets[i + 1]] for i in range(len(tables))),
        stats,
    )


@dataclass(frozen=True)
class OptimalPattern:
    """The proven cheapest complements of one component, for comparison (benchmarks)."""

    cells: int  # of the component
    primary: int
    secondary: int
    secondary_mass: float
    # Whether the program gave complements their widths too; if not, the pattern is a
    # floor under the cheapest that protects them as well.
    widths: bool


WIDTHS_LIMIT = 100_000  # flow variables of an optimum that gives complements their widths


def optimal_patterns(
    tables: Sequence[ProtectionTable],
    links: Sequence[CellLink] = (),
    time_limit: float = 60.0,
    max_cells: int | None = None,
) -> list[tuple[np.ndarray, OptimalPattern | None]]:
    """Per component with primary cells: its cells and the proven cheapest set of
    complements (cost ``1 + value`` each) that lets every primary cell move as it must, in
    one program for all its demands at once (Fischetti and Salazar's model); None where
    HiGHS proves no optimum within ``time_limit`` seconds, or the component has more than
    ``max_cells`` cells (not attempted). Where the program stays under ``WIDTHS_LIMIT``
    flow variables, every published cell also gets its width, on condition that it is
    hidden (a rise and a fall that reach ``secondary_width`` together, as
    ``protect_release`` demands); where not, or where that program is not proven in time,
    the optimum without them, a floor. Group disclosure is left out. The benchmark's
    yardstick, too slow for a nightly run."""
    system = _system(tables, links)
    primary = np.concatenate([np.asarray(t.primary, dtype=bool) for t in tables])
    upper = np.where(primary, np.concatenate([t.upper for t in tables]), 0.0)
    lower = np.minimum(np.where(primary, np.concatenate([t.lower for t in tables]), 0.0),
                       system.values)  # fmt: skip
    width = np.concatenate([np.full(len(t.values), float(t.secondary_width)) for t in tables])
    labels = system.labels

    def cheapest(component: np.ndarray, demands: list[_Demand], widths: bool):
        directions = _solve(
            system, component, demands, primary, whole=True, binary=True, time_limit=time_limit
        )
        if directions is None:
            return None
        moved = np.zeros(len(component), dtype=bool)
        for direction in directions:
            moved |= np.abs(direction) > TOLERANCE
        secondary = component[moved & ~primary[component]]
        return OptimalPattern(len(component), int(primary[component].sum()), len(secondary),
                              float(system.values[secondary].sum()), widths)  # fmt: skip

    found = []
    for label in np.unique(labels[primary]):
        component = np.flatnonzero(labels == label)
        if max_cells is not None and len(component) > max_cells:
            found.append((component, None))
            continue
        cells = component[primary[component]]
        demands = [_Demand(int(c), float(upper[c]), True) for c in cells if upper[c] > 0]
        demands += [_Demand(int(c), float(lower[c]), False) for c in cells if lower[c] > 0]
        # A published zero is never a complement (it cannot fall).
        candidates = component[~primary[component] & (system.values[component] > 0)]
        conditional = [
            _Demand(int(c), amount, rising, conditional=True)
            for c in candidates.tolist()
            for amount, rising in ((width[c], True), (min(width[c], system.values[c]), False))
            if amount > 0
        ]
        optimum = None
        if 2 * len(component) * (len(demands) + len(conditional)) <= WIDTHS_LIMIT:
            optimum = cheapest(component, demands + conditional, True)
        found.append((component, optimum or cheapest(component, demands, False)))
    return found
