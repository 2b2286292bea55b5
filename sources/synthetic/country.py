"""Several synthetic municipalities: a datalab's region or the whole country.

Each municipality is a synthetic city of its own, drawn from a seed of its own (the
country's seed and its code), with its own gemeentecode and a number of wijken fit for its
size. What municipalities must not share comes from slices of one space each: a PC4 range
per municipality (province after province, in the order of the real postcode map, from
1xxx in Noord-Holland to 9xxx in Groningen); BSNs from one permutation keyed by the
country's seed, each municipality's people numbered where the previous one's end, so that
no BSN lives in two municipalities and the registers' outsiders live in none; and a police
prefix per municipality for registratienummers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist

import numpy as np

from udc.sources.synthetic._keyed import RESIDENT_INDEX_LIMIT
from udc.sources.synthetic.city import MIN_PERSONS, write_municipality
from udc.sources.synthetic.geography import (
    GEMEENTECODE,
    MAX_WIJKEN,
    PC4_RANGE,
    Place,
)

SCOPES = ("regio", "land")
REGIO_CODE = "RG0001"
REGIO_NAAM = "Datalab Regio Oost"
REGIO_PROVINCIE = "PV25"
REGIO_GEMEENTEN = 8
# CBS province codes and names, with their municipalities and residents (2024).
PROVINCES: dict[str, tuple[str, int, int]] = {
    "PV20": ("Groningen", 10, 596_000),
    "PV21": ("Fryslân", 18, 659_000),
    "PV22": ("Drenthe", 12, 499_000),
    "PV23": ("Overijssel", 25, 1_184_000),
    "PV24": ("Flevoland", 6, 447_000),
    "PV25": ("Gelderland", 51, 2_133_000),
    "PV26": ("Utrecht", 26, 1_387_000),
    "PV27": ("Noord-Holland", 44, 2_953_000),
    "PV28": ("Zuid-Holland", 50, 3_834_000),
    "PV29": ("Zeeland", 13, 391_000),
    "PV30": ("Noord-Brabant", 56, 2_626_000),
    "PV31": ("Limburg", 31, 1_118_000),
}
LAND_GEMEENTEN = sum(count for _, count, _ in PROVINCES.values())
# The provinces in the order of their postcodes, so that PC4s look like the real map's.
POSTCODE_ORDER = ("PV27", "PV28", "PV26", "PV29", "PV30", "PV31",
                  "PV25", "PV23", "PV24", "PV21", "PV22", "PV20")  # fmt: skip
MAX_GEMEENTEN = 1_000

# Municipality sizes by rank follow a log-normal (the real country: median about 30,000,
# smallest about 1,000) with a heavier upper tail (the largest about 930,000 of 18 million);
# a region's municipalities are closer in size: a centre city and the towns around it.
_SPREAD = {"regio": 0.75, "land": 1.0}
_UPPER_TAIL = 0.55
_SIZE_NOISE = 0.12
# About one wijk per 7,500 residents; the PC4s a municipality may need: one per wijk and
# one more per 15,000 residents (a full PC4 holds more than 25,000), with room to spare.
_RESIDENTS_PER_WIJK = 7_500
_RESIDENTS_PER_PC4 = 15_000
# The demo city's gemeentecode, and the one its police prefix (PL0900) would clash with.
_RESERVED_CODES = frozenset({int(GEMEENTECODE), 900})

_NAME_STEMS = (
    "Aal", "Achter", "Alde", "Amer", "Apel", "Arke", "Baar", "Barne", "Beek", "Bever",
    "Bloem", "Bos", "Brede", "Broek", "Bunne", "Dal", "Diepen", "Does", "Drie", "Duiven",
    "Eem", "Eers", "Elster", "Esse", "Gaster", "Geld", "Goor", "Haar", "Hals", "Harder",
    "Heer", "Helle", "Hengel", "Hil", "Hoog", "Hout", "Kamer", "Klaas", "Kroon", "Laar",
    "Lange", "Leer", "Lich", "Linde", "Loch", "Maar", "Malden", "Meppe", "Midden", "Molen",
    "Nij", "Olde", "Ommer", "Oster", "Putte", "Ree", "Rijs", "Roosen", "Schoon", "Sleen",
    "Steen", "Ter", "Til", "Uit", "Valken", "Veen", "Vier", "Vlie", "Voor", "Waal", "Warn",
    "Weer", "Wester", "Wier", "Winter", "Woud", "Zand", "Zee", "Zuider", "Zwaan",
)  # fmt: skip
_NAME_SUFFIXES = (
    "dam", "dijk", "horst", "veen", "wijk", "hem", "loo", "broek", "huizen", "hoven",
    "kerk", "stad", "burg", "ingen", "um", "woude", "rade", "zande", "drecht", "meer",
    "berg", "sum", "werd", "beek", "donk", "rode", "oord", "wolde", "haven", "mond", "lo",
    "sel", "schot", "voorde", "hout",
)  # fmt: skip
_NAME_PREFIXES = ("Nieuw-", "Oud-", "Groot-", "Sint-", "Oost-", "West-", "Noord-", "Zuid-")
_NAME_TAILS = (" aan Zee", " aan de Maas", " aan den IJssel", " aan de Rijn",
               " aan de Vecht", " aan de Lek", " aan de Amstel")  # fmt: skip


@dataclass(frozen=True)
class Municipality:
    code: str  # "GM0200"
    name: str
    residents: int
    provincie: str  # "PV25"


def municipalities(
    scope: str, residents: int, seed: int, count: int | None = None
) -> list[Municipality]:
    """The municipalities of a region (``regio``: ``count`` of them, default 8, in
    Gelderland) or of the country (``land``: default 342 in the 12 provinces), ordered by
    code. Their residents add up to ``residents`` exactly, each at least the generator's
    minimum; the same arguments give the same list."""
    if scope not in SCOPES:
        raise ValueError(f"the scope is one of {', '.join(SCOPES)}, not {scope!r}")
    count = count if count is not None else (REGIO_GEMEENTEN if scope == "regio" else
                                             LAND_GEMEENTEN)  # fmt: skip
    if scope == "land" and count < len(PROVINCES):
        raise ValueError(f"the country needs at least {len(PROVINCES)} municipalities")
    if not 1 <= count <= MAX_GEMEENTEN:
        raise ValueError(f"between 1 and {MAX_GEMEENTEN} municipalities")
    if residents < count * MIN_PERSONS:
        raise ValueError(
            f"{count} municipalities need at least {count * MIN_PERSONS:,} residents "
            f"({MIN_PERSONS} each)"
        )
    rng = np.random.default_rng([seed, 61, count])
    sizes = _sizes(rng, count, residents, _SPREAD[scope])
    if scope == "regio":
        provinces = [REGIO_PROVINCIE] * count
    else:
        provinces = _provinces_of(rng, sizes, residents)
    codes = rng.choice(
        [c for c in range(1, 2000) if c not in _RESERVED_CODES], size=count, replace=False
    )
    names = _names(rng, count)
    found = [
        Municipality(f"GM{code:04d}", name, int(size), provincie)
        for code, name, size, provincie in zip(codes, names, sizes, provinces, strict=True)
    ]
    return sorted(found, key=lambda m: m.code)


def _sizes(rng: np.random.Generator, count: int, residents: int, spread: float) -> np.ndarray:
    """Residents per municipality, largest first, adding up to ``residents``."""
    normal = NormalDist()
    z = np.array([normal.inv_cdf(1 - (rank + 0.5) / count) for rank in range(count)])
    log_size = spread * z + _UPPER_TAIL * np.maximum(z - 2, 0) + rng.normal(0, _SIZE_NOISE, count)
    return np.sort(_apportion(np.exp(log_size), residents, MIN_PERSONS))[::-1]


def _apportion(weights: np.ndarray, total: int, minimum: int) -> np.ndarray:
    """Integers proportional to ``weights``, each at least ``minimum``, adding up to
    ``total`` (largest remainders); assumes ``total >= minimum * weights.size``."""
    free = np.ones(weights.size, dtype=bool)
    while True:
        budget = total - minimum * int((~free).sum())
        share = np.where(free, weights * budget / weights[free].sum(), float(minimum))
        low = free & (share < minimum)
        # The largest weight's share is at least the mean (up to rounding): it stays free.
        low[np.argmax(np.where(free, weights, -np.inf))] = False
        if not low.any():
            break
        free &= ~low
    whole = np.floor(share).astype(np.int64)
    order = np.argsort(whole - share, kind="stable")
    whole[order[: total - int(whole.sum())]] += 1
    return whole


def _provinces_of(rng: np.random.Generator, sizes: np.ndarray, residents: int) -> list[str]:
    """A province per municipality (``sizes`` largest first): as many per province as the
    real country has, scaled to ``sizes.size``, and residents per province near the real
    shares, by giving each municipality to the province furthest below its share."""
    codes = list(PROVINCES)
    real_counts = np.array([PROVINCES[c][1] for c in codes], dtype=float)
    slots = _apportion(real_counts, sizes.size, 1)
    shares = np.array([PROVINCES[c][2] for c in codes], dtype=float)
    shares *= np.exp(rng.normal(0, 0.1, len(codes)))
    deficit = shares / shares.sum() * residents
    found = []
    for size in sizes:
        open_deficit = np.where(slots > 0, deficit, -np.inf)
        province = int(np.argmax(open_deficit))
        found.append(codes[province])
        slots[province] -= 1
        deficit[province] -= size
    return found


def _names(rng: np.random.Generator, count: int) -> list[str]:
    """Dutch-looking place names, all different."""
    found: dict[str, None] = {}
    while len(found) < count:
        stem = _NAME_STEMS[rng.integers(len(_NAME_STEMS))]
        suffix = _NAME_SUFFIXES[rng.integers(len(_NAME_SUFFIXES))]
        u = rng.random()
        # Two vowels across the seam read badly (Vlie-ingen), so do Oost-Wester and the like.
        if stem[-1] in "aeiou" and suffix[0] in "aeiou":
            continue
        name = stem + suffix
        if u < 0.08 and not name.startswith(("Oster", "Wester", "Zuider", "Midden")):
            name = _NAME_PREFIXES[rng.integers(len(_NAME_PREFIXES))] + name
        elif u < 0.13:
            name += _NAME_TAILS[rng.integers(len(_NAME_TAILS))]
        found.setdefault(name)
    return list(found)


def map_order(municipality: Municipality) -> tuple[int, str]:
    """Province by province as the postcodes run, then by code."""
    provincie = municipality.provincie
    rank = POSTCODE_ORDER.index(provincie) if provincie in POSTCODE_ORDER else len(POSTCODE_ORDER)
    return rank, municipality.code


def wijken_for(residents: int) -> int:
    return int(np.clip(round(residents / _RESIDENTS_PER_WIJK), 1, MAX_WIJKEN))


def city_seed(seed: int, code: str) -> int:
    """A municipality's own seed: the same whichever others are generated with it."""
    if seed < 0:
        raise ValueError("the seed must not be negative")
    return seed * 10_000 + int(code.removeprefix("GM"))


