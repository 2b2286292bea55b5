"""The synthetic city writes the delivery contract's formats with realistic content."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from shapely.geometry import shape

from udc.dashboards.geometries import read_areas
from udc.sources.contracts import Contract, load_contracts
from udc.sources.synthetic import SOURCES, generate_city, write_deliveries
from udc.sources.synthetic._keyed import Keyed, day_number
from udc.sources.synthetic.geography import build_geography
from udc.sources.synthetic.population import build_tenancies, households_on
from udc.sources.synthetic.residents import residents_of
from udc.sources.synthetic.shapes import city_shapes, write_shapes

PEILDATUM = dt.date(2025, 1, 1)
SMALL = 5_000
MEDIUM = 20_000
WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def parse(data: bytes) -> pl.DataFrame:
    return pl.read_csv(data, separator=";", infer_schema=False)


def passes_eleven_check(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{9}", value) or value == "000000000":
        return False
    return sum(w * int(d) for w, d in zip(WEIGHTS, value, strict=True)) % 11 == 0


def normalised_postcode(column: str = "postcode") -> pl.Expr:
    return pl.col(column).str.replace(" ", "").str.to_uppercase()


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return load_contracts()


@pytest.fixture(scope="module")
def small() -> dict[str, bytes]:
    return generate_city(SMALL, 7, PEILDATUM)


@pytest.fixture(scope="module")
def medium() -> dict[str, pl.DataFrame]:
    return {source: parse(data) for source, data in generate_city(MEDIUM, 3, PEILDATUM).items()}


@pytest.fixture(scope="module")
def month_later() -> dict[str, pl.DataFrame]:
    later = generate_city(MEDIUM, 3, dt.date(2025, 2, 1))
    return {source: parse(data) for source, data in later.items()}


def test_six_sources_with_exactly_the_contract_columns(small, contracts):
    assert set(small) == set(SOURCES) == set(contracts)
    for source, data in small.items():
        header = data.split(b"\n", 1)[0].decode("utf-8").split(";")
        assert header == list(contracts[source].column_names), source


def test_files_are_plain_semicolon_csv(small, contracts):
    for source, data in small.items():
        text = data.decode("utf-8")
        assert not text.startswith("\ufeff")
        assert "\r" not in text
        assert text.endswith("\n")
        assert '""' not in text, f"{source}: empty values must be written as nothing"
        lines = text.rstrip("\n").split("\n")
        width = len(contracts[source].columns)
        assert all(line.count(";") == width - 1 for line in lines), source
        frame = parse(data)
        assert frame.width == width
        assert frame.height == len(lines) - 1 > 0


def test_same_arguments_give_the_same_bytes(small):
    assert generate_city(SMALL, 7, PEILDATUM) == small
    other_seed = generate_city(SMALL, 8, PEILDATUM)
    assert all(other_seed[source] != small[source] for source in SOURCES)


def test_values_keep_to_the_contract(medium, contracts):
    """Codes, patterns, ranges and required values hold everywhere (defects break other rules)."""
    for source, frame in medium.items():
        for column in contracts[source].columns:
            values = frame.get_column(column.name)
            if not column.nullable:
                assert values.null_count() == 0, (source, column.name)
            present = values.drop_nulls()
            if column.values is not None:
                assert set(present.unique()) <= set(column.values), (source, column.name)
            if column.pattern is not None:
                assert present.str.contains(column.pattern).all(), (source, column.name)
            if column.type == "integer":
                numbers = present.cast(pl.Int64)
                assert numbers.min() >= column.min and numbers.max() <= column.max
            if column.type == "decimal":
                amounts = present.str.replace(",", ".").cast(pl.Float64)
                assert amounts.min() >= column.min and amounts.max() <= column.max
            if column.type == "date":
                parsed = present.str.to_date("%Y%m%d", strict=False)
                assert parsed.null_count() == 0, (source, column.name)
            if column.not_in_future:
                assert present.max() <= f"{PEILDATUM:%Y%m%d}", (source, column.name)


def test_brp_content(medium):
    brp = medium["brp"]
    assert set(brp["gemeentecode"].unique()) == {"9999"}
    assert brp["anummer"].str.contains(r"^[1-9][0-9]{9}$").all()
    sexes = brp["geslachtsaanduiding"].value_counts().rows()
    counts = dict(sexes)
    assert 0.46 < counts["M"] / brp.height < 0.52
    assert 0 < counts.get("O", 0) < 0.002 * brp.height
    assert (brp["nationaliteit"] == "0001").mean() > 0.75
    assert 0 < (brp["nationaliteit"] == "0000").sum() < 0.01 * brp.height
    partial = brp["geboortedatum"].str.contains(r"00$")
    assert 0 < partial.sum() < 0.02 * brp.height
    birth = brp["geboortedatum"].str.replace(r"0000$", "0101").str.replace(r"00$", "01")
    assert birth.str.to_date("%Y%m%d", strict=False).null_count() == 0
    assert (brp["datum_inschrijving"] >= brp["geboortedatum"]).all()
    assert brp["huisletter"].drop_nulls().len() > 0
    assert brp["huisnummertoevoeging"].drop_nulls().len() > 0
    assert brp["voorvoegsel"].drop_nulls().len() > 0


def test_age_and_household_structure_look_like_a_dutch_city(medium):
    brp = medium["brp"].unique("burgerservicenummer")
    peil = int(f"{PEILDATUM:%Y%m%d}")
    age = (peil - brp["geboortedatum"].cast(pl.Int64)) // 10000
    bands = {
        "0-14": (age <= 14).mean(),
        "15-24": ((age >= 15) & (age <= 24)).mean(),
        "25-44": ((age >= 25) & (age <= 44)).mean(),
        "45-64": ((age >= 45) & (age <= 64)).mean(),
        "65+": (age >= 65).mean(),
    }
    expected = {"0-14": 0.15, "15-24": 0.13, "25-44": 0.27, "45-64": 0.26, "65+": 0.19}
    for band, share in expected.items():
        assert abs(bands[band] - share) < 0.04, (band, bands[band])
    households = brp.group_by("postcode", "huisnummer", "huisletter", "huisnummertoevoeging").len()
    single = (households["len"] == 1).mean()
    assert 0.33 < single < 0.48
    assert households["len"].max() >= 6
    assert 1.8 < brp.height / households.height < 2.4


def test_buurtindeling_has_about_a_hundred_buurten_in_twelve_wijken():
    for persons in (600, SMALL):
        frame = parse(generate_city(persons, 11, PEILDATUM)["buurtindeling"])
        assert frame.select("postcode", "huisnummer").is_unique().all()
        assert frame["postcode"].str.contains(r"^[1-9][0-9]{3}[A-Z]{2}$").all()
        assert not frame["postcode"].str.slice(4).is_in(["SA", "SD", "SS"]).any()
        assert set(frame["gemeentecode"].unique()) == {"GM9999"}
        buurten = frame.select("buurtcode", "buurtnaam", "wijkcode", "wijknaam").unique()
        assert buurten["buurtcode"].is_unique().all()
        assert buurten["buurtnaam"].is_unique().all()
        assert 90 <= buurten.height <= 110
        assert buurten["wijkcode"].n_unique() == 12
        assert (buurten["buurtcode"].str.slice(2, 6) == buurten["wijkcode"].str.slice(2)).all()
        per_wijk = buurten.group_by("wijkcode").len()["len"]
        assert per_wijk.min() >= 5 and per_wijk.max() <= 12
        assert buurten.select("wijkcode", "wijknaam").unique().height == 12


def test_buurt_sizes_vary_with_some_small_buurten(medium):
    buurtindeling = medium["buurtindeling"]
    brp = medium["brp"].with_columns(normalised_postcode())
    per_buurt = (
        brp.join(buurtindeling, on=["postcode", "huisnummer"])
        .group_by("buurtcode")
        .len()["len"]
        .sort()
    )
    # At 20,000 residents a buurt of 250 at 100,000 has 50.
    assert (per_buurt < 50).sum() >= 3
    assert per_buurt.max() > 10 * per_buurt.min()
    assert per_buurt.median() > 100


def bsn_kinds(values: pl.Series) -> dict[str, int]:
    valid = values.map_elements(passes_eleven_check, return_dtype=pl.Boolean)
    eight = values.str.contains(r"^[0-9]{8}$")
    return {
        "valid": int(valid.sum()),
        "eight_digits": int(eight.sum()),
        "invalid": int((~valid & ~eight).sum()),
        "eight_repairable": int(
            ("0" + values.filter(eight))
            .map_elements(passes_eleven_check, return_dtype=pl.Boolean)
            .sum()
        ),
    }


def test_bsns_are_valid_except_injected_defects(medium):
    brp = bsn_kinds(medium["brp"]["burgerservicenummer"])
    n = medium["brp"].height
    assert 0.0008 * n < brp["invalid"] < 0.004 * n
    assert 0.0005 * n < brp["eight_digits"] < 0.003 * n
    assert brp["eight_repairable"] == brp["eight_digits"]
    registers = {"invalid": 0, "eight_digits": 0}
    for source, column in (
        ("bijstand", "bsn"),
        ("wmo", "bsn"),
        ("huurachterstand", "bsn_hoofdhuurder"),
    ):
        kinds = bsn_kinds(medium[source][column])
        assert kinds["valid"] > 0.97 * medium[source].height, source
        assert kinds["eight_repairable"] == kinds["eight_digits"], source
        registers["invalid"] += kinds["invalid"]
        registers["eight_digits"] += kinds["eight_digits"]
    assert registers["invalid"] > 0 and registers["eight_digits"] > 0


def test_duplicates_unknown_addresses_and_date_order_defects(medium):
    brp, politie = medium["brp"], medium["politie_incidenten"]
    brp_duplicates = brp.height - brp["burgerservicenummer"].n_unique()
    assert 0 < brp_duplicates < 0.003 * brp.height
    assert 0 < politie.height - politie["registratienummer"].n_unique() < 0.01 * politie.height
    assert brp.is_duplicated().sum() == 2 * brp_duplicates

    addresses = medium["buurtindeling"].select("postcode", "huisnummer")
    for source in ("brp", "politie_incidenten", "huurachterstand"):
        frame = medium[source]
        spaced = frame["postcode"].str.contains(r"^[1-9][0-9]{3} [a-z]{2}$").sum()
        assert (
            frame["postcode"].str.contains(r"^[1-9][0-9]{3}[A-Z]{2}$").sum() + spaced
            == frame.height
        )
        unknown = frame.with_columns(normalised_postcode()).join(
            addresses, on=["postcode", "huisnummer"], how="anti"
        )
        assert unknown.height < 0.01 * frame.height, source
        if source != "huurachterstand":
            assert spaced > 0 and unknown.height > 0, source

    for source in ("bijstand", "wmo"):
        frame = medium[source]
        backwards = frame.filter(pl.col("einddatum") < pl.col("ingangsdatum")).height
        assert backwards < 0.02 * frame.height, source
    assert medium["wmo"].filter(pl.col("einddatum") < pl.col("ingangsdatum")).height > 0


def test_registers_of_non_residents(medium):
    residents = medium["brp"]["burgerservicenummer"].implode()
    for source, column in (
        ("bijstand", "bsn"),
        ("wmo", "bsn"),
        ("huurachterstand", "bsn_hoofdhuurder"),
    ):
        frame = medium[source]
        valid = frame[column].map_elements(passes_eleven_check, return_dtype=pl.Boolean)
        outsiders = frame.filter(valid & ~pl.col(column).is_in(residents)).height
        # Outsiders, and residents whose BSN the BRP delivery got wrong.
        assert outsiders <= 0.02 * frame.height + 2, source
    wmo = medium["wmo"]
    valid = wmo["bsn"].map_elements(passes_eleven_check, return_dtype=pl.Boolean)
    assert wmo.filter(valid & ~pl.col("bsn").is_in(residents)).height > 0


def test_rejectable_rows_stay_well_under_the_quarantine_threshold(medium):
    for source, column in (
        ("brp", "burgerservicenummer"),
        ("bijstand", "bsn"),
        ("wmo", "bsn"),
        ("huurachterstand", "bsn_hoofdhuurder"),
    ):
        frame = medium[source]
        bad_bsn = ~frame[column].map_elements(passes_eleven_check, return_dtype=pl.Boolean)
        rejected = bad_bsn | frame.is_duplicated()
        if "einddatum" in frame.columns:
            rejected |= (frame["einddatum"] < frame["ingangsdatum"]).fill_null(False)
        assert rejected.sum() <= 0.02 * frame.height + 1, source


def test_register_rates(medium):
    brp = medium["brp"].unique("burgerservicenummer")
    peil = int(f"{PEILDATUM:%Y%m%d}")
    brp = brp.with_columns(age=(peil - pl.col("geboortedatum").cast(pl.Int64)) // 10000)
    working_age = brp.filter((pl.col("age") >= 18) & (pl.col("age") <= 66)).height
    bijstand = medium["bijstand"]
    assert 0.025 <= bijstand.height / working_age <= 0.04
    assert (bijstand["regeling"] == "PW").mean() > 0.8
    assert bijstand["einddatum"].null_count() > 0.9 * bijstand.height
    assert (bijstand["ingangsdatum"] <= f"{PEILDATUM:%Y%m%d}").all()

    wmo = medium["wmo"]
    assert 0.06 <= wmo["bsn"].n_unique() / brp.height <= 0.09
    assert wmo["bsn"].n_unique() < wmo.height
    counts = dict(wmo["voorziening"].value_counts().rows())
    assert max(counts, key=counts.get) == "HH"
    assert counts["BW"] < counts["HH"] / 5
    clients = brp.filter(pl.col("burgerservicenummer").is_in(wmo["bsn"].implode()))
    assert (clients["age"] >= 65).mean() > 0.6
    assert wmo["aanbieder_agb"].n_unique() <= 12

    households = brp.select("postcode", "huisnummer", "huisletter", "huisnummertoevoeging").unique()
    arrears = medium["huurachterstand"]
    assert 0.01 <= arrears.height / households.height <= 0.02
    months = arrears["achterstand_maanden"].cast(pl.Int64)
    assert months.min() >= 1 and months.max() <= 12 and months.median() <= 5
    amounts = arrears["achterstand_bedrag"]
    assert amounts.str.contains(r"^[0-9]+,[0-9]{2}$").any()
    assert amounts.str.contains(r"^[0-9]+\.[0-9]{2}$").any()
    on_bijstand = arrears["bsn_hoofdhuurder"].is_in(bijstand["bsn"].implode()).mean()
    assert on_bijstand > 3 * bijstand.height / working_age

    politie = medium["politie_incidenten"]
    assert 40 <= politie.height / brp.height * 1000 <= 60
    assert politie["datum"].min() > f"{PEILDATUM - dt.timedelta(days=366):%Y%m%d}"
    assert politie["registratienummer"].str.contains(r"^PL0900-20[0-9]{8}$").all()


def test_bijstand_and_incidents_concentrate_in_some_buurten(medium):
    buurtindeling = medium["buurtindeling"]
    brp = medium["brp"].with_columns(normalised_postcode())
    located = brp.join(buurtindeling, on=["postcode", "huisnummer"])
    bijstand = medium["bijstand"]["bsn"].implode()
    share = located.group_by("buurtcode").agg(
        n=pl.len(), share=pl.col("burgerservicenummer").is_in(bijstand).mean()
    )
    share = share.filter(pl.col("n") >= 100)["share"]
    assert share.max() > 0.05
    assert share.quantile(0.2) < 0.01

    incidents = (
        medium["politie_incidenten"]
        .with_columns(normalised_postcode())
        .join(buurtindeling, on=["postcode", "huisnummer"])
        .group_by("buurtcode")
        .len()
    )
    rate = incidents.join(located.group_by("buurtcode").len(), on="buurtcode", suffix="_residents")
    rate = rate.filter(pl.col("len_residents") >= 50)
    per_resident = rate["len"] / rate["len_residents"]
    assert per_resident.max() > 3 * per_resident.median()


def test_a_month_later_the_same_people_have_lived_on(medium, month_later):
    before, after = medium["brp"], month_later["brp"]
    shared = set(before["burgerservicenummer"]) & set(after["burgerservicenummer"])
    union = set(before["burgerservicenummer"]) | set(after["burgerservicenummer"])
    assert 0.96 < len(shared) / len(union) < 0.995
    assert abs(after.height - before.height) < 0.02 * before.height
    moved = before.join(after, on="burgerservicenummer").filter(
        (pl.col("postcode") != pl.col("postcode_right"))
        & (pl.col("geboortedatum") == pl.col("geboortedatum_right"))
    )
    assert moved.height > 0.002 * before.height
    born = after.filter(pl.col("geboortedatum").is_between(pl.lit("20250102"), pl.lit("20250201")))
    assert born.height > 0
    assert not born["burgerservicenummer"].is_in(before["burgerservicenummer"].implode()).any()
    assert set(after["burgerservicenummer"]) - set(before["burgerservicenummer"])
    assert set(before["burgerservicenummer"]) - set(after["burgerservicenummer"])
    for source, column in (("bijstand", "bsn"), ("wmo", "bsn")):
        old, new = set(medium[source][column]), set(month_later[source][column])
        assert len(old & new) > 0.85 * len(old), source
        assert old - new and new - old, source
    incidents_before = set(medium["politie_incidenten"]["registratienummer"])
    incidents_after = set(month_later["politie_incidenten"]["registratienummer"])
    assert len(incidents_before & incidents_after) > 0.8 * len(incidents_before)
    assert medium["buurtindeling"].equals(month_later["buurtindeling"])


def test_everyone_keeps_one_bsn_of_their_own_over_the_whole_window():
    """BSN indices number only the people who ever live in the city, so the BSN space holds
    a country (about 4.5 identities per resident leave room for 19 million residents)."""
    persons, seed = 3_000, 11
    geography = build_geography(seed, persons)
    tenancies = build_tenancies(seed, persons, geography)
    keyed = Keyed(seed)
    bsn_of: dict[int, int] = {}
    days = [dt.date(year, month, 1) for year in range(2005, 2041, 3) for month in (1, 7)]
    for day in map(day_number, [*days, dt.date(2040, 12, 31)]):
        households = households_on(keyed, tenancies, geography, day)
        residents = residents_of(seed, households, tenancies.first_identity, day)
        for person, bsn in zip(residents.person.tolist(), residents.bsn.tolist(), strict=True):
            assert bsn_of.setdefault(person, bsn) == bsn
    assert len(set(bsn_of.values())) == len(bsn_of) > 3 * persons
    assert tenancies.first_identity[-1] < 5 * persons


def test_write_deliveries_puts_files_in_the_inbox(tmp_path):
    peildatum = dt.date(2024, 6, 30)
    paths = write_deliveries(tmp_path / "inbox", 1_000, 5, peildatum)
    assert sorted(p.relative_to(tmp_path / "inbox").as_posix() for p in paths) == sorted(
        f"{source}/{source}_20240630.csv" for source in SOURCES
    )
    expected = generate_city(1_000, 5, peildatum)
    for path in paths:
        assert path.read_bytes() == expected[path.parent.name]


def test_rejects_sizes_and_dates_it_cannot_generate():
    with pytest.raises(ValueError, match="at least"):
        generate_city(10, 1, PEILDATUM)
    with pytest.raises(ValueError, match="peildatum"):
        generate_city(1_000, 1, dt.date(1990, 1, 1))


def test_the_city_has_outlines_that_nest_and_tile_like_the_cbs_map(tmp_path):
    collection = city_shapes(1)
    assert collection == city_shapes(1)  # the seed alone decides
    buurten = build_geography(1, 1_000).buurten
    features = collection["features"]
    by_level = {
        level: [f for f in features if key in f["properties"] and (
            level == "buurt" or "buurtcode" not in f["properties"])]
        for level, key in (("buurt", "buurtcode"), ("wijk", "wijkcode"))
    }  # fmt: skip
    codes = [f["properties"]["buurtcode"] for f in by_level["buurt"]]
    assert codes == buurten["buurtcode"].to_list()
    assert {f["properties"]["wijkcode"] for f in by_level["wijk"]} == set(buurten["wijkcode"])
    city = shape(features[0]["geometry"])
    parts = [shape(f["geometry"]) for f in by_level["buurt"]]
    # No gaps and no overlaps: the buurten's areas add up to the city's.
    assert sum(p.area for p in parts) == pytest.approx(city.area, rel=1e-4)
    wijken = {f["properties"]["wijkcode"]: shape(f["geometry"]) for f in by_level["wijk"]}
    for feature, part in zip(by_level["buurt"], parts, strict=True):
        assert wijken[feature["properties"]["wijkcode"]].buffer(1e-5).contains(part)
        assert part.area > city.area / 2_000  # no slivers
    areas = read_areas([write_shapes(tmp_path / "geo" / "wijkenbuurten.geojson", 1)])
    assert len(areas.level("buurt")) == buurten.height
