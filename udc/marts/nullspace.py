"""Which hidden cells of a table can be computed back: null vectors of its relations.

A hidden cell is computable exactly when every null vector of the relations restricted to
the hidden cells is zero there (see ``disclosure``). The null space is found per connected
component of hidden cells, after exact reductions that shrink a component to its core
(``_reduce``): a relation with one hidden cell pins it; a relation with two, one of them
with a unit coefficient, ties them together; a cell in only one relation follows from the
rest of that relation. The core's null space is computed densely when it has at most
``EXACT_LIMIT`` cells. A bigger core is covered by windows of ``WINDOW_LIMIT`` cells (then
``SECOND_WINDOW_LIMIT`` around each cell still not shown free): a null vector of a
window's cells under every relation touching the window is a null vector of the whole
core, so what a window finds is exact, but a cell no window frees may still be free.
Random combinations of the null vectors found are carried back through the reductions, so
every hidden cell gets coordinates: non-zero means free.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import csgraph

EXACT_LIMIT = 1500
WINDOW_LIMIT = 800
SECOND_WINDOW_LIMIT = 3000
RANDOM_VECTORS = 3
SEED = 20240630
# Pinned cells get coordinates of rounding size (~1e-15); free cells get coordinates of
# the order of the random combination (~1e-2 and up).
NULL_TOLERANCE = 1e-8
# A pivoted-QR diagonal value counted in the rank below this fraction of the largest is too close
# to call, so the SVD decides the rank instead.
RANK_GAP = 1e-6


def incidence(relations: sparse.csr_array) -> sparse.csr_array:
    return sparse.csr_array(relations != 0).astype(np.int64)


def components(hidden_relations: sparse.csr_array) -> list[tuple[np.ndarray, np.ndarray]]:
    """(columns, rows) of each connected component, ordered by their first column."""
    n_rows = hidden_relations.shape[0]
    pattern = incidence(hidden_relations)
    graph = sparse.block_array([[None, pattern], [pattern.T, None]], format="csr")
    _, labels = csgraph.connected_components(graph, directed=False)
    row_labels, col_labels = labels[:n_rows], labels[n_rows:]
    _, first = np.unique(col_labels, return_index=True)
    return [
        (np.flatnonzero(col_labels == label), np.flatnonzero(row_labels == label))
        for label in col_labels[np.sort(first)]
    ]


@dataclass
class _Reduction:
    """A linear system ``rows`` (row -> {column: coefficient}) being shrunk exactly.

    ``steps`` say how to extend a null vector of the remaining core to the eliminated
    columns, in elimination order:
    ("pinned", j): v_j = 0;  ("tied", k, j, f): v_k = f v_j;
    ("private", j, {k: a_k}, a_j): v_j = -sum(a_k v_k) / a_j.
    """

    rows: dict[int, dict[int, int]]
    cols: dict[int, dict[int, None]]  # column -> rows holding it (an ordered set)
    steps: list[tuple] = field(default_factory=list)


def _reduction(matrix: sparse.csr_array) -> _Reduction:
    rows: dict[int, dict[int, int]] = {}
    cols: dict[int, dict[int, None]] = {j: {} for j in range(matrix.shape[1])}
    # Python lists: indexing numpy arrays element by element costs more than the reduction.
    indptr, indices, data = (matrix.indptr.tolist(), matrix.indices.tolist(), matrix.data.tolist())
    for r in range(matrix.shape[0]):
        start, end = indptr[r], indptr[r + 1]
        entries = {c: int(a) for c, a in zip(indices[start:end], data[start:end], strict=True) if a}
        if entries:
            rows[r] = entries
            for c in entries:
                cols[c][r] = None
    return _Reduction(rows, cols)


def _drop_row(system: _Reduction, r: int) -> list[int]:
    entries = system.rows.pop(r)
    for c in entries:
        system.cols[c].pop(r, None)
    return list(entries)


def _pin(system: _Reduction, r: int) -> tuple[list[int], list[int]]:
    """Row ``r`` holds one column: that column is 0 in every null vector."""
    (j,) = _drop_row(system, r)
    touched = list(system.cols.pop(j))
    for r2 in touched:
        del system.rows[r2][j]
    system.steps.append(("pinned", j))
    return touched, []


def _tie(system: _Reduction, r: int) -> tuple[list[int], list[int]] | None:
    """Row ``r`` holds two columns, one with a unit coefficient: substitute that one."""
    (j, a_j), (k, a_k) = sorted(system.rows[r].items())
    if abs(a_k) != 1:
        if abs(a_j) != 1:
            return None
        (j, a_j), (k, a_k) = (k, a_k), (j, a_j)
    factor = -a_j * a_k  # v_k = factor * v_j, since a_k = 1 / a_k for a unit
    _drop_row(system, r)
    touched = list(system.cols.pop(k))
    for r2 in touched:
        row = system.rows[r2]
        merged = row.get(j, 0) + row.pop(k) * factor
        if merged:
            row[j] = merged
            system.cols[j][r2] = None
        else:
            row.pop(j, None)
            system.cols[j].pop(r2, None)
    system.steps.append(("tied", k, j, factor))
    return touched, [j]


def _free_private(system: _Reduction, j: int) -> tuple[list[int], list[int]]:
    """Column ``j`` is in one row only: drop both; ``j`` follows from the rest of the row."""
    (r,) = system.cols[j]
    entries = dict(system.rows[r])
    a_j = entries.pop(j)
    others = [c for c in _drop_row(system, r) if c != j]
    del system.cols[j]
    system.steps.append(("private", j, entries, a_j))
    return [], others


def _reduce(matrix: sparse.csr_array) -> _Reduction:
    """Apply the exact reductions until none applies; what remains is the core."""
    system = _reduction(matrix)
    row_queue, col_queue = deque(system.rows), deque(system.cols)
    while row_queue or col_queue:
        if row_queue:
            r = row_queue.popleft()
            entries = system.rows.get(r)
            if entries is None:
                continue
            if not entries:
                del system.rows[r]
                continue
            if len(entries) == 1:
                result = _pin(system, r)
            elif len(entries) == 2:
                result = _tie(system, r)
            else:
                continue
        else:
            j = col_queue.popleft()
            if j not in system.cols or len(system.cols[j]) != 1:
                continue
            result = _free_private(system, j)
        if result is not None:
            touched_rows, touched_cols = result
            row_queue.extend(touched_rows)
            col_queue.extend(touched_cols)
            for r2 in touched_rows:
                col_queue.extend(system.rows.get(r2, ()))
    return system


def _core_matrix(system: _Reduction) -> tuple[list[int], sparse.csr_array]:
    core = list(system.cols)
    position = {c: i for i, c in enumerate(core)}
    rows, cols, data = [], [], []
    for i, entries in enumerate(system.rows.values()):
        for c, a in entries.items():
            rows.append(i)
            cols.append(position[c])
            data.append(float(a))
    matrix = sparse.csr_array((data, (rows, cols)), shape=(len(system.rows), len(core)))
    return core, matrix


def _svd_null_projection(matrix: np.ndarray, random: np.ndarray) -> np.ndarray:
    try:
        _, singular, vh = linalg.svd(matrix, full_matrices=False, lapack_driver="gesdd")
    except linalg.LinAlgError:
        _, singular, vh = linalg.svd(matrix, full_matrices=False, lapack_driver="gesvd")
    tolerance = max(matrix.shape) * np.finfo(float).eps * singular.max(initial=0.0)
    row_space = vh[: int((singular > tolerance).sum())]
    return random - row_space.T @ (row_space @ random)


def _null_projection(matrix: np.ndarray, random: np.ndarray) -> np.ndarray:
    """``random`` minus its projection on the row space of ``matrix``. A column-pivoted QR
    of the transpose, applied through its Householder reflectors, costs a fraction of an
    SVD; its diagonal reveals the rank when there is a clear gap, which the small integer
    relations give (kept values ~1e-1 and up, dropped ones ~1e-14). Without such a gap the
    SVD decides."""
    # A copy: geqp3 overwrites it, and the SVD may still need the matrix.
    transposed = np.array(matrix.T, dtype=np.float64, order="F")
    geqp3, ormqr = linalg.get_lapack_funcs(("geqp3", "ormqr"), (transposed,))
    lwork = int(geqp3(transposed, lwork=-1)[3][0])
    factored, _, tau, _, info = geqp3(transposed, lwork=lwork, overwrite_a=True)
    diagonal = np.abs(np.diag(factored))
    largest = diagonal.max(initial=0.0)
    tolerance = max(matrix.shape) * np.finfo(float).eps * largest
    rank = int((diagonal > tolerance).sum())
    if info != 0 or (rank and diagonal[:rank].min() < RANK_GAP * largest):
        return _svd_null_projection(matrix, random)
    reflectors = factored[:, : len(tau)]
    lwork = int(ormqr("L", "T", reflectors, tau, random, -1)[1][0])
    coefficients, _, info_t = ormqr("L", "T", reflectors, tau, random, lwork)
    coefficients[rank:] = 0.0
    in_row_space, _, info_n = ormqr("L", "N", reflectors, tau, coefficients, lwork)
    if info_t != 0 or info_n != 0:
        return _svd_null_projection(matrix, random)
    return random - in_row_space


def _random_null_vectors(matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random vectors projected onto the null space (columns x RANDOM_VECTORS)."""
    random = rng.standard_normal((matrix.shape[1], RANDOM_VECTORS))
    if matrix.shape[0] == 0:
        return random
    return _null_projection(matrix, random)


