"""The six default marts built from a small generated lake."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from udc.marts.build import SECRET_SUFFIX
from udc.marts.cellkey import cell_keys, load_ptable, perturb, record_keys
from udc.marts.definitions import (
    TOTAL,
    MartDefinition,
    MartError,
    definition_from_dict,
    load_definitions,
)
from udc.marts.intervals import audit_release, cell_intervals, published_tables
from udc.marts.macros import macro_statements
from udc.marts.publish import MartStore
from udc.marts.release import build_mart

PEILDATUM = date(2024, 6, 30)
SECRET = bytes(range(32))  # the record keys' secret of the cell key tests
VOORZIENINGEN = ["HH", "BG", "WV", "RV", "VV", "BW"]
KLASSEN = ["woninginbraak", "fietsdiefstal", "overlast_jeugd", "geweld", "vernieling"]
LEEFVORMEN = ["alleenstaand", "alleenstaande_ouder", "gehuwd_samenwonend"]
# (wijk, buurten): wijk 03 has a single buurt; buurt 0104 has addresses but no residents.
AREAS = [("01", ["01", "02", "03", "04"]), ("02", ["01", "02"]), ("03", ["01"])]
N_PERSONS = 400
UNPLACED_RESIDENTS = 4


def pseudonym(i: int) -> str:
    return hashlib.sha256(f"persoon-{i}".encode()).hexdigest()


def make_lake(seed: int = 3) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for w, (wijk, buurten) in enumerate(AREAS):
        for b, buurt in enumerate(buurten):
            for h in range(1, 21):
                rows.append(
                    (f"{1000 + 10 * w + b}AB", h, f"BU9999{wijk}{buurt}", f"Buurt {wijk}{buurt}",
                     f"WK9999{wijk}", f"Wijk {wijk}", "GM9999")
                )  # fmt: skip
    buurtindeling = pl.DataFrame(
        rows,
        orient="row",
        schema=["postcode", "huisnummer", "buurtcode", "buurtnaam", "wijkcode", "wijknaam",
                "gemeentecode"],
    )  # fmt: skip
    inhabited = buurtindeling.filter(pl.col("buurtcode") != "BU99990104")
    at = rng.integers(0, inhabited.height, N_PERSONS)
    postcode = inhabited["postcode"].gather(at).to_list()
    huisnummer = inhabited["huisnummer"].gather(at).to_list()
    for i in range(UNPLACED_RESIDENTS):
        postcode[10 + i], huisnummer[10 + i] = "9999ZZ", 1
    years = rng.integers(1930, 2024, N_PERSONS)
    births = [f"{y}{m:02d}{d:02d}" for y, m, d in zip(
        years, rng.integers(1, 13, N_PERSONS), rng.integers(1, 29, N_PERSONS), strict=True
    )]  # fmt: skip
    births[0], births[1], births[2] = "19700000", "19990700", "00000000"
    brp = pl.DataFrame(
        {
            "pseudonym": [pseudonym(i) for i in range(N_PERSONS)],
            "geboortedatum": births,
            "geslachtsaanduiding": rng.choice(["M", "V", "O"], N_PERSONS, p=[0.49, 0.49, 0.02]),
            "postcode": postcode,
            "huisnummer": pl.Series(huisnummer, dtype=pl.Int64),
            # Allowed to no purpose: a mart query must not be able to read it.
            "nationaliteit": ["0001"] * N_PERSONS,
        }
    )
    day = timedelta(days=1)
    running, ended, future = PEILDATUM - 300 * day, PEILDATUM - 10 * day, PEILDATUM + 5 * day
    bijstand_people = [int(i) for i in rng.choice(np.arange(20, N_PERSONS), 90, replace=False)]
    bijstand = pl.DataFrame(
        {
            "pseudonym": [pseudonym(i) for i in [*bijstand_people, 0, 5000]],
            "leefvorm": rng.choice(LEEFVORMEN, len(bijstand_people) + 2).tolist(),
            "ingangsdatum": [running] * len(bijstand_people) + [running, running],
            # person 0 has an ended benefit; 5000 is not in the BRP (unplaced).
            "einddatum": [None] * len(bijstand_people) + [ended, None],
        },
        schema_overrides={"einddatum": pl.Date},
    )
    wmo_rows = [
        # person 3: two provisions (counts once in HH and once in BG), plus one that ended
        # and one that has not started yet.
        (pseudonym(3), "HH", running, None),
        (pseudonym(3), "BG", running, None),
        (pseudonym(3), "WV", running, ended),
        (pseudonym(3), "RV", future, None),
    ]
    for i in rng.choice(np.arange(20, N_PERSONS), 110, replace=False):
        for v in rng.choice(VOORZIENINGEN, rng.integers(1, 3), replace=False):
            wmo_rows.append((pseudonym(int(i)), str(v), running, None))
    wmo = pl.DataFrame(
        wmo_rows,
        orient="row",
        schema={"pseudonym": pl.String, "voorziening": pl.String, "ingangsdatum": pl.Date,
                "einddatum": pl.Date},
    )  # fmt: skip
    arrears = [3, 4, *(int(i) for i in rng.choice(np.arange(20, N_PERSONS), 40, replace=False))]
    huurachterstand = pl.DataFrame(
        {
            "pseudonym": [pseudonym(i) for i in arrears],
            "achterstand_maanden": rng.integers(1, 10, len(arrears)),
            "achterstand_bedrag": rng.uniform(100, 3000, len(arrears)),
        }
    )
    n_incidents = 700
    at = rng.integers(0, buurtindeling.height, n_incidents)
    incident_postcode = buurtindeling["postcode"].gather(at).to_list()
    incident_postcode[0] = "9999ZZ"
    politie = pl.DataFrame(
        {
            "registratienummer": [f"PL{i:06d}" for i in range(n_incidents)],
            "datum": [PEILDATUM - int(d) * day for d in rng.integers(0, 400, n_incidents)],
            "maatschappelijke_klasse": rng.choice(KLASSEN, n_incidents).tolist(),
            "postcode": incident_postcode,
            "huisnummer": buurtindeling["huisnummer"].gather(at),
        }
    )
    return {
        "brp": brp,
        "buurtindeling": buurtindeling,
        "bijstand": bijstand.with_columns(pl.col("pseudonym").cast(pl.String)),
        "wmo": wmo,
        "huurachterstand": huurachterstand,
        "politie_incidenten": politie,
    }


@pytest.fixture(scope="module")
def lake() -> dict[str, pl.DataFrame]:
    return make_lake()


@pytest.fixture(scope="module")
def definitions() -> dict[str, MartDefinition]:
    return load_definitions()


def age_band(birth: str, on: date) -> str:
    """Independent of the SQL macro: month 00 is 1 July, day 00 is the 15th."""
    if birth[:4] == "0000":
        return "onbekend"
    month = 7 if birth[4:6] == "00" else int(birth[4:6])
    day = 1 if birth[4:6] == "00" else 15 if birth[6:] == "00" else int(birth[6:])
    age = on.year - int(birth[:4]) - ((on.month, on.day) < (month, day))
    for limit, band in ((15, "0-14"), (25, "15-24"), (45, "25-44"), (65, "45-64")):
        if age < limit:
            return band
    return "65+"


def residents(lake: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return (
        lake["brp"]
        .join(lake["buurtindeling"], on=["postcode", "huisnummer"])
        .with_columns(
            pl.col("geboortedatum")
            .map_elements(lambda b: age_band(b, PEILDATUM), return_dtype=pl.String)
            .alias("leeftijdsklasse")
        )
    )


def running(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(
        (pl.col("ingangsdatum") <= PEILDATUM)
        & (pl.col("einddatum").is_null() | (pl.col("einddatum") >= PEILDATUM))
    )


def unprotected(definition: MartDefinition) -> MartDefinition:
    """The same mart with nothing hidden, to check the counts themselves."""
    return dataclasses.replace(definition, min_cell_size=1)


def finest_rows(frame: pl.DataFrame, level: str, dimensions: list[str]) -> pl.DataFrame:
    rows = frame.filter(pl.col("gebiedsniveau") == level)
    for dimension in dimensions:
        rows = rows.filter(pl.col(dimension) != TOTAL)
    return rows


def assert_counts(frame, level, dimensions, measure, expected: pl.DataFrame) -> None:
    """Every finest cell equals the expected distinct count (zeros where none expected)."""
    got = finest_rows(frame, level, dimensions).select("gebiedscode", *dimensions, measure)
    merged = got.join(expected, on=["gebiedscode", *dimensions], how="full", coalesce=True)
    assert merged.height == got.height, "expected counts outside the published grid"
    mismatch = merged.filter(pl.col(measure) != pl.col("expected").fill_null(0))
    assert mismatch.is_empty(), mismatch


def audit(definition: MartDefinition, frame: pl.DataFrame):
    """The independent LP audit of one mart's published frame."""
    tables = published_tables(
        definition.name,
        frame,
        [d.name for d in definition.dimensions],
        [m.name for m in definition.measures],
    )
    sums = {m.name for m in definition.measures if m.kind == "sum"}
    widths = [1 if t.measure in sums else definition.protection_level for t in tables]
    return audit_release(tables, [], widths)


