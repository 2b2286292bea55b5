"""The attacker's intervals, on small tables whose answers are known by hand."""

from __future__ import annotations

import polars as pl
import pytest

from udc.marts.intervals import (
    IntervalError,
    PublishedTable,
    cell_intervals,
    published_tables,
    relations,
)


def table(rows: list[tuple], dimensions: tuple[str, ...] = ("klasse",)) -> PublishedTable:
    """Rows of (level, code, *dimension values, value); None is a suppressed value."""
    columns = ["gebiedsniveau", "gebiedscode", *dimensions, "value"]
    cells = pl.DataFrame(rows, schema=columns, orient="row")
    return PublishedTable("mart", "n", dimensions, cells)


def intervals(t: PublishedTable) -> dict[tuple, tuple[int, int | None]]:
    return {
        tuple(value for _, value in cell.key)[1:]: (cell.lower, cell.upper)
        for cell in cell_intervals(t)
    }


GM = ("gemeente", "GM9999")


def test_a_suppressed_cell_alone_in_its_line_is_pinned():
    t = table([(*GM, "a", None), (*GM, "b", 7), (*GM, "totaal", 10)])
    assert intervals(t) == {("GM9999", "a"): (3, 3)}


def test_two_suppressed_cells_in_a_line_share_the_remainder():
    t = table([(*GM, "a", None), (*GM, "b", None), (*GM, "c", 4), (*GM, "totaal", 30)])
    assert intervals(t) == {("GM9999", "a"): (0, 26), ("GM9999", "b"): (0, 26)}


def test_a_two_by_two_block_is_bounded_by_its_margins():
    # Hidden: a,x = 3; a,y = 5; b,x = 4; b,y = 6.
    rows = [(*GM, row, column, None) for row in "ab" for column in "xy"]
    for row, total in (("a", 8), ("b", 10), ("totaal", 18)):
        rows.append((*GM, row, "totaal", total))
    rows += [(*GM, "totaal", "x", 7), (*GM, "totaal", "y", 11)]
    found = intervals(table(rows, ("rij", "kolom")))
    assert found[("GM9999", "a", "x")] == (0, 7)
    assert found[("GM9999", "a", "y")] == (1, 8)
    assert found[("GM9999", "b", "y")] == (3, 10)


def test_zeros_published_next_to_a_suppressed_cell_give_it_away():
    rows = [(*GM, "a", None), (*GM, "b", 0), (*GM, "c", 0), (*GM, "totaal", 4)]
    assert intervals(table(rows)) == {("GM9999", "a"): (4, 4)}


def test_a_wijk_with_one_buurt_reveals_the_buurt():
    rows = [
        ("buurt", "BU99990101", "totaal", None),
        ("wijk", "WK999901", "totaal", 12),
        ("buurt", "BU99990201", "totaal", None),
        ("buurt", "BU99990202", "totaal", None),
        ("wijk", "WK999902", "totaal", 40),
        ("gemeente", "GM9999", "totaal", 52),
    ]
    found = intervals(table(rows))
    assert found[("BU99990101", "totaal")] == (12, 12)
    assert found[("BU99990201", "totaal")] == (0, 40)


def test_a_regio_is_the_sum_of_its_gemeenten_as_the_frame_says():
    """Regio codes say nothing of their members: the frame's parent column does, and a
    gemeente hidden alone under a published regio is pinned by it."""
    rows = [
        ("gemeente", "GM0001", "RG0001", "totaal", None),
        ("gemeente", "GM0002", "RG0001", "totaal", 30),
        ("regio", "RG0001", None, "totaal", 38),
    ]
    columns = ["gebiedsniveau", "gebiedscode", "bovenliggende_gebiedscode", "klasse", "value"]
    with_parents = PublishedTable(
        "mart", "n", ("klasse",), pl.DataFrame(rows, schema=columns, orient="row")
    )
    assert intervals(with_parents)[("GM0001", "totaal")] == (8, 8)
    by_codes = table([row[:2] + row[3:] for row in rows])
    assert intervals(by_codes)[("GM0001", "totaal")] == (0, None)


