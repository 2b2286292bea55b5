"""Generate the six demo deliveries of a synthetic city on a peildatum."""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from udc.sources.synthetic import defects
from udc.sources.synthetic._keyed import Keyed, day_number
from udc.sources.synthetic.geography import Geography, build_geography
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


@lru_cache(maxsize=2)
def _history(seed: int, persons: int) -> tuple[Geography, Tenancies]:
    """Everything that does not depend on the peildatum (read-only arrays)."""
    geography = build_geography(seed, persons)
    return geography, build_tenancies(seed, persons, geography)


def _with_defects(source: str, frame: pl.DataFrame, seed: int, day: int) -> pl.DataFrame:
    rates = DEFECT_RATES[source]
    rng = np.random.default_rng([seed, day, SOURCES.index(source), 77])
    bsn_column = _BSN_COLUMNS.get(source)
    if "outsiders" in rates:
        frame = defects.outsiders(frame, bsn_column, rates["outsiders"], seed, rng)
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


def generate_frames(persons: int, seed: int, peildatum: dt.date) -> dict[str, pl.DataFrame]:
    """The six deliveries as all-text frames (with defects), by source id."""
    if persons < MIN_PERSONS:
        raise ValueError(f"a synthetic city needs at least {MIN_PERSONS} persons")
    if not WINDOW_START <= peildatum <= WINDOW_END:
        raise ValueError(f"the peildatum must lie between {WINDOW_START} and {WINDOW_END}")
    geography, tenancies = _history(seed, persons)
    keyed = Keyed(seed)
    day = day_number(peildatum)
    households = households_on(keyed, tenancies, geography, day)
    residents = residents_of(seed, households, tenancies.first_identity, day)
    frames = {
        "brp": brp_frame(keyed, geography, households, residents, day),
        "buurtindeling": buurtindeling_frame(geography),
        "bijstand": bijstand_frame(keyed, geography, households, residents, day),
        "wmo": wmo_frame(keyed, residents, day),
        "huurachterstand": huurachterstand_frame(keyed, geography, households, residents, day),
        "politie_incidenten": politie_frame(seed, keyed, geography, day),
    }
    return {source: _with_defects(source, frame, seed, day) for source, frame in frames.items()}


def generate_city(persons: int, seed: int, peildatum: dt.date) -> dict[str, bytes]:
    """CSV bytes per source id of a city of about ``persons`` residents on ``peildatum``.

    The same arguments give the same bytes. The same seed and persons on another peildatum
    give the same city later or earlier: the same people, moved, born, died, with benefits
    and provisions started and ended.
    """
    return {
        source: _csv(frame) for source, frame in generate_frames(persons, seed, peildatum).items()
    }


def write_deliveries(inbox: Path, persons: int, seed: int, peildatum: dt.date) -> list[Path]:
    """Write ``inbox/<source>/<source>_<YYYYMMDD>.csv`` for the six sources."""
    paths = []
    for source, data in generate_city(persons, seed, peildatum).items():
        folder = Path(inbox) / source
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{source}_{peildatum:%Y%m%d}.csv"
        path.write_bytes(data)
        paths.append(path)
    return paths