def too_narrow(definition: MartDefinition, frame: pl.DataFrame) -> int:
    return sum(len(a.too_narrow) for a in audit(definition, frame))


def assert_protected(definition: MartDefinition, built) -> None:
    frame = built.frame
    for measure in definition.measures:
        values = frame[measure.name].drop_nulls()
        assert not ((values > 0) & (values < definition.min_cell_size)).any()
        secret = frame[f"{measure.name}{SECRET_SUFFIX}"]
        assert (frame[measure.name].is_null() == secret.fill_null(True)).all()
    assert too_narrow(definition, frame) == 0


def assert_totals_add_up(frame: pl.DataFrame, definition: MartDefinition, built) -> None:
    """Where a total and all its children are published, the total is their sum (and each
    measure has at least one such total)."""
    for measure in definition.measures:
        seen = 0
        present = frame.filter(pl.col(f"{measure.name}{SECRET_SUFFIX}").is_not_null())
        dims = list(measure.dimensions)
        for dimension in [d for d in dims if definition.dimension(d).additive]:
            others = ["gebiedscode", *(d for d in dims if d != dimension)]
            children = (
                present.filter(pl.col(dimension) != TOTAL)
                .group_by(others)
                .agg(
                    pl.col(measure.name).sum().alias("_sum"),
                    pl.col(measure.name).null_count().alias("_hidden"),
                )
            )
            totals = present.filter(pl.col(dimension) == TOTAL).select(*others, measure.name)
            checked = children.join(totals, on=others).filter(
                (pl.col("_hidden") == 0) & pl.col(measure.name).is_not_null()
            )
            seen += checked.height
            assert (checked["_sum"] == checked[measure.name]).all()
        # The frame names each area's parent, as its geography does.
        parents = built.geography.select("gebiedscode", "bovenliggende_gebiedscode")
        assert present.join(parents, on="gebiedscode", suffix="_geo").filter(
            pl.col("bovenliggende_gebiedscode").ne_missing(pl.col("bovenliggende_gebiedscode_geo"))
        ).is_empty()
        keyed = present.drop_nulls("bovenliggende_gebiedscode")
        sums = keyed.group_by("bovenliggende_gebiedscode", *dims).agg(
            pl.col(measure.name).sum().alias("_sum"),
            pl.col(measure.name).null_count().alias("_hidden"),
        )
        checked = sums.join(
            present.drop("bovenliggende_gebiedscode").rename(
                {"gebiedscode": "bovenliggende_gebiedscode"}
            ),
            on=["bovenliggende_gebiedscode", *dims],
        ).filter((pl.col("_hidden") == 0) & pl.col(measure.name).is_not_null())
        seen += checked.height
        assert (checked["_sum"] == checked[measure.name]).all()
        assert seen > 0


