"""Table designs: coarser versions of a mart, counted on hand-known data, and the choice of
the finest one whose hidden share meets the target."""

from __future__ import annotations

import copy
import tomllib
from datetime import date

import numpy as np
import polars as pl
import pytest

from udc.marts.build import count_mart
from udc.marts.definitions import (
    PACKAGED_DEFINITIONS,
    TOTAL,
    MartError,
    definition_from_dict,
    load_definitions,
)
from udc.marts.design import (
    apply_design,
    choose_designs,
    count_designs,
    designs_of,
    hidden_floor,
    primary_share,
    protect_designs,
)
from udc.marts.protection import HiddenLimitReached
from udc.marts.release import protect_marts

PEILDATUM = date(2026, 11, 1)
RAW = tomllib.loads((PACKAGED_DEFINITIONS / "incidenten_buurt_maand.toml").read_text())
GROUPS = {
    "vermogen": ["woninginbraak", "fietsdiefstal"],
    "overlast": ["overlast_jeugd", "vernieling"],
}
DESIGNS = [
    {"name": "buurt_maand"},
    {"name": "buurt_kwartaal", "maand": "kwartaal"},
    {"name": "wijk_kwartaal_hoofdgroep", "area": "wijk", "maand": "kwartaal",
     "klasse": "hoofdgroep"},
    {"name": "wijk_jaar", "area": "wijk", "maand": "totaal"},
]  # fmt: skip


def with_designs(share: float | None = 0.2, designs=DESIGNS, **changes) -> dict:
    raw = copy.deepcopy(RAW)
    raw["dimensions"]["klasse"]["groupings"] = {"hoofdgroep": GROUPS}
    raw["designs"] = designs
    if share is not None:
        raw["max_hidden_share"] = share
    raw.update(changes)
    return raw


# Two wijken: 01 with buurten 0101 and 0102, 02 with the single buurt 0201.
BUURTEN = {"BU99990101": "WK999901", "BU99990102": "WK999901", "BU99990201": "WK999902"}


def lake(incidents: list[tuple[str, str, str]]) -> dict[str, pl.DataFrame]:
    """Incidents as (buurt, date YYYY-MM-DD, klasse); one address per buurt."""
    areas = pl.DataFrame(
        {
            "postcode": [f"10{n}0AB" for n in range(len(BUURTEN))],
            "huisnummer": [1] * len(BUURTEN),
            "buurtcode": list(BUURTEN),
            "buurtnaam": [f"Buurt {b[-4:]}" for b in BUURTEN],
            "wijkcode": list(BUURTEN.values()),
            "wijknaam": [f"Wijk {w[-2:]}" for w in BUURTEN.values()],
            "gemeentecode": ["GM9999"] * len(BUURTEN),
        }
    )
    postcode = dict(zip(BUURTEN, areas["postcode"], strict=True))
    politie = pl.DataFrame(
        {
            "registratienummer": [f"PL-{n:05d}" for n in range(len(incidents))],
            "datum": [date.fromisoformat(day) for _, day, _ in incidents],
            "maatschappelijke_klasse": [klasse for *_, klasse in incidents],
            # One incident at an address the buurtindeling does not know: unplaced.
            "postcode": [postcode.get(buurt, "9999ZZ") for buurt, *_ in incidents],
            "huisnummer": [1] * len(incidents),
        }
    )
    return {"politie_incidenten": politie, "buurtindeling": areas}


INCIDENTS = (
    [("BU99990101", "2026-01-10", "woninginbraak")] * 4
    + [("BU99990101", "2026-02-03", "fietsdiefstal")] * 3
    + [("BU99990102", "2026-03-20", "vernieling")] * 2
    + [("BU99990201", "2026-04-01", "geweld")] * 5
    + [("BU99990201", "2026-05-15", "overlast_jeugd")]
    + [("elders", "2026-05-15", "geweld")]
)


def cells(counts, measure: int = 0) -> dict[tuple[str, ...], int]:
    table = counts.measures[measure]
    rows = table.grid.rows()
    return {row: int(v) for row, v in zip(rows, table.values, strict=True) if v}


