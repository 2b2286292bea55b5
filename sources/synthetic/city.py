"""Generate the six demo deliveries of a synthetic city on a peildatum."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from udc.sources.synthetic import defects
from udc.sources.synthetic._keyed import Keyed, day_number
from udc.sources.synthetic.geography import DEMO_CITY, Geography, Place, build_geography
from udc.sources.synthetic.population import (
    WINDOW_END,
    WINDOW_START,
    Tenancies,
    build_tenancies,
    households_on,
)
from udc.sources.synthetic.registers import (
    bijstand_frame,
    huurachterstand_frame,
    politie_frame,
    wmo_frame,
)
from udc.sources.synthetic.residents import (
    brp_frame,
    buurtindeling_frame,
    residents_of,
)

SOURCES = ("brp", "buurtindeling", "bijstand", "wmo", "huurachterstand", "politie_incidenten")
MIN_PERSONS = 500
_BSN_COLUMNS = {
    "brp": "burgerservicenummer",
    "bijstand": "bsn",
    "wmo": "bsn",
    "huurachterstand": "bsn_hoofdhuurder",
}
# Share of rows damaged per source and kind of defect; the rows a validation rejects (BSN,
# duplicates, date order) stay near 1% of a delivery, far below the 5% quarantine threshold.
_BSN_DEFECTS = {"lost_leading_zero": 0.0015, "wrong_check_digit": 0.003}
_ADDRESS_DEFECTS = {"spaced_postcode": 0.003, "unknown_postcode": 0.002}
DEFECT_RATES: dict[str, dict[str, float]] = {
    "brp": {**_BSN_DEFECTS, "wrong_check_digit": 0.002, **_ADDRESS_DEFECTS, "duplicated": 0.001},
    "buurtindeling": {},
    "bijstand": {**_BSN_DEFECTS, "outsiders": 0.004, "end_before_start": 0.003},
    "wmo": {**_BSN_DEFECTS, "outsiders": 0.004, "end_before_start": 0.003},
    "huurachterstand": {**_BSN_DEFECTS, "outsiders": 0.004, **_ADDRESS_DEFECTS},
    "politie_incidenten": {**_ADDRESS_DEFECTS, "duplicated": 0.002},
}


def build_history(seed: int, persons: int, place: Place = DEMO_CITY) -> tuple[Geography, Tenancies]:
    """Everything that does not depend on the peildatum (read-only arrays)."""
    geography = build_geography(seed, persons, place)
    return geography, build_tenancies(seed, persons, geography)


_history = lru_cache(maxsize=2)(build_history)


def _with_defects(
    source: str, frame: pl.DataFrame, seed: int, day: int, bsn_seed: int
) -> pl.DataFrame:
    rates = DEFECT_RATES[source]
    rng = np.random.default_rng([seed, day, SOURCES.index(source), 77])
    bsn_column = _BSN_COLUMNS.get(source)
    if "outsiders" in rates:
        frame = defects.outsiders(frame, bsn_column, rates["outsiders"], bsn_seed, rng)
    if "end_before_start" in rates:
        rows = defects.pick(rng, frame.height, rates["end_before_start"])
        frame = defects.end_before_start(frame, rows, rng)
    if bsn_column is not None:
        frame = defects.lost_leading_zero(frame, bsn_column, rates["lost_leading_zero"], seed)
        frame = defects.wrong_check_digit(frame, bsn_column, rates["wrong_check_digit"], seed)
    if "spaced_postcode" in rates:
        rows = defects.pick(rng, frame.height, rates["spaced_postcode"])
        frame = defects.spaced_postcode(frame, rows)
        rows = defects.pick(rng, frame.height, rates["unknown_postcode"])
        frame = defects.unknown_postcode(frame, rows, rng)
    if "duplicated" in rates:
        frame = defects.duplicated(frame, defects.pick(rng, frame.height, rates["duplicated"]))
    return frame


def _csv(frame: pl.DataFrame) -> bytes:
    # polars quotes empty strings (""); an absent value is written as nothing.
    frame = frame.with_columns(pl.col(pl.String).replace("", None))
    buffer = io.BytesIO()
    frame.write_csv(
        buffer, separator=";", line_terminator="\n", quote_style="necessary", null_value=""
    )
    return buffer.getvalue()


def _check(persons: int, peildatum: dt.date) -> None:
    if persons < MIN_PERSONS:
        raise ValueError(f"a synthetic city needs at least {MIN_PERSONS} persons")
    if not WINDOW_START <= peildatum <= WINDOW_END:
        raise ValueError(f"the peildatum must lie between {WINDOW_START} and {WINDOW_END}")


def snapshot(
    history: tuple[Geography, Tenancies], seed: int, peildatum: dt.date
) -> Iterator[tuple[str, pl.DataFrame]]:
    """The six deliveries of a city's history on ``peildatum``, one at a time, so that a
    writer holds one delivery at once (each draws its own randomness: the order is free)."""
    geography, tenancies = history
    place = geography.place
    # Outsiders' BSNs lie past every resident's in the permutation all municipalities share.
    bsn_seed = seed if place.bsn_seed is None else place.bsn_seed
    keyed = Keyed(seed)
    day = day_number(peildatum)
    households = households_on(keyed, tenancies, geography, day)
    residents = residents_of(bsn_seed, households, tenancies.first_identity, day)
    makers: dict[str, Callable[[], pl.DataFrame]] = {
        "brp": lambda: brp_frame(keyed, geography, households, residents, day),
        "buurtindeling": lambda: buurtindeling_frame(geography),
        "bijstand": lambda: bijstand_frame(keyed, geography, households, residents, day),
        "wmo": lambda: wmo_frame(keyed, residents, day),
        "huurachterstand": lambda: huurachterstand_frame(
            keyed, geography, households, residents, day
        ),
        "politie_incidenten": lambda: politie_frame(seed, keyed, geography, day),
    }
    for source, make in makers.items():
        yield source, _with_defects(source, make(), seed, day, bsn_seed)


def generate_frames(
    persons: int, seed: int, peildatum: dt.date, place: Place = DEMO_CITY
) -> dict[str, pl.DataFrame]:
    """The six deliveries as all-text frames (with defects), by source id."""
    _check(persons, peildatum)
    return dict(snapshot(_history(seed, persons, place), seed, peildatum))


def generate_city(
    persons: int, seed: int, peildatum: dt.date, place: Place = DEMO_CITY
) -> dict[str, bytes]:
    """CSV bytes per source id of a city of about ``persons`` residents on ``peildatum``.

    The same arguments give the same bytes. The same seed and persons on another peildatum
    give the same city later or earlier: the same people, moved, born, died, with benefits
    and provisions started and ended.
    """
    return {
        source: _csv(frame)
        for source, frame in generate_frames(persons, seed, peildatum, place).items()
    }


def delivery_path(
    inbox: Path, source: str, peildatum: dt.date, gemeentecode: str | None = None
) -> Path:
    """``inbox/<source>/<source>_<YYYYMMDD>.csv``, or with ``_GM<code>`` before the date
    for a municipality of a region (``gemeentecode`` as ``GM0200``)."""
    gemeente = f"_{gemeentecode}" if gemeentecode else ""
    return Path(inbox) / source / f"{source}{gemeente}_{peildatum:%Y%m%d}.csv"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_deliveries(inbox: Path, persons: int, seed: int, peildatum: dt.date) -> list[Path]:
    """Write ``inbox/<source>/<source>_<YYYYMMDD>.csv`` for the six sources."""
    return [
        _write(delivery_path(inbox, source, peildatum), data)
        for source, data in generate_city(persons, seed, peildatum).items()
    ]


def write_municipality(
    inbox: Path, persons: int, seed: int, peildatum: dt.date, place: Place
) -> tuple[list[Path], int]:
    """Write a municipality's six deliveries (file names with its gemeentecode), one at a
    time and without caching its history, so that a country is written in the memory of its
    largest municipality; returns the paths and the BSN index where the next one begins."""
    _check(persons, peildatum)
    history = build_history(seed, persons, place)
    code = f"GM{place.gemeentecode}"
    paths = [
        _write(delivery_path(inbox, source, peildatum, code), _csv(frame))
        for source, frame in snapshot(history, seed, peildatum)
    ]
    return paths, history[1].end_identity