def test_age_bands_follow_cbs_with_unknown_parts_in_the_middle():
    con = duckdb.connect()
    for statement in macro_statements(PEILDATUM):
        con.execute(statement)
    cases = {
        "20090630": "15-24",  # 15 on the peildatum itself
        "20090701": "0-14",
        "19990600": "25-44",  # 15 June 1999: 25
        "19990700": "15-24",  # 15 July 1999: still 24
        "19990000": "15-24",  # 1 July 1999: still 24
        "19590630": "65+",
        "19590701": "45-64",
        "00000000": "onbekend",
        "2024123": "onbekend",
    }
    for birth, band in cases.items():
        (got,) = con.execute("SELECT leeftijdsklasse(?, peildatum())", [birth]).fetchone()
        assert got == band, birth
        assert band == age_band(birth, PEILDATUM) or len(birth) != 8
    (month,) = con.execute("SELECT maand(DATE '2024-03-09')").fetchone()
    assert month == "2024-03"


@pytest.mark.parametrize(
    ("peildatum", "first", "last"),
    [
        (date(2024, 6, 30), date(2023, 7, 1), date(2024, 6, 30)),  # the last day: its month
        (date(2026, 12, 1), date(2025, 12, 1), date(2026, 11, 30)),  # one day in: not yet
        (date(2024, 3, 15), date(2023, 3, 1), date(2024, 2, 29)),
    ],
)
def test_the_window_holds_the_complete_months_up_to_the_peildatum(peildatum, first, last):
    con = duckdb.connect()
    for statement in macro_statements(peildatum):
        con.execute(statement)
    days = [first - timedelta(days=1), first, last, last + timedelta(days=1)]
    found = [con.execute("SELECT in_volle_maanden(?, 12)", [d]).fetchone()[0] for d in days]
    assert found == [False, True, True, False]