def test_designs_are_read_and_checked():
    definition = definition_from_dict(with_designs())
    assert [d.name for d in definition.designs] == [d["name"] for d in DESIGNS]
    assert definition.max_hidden_share == 0.2
    assert dict(definition.dimension("klasse").groupings["hoofdgroep"]) == {
        k: tuple(v) for k, v in GROUPS.items()
    }
    assert definition.designs[2].area == "wijk"
    wrong = {
        "not a dimension": [{"name": "xx", "leeftijd": "totaal"}],
        "must be one of": [{"name": "xx", "klasse": "per_dag"}],
        "geography levels": [{"name": "xx", "area": "provincie"}],
        "must be unique": [{"name": "xx"}, {"name": "xx"}],
    }
    for message, designs in wrong.items():
        with pytest.raises(MartError, match=message):
            definition_from_dict(with_designs(designs=designs))
    with pytest.raises(MartError, match="between 0 and 1"):
        definition_from_dict(with_designs(share=1.5))
    with pytest.raises(MartError, match="list them"):
        definition_from_dict(with_designs(designs=[]))
    raw = with_designs()
    raw["dimensions"]["klasse"]["groupings"]["dubbel"] = {"a": ["geweld"], "b": ["geweld"]}
    with pytest.raises(MartError, match="in two groups"):
        definition_from_dict(raw)
    raw["dimensions"]["klasse"]["groupings"] = {"fout": {"a": ["moord"]}}
    with pytest.raises(MartError, match="are not values"):
        definition_from_dict(raw)


def test_a_dimension_another_mart_shares_cells_along_cannot_be_regrouped(tmp_path):
    definitions = load_definitions()
    raw = tomllib.loads((PACKAGED_DEFINITIONS / "bijstand_buurt.toml").read_text())
    raw["dimensions"]["leeftijdsklasse"]["groupings"] = {"breed": {"0-24": ["0-14", "15-24"]}}
    raw["designs"] = [{"name": "fijn"}, {"name": "grof", "leeftijdsklasse": "breed"}]
    with pytest.raises(MartError, match="must stay as they are"):
        definition_from_dict(raw)
    # Fewer areas, or only the total, are fine: still cells of bevolking_buurt.
    raw["designs"] = [
        {"name": "fijn"},
        {"name": "wijk", "area": "wijk", "leeftijdsklasse": "totaal"},
    ]
    assert definition_from_dict(raw).designs[1].area == "wijk"
    # bevolking_buurt may drop what bijstand_buurt's inwoners count along (then only their
    # totals are its cells), but not regroup it.
    bevolking = (PACKAGED_DEFINITIONS / "bevolking_buurt.toml").read_text()
    folder = tmp_path / "marts"
    folder.mkdir()
    dropped = bevolking + '\n[[designs]]\nname = "grof"\nleeftijdsklasse = "totaal"\n'
    (folder / "bevolking_buurt.toml").write_text(dropped)
    assert load_definitions(folder)["bevolking_buurt"].designs[-1].name == "grof"
    regrouped = dropped.replace(
        '[dimensions.geslacht]',
        '[dimensions.leeftijdsklasse.groupings.breed]\n"0-24" = ["0-14", "15-24"]\n\n'
        '[dimensions.geslacht]',
    ).replace('leeftijdsklasse = "totaal"', 'leeftijdsklasse = "breed"')
    (folder / "bevolking_buurt.toml").write_text(regrouped)
    with pytest.raises(MartError, match=r"regroups.*along which this measure's cells are its"):
        load_definitions(folder)
    assert "bijstand_buurt" in definitions


