"""A small published release to build dashboards from: bevolking_buurt over four buurten
in two wijken, counted and protected by udc's own mart code, published at two peildatums;
and outlines for its buurten."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from udc.marts.build import MartCounts, count_mart
from udc.marts.definitions import load_definitions
from udc.marts.design import designs_of
from udc.marts.publish import MartStore
from udc.marts.release import protect_marts

PEILDATUMS = (date(2026, 11, 1), date(2026, 12, 1))
# Residents per buurt, by (birth year, sex): Vijver is small, so most of its cells hide.
BUURTEN = {
    "BU99990101": ("Haven", "WK999901", [(1990, "V")] * 14 + [(1950, "M")] * 12
                   + [(2015, "V")] * 11),
    "BU99990102": ("Vijver", "WK999901", [(1990, "M")] * 3 + [(1960, "V")] * 2),
    "BU99990201": ("Kerkbuurt", "WK999902", [(1985, "V")] * 20 + [(2012, "M")] * 13),
    "BU99990202": ("Molenwijk", "WK999902", [(1940, "V")] * 16 + [(1995, "M")] * 15
                   + [(1970, "V")] * 4),
}  # fmt: skip


def lake(extra_in_haven: int = 0) -> dict[str, pl.DataFrame]:
    """``extra_in_haven`` residents of 1990 move into Haven (a later peildatum's change)."""
    rows, addresses = [], []
    for number, (code, (name, wijk, residents)) in enumerate(BUURTEN.items()):
        postcode = f"10{number:02d}AA"
        addresses.append((postcode, 1, code, name, wijk, "Wijk " + wijk[-1], "GM9999"))
        extra = [(1990, "V")] * extra_in_haven if name == "Haven" else []
        for i, (year, sex) in enumerate(residents + extra):
            rows.append((f"p{code}{i:03d}", f"{year}0601", sex, postcode, 1))
    brp = pl.DataFrame(
        rows, orient="row",
        schema=["pseudonym", "geboortedatum", "geslachtsaanduiding", "postcode", "huisnummer"],
    )  # fmt: skip
    buurtindeling = pl.DataFrame(
        addresses, orient="row",
        schema=["postcode", "huisnummer", "buurtcode", "buurtnaam", "wijkcode", "wijknaam",
                "gemeentecode"],
    )  # fmt: skip
    # Every third resident of a buurt is on bijstand, in one of two leefvormen.
    on_bijstand = brp.filter(pl.int_range(pl.len()).over("postcode") % 3 == 0)
    bijstand = on_bijstand.select(
        "pseudonym",
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("alleenstaand"))
        .otherwise(pl.lit("gehuwd_samenwonend")).alias("leefvorm"),
        pl.lit(date(2024, 1, 1)).alias("ingangsdatum"),
        pl.lit(None, dtype=pl.Date).alias("einddatum"),
    )  # fmt: skip
    return {"brp": brp, "buurtindeling": buurtindeling, "bijstand": bijstand}


@dataclass(frozen=True)
class Published:
    store: MartStore
    counts: dict[str, MartCounts]  # per mart, the unprotected counts of its current release


def publish(root: Path) -> Published:
    definition = load_definitions()["bevolking_buurt"]
    store = MartStore(root)
    first = None
    # The second peildatum is published twice (first with the first one's cells): the trend
    # shows the later one. Protection takes seconds here, so the table is protected twice.
    for peildatum, extra in ((PEILDATUMS[0], 0), (PEILDATUMS[1], 0), (PEILDATUMS[1], 9)):
        if first is None or extra:
            tables = lake(extra)
            counts = count_mart(definition, {s: tables[s] for s in definition.inputs}, peildatum)
            (built,), _ = protect_marts([counts])
            first = first or built
        metadata = built.publication_metadata([f"brp-{peildatum:%Y%m%d}"], "0123456789abcdef")
        store.publish(definition.name, built.frame, metadata | {"peildatum": peildatum})
    # A second mart with two measures and a derived share: bijstand per buurt and leefvorm.
    (bijstand,) = [
        d for d in designs_of(load_definitions()["bijstand_buurt"])
        if d.design is not None and d.design.name == "buurt_zonder_leeftijd"
    ]  # fmt: skip
    tables = lake(9)
    bijstand_counts = count_mart(bijstand, {s: tables[s] for s in bijstand.inputs}, PEILDATUMS[1])
    (built,), _ = protect_marts([bijstand_counts])
    store.publish(
        bijstand.name,
        built.frame,
        built.publication_metadata(["brp-20261201", "bijstand-20261201"], "0123456789abcdef"),
    )
    return Published(store, {definition.name: counts, bijstand.name: bijstand_counts})


@pytest.fixture(scope="session")
def published(tmp_path_factory) -> Published:
    """Read-only: tests build sites from it but never publish into it."""
    return publish(tmp_path_factory.mktemp("published") / "marts")


@pytest.fixture(scope="session")
def buurt_outlines(tmp_path_factory) -> Path:
    """A 2 x 2 block of square buurten near Deventer, in WGS84, keyed like the CBS map."""
    path = tmp_path_factory.mktemp("outlines") / "buurten.geojson"
    features = []
    for i, (code, (name, wijk, _)) in enumerate(BUURTEN.items()):
        x, y = 6.15 + 0.01 * (i % 2), 52.25 + 0.01 * (i // 2)
        ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"buurtcode": code, "buurtnaam": name, "wijkcode": wijk,
                                        "gemeentecode": "GM9999"}})  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path