def test_bevolking_counts_distinct_residents_on_the_full_grid(lake, definitions):
    definition = definitions["bevolking_buurt"]
    built = build_mart(unprotected(definition), lake, PEILDATUM)
    expected = (
        residents(lake)
        .group_by(pl.col("buurtcode").alias("gebiedscode"), "leeftijdsklasse",
                  pl.col("geslachtsaanduiding").alias("geslacht"))
        .agg(pl.len().cast(pl.Int64).alias("expected"))
    )  # fmt: skip
    assert_counts(built.frame, "buurt", ["leeftijdsklasse", "geslacht"], "personen", expected)
    assert built.unplaced == UNPLACED_RESIDENTS
    empty = built.frame.filter(pl.col("gebiedscode") == "BU99990104")
    assert empty.height == 7 * 4 and (empty["personen"] == 0).all()
    gemeente = built.frame.filter(
        (pl.col("gebiedsniveau") == "gemeente")
        & (pl.col("leeftijdsklasse") == TOTAL)
        & (pl.col("geslacht") == TOTAL)
    )
    assert gemeente["personen"].to_list() == [N_PERSONS - UNPLACED_RESIDENTS]
    assert gemeente["gebiedsnaam"].to_list() == ["GM9999"]
    assert built.frame["gebiedsniveau"].unique(maintain_order=True).to_list() == [
        "buurt",
        "wijk",
        "gemeente",
    ]


def test_wmo_counts_a_person_once_per_running_provision_without_a_total(lake, definitions):
    definition = definitions["wmo_wijk"]
    built = build_mart(unprotected(definition), lake, PEILDATUM)
    assert TOTAL not in built.frame["voorziening"].to_list()
    assert set(built.frame["gebiedsniveau"]) == {"wijk", "gemeente"}
    expected = (
        running(lake["wmo"])
        .select("pseudonym", "voorziening")
        .unique()
        .join(residents(lake), on="pseudonym")
        .group_by(pl.col("wijkcode").alias("gebiedscode"), "voorziening", "leeftijdsklasse")
        .agg(pl.len().cast(pl.Int64).alias("expected"))
    )
    assert_counts(built.frame, "wijk", ["voorziening", "leeftijdsklasse"], "personen", expected)
    person = residents(lake).filter(pl.col("pseudonym") == pseudonym(3)).row(0, named=True)
    without = build_mart(
        unprotected(definition),
        {**lake, "wmo": lake["wmo"].filter(pl.col("pseudonym") != pseudonym(3))},
        PEILDATUM,
    )
    key = ["gebiedscode", "voorziening", "leeftijdsklasse"]
    difference = (
        built.frame.join(without.frame, on=key, suffix="_zonder")
        .filter(pl.col("personen") != pl.col("personen_zonder"))
        .select(*key, (pl.col("personen") - pl.col("personen_zonder")).alias("verschil"))
    )
    assert sorted(difference.iter_rows()) == sorted(
        (area, provision, band, 1)
        for area in (person["wijkcode"], "GM9999")
        for provision in ("HH", "BG")
        for band in (person["leeftijdsklasse"], TOTAL)
    )