def test_coarser_designs_count_the_same_incidents_in_bigger_cells():
    definition = definition_from_dict(with_designs())
    fine, quarters, grouped, year = (
        count_mart(d, lake(INCIDENTS), PEILDATUM) for d in designs_of(definition)
    )
    assert fine.measures[0].unplaced == quarters.measures[0].unplaced == 1
    assert cells(quarters)[("BU99990101", "2026-K1", "woninginbraak")] == 4
    assert cells(quarters)[("BU99990101", "2026-K1", TOTAL)] == 7
    assert cells(quarters)[("WK999901", "2026-K1", TOTAL)] == 9
    assert cells(quarters)[("BU99990201", "2026-K2", "geweld")] == 5
    assert not any(key[1].count("-") == 1 and "K" not in key[1] and key[1] != TOTAL
                   for key in cells(quarters))  # fmt: skip
    # Wijken only, quarters, classes grouped: vermogen = woninginbraak + fietsdiefstal.
    assert set(grouped.geography["gebiedsniveau"]) == {"wijk", "gemeente"}
    assert cells(grouped) == {
        ("WK999901", "2026-K1", "vermogen"): 7,
        ("WK999901", "2026-K1", "overlast"): 2,
        ("WK999901", "2026-K1", TOTAL): 9,
        ("WK999901", TOTAL, "vermogen"): 7,
        ("WK999901", TOTAL, "overlast"): 2,
        ("WK999901", TOTAL, TOTAL): 9,
        ("WK999902", "2026-K2", "geweld"): 5,
        ("WK999902", "2026-K2", "overlast"): 1,
        ("WK999902", "2026-K2", TOTAL): 6,
        ("WK999902", TOTAL, "geweld"): 5,
        ("WK999902", TOTAL, "overlast"): 1,
        ("WK999902", TOTAL, TOTAL): 6,
        ("GM9999", "2026-K1", "vermogen"): 7,
        ("GM9999", "2026-K1", "overlast"): 2,
        ("GM9999", "2026-K1", TOTAL): 9,
        ("GM9999", "2026-K2", "geweld"): 5,
        ("GM9999", "2026-K2", "overlast"): 1,
        ("GM9999", "2026-K2", TOTAL): 6,
        ("GM9999", TOTAL, "vermogen"): 7,
        ("GM9999", TOTAL, "overlast"): 3,
        ("GM9999", TOTAL, "geweld"): 5,
        ("GM9999", TOTAL, TOTAL): 15,
    }
    assert grouped.domains["klasse"] == ["vermogen", "overlast", "geweld", TOTAL]
    # Only the total over months: the maand dimension is gone from the table.
    assert [d.name for d in year.definition.dimensions] == ["klasse"]
    assert cells(year)[("WK999902", "geweld")] == 5
    assert cells(year)[("GM9999", TOTAL)] == 15
    # The fine table's totals are the same counts.
    assert cells(fine)[("GM9999", TOTAL, TOTAL)] == 15


def test_designs_counted_together_count_as_each_design_alone():
    definition = definition_from_dict(with_designs())
    alone = [count_mart(d, lake(INCIDENTS), PEILDATUM) for d in designs_of(definition)]
    together = count_designs(definition, lake(INCIDENTS), PEILDATUM)
    # Each design's definition stands alone: counted again, it needs no temporary table.
    assert [c.definition for c in together] == [c.definition for c in alone]
    for a, b in zip(alone, together, strict=True):
        for x, y in zip(a.measures, b.measures, strict=True):
            assert x.grid.equals(y.grid) and np.array_equal(x.values, y.values)
            assert x.unplaced == y.unplaced


def test_a_design_is_counted_when_first_asked_for_and_not_before():
    definition = definition_from_dict(with_designs(share=0.3))
    alone = [count_mart(d, lake(EVEN), PEILDATUM) for d in designs_of(definition)]
    designs = count_designs(definition, lake(EVEN), PEILDATUM)
    assert designs.counted == ("buurt_maand",)
    # Out of order, once the sources are gone from the connection: the same counts.
    for at in (3, 1):
        for x, y in zip(designs[at].measures, alone[at].measures, strict=True):
            assert x.grid.equals(y.grid) and np.array_equal(x.values, y.values)
    assert designs[3] is designs.named("wijk_jaar")
    assert designs.counted == ("buurt_maand", "buurt_kwartaal", "wijk_jaar")
    # The choice counts the designs it reaches: wijk_kwartaal_hoofdgroep meets the target.
    fresh = count_designs(definition, lake(EVEN), PEILDATUM)
    _, (choice,) = choose_designs([fresh], protect_alone)
    assert choice.design == "wijk_kwartaal_hoofdgroep"
    assert fresh.counted == ("buurt_maand", "buurt_kwartaal", "wijk_kwartaal_hoofdgroep")
    fresh.close()
    assert fresh.named("buurt_kwartaal").definition.design.name == "buurt_kwartaal"
    with pytest.raises(RuntimeError, match="closed"):
        fresh.named("wijk_jaar")


