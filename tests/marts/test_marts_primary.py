"""Primary suppression rules on hand-made cells whose answers are known."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from udc.marts.primary import (
    along_dimension_total_rows,
    count_unsafe,
    dominance_protection,
    dominance_unsafe,
    group_disclosure_unsafe,
    totals_at,
)


def test_count_rule_boundaries():
    values = np.array([0, 1, 9, 10, 11])
    assert count_unsafe(values, 10).tolist() == [False, True, True, False, False]


def test_with_minimum_one_no_count_is_unsafe():
    assert not count_unsafe(np.array([0, 1, 2]), 1).any()


def test_group_disclosure_is_100_percent_not_99_and_not_0_of_0():
    values = np.array([100, 99, 0, 5])
    group_totals = np.array([100.0, 100.0, 0.0, np.nan])
    assert group_disclosure_unsafe(values, group_totals).tolist() == [True, False, False, False]


# A wijk x aantal_regelingen table: in wijk A every person with a scheme has 3+ of them.
TABLE = pl.DataFrame(
    {
        "wijkcode": ["A", "A", "A", "A", "B", "B", "B", "B", "C"],
        "aantal_regelingen": ["1", "2", "3+", "totaal", "1", "2", "3+", "totaal", "1"],
    }
)
VALUES = np.array([0, 0, 12, 12, 5, 4, 3, 12, 7])


def test_along_dimension_total_rows_gives_each_category_its_groups_total():
    rows = along_dimension_total_rows(TABLE, "aantal_regelingen")
    # Total cells have no group of their own; wijk C has no total cell.
    assert rows.tolist() == [3, 3, 3, -1, 7, 7, 7, -1, -1]
    totals = totals_at(VALUES, rows)
    np.testing.assert_array_equal(totals, [12, 12, 12, np.nan, 12, 12, 12, np.nan, np.nan])
    assert group_disclosure_unsafe(VALUES, totals).tolist() == [
        False, False, True, False, False, False, False, False, False,
    ]  # fmt: skip


def test_along_dimension_total_rows_with_another_total_label_and_dimension():
    rows = along_dimension_total_rows(TABLE, "wijkcode", total_label="B")
    # Along wijkcode, "B" plays the total: each category of A and C gets B's cell.
    assert rows.tolist() == [4, 5, 6, 7, -1, -1, -1, -1, 4]


def test_along_dimension_total_rows_of_a_one_dimensional_table():
    coordinates = pl.DataFrame({"leefvorm": ["alleenstaand", "gehuwd", "totaal"]})
    rows = along_dimension_total_rows(coordinates, "leefvorm")
    np.testing.assert_array_equal(totals_at(np.array([0, 30, 30]), rows), [30, 30, np.nan])


@pytest.mark.parametrize(
    ("coordinates", "dimension", "message"),
    [
        (TABLE, "geslacht", "no column 'geslacht'"),
        (pl.concat([TABLE, TABLE.tail(2)]), "aantal_regelingen", "two cells"),
    ],
)
def test_along_dimension_total_rows_refuses_a_table_without_one_total_per_group(
    coordinates, dimension, message
):
    with pytest.raises(ValueError, match=message):
        along_dimension_total_rows(coordinates, dimension)


def test_the_p_percent_rule_needs_the_rest_to_be_p_percent_of_the_largest():
    # X, x1, x2: the rest X - x1 - x2 against 10% of x1.
    total = np.array([100, 100, 130, 131, 0, 7])
    largest = np.array([100, 60, 100, 100, 0, 4])
    second = np.array([0, 40, 21, 21, 0, 3])
    assert dominance_unsafe(total, largest, second, 10).tolist() == [
        True,  # one contributor
        True,  # two contributors: the second knows the first exactly
        True,  # rest 9 < 10
        False,  # rest 10 = 10% of 100
        False,  # empty
        True,  # rest 0
    ]
    # What each must move: 10% of x1 less the rest, in whole units.
    assert dominance_protection(total, largest, second, 10).tolist() == [10, 6, 1, 0, 0, 1]


def test_the_protection_keeps_the_second_largest_from_estimating_the_largest_closer_than_p():
    # The second largest subtracts itself from the upper end of the cell's interval: its
    # estimate of x1 must then be off by at least p% of x1.
    rng = np.random.default_rng(3)
    for _ in range(200):
        amounts = np.sort(rng.integers(1, 1000, rng.integers(1, 6)))[::-1]
        x1 = amounts[0]
        x2 = amounts[1] if len(amounts) > 1 else 0
        total = amounts.sum()
        needed = dominance_protection(np.array([total]), np.array([x1]), np.array([x2]), 10)[0]
        assert (total + needed) - x2 - x1 >= 0.1 * x1 - 1e-9