def schemes_per_resident(lake: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """pseudonym, wijkcode, aantal_regelingen of every resident in at least one scheme."""
    schemes = pl.concat(
        [
            running(lake["bijstand"]).select("pseudonym", pl.lit("bijstand").alias("regeling")),
            running(lake["wmo"]).select("pseudonym", pl.lit("wmo").alias("regeling")),
            lake["huurachterstand"].select("pseudonym", pl.lit("huur").alias("regeling")),
        ]
    ).unique()
    per_person = schemes.group_by("pseudonym").agg(pl.len().alias("n"))
    return per_person.join(residents(lake), on="pseudonym").select(
        "pseudonym",
        "wijkcode",
        pl.when(pl.col("n") >= 3).then(pl.lit("3+")).otherwise(pl.col("n").cast(pl.String))
        .alias("aantal_regelingen"),
    )  # fmt: skip


def test_stapeling_counts_each_resident_once_by_number_of_schemes(lake, definitions):
    definition = definitions["stapeling_wijk"]
    built = build_mart(unprotected(definition), lake, PEILDATUM)
    per_person = schemes_per_resident(lake)
    expected = per_person.group_by(
        pl.col("wijkcode").alias("gebiedscode"), "aantal_regelingen"
    ).agg(pl.len().cast(pl.Int64).alias("expected"))
    assert_counts(built.frame, "wijk", ["aantal_regelingen"], "personen", expected)
    wijk_totals = built.frame.filter(
        (pl.col("gebiedsniveau") == "wijk") & (pl.col("aantal_regelingen") == TOTAL)
    )["personen"].sum()
    assert wijk_totals == per_person.height
    # person 3: two running wmo provisions and rent arrears, so two schemes, counted once
    person = residents(lake).filter(pl.col("pseudonym") == pseudonym(3)).row(0, named=True)
    others = {
        source: lake[source].filter(pl.col("pseudonym") != pseudonym(3))
        for source in ("wmo", "huurachterstand")
    }
    without = build_mart(unprotected(definition), {**lake, **others}, PEILDATUM)
    key = ["gebiedscode", "aantal_regelingen"]
    difference = (
        built.frame.join(without.frame, on=key, suffix="_zonder")
        .filter(pl.col("personen") != pl.col("personen_zonder"))
        .select(*key, (pl.col("personen") - pl.col("personen_zonder")).alias("verschil"))
    )
    assert sorted(difference.iter_rows()) == sorted(
        (area, count, 1) for area in (person["wijkcode"], "GM9999") for count in ("2", TOTAL)
    )


def test_stapeling_sums_the_arrears_of_residents_and_hides_cells_one_debtor_dominates(
    lake, definitions
):
    definition = definitions["stapeling_wijk"]
    owed = (
        lake["huurachterstand"]
        .group_by("pseudonym")
        .agg(pl.col("achterstand_bedrag").sum().round().cast(pl.Int64).alias("euro"))
        .join(schemes_per_resident(lake), on="pseudonym")
    )
    # Every cell from the microdata: sum, contributors and the two largest debts.
    wijken = owed.with_columns(pl.col("wijkcode").alias("gebiedscode"))
    cells = pl.concat(
        [
            frame.group_by("gebiedscode", "aantal_regelingen").agg(
                pl.col("euro").sum().alias("som"),
                pl.col("euro").top_k(2).alias("top"),
                pl.len().alias("n"),
            )
            for frame in (
                wijken,
                wijken.with_columns(pl.lit(TOTAL).alias("aantal_regelingen")),
                wijken.with_columns(pl.lit("GM9999").alias("gebiedscode")),
                wijken.with_columns(pl.lit("GM9999").alias("gebiedscode"),
                                    pl.lit(TOTAL).alias("aantal_regelingen")),
            )
        ]
    )  # fmt: skip
    cells = cells.with_columns(
        pl.col("top").list.get(0, null_on_oob=True).fill_null(0).alias("x1"),
        pl.col("top").list.get(1, null_on_oob=True).fill_null(0).alias("x2"),
    )
    unprotected_frame = build_mart(unprotected(definition), lake, PEILDATUM).frame
    key = ["gebiedscode", "aantal_regelingen"]
    got = unprotected_frame.join(cells, on=key).select(*key, "huurachterstand_euro", "som")
    assert (
        got.height == cells.height
        and got.filter(
            pl.col("huurachterstand_euro").is_not_null()
            & (pl.col("huurachterstand_euro") != pl.col("som"))
        ).is_empty()
    )

    built = build_mart(definition, lake, PEILDATUM)
    # Unsafe by the p%-rule (p = 10), or fewer than 10 debtors: hidden, and the attacker's
    # interval reaches 10% of the largest debt, less the rest, beyond the sum both ways.
    rest = pl.col("som") - pl.col("x1") - pl.col("x2")
    unsafe = cells.filter((pl.col("som") > 0) & ((rest < 0.1 * pl.col("x1")) | (pl.col("n") < 10)))
    assert unsafe.height > 0
    table = next(
        t for t in published_tables("stapeling_wijk", built.frame, ["aantal_regelingen"],
                                    ["huurachterstand_euro"])
    )  # fmt: skip
    bounds = {
        (dict(c.key)["gebiedscode"], dict(c.key)["aantal_regelingen"]): (c.lower, c.upper)
        for c in cell_intervals(table)
    }
    for row in unsafe.iter_rows(named=True):
        low, high = bounds[(row["gebiedscode"], row["aantal_regelingen"])]
        rule = 0.1 * row["x1"] - (row["som"] - row["x1"] - row["x2"])
        needed = max(rule, 0.1 * row["som"] if row["n"] < 10 else 0, 1)
        assert high is None or high >= row["som"] + needed - 1e-9, row
        assert low <= max(row["som"] - needed, 0) + 1e-9, row


def test_bijstand_counts_running_benefits_and_shares_of_residents(lake, definitions):
    definition = definitions["bijstand_buurt"]
    built = build_mart(unprotected(definition), lake, PEILDATUM)
    recipients = running(lake["bijstand"]).join(residents(lake), on="pseudonym")
    expected = recipients.group_by(
        pl.col("buurtcode").alias("gebiedscode"), "leeftijdsklasse", "leefvorm"
    ).agg(pl.len().cast(pl.Int64).alias("expected"))
    dims = ["leeftijdsklasse", "leefvorm"]
    assert_counts(built.frame, "buurt", dims, "ontvangers", expected)
    # person 0 (ended) and 5000 (not a resident) are not counted; 5000 is unplaced
    assert pseudonym(0) not in recipients["pseudonym"].to_list()
    assert built.measures[0].unplaced == 1
    frame = built.frame
    assert (
        frame.filter(pl.col("leefvorm") != TOTAL)["inwoners"].null_count()
        == frame.filter(pl.col("leefvorm") != TOTAL).height
    )
    totals = frame.filter(pl.col("leefvorm") == TOTAL)
    assert totals["inwoners_geheim"].null_count() == 0
    share = frame.join(
        totals.select("gebiedscode", "leeftijdsklasse", pl.col("inwoners").alias("_den")),
        on=["gebiedscode", "leeftijdsklasse"],
    ).with_columns(
        pl.when(pl.col("_den") >= 100)
        .then((pl.col("ontvangers") * 100 / pl.col("_den")).round(1))
        .alias("_expected")
    )
    assert share["aandeel_ontvangers_pct"].equals(share["_expected"], check_names=False)
    assert share["aandeel_ontvangers_pct"].drop_nulls().len() > 0


def test_incidents_count_distinct_registrations_by_buurt_month_and_class(lake, definitions):
    definition = definitions["incidenten_buurt_maand"]
    built = build_mart(unprotected(definition), lake, PEILDATUM)
    start = date(2023, 7, 1)
    window = lake["politie_incidenten"].filter(pl.col("datum").is_between(start, PEILDATUM))
    doubled = {**lake, "politie_incidenten": pl.concat([window, window.head(5)])}
    expected = (
        window.join(lake["buurtindeling"], on=["postcode", "huisnummer"])
        .group_by(
            pl.col("buurtcode").alias("gebiedscode"),
            pl.col("datum").dt.strftime("%Y-%m").alias("maand"),
            pl.col("maatschappelijke_klasse").alias("klasse"),
        )
        .agg(pl.len().cast(pl.Int64).alias("expected"))
    )
    assert_counts(built.frame, "buurt", ["maand", "klasse"], "incidenten", expected)
    months = [f"2023-{m:02d}" for m in range(7, 13)] + [f"2024-{m:02d}" for m in range(1, 7)]
    assert built.frame["maand"].unique(maintain_order=True).to_list() == [*months, TOTAL]
    again = build_mart(unprotected(definition), doubled, PEILDATUM)
    assert again.frame.equals(built.frame)
    unplaced = window.filter(pl.col("postcode") == "9999ZZ").height
    assert built.unplaced == unplaced


@pytest.mark.parametrize("name", sorted(load_definitions()))
def test_each_default_mart_is_protected_consistent_and_deterministic(lake, definitions, name):
    definition = definitions[name]
    built = build_mart(definition, lake, PEILDATUM)
    assert_protected(definition, built)
    assert_totals_add_up(built.frame, definition, built)
    assert built.secondary_suppressed + built.primary_suppressed == sum(
        built.frame[f"{m.name}{SECRET_SUFFIX}"].sum() for m in definition.measures
    )
    again = build_mart(definition, lake, PEILDATUM)
    assert again.frame.equals(built.frame)
    expected_columns = [
        "gebiedsniveau", "gebiedscode", "gebiedsnaam", "bovenliggende_gebiedscode",
    ]  # fmt: skip
    expected_columns += [d.name for d in definition.dimensions]
    for measure in definition.measures:
        expected_columns += [measure.name, f"{measure.name}{SECRET_SUFFIX}"]
    expected_columns += [r.name for r in definition.ratios]
    assert built.frame.columns == expected_columns


def with_sql(definitions, name: str, sql: str) -> MartDefinition:
    definition = definitions[name]
    measure = dataclasses.replace(definition.measures[0], sql=sql)
    return dataclasses.replace(definition, measures=(measure, *definition.measures[1:]))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT p.pseudonym AS unit_id, b.buurtcode, p.nationaliteit AS leeftijdsklasse, "
            "p.geslachtsaanduiding AS geslacht FROM brp p "
            "LEFT JOIN buurtindeling b USING (postcode, huisnummer)",
            "nationaliteit",
        ),
        (
            "SELECT w.pseudonym AS unit_id, NULL AS buurtcode, 'x' AS leeftijdsklasse, "
            "'M' AS geslacht FROM wmo w",
            "wmo",
        ),
        (
            "SELECT 'x' AS unit_id, 'BU99990101' AS buurtcode, 'a' AS leeftijdsklasse, "
            "c.column0 AS geslacht FROM read_csv('/etc/hostname') c",
            "disabled",
        ),
        ("SELECT 1 AS unit_id; SELECT 2", "single SELECT"),
        ("SELECT pseudonym AS unit_id FROM brp", "exactly the columns"),
    ],
)
def test_a_mart_query_can_read_only_its_allowed_inputs(lake, definitions, sql, message):
    with pytest.raises(MartError, match=message):
        build_mart(with_sql(definitions, "bevolking_buurt", sql), lake, PEILDATUM)


