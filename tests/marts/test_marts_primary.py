"""Primary suppression rules on hand-made cells whose answers are known."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from udc.marts.primary import (
    along_dimension_totals,
    count_unsafe,
    group_disclosure_unsafe,
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


def test_along_dimension_totals_gives_each_category_its_groups_total():
    totals = along_dimension_totals(TABLE, VALUES, "aantal_regelingen")
    # Total cells have no group of their own; wijk C has no total cell.
    expected = [12, 12, 12, np.nan, 12, 12, 12, np.nan, np.nan]
    np.testing.assert_array_equal(totals, expected)
    assert group_disclosure_unsafe(VALUES, totals).tolist() == [
        False, False, True, False, False, False, False, False, False,
    ]  # fmt: skip


def test_along_dimension_totals_with_another_total_label_and_dimension():
    totals = along_dimension_totals(TABLE, VALUES, "wijkcode", total_label="B")
    # Along wijkcode, "B" plays the total: each category of A and C gets B's cell.
    np.testing.assert_array_equal(totals, [5, 4, 3, 12, np.nan, np.nan, np.nan, np.nan, 5])


def test_along_dimension_totals_of_a_one_dimensional_table():
    coordinates = pl.DataFrame({"leefvorm": ["alleenstaand", "gehuwd", "totaal"]})
    totals = along_dimension_totals(coordinates, np.array([0, 30, 30]), "leefvorm")
    np.testing.assert_array_equal(totals, [30, 30, np.nan])


@pytest.mark.parametrize(
    ("coordinates", "values", "dimension", "message"),
    [
        (TABLE, VALUES[:-1], "aantal_regelingen", "one element per row"),
        (TABLE, VALUES, "geslacht", "no column 'geslacht'"),
        (
            pl.concat([TABLE, TABLE.tail(2)]),
            np.append(VALUES, [12, 7]),
            "aantal_regelingen",
            "two cells",
        ),
    ],
)
def test_along_dimension_totals_refuses_misaligned_input(coordinates, values, dimension, message):
    with pytest.raises(ValueError, match=message):
        along_dimension_totals(coordinates, values, dimension)