def test_a_broken_query_reads_the_same_with_designs():
    raw = with_designs()
    raw["measures"][0]["sql"] = "SELECT nope FROM politie_incidenten"
    definition = definition_from_dict(raw)
    with pytest.raises(MartError) as alone:
        count_mart(designs_of(definition)[0], lake(INCIDENTS), PEILDATUM)
    with pytest.raises(MartError) as together:
        count_designs(definition, lake(INCIDENTS), PEILDATUM)
    assert str(together.value) == str(alone.value)


def test_a_design_keeps_the_fingerprint_of_the_values_it_coarsens():
    definition = definition_from_dict(with_designs())
    coarse = apply_design(definition, definition.designs[3])
    assert coarse.base is definition and coarse.design == definition.designs[3]
    assert coarse.name == definition.name and coarse.designs == ()


def protect_alone(counts, stop_over=None) -> float:
    (built,), _ = protect_marts([counts])
    return (built.primary_suppressed + built.secondary_suppressed) / built.cells


# Two incidents of every klasse in every buurt on two days of each month from January to
# September: 2 per fine cell, 6 per buurt and quarter, 6 to 24 per wijk, quarter and
# hoofdgroep, 18 to 36 per wijk and klasse over the year.
EVEN = [
    (buurt, f"2026-{month:02d}-1{day}", klasse)
    for buurt in BUURTEN
    for month in range(1, 10)
    for klasse in RAW["dimensions"]["klasse"]["values"]
    for day in (1, 2)
]


def test_the_first_design_that_meets_the_target_is_chosen():
    definition = definition_from_dict(with_designs(share=0.3))
    counted = [count_mart(d, lake(EVEN), PEILDATUM) for d in designs_of(definition)]
    assert primary_share(counted[0]) == 0.75
    floors = [hidden_floor(c) for c in counted]
    assert floors[0] >= 0.75 and floors[1] > 0.3  # passed over without protecting them
    # A floor: no design hides fewer cells than it says.
    assert all(f <= protect_alone(c) for f, c in zip(floors, counted, strict=True))
    chosen, (choice,) = choose_designs([counted], protect_alone)
    assert choice.met and choice.design == "wijk_kwartaal_hoofdgroep"
    assert chosen[0] is counted[2]
    assert choice.tried == (
        ("buurt_maand", round(floors[0], 4), "its least protection exceeds the target"),
        ("buurt_kwartaal", round(floors[1], 4), "its least protection exceeds the target"),
        ("wijk_kwartaal_hoofdgroep", 0.25, "protected alone"),
    )
    assert choice.hidden_share == 0.25
    # A stricter target: that design is protected, found over it, and the next one chosen.
    stricter = definition_from_dict(with_designs(share=0.2))
    counted = [count_mart(d, lake(EVEN), PEILDATUM) for d in designs_of(stricter)]
    _, (choice,) = choose_designs([counted], protect_alone)
    assert choice.met and choice.design == "wijk_jaar" and choice.hidden_share == 0.0
    assert [t[2] for t in choice.tried][2:] == ["protected alone until over it", "protected alone"]


def protect_alone_until(counts, stop_over=None) -> float:
    """As the workspace protects a design alone: stopped once it hides more than allowed."""
    cells = sum(len(t.values) for t in counts.measures)
    limit = None if stop_over is None else int(stop_over * cells)
    try:
        (built,), _ = protect_marts([counts], max_hidden=limit)
    except HiddenLimitReached as stopped:
        return stopped.hidden / cells
    return (built.primary_suppressed + built.secondary_suppressed) / built.cells