def test_missing_inputs_are_reported(lake, definitions):
    with pytest.raises(MartError, match="'bijstand' was not provided"):
        build_mart(
            definitions["bijstand_buurt"],
            {"brp": lake["brp"], "buurtindeling": lake["buurtindeling"]},
            PEILDATUM,
        )
    brp = lake["brp"].drop("geboortedatum")
    with pytest.raises(MartError, match="lacks columns"):
        build_mart(definitions["bevolking_buurt"], {**lake, "brp": brp}, PEILDATUM)


def test_a_unit_in_two_categories_of_an_additive_dimension_is_refused(lake, definitions):
    raw = {
        "name": "dubbel",
        "purpose": "kerncijfers_bevolking",
        "geography": ["wijk", "gemeente"],
        "inputs": {
            "brp": ["pseudonym", "postcode", "huisnummer"],
            "buurtindeling": ["postcode", "huisnummer", "wijkcode", "wijknaam", "gemeentecode"],
        },
        "dimensions": {"soort": {"values": ["a", "b"]}},
        "measures": [
            {
                "name": "personen",
                "unit": "personen",
                "dimensions": ["soort"],
                "sql": "SELECT p.pseudonym AS unit_id, b.wijkcode, s.soort "
                "FROM brp p JOIN buurtindeling b USING (postcode, huisnummer) "
                "CROSS JOIN (VALUES ('a'), ('b')) s(soort)",
            }
        ],
    }
    with pytest.raises(MartError, match="count it twice"):
        build_mart(definition_from_dict(raw), lake, PEILDATUM)
    raw["dimensions"]["soort"]["additive"] = False
    built = build_mart(definition_from_dict(raw), lake, PEILDATUM)
    assert TOTAL not in built.frame["soort"].to_list()