def test_a_cell_in_no_relation_is_unbounded():
    t = table([(*GM, "a", None), (*GM, "b", 3)])
    assert intervals(t) == {("GM9999", "a"): (0, None)}


def test_published_values_that_do_not_add_up_are_refused():
    published = [(*GM, "a", 2), (*GM, "b", 7), (*GM, "totaal", 5), ("wijk", "WK999901", "a", None)]
    with pytest.raises(IntervalError, match="do not add up"):
        cell_intervals(table(published))
    negative = [(*GM, "a", None), (*GM, "b", 7), (*GM, "totaal", 5)]
    with pytest.raises(IntervalError, match="admit no solution"):
        cell_intervals(table(negative))


def test_published_tables_read_a_mart_frame_per_measure():
    frame = pl.DataFrame(
        {
            "gebiedsniveau": ["gemeente"] * 3,
            "gebiedscode": ["GM9999"] * 3,
            "klasse": ["a", "b", "totaal"],
            "leeftijd": ["totaal"] * 3,
            "n": [None, 7, 10],
            "n_geheim": [True, False, False],
            "m": [None, None, 4],
            "m_geheim": [None, None, False],
        }
    )
    n, m = published_tables("mart", frame, ["klasse", "leeftijd"], ["n", "m"])
    assert n.dimensions == ("klasse",) and n.cells.height == 3
    assert m.dimensions == () and m.cells.height == 1
    assert relations(n) == [(2, [0, 1])]
    assert [(c.lower, c.upper) for c in cell_intervals(n)] == [(3, 3)]


def _random_release(seed: int) -> PublishedTable:
    """A gemeente of 2 wijken with 1-3 buurten each, 3 klassen and totals; some hidden."""
    import numpy as np

    rng = np.random.default_rng(seed)
    buurten = {
        f"WK99990{w}": [f"BU99990{w}0{b}" for b in range(1, rng.integers(2, 5))] for w in (1, 2)
    }
    leaf = {
        (buurt, k): int(rng.integers(0, 25)) for bs in buurten.values() for buurt in bs
        for k in "abc"
    }  # fmt: skip
    rows = []
    for wijk, bs in buurten.items():
        for buurt in bs:
            values = [leaf[(buurt, k)] for k in "abc"]
            rows += [("buurt", buurt, k, v) for k, v in zip("abc", values, strict=True)]
            rows.append(("buurt", buurt, "totaal", sum(values)))
        for k in "abc":
            rows.append(("wijk", wijk, k, sum(leaf[(b, k)] for b in bs)))
        rows.append(("wijk", wijk, "totaal", sum(leaf[(b, k)] for b in bs for k in "abc")))
    for k in "abc":
        rows.append(("gemeente", "GM9999", k, sum(v for (_, kk), v in leaf.items() if kk == k)))
    rows.append(("gemeente", "GM9999", "totaal", sum(leaf.values())))
    hidden = rng.random(len(rows)) < 0.35
    rows = [(*r[:3], None if h else r[3]) for r, h in zip(rows, hidden, strict=True)]
    return table(rows)


@pytest.mark.parametrize("seed", range(12))
def test_the_shortcut_finds_exactly_the_cells_the_full_programs_find_too_narrow(seed):
    from udc.marts.intervals import audit_release

    t = _random_release(seed)
    exact = {c.key: c for c in cell_intervals(t)}
    [audit] = audit_release([t], [], [10])
    assert {c.key for c in audit.too_narrow} == {k for k, c in exact.items() if c.width < 10}
    for cell in audit.intervals:
        full = exact[cell.key]
        if cell.tight:
            assert (cell.lower, cell.upper) == (full.lower, full.upper)
        else:
            assert full.lower <= cell.lower and full.width >= cell.width >= 10