def _extend(system: _Reduction, n: int, core: list[int], core_vectors: np.ndarray) -> np.ndarray:
    """Carry null vectors of the core back through the reductions to all ``n`` columns."""
    vectors = np.zeros((n, RANDOM_VECTORS))
    vectors[core] = core_vectors
    for step in reversed(system.steps):
        if step[0] == "pinned":
            vectors[step[1]] = 0.0
        elif step[0] == "tied":
            vectors[step[1]] = step[3] * vectors[step[2]]
        else:
            _, j, entries, a_j = step
            vectors[j] = -sum(a * vectors[k] for k, a in entries.items()) / a_j
    return vectors


def _exact_null_vectors(matrix: sparse.csr_array, rng: np.random.Generator) -> np.ndarray:
    system = _reduce(matrix)
    core, core_matrix = _core_matrix(system)
    core_vectors = _random_null_vectors(core_matrix.toarray(), rng)
    return _extend(system, matrix.shape[1], core, core_vectors)


def _window(
    row_columns: list[list[int]], column_rows: list[list[int]], center: int, limit: int
) -> np.ndarray:
    """Up to ``limit`` columns reached from ``center`` breadth-first through shared rows."""
    seen = {center: None}
    queue = deque([center])
    while queue and len(seen) < limit:
        c = queue.popleft()
        for r in column_rows[c]:
            for c2 in row_columns[r]:
                if c2 not in seen and len(seen) < limit:
                    seen[c2] = None
                    queue.append(c2)
    return np.array(sorted(seen))


