"""The fixed geography of the synthetic city: wijken, buurten, postcodes and dwellings.

Wijken and buurten (codes, names, character) depend on the seed alone, so cities of any size
drawn from one seed share their neighbourhoods; the number of addresses scales with the
number of residents.

A municipality of a region or of the country (a ``Place`` other than the demo city) has its
own gemeentecode, a number of wijken fit for its size (then wijken and buurten depend on the
seed and that number), and a slice of the PC4 range shared by all municipalities: a PC4 per
wijk, as the real map roughly has, instead of the demo city's PC4 per buurt.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import polars as pl

from udc.sources.synthetic._keyed import RESIDENT_INDEX_LIMIT

GEMEENTECODE = "9999"
WIJKEN = 12
# A municipality's wijken: 2 to 9 buurten each (CBS averages about four), at most 99 wijken
# (two digits in the wijkcode). Below this many wijken a municipality is a town: its centre
# wijk is a core with ordinary streets around it, and it has no student buurten.
_REGIONAL_BUURTEN = (2, 10)
MAX_WIJKEN = 99
_URBAN_WIJKEN = 6

# Buurt types (centre, students, family suburb, mixed, elderly, deprived, industrial estate
# with a few homes); every per-type parameter table is indexed by these.
CENTRUM, STUDENT, GEZIN, GEMENGD, VERGRIJSD, ACHTERSTAND, BEDRIJVEN = range(7)
_RESIDENTIAL = np.array([GEZIN, GEMENGD, VERGRIJSD, ACHTERSTAND])
_WIJK_CHARACTERS = (GEZIN, GEMENGD, ACHTERSTAND, VERGRIJSD, GEZIN, GEMENGD, ACHTERSTAND,
                    STUDENT, GEZIN, VERGRIJSD, GEMENGD)  # fmt: skip
_TINY_BUURTEN = 4

# Residents per dwelling, measured on generated cities (households, vacancy, deaths), so that
# the population on a peildatum comes out close to the requested number of persons.
PERSONS_PER_DWELLING = np.array([1.74, 1.82, 2.46, 2.06, 1.64, 2.05, 1.92])
# Share of house numbers that hold several dwellings (flats, upstairs apartments).
_MULTI_UNIT = np.array([0.35, 0.40, 0.04, 0.20, 0.25, 0.30, 0.10])
# Share of dwellings owned by a housing corporation (only their tenants appear in arrears).
_CORPORATION = np.array([0.25, 0.50, 0.15, 0.35, 0.30, 0.70, 0.20])
_SIZE_FACTOR = np.array([0.9, 0.8, 1.2, 1.1, 0.9, 1.2, 1.0])
_DEPRIVATION = np.array(
    [[0.15, 0.40], [0.03, 0.15], [0.0, 0.10], [0.15, 0.45], [0.02, 0.18], [0.55, 1.0], [0.2, 0.5]]
)

_WIJK_NAMES = (
    "Noord", "Oost", "Zuid", "West", "Noordwest", "Zuidoost", "Havenkwartier", "Spoorzone",
    "Rivierenwijk", "Vogelwijk", "Bomenwijk", "Polderwijk", "Molenwijk", "Kanaalzone",
    "Nieuw-West", "Buitenveld", "Beekdal", "Dijkzicht", "Waterrijk", "Heuvelrug",
)  # fmt: skip
_BUURT_STEMS = (
    "Linden", "Eiken", "Beuken", "Molen", "Kerk", "Haven", "Vogel", "Bloemen", "Dijk",
    "Sluis", "Kastanje", "Wilgen", "Populieren", "Vaart", "Brug", "Schans", "Burcht", "Zonne",
    "Roozen", "Tulpen", "Zwanen", "Reiger", "Merel", "Lijster", "Esch", "Heide", "Berken",
    "Iepen", "Kamper", "Hooge", "Lage", "Ooster", "Wester", "Zuider", "Noorder", "Stations",
    "Spoor", "Rijn", "Maas", "Graaf", "Ridder", "Klooster", "Abdij", "Vlas", "Koren",
)  # fmt: skip
_BUURT_SUFFIXES = (
    "hof", "buurt", "kwartier", "park", "weide", "veld", "laan", "kamp", "dreef", "horst",
    "polder", "rade", "hoeve", "oord", "akker", "hage",
)  # fmt: skip
_BUURT_SINGLE_NAMES = (
    "De Horst", "Het Zand", "De Akkers", "Oude Haven", "Het Kasteel", "De Vlinder",
    "Het Hoogland", "De Gaarden", "Binnenstad", "Oude Markt", "De Wetering", "Het Ven",
)  # fmt: skip

# Enough wijk names for a city of MAX_WIJKEN wijken.
_MORE_WIJK_NAMES = tuple(
    dict.fromkeys(
        (*_WIJK_NAMES, *(f"{stem}wijk" for stem in _BUURT_STEMS),
         *(f"{stem}kwartier" for stem in _BUURT_STEMS))
    )
)  # fmt: skip

# PostNL leaves these letter pairs out of postcodes.
_SKIPPED_PAIRS = frozenset({"SA", "SD", "SS"})
LETTER_PAIRS = tuple(
    a + b
    for a in string.ascii_uppercase
    for b in string.ascii_uppercase
    if a + b not in _SKIPPED_PAIRS
)
_PAIRS_PER_PC4 = 400
_PAIR_OFFSET_MAX = 100
# Pairs above every assigned one: postcodes that exist nowhere in the buurtindeling.
UNUSED_PAIRS = LETTER_PAIRS[-3:]
# Dwellings hold indices into these (the empty string: no letter, no addition).
HUISLETTERS = ("", *"ABCDEFGH")
TOEVOEGINGEN = ("", *(str(n) for n in range(1, 10)), "H")


PC4_RANGE = range(1000, 10000)


@dataclass(frozen=True)
class Place:
    """Where a synthetic city lies among others. The default is the demo city, whose codes,
    postcodes and BSNs stay as they always were; a municipality of a region gets its own
    codes and slices of the number spaces that municipalities must not share: PC4s, and
    the BSN index range (its people are numbered from ``first_identity``, all municipalities
    sharing one BSN permutation keyed by ``bsn_seed``)."""

    gemeentecode: str = GEMEENTECODE  # four digits, as the BRP writes it
    wijken: int = WIJKEN
    pc4: range | None = None  # None: the demo city's own scheme
    bsn_seed: int | None = None  # None: the city's seed
    first_identity: int = 0

    def __post_init__(self) -> None:
        if len(self.gemeentecode) != 4 or not self.gemeentecode.isdigit():
            raise ValueError(f"a gemeentecode is four digits, not {self.gemeentecode!r}")
        if self.regional and not (
            1 <= self.wijken <= MAX_WIJKEN
            and self.pc4.start >= PC4_RANGE.start
            and self.pc4.stop <= PC4_RANGE.stop
        ):
            raise ValueError("a municipality has 1 to 99 wijken and PC4s in 1000..9999")
        if not 0 <= self.first_identity < RESIDENT_INDEX_LIMIT:
            raise ValueError("the first identity lies outside the synthetic BSN range")

    @property
    def regional(self) -> bool:
        return self.pc4 is not None

    @property
    def registratie_prefix(self) -> str:
        """The police's prefix of registratienummers: one sequence per municipality, so that
        no two municipalities share a record key."""
        return f"PL{self.gemeentecode}" if self.regional else "PL0900"


DEMO_CITY = Place()


@dataclass(frozen=True)
class Geography:
    """Buurten (one row each) and the dwellings of the city (numpy arrays, one entry each)."""

    buurten: pl.DataFrame
    buurt_type: np.ndarray
    deprivation: np.ndarray
    hotspot: np.ndarray
    expected_residents: np.ndarray
    # One entry per house number (the buurtindeling key).
    address_postcode: np.ndarray
    address_huisnummer: np.ndarray
    address_buurt: np.ndarray
    # One entry per dwelling.
    dwelling_address: np.ndarray
    dwelling_huisletter: np.ndarray  # index into HUISLETTERS
    dwelling_toevoeging: np.ndarray  # index into TOEVOEGINGEN
    dwelling_corporation: np.ndarray
    dwelling_rent: np.ndarray
    place: Place = DEMO_CITY

    @property
    def gemeentecode(self) -> str:
        return self.place.gemeentecode

    @property
    def dwelling_buurt(self) -> np.ndarray:
        return self.address_buurt[self.dwelling_address]

    @property
    def dwelling_type(self) -> np.ndarray:
        return self.buurt_type[self.dwelling_buurt]


def _buurten_per_wijk(rng: np.random.Generator) -> np.ndarray:
    while True:
        counts = rng.integers(5, 13, size=WIJKEN)
        if 95 <= counts.sum() <= 105:
            return counts


def _buurt_names(rng: np.random.Generator, n: int) -> list[str]:
    composed = [stem + suffix for stem in _BUURT_STEMS for suffix in _BUURT_SUFFIXES]
    if n > len(composed):
        composed += [f"Nieuw-{name}" for name in composed]
    picked = rng.choice(len(composed), size=n, replace=False)
    names = [composed[i] for i in picked]
    singles = rng.choice(
        len(_BUURT_SINGLE_NAMES), size=min(n // 10, len(_BUURT_SINGLE_NAMES)), replace=False
    )
    for position, single in zip(
        rng.choice(n, size=singles.size, replace=False), singles, strict=True
    ):
        names[position] = _BUURT_SINGLE_NAMES[single]
    return names


def _buurt_types(rng: np.random.Generator, wijk_of_buurt: np.ndarray) -> np.ndarray:
    characters = np.array([CENTRUM, *rng.permutation(_WIJK_CHARACTERS)])
    types = characters[wijk_of_buurt]
    u = rng.random(types.size)
    centre = types == CENTRUM
    student_wijk = types == STUDENT
    other = ~centre & (u < 0.3)
    types[other] = rng.choice(_RESIDENTIAL, size=int(other.sum()))
    # A centre has student housing on its edge; a student wijk is half ordinary streets.
    types[centre & (u < 0.2)] = STUDENT
    types[student_wijk & (u >= 0.3) & (u < 0.65)] = GEMENGD
    outside_centre = np.flatnonzero(wijk_of_buurt > 0)
    types[rng.choice(outside_centre, size=_TINY_BUURTEN, replace=False)] = BEDRIJVEN
    return types


def _regional_buurt_types(
    rng: np.random.Generator, wijk_of_buurt: np.ndarray, wijken: int
) -> np.ndarray:
    """As the demo city's, for any number of wijken: a city's centre wijk is all centre and
    it has student buurten; a town has a core in its centre wijk and no students."""
    rounds = -(-(wijken - 1) // len(_WIJK_CHARACTERS))
    others = np.concatenate(
        [np.empty(0, dtype=np.int64), *(rng.permutation(_WIJK_CHARACTERS) for _ in range(rounds))]
    )[: wijken - 1]
    urban = wijken >= _URBAN_WIJKEN
    if not urban:
        others = np.where(others == STUDENT, GEMENGD, others)
    types = np.array([CENTRUM, *others])[wijk_of_buurt]
    centre = types == CENTRUM
    if not urban:
        core = np.flatnonzero(centre)[: max(1, int(centre.sum()) // 3)]
        around = centre.copy()
        around[core] = False
        types[around] = rng.choice(_RESIDENTIAL, size=int(around.sum()))
        centre = types == CENTRUM
    u = rng.random(types.size)
    student_wijk = types == STUDENT
    other = ~centre & (u < 0.3)
    types[other] = rng.choice(_RESIDENTIAL, size=int(other.sum()))
    if urban:
        types[centre & (u < 0.2)] = STUDENT
    types[student_wijk & (u >= 0.3) & (u < 0.65)] = GEMENGD
    outside_centre = np.flatnonzero(wijk_of_buurt > 0)
    if outside_centre.size == 0:
        outside_centre = np.flatnonzero(~centre)
    tiny = min(round(types.size * _TINY_BUURTEN / 100), outside_centre.size)
    types[rng.choice(outside_centre, size=tiny, replace=False)] = BEDRIJVEN
    return types


def build_geography(seed: int, persons: int, place: Place = DEMO_CITY) -> Geography:
    rng = np.random.default_rng([seed, 11])
    if place.regional:
        counts = rng.integers(*_REGIONAL_BUURTEN, size=place.wijken)
    else:
        counts = _buurten_per_wijk(rng)
    wijken = counts.size
    n_buurten = int(counts.sum())
    wijk_of_buurt = np.repeat(np.arange(wijken), counts)
    number_in_wijk = np.concatenate([np.arange(1, c + 1) for c in counts])
    names = _MORE_WIJK_NAMES if place.regional else _WIJK_NAMES
    wijk_names = ["Centrum", *rng.choice(names, size=wijken - 1, replace=False)]
    if place.regional:
        buurt_type = _regional_buurt_types(rng, wijk_of_buurt, wijken)
    else:
        buurt_type = _buurt_types(rng, wijk_of_buurt)
    low, high = _DEPRIVATION[buurt_type].T
    deprivation = low + (high - low) * rng.random(n_buurten)
    hotspot = rng.lognormal(0.0, 0.5, n_buurten) * np.where(buurt_type == CENTRUM, 1.5, 1.0)

    weight = rng.lognormal(0.0, 0.55, n_buurten) * _SIZE_FACTOR[buurt_type]
    tiny = buurt_type == BEDRIJVEN
    tiny_share = rng.uniform(0.0005, 0.0015, n_buurten) * tiny
    share = np.where(tiny, tiny_share, weight / weight[~tiny].sum() * (1 - tiny_share.sum()))
    expected_residents = share * persons

    code = place.gemeentecode
    wijkcode = [f"WK{code}{w + 1:02d}" for w in wijk_of_buurt]
    buurten = pl.DataFrame(
        {
            "buurtcode": [
                f"BU{code}{w + 1:02d}{b:02d}"
                for w, b in zip(wijk_of_buurt, number_in_wijk, strict=True)
            ],
            "buurtnaam": _buurt_names(rng, n_buurten),
            "wijkcode": wijkcode,
            "wijknaam": [wijk_names[w] for w in wijk_of_buurt],
            "gemeentecode": [f"GM{code}"] * n_buurten,
        }
    )
    return _build_addresses(
        np.random.default_rng([seed, 12, persons]),
        place,
        buurten,
        buurt_type,
        wijk_of_buurt,
        deprivation,
        hotspot,
        expected_residents,
    )


def _build_addresses(
    rng: np.random.Generator,
    place: Place,
    buurten: pl.DataFrame,
    buurt_type: np.ndarray,
    wijk_of_buurt: np.ndarray,
    deprivation: np.ndarray,
    hotspot: np.ndarray,
    expected_residents: np.ndarray,
) -> Geography:
    dwellings = np.maximum(3, np.round(expected_residents / PERSONS_PER_DWELLING[buurt_type]))
    multi_share = _MULTI_UNIT[buurt_type]
    numbers_per_buurt = np.maximum(2, np.ceil(dwellings / (1 + 4.0 * multi_share)).astype(np.int64))
    address_buurt = np.repeat(np.arange(buurt_type.size), numbers_per_buurt)
    n_addresses = address_buurt.size
    if place.regional:
        pc6_of_address, pc4_of_address, pair_of_address = _postcodes_per_wijk(
            rng, numbers_per_buurt, wijk_of_buurt, place
        )
    else:
        pc6_of_address, pc4_of_address, pair_of_address = _postcodes_per_buurt(
            rng, numbers_per_buurt, wijk_of_buurt
        )

    segment_start = np.flatnonzero(np.r_[True, pc6_of_address[1:] != pc6_of_address[:-1]])
    segment_length = np.diff(np.r_[segment_start, n_addresses])
    position = np.arange(n_addresses) - np.repeat(segment_start, segment_length)
    step = np.repeat(rng.choice([1, 2], p=[0.3, 0.7], size=segment_start.size), segment_length)
    first = np.repeat(rng.integers(1, 120, size=segment_start.size), segment_length)
    huisnummer = first + step * position
    pairs = np.array(LETTER_PAIRS)
    postcode = np.char.add(pc4_of_address.astype("U4"), pairs[pair_of_address])

    multi = rng.random(n_addresses) < multi_share[address_buurt]
    units = np.where(multi, rng.integers(2, 9, size=n_addresses), 1)
    dwelling_address = np.repeat(np.arange(n_addresses), units)
    unit = np.arange(dwelling_address.size) - np.repeat(np.cumsum(units) - units, units)
    style = rng.choice(3, p=[0.4, 0.45, 0.15], size=n_addresses)[dwelling_address]
    multi_dwelling = units[dwelling_address] > 1
    # Letters: 12, 12A, 12B; numbers: 12-1, 12-2; "H" marks the ground floor: 12-H, 12-1.
    lettered = multi_dwelling & (style == 0) & (unit > 0)
    single_letter = ~multi_dwelling & (rng.random(dwelling_address.size) < 0.03)
    huisletter = np.where(lettered, unit, np.where(single_letter, 1, 0)).astype(np.int8)
    ground_floor = np.where(unit == 0, TOEVOEGINGEN.index("H"), unit)
    toevoeging = np.where(
        multi_dwelling & (style == 1),
        unit + 1,
        np.where(multi_dwelling & (style == 2), ground_floor, 0),
    ).astype(np.int8)

    corporation = (rng.random(n_addresses) < _CORPORATION[buurt_type][address_buurt])[
        dwelling_address
    ]
    rent = np.round(rng.uniform(450.0, 950.0, dwelling_address.size), 2)
    return Geography(
        buurten=buurten,
        buurt_type=buurt_type,
        deprivation=deprivation,
        hotspot=hotspot,
        expected_residents=expected_residents,
        address_postcode=postcode,
        address_huisnummer=huisnummer,
        address_buurt=address_buurt,
        dwelling_address=dwelling_address,
        dwelling_huisletter=huisletter,
        dwelling_toevoeging=toevoeging,
        dwelling_corporation=corporation,
        dwelling_rent=rent,
        place=place,
    )


def _postcodes_per_buurt(
    rng: np.random.Generator, numbers_per_buurt: np.ndarray, wijk_of_buurt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo city's PC6, PC4 and letter pair per address: a PC4 per buurt, from a PC4
    drawn at random."""
    n_addresses = int(numbers_per_buurt.sum())
    # Street segments: each PC6 is a run of 10-40 house numbers on one side of a street.
    pc6_of_address = np.empty(n_addresses, dtype=np.int64)
    pc4_of_address = np.empty(n_addresses, dtype=np.int64)
    pair_of_address = np.empty(n_addresses, dtype=np.int64)
    first_pc4 = int(rng.integers(10, 95)) * 100 + int(rng.integers(0, 5)) * 10
    next_pc4 = first_pc4
    next_pc6 = 0
    start = 0
    for buurt, n in enumerate(numbers_per_buurt):
        if buurt > 0 and wijk_of_buurt[buurt] != wijk_of_buurt[buurt - 1]:
            next_pc4 += int(rng.integers(1, 4))
        sizes = rng.integers(10, 41, size=n // 10 + 2)
        segment = np.searchsorted(np.cumsum(sizes), np.arange(n), side="right")
        pc6_of_address[start : start + n] = next_pc6 + segment
        pc4_of_address[start : start + n] = next_pc4 + segment // _PAIRS_PER_PC4
        pair_of_address[start : start + n] = (
            int(rng.integers(0, _PAIR_OFFSET_MAX)) + segment % _PAIRS_PER_PC4
        )
        next_pc4 += int(segment[-1]) // _PAIRS_PER_PC4 + 1
        next_pc6 += int(segment[-1]) + 1
        start += n
    if next_pc4 > 9999:
        raise ValueError("the city is too large for its postcode range")
    return pc6_of_address, pc4_of_address, pair_of_address


def _postcodes_per_wijk(
    rng: np.random.Generator,
    numbers_per_buurt: np.ndarray,
    wijk_of_buurt: np.ndarray,
    place: Place,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A municipality's PC6, PC4 and letter pair per address, within its slice of PC4s:
    each wijk starts a PC4 and its buurten fill it street segment by segment, so that the
    country's municipalities fit in 1000..9999 side by side."""
    assert place.pc4 is not None
    n_addresses = int(numbers_per_buurt.sum())
    pc4_of_address = np.empty(n_addresses, dtype=np.int64)
    pair_of_address = np.empty(n_addresses, dtype=np.int64)
    wijk_pc4 = place.pc4.start
    used = 0  # street segments of the current wijk so far
    offset = int(rng.integers(0, _PAIR_OFFSET_MAX))
    start = 0
    for buurt, n in enumerate(numbers_per_buurt):
        if buurt > 0 and wijk_of_buurt[buurt] != wijk_of_buurt[buurt - 1]:
            wijk_pc4 += (used - 1) // _PAIRS_PER_PC4 + 1
            used = 0
            offset = int(rng.integers(0, _PAIR_OFFSET_MAX))
        sizes = rng.integers(10, 41, size=n // 10 + 2)
        segment = used + np.searchsorted(np.cumsum(sizes), np.arange(n), side="right")
        pc4_of_address[start : start + n] = wijk_pc4 + segment // _PAIRS_PER_PC4
        pair_of_address[start : start + n] = offset + segment % _PAIRS_PER_PC4
        used = int(segment[-1]) + 1
        start += n
    if pc4_of_address.max() >= place.pc4.stop:
        raise ValueError(
            f"gemeente {place.gemeentecode}: its addresses need more than its "
            f"{len(place.pc4)} PC4s ({place.pc4.start}..{place.pc4.stop - 1})"
        )
    # A segment is one PC6: a letter pair within its PC4.
    return pc4_of_address * 1000 + pair_of_address, pc4_of_address, pair_of_address