@pytest.mark.parametrize("share", [0.2, 0.3])
def test_stopping_a_design_over_its_target_early_chooses_as_protecting_it_whole(share):
    definition = definition_from_dict(with_designs(share=share))
    counted = [count_mart(d, lake(EVEN), PEILDATUM) for d in designs_of(definition)]
    whole, (expected,) = choose_designs([counted], protect_alone)
    early, (choice,) = choose_designs([counted], protect_alone_until)
    assert early == whole and choice.design == expected.design
    assert choice.hidden_share == expected.hidden_share
    stopped = [found == "protected alone until over it" for _, _, found in choice.tried]
    assert any(stopped) == (share == 0.2)  # wijk_kwartaal_hoofdgroep hides 25% whole
    for (design, reached, found), (_, full, _) in zip(choice.tried, expected.tried, strict=True):
        if found == "protected alone until over it":
            assert share < reached <= full, design


def test_when_no_design_meets_the_target_the_coarsest_is_published_and_says_so():
    definition = definition_from_dict(with_designs(share=0.01))
    counted = [count_mart(d, lake(INCIDENTS), PEILDATUM) for d in designs_of(definition)]
    chosen, (choice,) = choose_designs([counted], protect_alone)
    assert not choice.met and choice.design == "wijk_jaar"
    assert chosen[0] is counted[-1]
    assert len(choice.tried) == len(DESIGNS)


def test_an_earlier_release_of_the_same_values_fixes_the_design():
    definition = definition_from_dict(with_designs(share=0.3))
    counted = [count_mart(d, lake(EVEN), PEILDATUM) for d in designs_of(definition)]
    chosen, (choice,) = choose_designs([counted], protect_alone, {definition.name: "buurt_maand"})
    assert chosen[0] is counted[0] and choice.design == "buurt_maand"
    with pytest.raises(MartError, match="no longer lists"):
        choose_designs([counted], protect_alone, {definition.name: "buurt_week"})


def test_a_mart_without_designs_is_published_as_it_is():
    definition = definition_from_dict(copy.deepcopy(RAW))
    counted = count_mart(definition, lake(INCIDENTS), PEILDATUM)
    chosen, (choice,) = choose_designs([[counted]], protect_alone)
    assert chosen == [counted] and choice.design is None and choice.met


def test_a_mart_over_its_target_in_the_release_moves_on_to_its_next_design():
    """Marts that share cells may hide more together than alone: here the release hides
    every cell of the design protected alone, so the next design is protected in turn."""
    import numpy as np

    from udc.marts.build import assemble_mart

    definition = definition_from_dict(with_designs(share=0.3))
    counted = [count_mart(d, lake(EVEN), PEILDATUM) for d in designs_of(definition)]
    releases = []

    def protect(chosen):
        releases.append([c.definition.design.name for c in chosen])
        built, stats = protect_marts(chosen)
        if chosen[0] is counted[2]:  # what a linked mart might make of it
            everything = [np.ones(len(t.values), dtype=bool) for t in chosen[0].measures]
            built = [assemble_mart(chosen[0], everything, everything)]
        return built, stats

    built, _, (choice,) = protect_designs([counted], protect, protect_alone)
    assert releases == [["wijk_kwartaal_hoofdgroep"], ["wijk_jaar"]]
    assert choice.design == "wijk_jaar" and choice.met and choice.hidden_share == 0.0
    assert choice.tried[-1] == ("wijk_kwartaal_hoofdgroep", 1.0, "over the target in the release")
    assert built[0].definition.design.name == "wijk_jaar"
    # No coarser design left: the release's share is reported, and the target missed.
    releases.clear()
    _, _, (choice,) = protect_designs([counted[:3]], protect, protect_alone)
    assert releases == [["wijk_kwartaal_hoofdgroep"]]
    assert not choice.met and choice.hidden_share == 1.0


def incidents_per_cell(seed: int) -> list[tuple[str, str, str]]:
    """Incidents in every buurt, month (January to April) and klasse: many small cells."""
    rng = np.random.default_rng(seed)
    klassen = ["woninginbraak", "fietsdiefstal", "overlast_jeugd", "geweld", "vernieling"]
    return [
        (buurt, f"2026-{month:02d}-10", klasse)
        for buurt in BUURTEN
        for month in range(1, 5)
        for klasse in klassen
        for _ in range(int(rng.poisson(4)))
    ]