def _adjacency(matrix: sparse.csr_array | sparse.csc_array) -> list[list[int]]:
    """Per row of a CSR (per column of a CSC) matrix, its stored indices."""
    indptr, indices = matrix.indptr.tolist(), matrix.indices.tolist()
    return [indices[indptr[i] : indptr[i + 1]] for i in range(len(indptr) - 1)]


def _windowed_null_vectors(matrix: sparse.csr_array, rng: np.random.Generator) -> np.ndarray:
    """Sums of null vectors of windows around each column not yet shown free; a column a
    window leaves at zero gets a second, bigger window of its own."""
    n = matrix.shape[1]
    vectors = np.zeros((n, RANDOM_VECTORS))
    by_column = matrix.tocsc()
    row_columns, column_rows = _adjacency(matrix), _adjacency(by_column)
    for limit in (WINDOW_LIMIT, SECOND_WINDOW_LIMIT):
        for center in range(n):
            if np.abs(vectors[center]).max() > NULL_TOLERANCE:
                continue
            window = _window(row_columns, column_rows, center, limit)
            local = by_column[:, window].tocsr()
            touching = np.flatnonzero(np.diff(local.indptr))
            vectors[window] += _exact_null_vectors(sparse.csr_array(local[touching]), rng)
    return vectors


def null_vectors(matrix: sparse.csr_array, rng: np.random.Generator) -> np.ndarray:
    """Random null vectors of one component (columns x RANDOM_VECTORS). A zero row means
    the column is pinned; beyond EXACT_LIMIT it may also mean no window showed it free."""
    system = _reduce(matrix)
    core, core_matrix = _core_matrix(system)
    if len(core) <= EXACT_LIMIT:
        core_vectors = _random_null_vectors(core_matrix.toarray(), rng)
    else:
        core_vectors = _windowed_null_vectors(core_matrix, rng)
    return _extend(system, matrix.shape[1], core, core_vectors)
