"""Disclosure control on small hand-made tables whose safe patterns are known."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from udc.marts import nullspace
from udc.marts.boxes import axis_options
from udc.marts.disclosure import (
    DisclosureError,
    Hierarchy,
    check_table,
    computable_cells,
    line_heuristic,
    primary_suppression,
    protect,
)
from udc.marts.tables import relation_matrix, table

TOTAL = "T"


def grid(leaves: np.ndarray) -> tuple[pl.DataFrame, np.ndarray, list[Hierarchy]]:
    """A complete table with a total along every axis, from an array of leaf counts."""
    names = [f"d{i}" for i in range(leaves.ndim)]
    domains = [[f"v{j}" for j in range(n)] + [TOTAL] for n in leaves.shape]
    rows, values = [], []
    for combo in itertools.product(*(range(n + 1) for n in leaves.shape)):
        at = tuple(slice(None) if c == n else c for c, n in zip(combo, leaves.shape, strict=True))
        values.append(int(leaves[at].sum()))
        rows.append([domains[i][c] for i, c in enumerate(combo)])
    coordinates = pl.DataFrame(rows, schema=names, orient="row")
    hierarchies = [
        Hierarchy(name, {v: TOTAL for v in domain[:-1]})
        for name, domain in zip(names, domains, strict=True)
    ]
    return coordinates, np.array(values), hierarchies


def cell(coordinates: pl.DataFrame, *coords: str) -> int:
    matches = [i for i, row in enumerate(coordinates.iter_rows()) if row == coords]
    assert len(matches) == 1
    return matches[0]


def hidden_rows(coordinates: pl.DataFrame, hidden: np.ndarray) -> list[tuple]:
    return [row for row, h in zip(coordinates.iter_rows(), hidden, strict=True) if h]


def published(coordinates: pl.DataFrame, values: np.ndarray, hidden: np.ndarray) -> pl.DataFrame:
    shown = [None if h else int(v) for h, v in zip(hidden, values, strict=True)]
    return coordinates.with_columns(pl.Series("value", shown, dtype=pl.Int64))


def determined_by_rank(relations, hidden: np.ndarray) -> np.ndarray:
    """Brute force: a hidden cell is determined iff dropping its column lowers the rank."""
    columns = np.flatnonzero(hidden)
    matrix = relations.toarray()[:, columns]
    rank = np.linalg.matrix_rank(matrix) if matrix.size else 0
    determined = np.zeros(len(hidden), dtype=bool)
    for i, c in enumerate(columns):
        rest = np.delete(matrix, i, axis=1)
        determined[c] = (np.linalg.matrix_rank(rest) if rest.size else 0) == rank - 1
    return determined


def assert_safe(coordinates, values, hierarchies, protection) -> None:
    assert not (protection.suppressed & (values == 0)).any(), "a zero was hidden"
    assert (protection.suppressed >= protection.primary).all()
    shown = values[~protection.suppressed]
    assert not ((shown > 0) & (shown < 10)).any()
    audit = check_table(published(coordinates, values, protection.suppressed), hierarchies)
    assert audit.is_empty(), audit


def test_primary_suppression_hides_one_to_min_minus_one_but_never_zero():
    hidden = primary_suppression(np.array([0, 1, 9, 10, 250]), 10)
    assert hidden.tolist() == [False, True, True, False, False]


def test_a_cell_alone_in_its_row_and_column_gets_the_smallest_complements():
    leaves = np.array([[3, 40, 50], [30, 20, 60], [35, 45, 25]])
    coordinates, values, hierarchies = grid(leaves)
    protection = protect(coordinates, values, hierarchies, 10)
    hidden = set(hidden_rows(coordinates, protection.suppressed))
    # Row v0: smallest published non-zero is 40 (column v1); column v0: 30 (row v1); then
    # the rectangle closes at (v1, v1) = 20, the smallest cell that covers both new lines.
    assert hidden == {("v0", "v0"), ("v0", "v1"), ("v1", "v0"), ("v1", "v1")}
    assert_safe(coordinates, values, hierarchies, protection)


def test_two_hidden_cells_in_one_row_still_need_cover_in_their_columns():
    leaves = np.array([[4, 6, 50], [30, 20, 60], [35, 45, 25]])
    coordinates, values, hierarchies = grid(leaves)
    protection = protect(coordinates, values, hierarchies, 10)
    hidden = hidden_rows(coordinates, protection.suppressed)
    by_column = {c: sum(1 for r in hidden if r[1] == c) for c in ("v0", "v1")}
    assert by_column["v0"] >= 2 and by_column["v1"] >= 2
    assert_safe(coordinates, values, hierarchies, protection)


def test_zeros_are_never_complements_even_when_they_are_the_smallest():
    leaves = np.array([[0, 1, 0, 25], [0, 30, 0, 40], [0, 50, 12, 70]])
    coordinates, values, hierarchies = grid(leaves)
    protection = protect(coordinates, values, hierarchies, 10)
    assert protection.suppressed[cell(coordinates, "v0", "v1")]
    for row in ("v0", "v1", "v2"):
        assert not protection.suppressed[cell(coordinates, row, "v0")]
    # The row's complement is its smallest non-zero published cell, 25, not a zero.
    assert protection.suppressed[cell(coordinates, "v0", "v3")]
    assert_safe(coordinates, values, hierarchies, protection)


def test_three_small_cells_in_a_row_cover_each_other_in_the_row():
    leaves = np.array([[3, 4, 5, 30], [30, 40, 50, 60], [35, 45, 55, 65]])
    coordinates, values, hierarchies = grid(leaves)
    row_before = line_heuristic(
        relation_matrix(coordinates, hierarchies),
        values,
        primary_suppression(values, 10),
    )
    # The row v0 already holds three hidden cells (and its total 42 stays published).
    assert not row_before[cell(coordinates, "v0", TOTAL)]
    protection = protect(coordinates, values, hierarchies, 10)
    assert_safe(coordinates, values, hierarchies, protection)


def geography_table(counts: dict[str, int]) -> tuple[pl.DataFrame, np.ndarray, list[Hierarchy]]:
    """Buurten B1, B2 in wijk W1; B3 alone in wijk W2; both wijken in gemeente G; crossed
    with a dimension x (a, b, T). ``counts`` gives (buurt+x) leaf counts like 'B1a'."""
    parents = {"B1": "W1", "B2": "W1", "B3": "W2", "W1": "G", "W2": "G"}
    areas = ["B1", "B2", "B3", "W1", "W2", "G"]
    below = {"W1": ["B1", "B2"], "W2": ["B3"], "G": ["B1", "B2", "B3"]}
    rows, values = [], []
    for area in areas:
        for x in ("a", "b", "T"):
            buurten = below.get(area, [area])
            xs = ["a", "b"] if x == "T" else [x]
            values.append(sum(counts[b + v] for b in buurten for v in xs))
            rows.append((area, x))
    coordinates = pl.DataFrame(rows, schema=["gebied", "x"], orient="row")
    hierarchies = [Hierarchy("gebied", parents), Hierarchy("x", {"a": "T", "b": "T"})]
    return coordinates, np.array(values), hierarchies


def test_a_wijk_with_one_buurt_repeats_it_and_the_audit_sees_that():
    counts = {"B1a": 40, "B1b": 50, "B2a": 60, "B2b": 70, "B3a": 4, "B3b": 80}
    coordinates, values, hierarchies = geography_table(counts)
    naive = primary_suppression(values, 10)
    assert naive[cell(coordinates, "B3", "a")] and naive[cell(coordinates, "W2", "a")]
    # Hide only the buurt and its wijk would still show the same number:
    only_buurt = np.zeros(len(values), dtype=bool)
    only_buurt[cell(coordinates, "B3", "a")] = True
    only_buurt[cell(coordinates, "B3", "b")] = True
    audit = check_table(published(coordinates, values, only_buurt), hierarchies)
    assert set(audit.select("gebied", "x").iter_rows()) == {("B3", "a"), ("B3", "b")}
    assert dict(zip(audit["x"], audit["computed_value"], strict=True)) == {"a": 4, "b": 80}
    protection = protect(coordinates, values, hierarchies, 10)
    assert protection.suppressed[cell(coordinates, "W2", "a")]
    assert_safe(coordinates, values, hierarchies, protection)


# Every line of a 3x3x3 table holds 0 or 2 of these cells, so the line heuristic sees
# nothing to do, yet the relations pin all 16 of them.
PINNED_PATTERN = [
    (0, 0, 0), (0, 0, 2), (0, 1, 1), (0, 1, 2), (0, 2, 0), (0, 2, 1),
    (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1),
    (2, 0, 1), (2, 0, 2), (2, 1, 0), (2, 1, 2), (2, 2, 0), (2, 2, 1),
]  # fmt: skip


def test_three_dimensions_where_the_line_heuristic_alone_leaves_cells_computable():
    leaves = np.full((3, 3, 3), 30)
    for i, (a, b, c) in enumerate(PINNED_PATTERN):
        leaves[a, b, c] = 1 + i % 9
    coordinates, values, hierarchies = grid(leaves)
    structure = table(coordinates, hierarchies)
    primary = primary_suppression(values, 10)
    assert primary.sum() == 16
    after_lines = line_heuristic(structure.relations, values, primary)
    assert (after_lines == primary).all()
    assert computable_cells(structure, after_lines).sum() == 16
    assert determined_by_rank(structure.relations, after_lines).sum() == 16
    protection = protect(coordinates, values, hierarchies, 10)
    assert_safe(coordinates, values, hierarchies, protection)
    assert not computable_cells(structure, protection.suppressed).any()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_null_space_check_agrees_with_a_brute_force_rank_test(seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        shape = tuple(rng.integers(2, 5, size=rng.integers(1, 4)))
        coordinates, values, hierarchies = grid(rng.integers(0, 25, size=shape))
        structure = table(coordinates, hierarchies)
        hidden = (rng.random(len(values)) < rng.uniform(0.1, 0.7)) & (values > 0)
        expected = determined_by_rank(structure.relations, hidden)
        assert (computable_cells(structure, hidden) == expected).all()


def test_windows_on_big_components_never_call_a_computable_cell_free(monkeypatch):
    monkeypatch.setattr(nullspace, "EXACT_LIMIT", 0)
    monkeypatch.setattr(nullspace, "WINDOW_LIMIT", 5)
    monkeypatch.setattr(nullspace, "SECOND_WINDOW_LIMIT", 8)
    rng = np.random.default_rng(7)
    for _ in range(25):
        coordinates, values, hierarchies = grid(rng.integers(0, 25, size=(4, 4, 3)))
        structure = table(coordinates, hierarchies)
        hidden = (rng.random(len(values)) < 0.5) & (values > 0)
        reported = computable_cells(structure, hidden)
        assert (reported >= determined_by_rank(structure.relations, hidden)).all()


@pytest.mark.parametrize("seed", [11, 12])
def test_protected_random_tables_pass_the_audit(seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        shape = tuple(rng.integers(2, 6, size=rng.integers(1, 4)))
        coordinates, values, hierarchies = grid(rng.integers(0, 14, size=shape))
        assert_safe(coordinates, values, hierarchies, protect(coordinates, values, hierarchies, 10))


def test_protection_is_deterministic():
    coordinates, values, hierarchies = grid(np.random.default_rng(5).integers(0, 14, (4, 5, 3)))
    first = protect(coordinates, values, hierarchies, 10)
    second = protect(coordinates, values, hierarchies, 10)
    assert (first.suppressed == second.suppressed).all()


def test_every_axis_option_satisfies_the_relations_of_its_axis():
    coordinates, _, hierarchies = geography_table(
        {k: 20 for k in ("B1a", "B1b", "B2a", "B2b", "B3a", "B3b")}
    )
    structure = table(coordinates, hierarchies)
    axis = structure.geometry.axes[0]
    tree = relation_matrix(pl.DataFrame({"gebied": list(axis.values)}), [hierarchies[0]]).toarray()
    for node in range(len(axis.values)):
        for nodes, signs in axis_options(axis, node):
            vector = np.zeros(len(axis.values))
            vector[list(nodes)] = signs
            assert node in nodes
            assert not (tree @ vector).any()


def test_fail_closed_when_a_lone_hidden_cell_has_only_zeros_beside_it():
    coordinates, values, hierarchies = grid(np.array([[0, 0], [5, 7]]))
    values = values.copy()
    lone = np.zeros(len(values), dtype=bool)
    lone[cell(coordinates, "v0", "v0")] = True
    with pytest.raises(DisclosureError, match="no cell to hide"):
        line_heuristic(relation_matrix(coordinates, hierarchies), values, lone)


def test_inconsistent_or_incomplete_tables_are_refused():
    coordinates, values, hierarchies = grid(np.array([[3, 4], [5, 6]]))
    broken = values.copy()
    broken[cell(coordinates, TOTAL, TOTAL)] += 1
    with pytest.raises(DisclosureError, match="not the sums"):
        protect(coordinates, broken, hierarchies, 10)
    missing_total = coordinates.filter(pl.col("d0") != TOTAL)
    with pytest.raises(DisclosureError, match="incomplete"):
        relation_matrix(missing_total, hierarchies)
