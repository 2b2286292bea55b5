"""Synthetic regions and the country: many municipalities that share no person, address or
incident, with the codes, file names and regios a regional workspace needs."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import shapely
from shapely.geometry import shape

from udc.dashboards.geometries import read_areas
from udc.sources.contracts import load_contracts
from udc.sources.synthetic import SOURCES, generate_city
from udc.sources.synthetic.city import MIN_PERSONS
from udc.sources.synthetic.country import (
    LAND_GEMEENTEN,
    PROVINCES,
    Municipality,
    municipalities,
    places,
    regios_toml,
    write_region,
)
from udc.sources.synthetic.geography import PC4_RANGE, build_geography
from udc.sources.synthetic.shapes import region_shapes, write_region_shapes

PEILDATUM = dt.date(2025, 1, 1)
SEED = 5
WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
BSN_COLUMNS = {"bijstand": "bsn", "wmo": "bsn", "huurachterstand": "bsn_hoofdhuurder"}


def passes_eleven_check(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{9}", value) or value == "000000000":
        return False
    return sum(w * int(d) for w, d in zip(WEIGHTS, value, strict=True)) % 11 == 0


def valid(values: pl.Series) -> set[str]:
    return {v for v in values.to_list() if passes_eleven_check(v)}


def normalised(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("postcode").str.replace(" ", "").str.to_uppercase())


def read(inbox: Path, gemeenten: list[Municipality], day: dt.date) -> dict:
    return {
        m.code: {
            source: pl.read_csv(
                inbox / source / f"{source}_{m.code}_{day:%Y%m%d}.csv",
                separator=";",
                infer_schema=False,
            )
            for source in SOURCES
        }
        for m in gemeenten
    }


@pytest.fixture(scope="module")
def region() -> list[Municipality]:
    return municipalities("regio", 9_000, SEED, count=3)


@pytest.fixture(scope="module")
def written(region, tmp_path_factory) -> tuple[Path, list[Path], dict]:
    inbox = tmp_path_factory.mktemp("region") / "inbox"
    paths = write_region(inbox, region, SEED, PEILDATUM)
    return inbox, paths, read(inbox, region, PEILDATUM)


def test_the_country_has_a_few_large_cities_and_many_small_towns():
    country = municipalities("land", 18_000_000, 1)
    sizes = np.array([m.residents for m in country])
    assert len(country) == LAND_GEMEENTEN == 342
    assert sizes.sum() == 18_000_000
    assert sizes.min() >= MIN_PERSONS
    median = np.median(sizes)
    assert 15_000 < median < 50_000
    assert 500_000 < sizes.max() < 1_500_000
    assert sizes.max() > 20 * median
    assert sizes.min() < median / 10
    per_province = {code: sum(m.provincie == code for m in country) for code in PROVINCES}
    assert per_province == {code: count for code, (_, count, _) in PROVINCES.items()}
    residents = {code: sum(m.residents for m in country if m.provincie == code)
                 for code in PROVINCES}  # fmt: skip
    # Zuid-Holland holds most people, Zeeland fewest, as in the real country.
    assert max(residents, key=residents.get) == "PV28"
    assert min(residents, key=residents.get) in ("PV29", "PV24", "PV22")


def test_a_region_is_a_centre_city_and_its_towns_in_one_province():
    members = municipalities("regio", 200_000, 1)
    sizes = sorted((m.residents for m in members), reverse=True)
    assert len(members) == 8 and sum(sizes) == 200_000
    assert {m.provincie for m in members} == {"PV25"}
    assert sizes[0] > 2 * np.median(sizes)
    small = municipalities("regio", 3 * MIN_PERSONS, 1, count=3)
    assert [m.residents for m in small] == [MIN_PERSONS] * 3


def test_the_same_seed_gives_the_same_municipalities():
    first = municipalities("land", 1_000_000, 7)
    assert municipalities("land", 1_000_000, 7) == first
    assert municipalities("land", 1_000_000, 8) != first
    codes = [m.code for m in first]
    assert codes == sorted(codes) and len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"GM\d{4}", c) for c in codes)
    assert "GM9999" not in codes
    names = [m.name for m in first]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Z][A-Za-z' -]+", n) for n in names)


def test_it_refuses_what_it_cannot_generate():
    with pytest.raises(ValueError, match="at least"):
        municipalities("regio", 8 * MIN_PERSONS - 1, 1)
    with pytest.raises(ValueError, match="scope"):
        municipalities("stad", 100_000, 1)
    with pytest.raises(ValueError, match="12 municipalities"):
        municipalities("land", 1_000_000, 1, count=5)
    twins = [Municipality("GM0200", "A", 1_000, "PV25"), Municipality("GM0200", "B", 1_000, "PV25")]
    with pytest.raises(ValueError, match="code of its own"):
        places(twins, 1)


def test_postcode_slices_hold_the_whole_country():
    country = municipalities("land", 18_000_000, 1)
    slices = sorted((p.pc4 for p in places(country, 1)), key=lambda r: r.start)
    assert slices[0].start >= PC4_RANGE.start and slices[-1].stop <= PC4_RANGE.stop
    assert all(a.stop <= b.start for a, b in itertools.pairwise(slices))
    # The largest city's wijken each start a PC4 and still fit in its slice.
    largest = max(zip(country, places(country, 1), strict=True), key=lambda mp: mp[0].residents)
    geography = build_geography(1, largest[0].residents, largest[1])
    pc4 = {int(p[:4]) for p in geography.address_postcode}
    assert min(pc4) >= largest[1].pc4.start and max(pc4) < largest[1].pc4.stop


def test_files_are_named_by_gemeente_and_carry_its_codes(region, written):
    inbox, paths, frames = written
    assert sorted(p.relative_to(inbox).as_posix() for p in paths) == sorted(
        f"{source}/{source}_{m.code}_20250101.csv" for m in region for source in SOURCES
    )
    contracts = load_contracts()
    for m in region:
        brp, buurten = frames[m.code]["brp"], frames[m.code]["buurtindeling"]
        assert set(brp["gemeentecode"]) == {m.code[2:]}
        assert set(buurten["gemeentecode"]) == {m.code}
        digits = m.code[2:]
        assert buurten["buurtcode"].str.contains(rf"^BU{digits}\d{{4}}$").all()
        assert buurten["wijkcode"].str.contains(rf"^WK{digits}\d{{2}}$").all()
        assert (buurten["buurtcode"].str.slice(2, 6) == buurten["wijkcode"].str.slice(2)).all()
        incidents = frames[m.code]["politie_incidenten"]
        assert incidents["registratienummer"].str.contains(rf"^PL{digits}-20\d{{8}}$").all()
        for source, frame in frames[m.code].items():
            assert frame.columns == list(contracts[source].column_names), source
            for column in contracts[source].columns:
                present = frame.get_column(column.name).drop_nulls()
                if column.pattern is not None:
                    assert present.str.contains(column.pattern).all(), (source, column.name)
                if column.values is not None:
                    assert set(present) <= set(column.values), (source, column.name)


def test_no_person_address_or_incident_is_in_two_municipalities(region, written):
    _, _, frames = written
    residents = {m.code: valid(frames[m.code]["brp"]["burgerservicenummer"]) for m in region}
    addresses = {
        m.code: set(frames[m.code]["buurtindeling"].select("postcode", "huisnummer").rows())
        for m in region
    }
    pc4 = {m.code: {a[0][:4] for a in addresses[m.code]} for m in region}
    incidents = {m.code: set(frames[m.code]["politie_incidenten"]["registratienummer"])
                 for m in region}  # fmt: skip
    for i, a in enumerate(region):
        for b in region[i + 1 :]:
            assert not residents[a.code] & residents[b.code]
            assert not addresses[a.code] & addresses[b.code]
            assert not pc4[a.code] & pc4[b.code]
            assert not incidents[a.code] & incidents[b.code]
    everyone = set().union(*residents.values())
    for m in region:
        for source, column in BSN_COLUMNS.items():
            bsns = valid(frames[m.code][source][column])
            # A register names its own residents, and outsiders who live in no municipality.
            assert not (bsns - residents[m.code]) & everyone, (m.code, source)
        brp = normalised(frames[m.code]["brp"])
        located = brp.join(frames[m.code]["buurtindeling"], on=["postcode", "huisnummer"])
        assert located.height > 0.98 * brp.height


def test_each_municipality_has_the_city_s_defects_and_life(region, written, tmp_path):
    _, _, frames = written
    brp = pl.concat([frames[m.code]["brp"] for m in region])
    assert (~brp["burgerservicenummer"].str.contains(r"^\d{9}$")).sum() > 0
    assert brp["postcode"].str.contains(" ").any()
    largest = max(region, key=lambda m: m.residents)
    later = write_region(tmp_path, region, SEED, dt.date(2025, 2, 1))
    assert len(later) == len(region) * len(SOURCES)
    after = read(tmp_path, region, dt.date(2025, 2, 1))[largest.code]
    before = frames[largest.code]
    old, new = (
        valid(before["brp"]["burgerservicenummer"]),
        valid(after["brp"]["burgerservicenummer"]),
    )
    assert 0.95 < len(old & new) / len(old) < 0.999
    assert before["buurtindeling"].equals(after["buurtindeling"])
    assert write_region(tmp_path, region, SEED, dt.date(2025, 2, 1)) == later
    again = read(tmp_path, region, dt.date(2025, 2, 1))[largest.code]
    assert all(after[source].equals(again[source]) for source in SOURCES)


def test_regios_toml_declares_the_region_or_the_provinces(region):
    text = regios_toml(region, "regio")
    codes = sorted(m.code for m in region)
    assert text == (
        '[regios.RG0001]\nnaam = "Datalab Regio Oost"\n'
        f"gemeenten = [{', '.join(f'{chr(34)}{c}{chr(34)}' for c in codes)}]\n"
    )
    assert tomllib.loads(text) == {
        "regios": {"RG0001": {"naam": "Datalab Regio Oost", "gemeenten": codes}}
    }
    country = municipalities("land", 1_000_000, 1)
    regios = tomllib.loads(regios_toml(country, "land"))["regios"]
    assert list(regios) == [f"PV{n}" for n in range(20, 32)]
    assert regios["PV21"]["naam"] == "Fryslân" and regios["PV25"]["naam"] == "Gelderland"
    members = [g for regio in regios.values() for g in regio["gemeenten"]]
    assert sorted(members) == [m.code for m in country]
    for code, regio in regios.items():
        assert all(m.provincie == code for m in country if m.code in regio["gemeenten"])


def test_the_region_s_outlines_tile_without_overlap(region, tmp_path):
    collection = region_shapes(region, SEED)
    assert collection == region_shapes(region, SEED)
    features = collection["features"]
    gemeenten = [f for f in features if set(f["properties"]) == {"gemeentecode", "gemeentenaam"}]
    assert [f["properties"]["gemeentecode"] for f in gemeenten] == [m.code for m in region]
    assert [f["properties"]["gemeentenaam"] for f in gemeenten] == [m.name for m in region]
    outlines = [shape(f["geometry"]) for f in gemeenten]
    union = shapely.union_all(outlines)
    assert sum(o.area for o in outlines) == pytest.approx(union.area, rel=1e-6)
    for m, place, outline in zip(region, places(region, SEED), outlines, strict=True):
        prefix = f"BU{m.code[2:]}"
        buurten = [shape(f["geometry"]) for f in features
                   if f["properties"].get("buurtcode", "").startswith(prefix)]  # fmt: skip
        wijken = {f["properties"]["wijkcode"] for f in features
                  if "wijkcode" in f["properties"] and "buurtcode" not in f["properties"]
                  and f["properties"]["gemeentecode"] == m.code}  # fmt: skip
        geography = build_geography(SEED * 10_000 + int(m.code[2:]), 1_000, place)
        assert len(buurten) == geography.buurten.height
        assert wijken == set(geography.buurten["wijkcode"])
        assert sum(b.area for b in buurten) == pytest.approx(outline.area, rel=1e-3)
        assert all(outline.buffer(1e-5).contains(b) for b in buurten)
    path = write_region_shapes(tmp_path / "geo" / "wijkenbuurten.geojson", region, SEED)
    areas = read_areas([path])
    assert set(areas.level("gemeente")) == {m.code for m in region}


def test_the_single_city_is_unchanged():
    """The demo city's bytes before regions existed (numpy's and polars' output as of now:
    a dependency that changes its streams changes these too, and then only them)."""
    digests = {
        source: hashlib.sha256(data).hexdigest()
        for source, data in generate_city(600, 11, PEILDATUM).items()
    }
    assert digests == {
        "brp": "8591c6586478dd17a890b392a450a60be33d088f4150e1bd9c55a3cd8b27c262",
        "buurtindeling": "39b0c794498016f9918060603ecc9a4b77f8b2af32b34731d0dc36a52d9456d6",
        "bijstand": "58a2c4991dc7b1fa2b6f85fad48efa95e5e5787e3f5bedd253889f110dcc2cca",
        "wmo": "631e22c1b407d3c45707a8e4749e8b68bb69f9cf41d7049a62f67c6de42a8ee3",
        "huurachterstand": "764f568b08c7da1404ed9cb982a47f7840a2357cc73bc2670589d7100f3687cd",
        "politie_incidenten": "7c76fe35fec9562ce1a0d64704caf301603a2e253d948f5a734ccb4f8ba62628",
    }


def test_the_smallest_towns_deliver_rows_from_every_source(tmp_path):
    # Towns of the generator's minimum size: their corporation would otherwise send an
    # empty file, which the contract quarantines, and their regio's figures would wait.
    towns = municipalities("regio", 12 * MIN_PERSONS, SEED, count=12)
    inbox = tmp_path / "inbox"
    write_region(inbox, towns, SEED, PEILDATUM)
    for m, frames in read(inbox, towns, PEILDATUM).items():
        for source, frame in frames.items():
            assert frame.height > 0, (m, source)