def test_the_audit_computes_back_a_cell_hidden_alone(lake, definitions):
    definition = definitions["bevolking_buurt"]
    built = build_mart(unprotected(definition), lake, PEILDATUM)
    target = (
        (pl.col("gebiedscode") == "BU99990101")
        & (pl.col("leeftijdsklasse") == "25-44")
        & (pl.col("geslacht") == "V")
    )
    true_value = built.frame.filter(target)["personen"].item()
    leaky = built.frame.with_columns(
        pl.when(target).then(None).otherwise(pl.col("personen")).alias("personen"),
        pl.when(target).then(True).otherwise(pl.col("personen_geheim")).alias("personen_geheim"),
    )
    (cell,) = [i for a in audit(definition, leaky) for i in a.intervals]
    assert dict(cell.key)["gebiedscode"] == "BU99990101"
    assert (cell.lower, cell.upper) == (true_value, true_value)


def test_a_published_mart_read_back_from_parquet_passes_the_audit(lake, definitions, tmp_path):
    definition = definitions["bijstand_buurt"]
    built = build_mart(definition, lake, PEILDATUM)
    store = MartStore(tmp_path)
    store.publish(definition.name, built.frame, built.publication_metadata(["brp:x"], "fp"))
    read_back = pl.read_parquet(store.current_path(definition.name))
    assert read_back.equals(built.frame)
    assert too_narrow(definition, read_back) == 0
    kv = store.current(definition.name).metadata  # type: ignore[union-attr]
    assert kv["udc.suppressed"] == str(built.primary_suppressed + built.secondary_suppressed)
    assert not any("primary" in key or "unplaced" in key for key in kv)