def test_a_cell_hidden_in_one_mart_but_published_in_another_is_no_secret():
    from udc.marts.intervals import audit_release

    inwoners = PublishedTable(
        "bijstand",
        "inwoners",
        ("leeftijd",),
        pl.DataFrame(
            [(*GM, k, None) for k in ("jong", "midden", "oud")] + [(*GM, "totaal", 40)],
            schema=["gebiedsniveau", "gebiedscode", "leeftijd", "value"],
            orient="row",
        ),
    )
    personen = PublishedTable(
        "bevolking",
        "personen",
        ("leeftijd", "geslacht"),
        pl.DataFrame(
            [
                (*GM, "jong", "totaal", 15),
                (*GM, "jong", "V", None),
                (*GM, "jong", "M", None),
                (*GM, "midden", "totaal", None),
                (*GM, "oud", "totaal", None),
                (*GM, "totaal", "totaal", 40),
            ],
            schema=["gebiedsniveau", "gebiedscode", "leeftijd", "geslacht", "value"],
            orient="row",
        ),
    )
    apart = {a.mart: len(a.exact) for a in audit_release([inwoners, personen], [], [10, 10])}
    assert apart == {"bijstand": 0, "bevolking": 0}
    link = [(("bijstand", "inwoners"), ("bevolking", "personen"))]
    linked = {a.mart: a for a in audit_release([inwoners, personen], link, [10, 10])}
    pinned = {(c.key[2][1], c.lower, c.upper) for c in linked["bijstand"].exact}
    assert pinned == {("jong", 15, 15)}
    assert linked["bevolking"].exact == ()
    assert {c.key[2][1]: (c.lower, c.upper) for c in linked["bijstand"].intervals} == {
        "jong": (15, 15),
        "midden": (0, 25),
        "oud": (0, 25),
    }


def group_audit(t: PublishedTable, *others: PublishedTable, group=None):
    from udc.marts.intervals import WholeGroup, audit_release

    group = group or WholeGroup("mart", "n", along="klasse")
    audits = audit_release([t, *others], [], [10] * (1 + len(others)), [group])
    return {tuple(v for _, v in g.key)[1:]: g for g in audits[0].groups}, audits[0]


def test_a_cell_and_its_total_hidden_beside_published_zeros_show_a_whole_group():
    # a = totaal = 25 (hidden together, say for b); b and c: published 0.
    rows = [(*GM, "a", None), (*GM, "b", 0), (*GM, "c", 0), (*GM, "totaal", None)]
    gaps, audit = group_audit(table(rows))
    assert gaps[("GM9999", "a")].largest == 0
    assert [g.key[2][1] for g in audit.whole_groups] == ["a"]
    # b and c are known to be 0: they hold nobody, which discloses nothing.
    assert not gaps[("GM9999", "b")].whole_group


def test_a_hidden_neighbour_that_may_be_positive_keeps_the_group_open():
    rows = [(*GM, "a", None), (*GM, "b", None), (*GM, "c", 0), (*GM, "totaal", 25)]
    gaps, audit = group_audit(table(rows))
    assert gaps[("GM9999", "a")].largest == 25 and audit.whole_groups == ()


def test_a_published_whole_group_fails_the_audit_too():
    rows = [(*GM, "a", 12), (*GM, "b", 0), (*GM, "totaal", 12)]
    _, audit = group_audit(table(rows))
    assert [g.key[2][1] for g in audit.whole_groups] == ["a"]


def test_a_ratio_numerator_is_checked_against_its_denominator_in_another_table():
    from udc.marts.intervals import WholeGroup

    # Numerator hidden in a table of its own; the denominator published: 12 of 12 cannot
    # be proven as long as the numerator's table lets it fall below 12.
    numerator = table([(*GM, "x", None), (*GM, "y", 0), (*GM, "totaal", None)])
    denominator = PublishedTable(
        "mart",
        "d",
        (),
        pl.DataFrame([(*GM, 12)], schema=["gebiedsniveau", "gebiedscode", "value"], orient="row"),
    )
    group = WholeGroup("mart", "n", total_measure="d")
    gaps, audit = group_audit(numerator, denominator, group=group)
    assert {k: g.largest for k, g in gaps.items()} == {
        ("GM9999", "x"): 12, ("GM9999", "y"): 12, ("GM9999", "totaal"): 12,
    }  # fmt: skip
    assert audit.whole_groups == ()
