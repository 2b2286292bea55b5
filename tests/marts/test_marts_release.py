"""A release: primary rules, links between marts, and protection of the marts together."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import polars as pl

from udc.marts.build import Dominance, MartCounts, MeasureCounts, count_mart
from udc.marts.definitions import TOTAL, load_definitions
from udc.marts.release import protect_marts, protection_table, release_groups, release_links

PEILDATUM = date(2026, 11, 1)
DEFINITIONS = load_definitions()


def city() -> dict[str, pl.DataFrame]:
    """Buurt 01: twelve residents aged 25-44, every one on bijstand; buurt 02: thirty
    residents, three of them on bijstand."""
    addresses = [("1000AA", 1, "BU99990101"), ("1000AB", 1, "BU99990102")]
    buurtindeling = pl.DataFrame(
        {
            "postcode": [a[0] for a in addresses],
            "huisnummer": [a[1] for a in addresses],
            "buurtcode": [a[2] for a in addresses],
            "buurtnaam": ["Een", "Twee"],
            "wijkcode": ["WK999901"] * 2,
            "wijknaam": ["Wijk"] * 2,
            "gemeentecode": ["GM9999"] * 2,
        }
    )
    persons = [(f"a{i:02d}", "19900101", "V", "1000AA") for i in range(12)]
    persons += [(f"b{i:02d}", f"{1950 + i}0101", "MV"[i % 2], "1000AB") for i in range(30)]
    brp = pl.DataFrame(
        persons,
        orient="row",
        schema=["pseudonym", "geboortedatum", "geslachtsaanduiding", "postcode"],
    ).with_columns(pl.lit(1).alias("huisnummer"))
    on_benefits = [p[0] for p in persons[:12]] + ["b00", "b01", "b02"]
    bijstand = pl.DataFrame(
        {
            "pseudonym": on_benefits,
            "leefvorm": ["alleenstaand"] * len(on_benefits),
            "ingangsdatum": [date(2020, 1, 1)] * len(on_benefits),
            "einddatum": [None] * len(on_benefits),
        },
        schema_overrides={"einddatum": pl.Date},
    )
    return {"brp": brp, "buurtindeling": buurtindeling, "bijstand": bijstand}


def counted(name: str):
    definition = DEFINITIONS[name]
    lake = city()
    return count_mart(definition, {s: lake[s] for s in definition.inputs}, PEILDATUM)


def test_a_buurt_all_on_bijstand_is_a_group_disclosure_that_must_fall_by_p():
    counts = counted("bijstand_buurt")
    ontvangers = counts.measures[0]
    table = protection_table(counts, ontvangers)
    at = ontvangers.grid.with_row_index("_i").filter(
        (pl.col("gebiedscode") == "BU99990101")
        & (pl.col("leeftijdsklasse") == "25-44")
        & (pl.col("leefvorm") == TOTAL)
    )["_i"].item()
    assert ontvangers.values[at] == 12  # not below the minimum cell size
    assert table.primary[at]
    assert (table.upper[at], table.lower[at]) == (0.0, 10.0)
    # Its group is the buurt's residents of 25-44: the inwoners cell, table 1 of the mart.
    (group,) = release_groups([counts])
    assert (group.table, group.total_table) == (0, 1)
    i = group.cells.tolist().index(at)
    inwoners = counts.measures[1]
    total = inwoners.grid.row(int(group.total_cells[i]), named=True)
    assert total == {"gebiedscode": "BU99990101", "leeftijdsklasse": "25-44"}
    assert inwoners.values[group.total_cells[i]] == 12
    # Buurt 02's three recipients are a small cell, protected both ways.
    small = np.flatnonzero((ontvangers.values == 3) & table.primary)
    assert len(small) and (table.upper[small] == 10).all() and (table.lower[small] == 3).all()


def test_inwoners_are_linked_to_the_residents_of_bevolking_at_geslacht_totaal():
    marts = [counted("bevolking_buurt"), counted("bijstand_buurt")]
    (link,) = release_links(marts)
    inwoners, personen = marts[1].measures[1], marts[0].measures[0]
    assert (link.table, link.other) == (2, 0)
    assert len(link.cells) == inwoners.grid.height
    np.testing.assert_array_equal(
        inwoners.values[link.cells], personen.values[link.other_cells]
    )
    assert (personen.grid["geslacht"].gather(link.other_cells) == TOTAL).all()


def test_marts_protected_together_hide_a_shared_cell_in_both_or_neither():
    marts = [counted("bevolking_buurt"), counted("bijstand_buurt")]
    built, stats = protect_marts(marts)
    bevolking, bijstand = (b.frame for b in built)
    shared = bijstand.filter(pl.col("inwoners_geheim").is_not_null()).join(
        bevolking.filter(pl.col("geslacht") == TOTAL),
        on=["gebiedscode", "leeftijdsklasse"],
    )
    assert shared.height > 0 and stats.primary > 0
    assert (shared["inwoners_geheim"] == shared["personen_geheim"]).all()


def test_a_sum_cell_must_move_what_the_p_percent_rule_asks_and_p_percent_of_itself():
    definition = DEFINITIONS["stapeling_wijk"]
    amount = definition.measure("huurachterstand_euro")
    # Cells: one debtor (5,000); 12 debtors with one owing 9,000 of 10,000; 12 similar
    # debts of 100 (safe); 3 debtors of 100 each (too few); nothing.
    values = np.array([5000.0, 10000.0, 1200.0, 300.0, 0.0])
    dominance = Dominance(
        contributors=np.array([1, 12, 12, 3, 0]),
        largest=np.array([5000.0, 9000.0, 100.0, 100.0, 0.0]),
        second=np.array([0.0, 200.0, 100.0, 100.0, 0.0]),
    )
    grid = pl.DataFrame({"gebiedscode": [f"WK99990{i}" for i in range(1, 6)]})
    table = MeasureCounts(amount, grid, values, (), 0, dominance=dominance)
    counts = MartCounts(definition, PEILDATUM, pl.DataFrame(), {}, (table,))
    protected = protection_table(counts, table)
    assert protected.primary.tolist() == [True, True, False, True, False]
    # p/100 x1 - rest: 500 - 0 and 900 - 800; too few: 10% of 300.
    assert protected.upper.tolist() == [500, 100, 0, 30, 0]
    assert protected.lower.tolist() == [500, 100, 0, 30, 0]
    assert protected.secondary_width == 0


def test_a_mart_protected_alone_is_reused_only_when_it_shares_no_cell():
    """bijstand_buurt's inwoners are bevolking_buurt's cells: those two are protected
    together whatever was protected alone; a mart linked to none keeps its own result."""
    from udc.marts.release import linked_marts

    bevolking, bijstand = counted("bevolking_buurt"), counted("bijstand_buurt")
    assert linked_marts([bevolking, bijstand]) == {"bevolking_buurt", "bijstand_buurt"}
    assert linked_marts([bijstand]) == set()
    together, _ = protect_marts([bevolking, bijstand])
    (alone_bijstand,), alone_stats = protect_marts([bijstand])
    marker = alone_bijstand.frame.with_columns(pl.lit("alone").alias("marker"))
    stale = (dataclasses.replace(alone_bijstand, frame=marker), alone_stats)
    reused, _ = protect_marts([bevolking, bijstand], alone={id(bijstand): stale})
    assert "marker" not in reused[1].frame.columns  # linked: protected again, together
    assert [t.frame.equals(u.frame) for t, u in zip(together, reused, strict=True)] == [True] * 2
    (only,), stats = protect_marts([bijstand], alone={id(bijstand): stale})
    assert "marker" in only.frame.columns and stats == alone_stats
    # An earlier release of the same values: protected again, from what it showed.
    before = {("bijstand_buurt", "ontvangers"): (np.zeros(len(bijstand.measures[0].values),
                                                          dtype=bool),) * 2}  # fmt: skip
    (again,), _ = protect_marts([bijstand], before=before, alone={id(bijstand): stale})
    assert "marker" not in again.frame.columns