def places(gemeenten: Sequence[Municipality], seed: int) -> list[Place]:
    """Per municipality (in the order given): its codes, wijken and slice of the PC4s, the
    slices sized by residents and the spare PC4s spread over all; the BSN numbering starts
    at 0 for each (``write_region`` sets where each one's people begin)."""
    codes = [m.code for m in gemeenten]
    if len(set(codes)) != len(codes):
        raise ValueError("every municipality needs a code of its own")
    for m in gemeenten:
        if len(m.code) != 6 or not m.code.startswith("GM") or not m.code[2:].isdigit():
            raise ValueError(f"a gemeentecode is GM and four digits, not {m.code!r}")
        if m.code == f"GM{GEMEENTECODE}":
            raise ValueError(f"GM{GEMEENTECODE} is the demo city's code")
    need = [wijken_for(m.residents) + math.ceil(m.residents / _RESIDENTS_PER_PC4) + 1
            for m in gemeenten]  # fmt: skip
    if sum(need) > len(PC4_RANGE):
        raise ValueError(
            f"{len(gemeenten)} municipalities of {sum(m.residents for m in gemeenten):,} "
            f"residents need {sum(need):,} PC4s; there are {len(PC4_RANGE):,}"
        )
    spare = len(PC4_RANGE) - sum(need)
    found: list[Place | None] = [None] * len(gemeenten)
    start = PC4_RANGE.start
    for index in sorted(range(len(gemeenten)), key=lambda i: map_order(gemeenten[i])):
        size = need[index] + spare * need[index] // sum(need)
        municipality = gemeenten[index]
        found[index] = Place(
            gemeentecode=municipality.code[2:],
            wijken=wijken_for(municipality.residents),
            pc4=range(start, start + size),
            bsn_seed=seed,
        )
        start += size
    return [place for place in found if place is not None]