def test_a_cell_key_mart_perturbs_every_cell_by_its_contributors_and_hides_nothing(
    lake, definitions
):
    definition = dataclasses.replace(definitions["bevolking_buurt"], protection="cell_key")
    with pytest.raises(MartError, match="needs the record key secret"):
        build_mart(definition, lake, PEILDATUM)
    built = build_mart(definition, lake, PEILDATUM, SECRET)
    exact = build_mart(unprotected(definitions["bevolking_buurt"]), lake, PEILDATUM).frame
    published = built.frame["personen"]
    assert not built.frame["personen_geheim"].any() and published.null_count() == 0
    assert not published.is_in([1, 2]).any()
    assert (published.filter(exact["personen"] == 0) == 0).all()
    assert (published != exact["personen"]).any()
    assert (published - exact["personen"]).abs().max() <= 2
    # The noise is the p-table's at the cell key of each cell's own residents.
    ptable = load_ptable()
    brp = (
        lake["brp"]
        .join(lake["buurtindeling"], on=["postcode", "huisnummer"], how="inner")
        .filter(pl.col("buurtcode") == "BU99990101")
    )
    key = cell_keys(np.array([record_keys(brp["pseudonym"], SECRET).cast(pl.Int64).sum()]))
    total = exact.filter(
        (pl.col("gebiedscode") == "BU99990101")
        & (pl.col("leeftijdsklasse") == TOTAL)
        & (pl.col("geslacht") == TOTAL)
    )["personen"].to_numpy()
    expected = perturb(total, key, ptable)
    row = built.frame.filter(
        (pl.col("gebiedscode") == "BU99990101")
        & (pl.col("leeftijdsklasse") == TOTAL)
        & (pl.col("geslacht") == TOTAL)
    )
    assert row["personen"].to_list() == expected.tolist()
    assert build_mart(definition, lake, PEILDATUM, SECRET).frame.equals(built.frame)
    assert not build_mart(definition, lake, PEILDATUM, bytes(32)).frame.equals(built.frame)
    assert built.publication_metadata([], "fp")["protection"] == "cell_key"