def fine_table_intervals(frames, incidents) -> dict[tuple, tuple[float, float]]:
    """The attacker who knows that both tables are sums of one unpublished table of
    buurt x maand x klasse with non-negative cells: per hidden cell, its least and
    greatest value over every such table that gives what the two tables publish."""
    from scipy.optimize import linprog

    buurten, months, klassen = list(BUURTEN), sorted({d[:7] for _, d, _ in incidents}), sorted(
        {k for *_, k in incidents}
    )
    fine = [(b, m, k) for b in buurten for m in months for k in klassen]
    area = {("buurt", b): {b} for b in buurten}
    area |= {("wijk", w): {b for b, of in BUURTEN.items() if of == w} for w in BUURTEN.values()}
    area[("gemeente", "GM9999")] = set(buurten)
    rows, values, hidden = [], [], []
    for name, frame in frames.items():
        for cell in frame.iter_rows(named=True):
            members = np.array([
                b in area[(cell["gebiedsniveau"], cell["gebiedscode"])]
                and cell.get("maand", TOTAL) in (TOTAL, m) and cell["klasse"] in (TOTAL, k)
                for b, m, k in fine
            ], dtype=float)  # fmt: skip
            key = (name, cell["gebiedscode"], cell.get("maand", TOTAL), cell["klasse"])
            if cell["incidenten_geheim"]:
                hidden.append((key, members))
            else:
                rows.append(members)
                values.append(cell["incidenten"])
    found = {}
    for key, members in hidden:
        low, high = (
            linprog(sign * members, A_eq=np.array(rows), b_eq=np.array(values), method="highs")
            for sign in (1, -1)
        )
        assert low.status == high.status == 0
        found[key] = (low.fun, -high.fun)
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linked_designs_buurt_jaar_beside_wijk_maand_protect_every_hidden_cell(seed):
    """incidenten_buurt_maand per buurt over the year beside incidenten_wijk_maand per
    wijk and month: protected and audited as one system, and no hidden cell is pinned
    closer than its protection by an attacker who reconstructs the unpublished table that
    crosses them, whose intervals are those the audit of the linked tables finds."""
    from udc.marts.audit import audit_gate
    from udc.marts.release import release_links

    definitions = load_definitions()
    incidents = incidents_per_cell(seed)
    main, beside = definitions["incidenten_buurt_maand"], definitions["incidenten_wijk_maand"]
    buurt_jaar = next(d for d in main.designs if d.name == "buurt_jaar")
    wijk_maand = beside.designs[0]
    marts = [
        count_mart(apply_design(main, buurt_jaar), lake(incidents), PEILDATUM),
        count_mart(apply_design(beside, wijk_maand), lake(incidents), PEILDATUM),
    ]
    (link,) = release_links(marts)
    # The wijk and gemeente cells of the year, per klasse (5 + totaal, 3 areas).
    assert len(link.cells) == 18
    np.testing.assert_array_equal(
        marts[1].measures[0].values[link.cells], marts[0].measures[0].values[link.other_cells]
    )
    built, stats = protect_marts(marts)
    assert stats.primary > 0 and stats.secondary > 0
    audits, refusal = audit_gate(built, definitions)
    assert refusal == "" and all(not a.too_narrow for a in audits)
    frames = {b.definition.name: b.frame for b in built}
    attacker = fine_table_intervals(frames, incidents)
    assert {name for name, *_ in attacker} == set(frames)
    audited = {
        (a.mart, dict(i.key)["gebiedscode"], dict(i.key).get("maand", TOTAL),
         dict(i.key)["klasse"]): i
        for a in audits for i in a.intervals
    }  # fmt: skip
    assert set(audited) == set(attacker)
    for key, (low, high) in attacker.items():
        assert high - low >= 10 - 1e-6, key
        if audited[key].tight:
            assert (audited[key].lower, audited[key].upper) == (round(low), round(high)), key