def write_region(
    inbox: Path,
    gemeenten: Sequence[Municipality],
    seed: int,
    peildatum: dt.date,
    *,
    progress: Callable[[Municipality, list[Path]], None] | None = None,
) -> list[Path]:
    """Write ``inbox/<source>/<source>_<GMcode>_<YYYYMMDD>.csv`` for every municipality and
    source, municipality by municipality (memory of the largest one alone). Postcodes and
    BSNs depend on the whole sequence: generate a region with the same list every time.
    ``progress`` hears of each municipality written."""
    paths: list[Path] = []
    next_identity = 0
    for municipality, place in zip(gemeenten, places(gemeenten, seed), strict=True):
        if next_identity >= RESIDENT_INDEX_LIMIT:
            raise ValueError("the synthetic BSN range holds about 19 million residents")
        written, next_identity = write_municipality(
            inbox,
            municipality.residents,
            city_seed(seed, municipality.code),
            peildatum,
            replace(place, first_identity=next_identity),
        )
        paths += written
        if progress is not None:
            progress(municipality, written)
    return paths


def regios_toml(gemeenten: Sequence[Municipality], scope: str) -> str:
    """The udc.toml tables declaring the level above gemeente: for a region one regio of
    all its members, for the country one per province."""
    if scope == "regio":
        groups = [(REGIO_CODE, REGIO_NAAM, [m.code for m in gemeenten])]
    elif scope == "land":
        groups = [
            (code, naam, [m.code for m in gemeenten if m.provincie == code])
            for code, (naam, _, _) in PROVINCES.items()
        ]
    else:
        raise ValueError(f"regios are declared for the scopes {', '.join(SCOPES)}")
    tables = []
    for code, naam, members in groups:
        if members:
            listed = ", ".join(json.dumps(m) for m in sorted(members))
            naam_text = json.dumps(naam, ensure_ascii=False)
            tables.append(f"[regios.{code}]\nnaam = {naam_text}\ngemeenten = [{listed}]\n")
    return "\n".join(tables)
