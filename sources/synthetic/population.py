"""The residents of the synthetic city: a life history once, snapshots on any peildatum.

Every dwelling has a chain of tenancies over a fixed window (the same for every peildatum).
A tenancy either brings a new household into the city or continues a household that left
another dwelling of the same buurt type at about that time (an internal move); the household
keeps its identity, the index of the tenancy with which it first arrived. Everything about a
household and its members (ages, births, deaths, children leaving home, names) is drawn with
keyed randomness from that identity, so a snapshot only materialises the households that
live in the city on its peildatum.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np

from udc.sources.synthetic._keyed import (
    DAYS_PER_YEAR,
    RESIDENT_INDEX_LIMIT,
    Keyed,
    day_number,
)
from udc.sources.synthetic.geography import Geography

WINDOW_START = dt.date(2005, 1, 1)
WINDOW_END = dt.date(2040, 12, 31)
_OPEN = np.iinfo(np.int32).max
_NEVER = 10**9
Y = DAYS_PER_YEAR

# Mean tenancy length per buurt type (years): students move on fast, families stay.
_TENURE_YEARS = np.array([5.0, 2.5, 13.0, 9.0, 10.0, 9.0, 8.0])
_INTERNAL_MOVE_SHARE = 0.5
_VACANCY_DAYS = 60
_COMPOSE_CHUNK = 500_000  # households composed at once when numbering identities

SLOTS = 6  # head, partner, then up to four children or housemates
HEAD, PARTNER = 0, 1
SINGLE, COUPLE, FAMILY, SINGLE_PARENT, SHARED = range(5)

# Household type by buurt type (rows as geography's buurt types).
_HOUSEHOLD_TYPES = np.array(
    [
        [0.48, 0.30, 0.11, 0.05, 0.06],
        [0.42, 0.13, 0.05, 0.03, 0.37],
        [0.09, 0.24, 0.56, 0.10, 0.01],
        [0.30, 0.29, 0.29, 0.09, 0.03],
        [0.37, 0.44, 0.13, 0.05, 0.01],
        [0.31, 0.20, 0.29, 0.17, 0.03],
        [0.37, 0.27, 0.23, 0.08, 0.05],
    ]
)
# Age of the head on arrival: bands, a base mix per household type, tilted per buurt type.
_AGE_BANDS = np.array([18, 25, 35, 45, 55, 65, 75, 85, 96])
_HEAD_AGE_MIX = np.array(
    [
        [0.28, 0.25, 0.10, 0.07, 0.06, 0.10, 0.10, 0.04],
        [0.05, 0.22, 0.09, 0.07, 0.11, 0.22, 0.18, 0.06],
        [0.02, 0.40, 0.42, 0.14, 0.02, 0.0, 0.0, 0.0],
        [0.06, 0.32, 0.40, 0.19, 0.03, 0.0, 0.0, 0.0],
        [0.72, 0.23, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)
_AGE_TILT = np.array([-0.4, -1.1, -0.05, -0.05, 0.5, -0.05, -0.05])
_HEAD_AGE = _HEAD_AGE_MIX[None, :, :] * np.exp(
    _AGE_TILT[:, None, None] * (np.arange(8)[None, None, :] - 3.5)
)
_CHILDREN = {
    FAMILY: [0.0, 0.30, 0.45, 0.18, 0.07],
    SINGLE_PARENT: [0.0, 0.55, 0.35, 0.10, 0.0],
    COUPLE: [0.55, 0.15, 0.23, 0.07, 0.0],
}
_HOUSEMATES = [0.0, 0.5, 0.35, 0.15]
_FEMALE_HEAD = np.array([0.36, 0.5, 0.5, 0.86, 0.5])
_OTHER_SEX_SHARE = 0.0005

# Gompertz mortality: hazard a * exp(b * age); life expectancy about 81 (M) and 84 (V).
_GOMPERTZ_B = 0.1
_GOMPERTZ_A = {"M": 2.2e-5, "V": 1.2e-5}


@dataclass(frozen=True)
class Tenancies:
    """All tenancies in the window, ordered by dwelling and start."""

    dwelling: np.ndarray
    start: np.ndarray
    end: np.ndarray
    # A household that moves within the city stays registered at its old address until it
    # arrives at the new one (the next household may already live there).
    stay_until: np.ndarray
    household: np.ndarray  # the tenancy index with which the household arrived in the city
    # Per household identity (see households_on), the BSN index of its first member: the
    # members that ever exist are numbered one after another, from the place's first identity.
    first_identity: np.ndarray
    # The BSN index after the last of them: where the next municipality's people begin.
    end_identity: int


@dataclass(frozen=True)
class Households:
    """The households living in the city on one day; (n, SLOTS) arrays hold the members."""

    household: np.ndarray
    dwelling: np.ndarray
    arrival: np.ndarray
    origin_buurt: np.ndarray
    kind: np.ndarray
    person: np.ndarray
    birth: np.ndarray
    death: np.ndarray
    departure: np.ndarray
    sex: np.ndarray
    child: np.ndarray
    exists: np.ndarray
    present: np.ndarray


def window_days() -> tuple[int, int]:
    return day_number(WINDOW_START), day_number(WINDOW_END)


def build_tenancies(seed: int, persons: int, geography: Geography) -> Tenancies:
    rng = np.random.default_rng([seed, 21, persons])
    first_day, last_day = window_days()
    span = last_day - first_day
    dwelling_type = geography.dwelling_type
    parts = []
    for kind in range(_TENURE_YEARS.size):
        dwellings = np.flatnonzero(dwelling_type == kind)
        mean = _TENURE_YEARS[kind] * Y
        columns = int(np.ceil(span / mean + 6 * np.sqrt(span / mean) + 4))
        # The tenancy running at the window start is length-biased: gamma shape 3, not 2.
        first = rng.gamma(3.0, mean / 2, dwellings.size)
        elapsed = rng.random(dwellings.size) * first
        durations = rng.gamma(2.0, mean / 2, (dwellings.size, columns))
        durations[:, 0] = first
        gaps = rng.uniform(0, _VACANCY_DAYS, (dwellings.size, columns))
        gaps[:, 0] = 0
        ends = first_day - elapsed[:, None] + np.cumsum(gaps + durations, axis=1)
        starts = ends - durations
        ends[:, -1] = _OPEN
        keep = starts < last_day
        rows, _ = np.nonzero(keep)
        parts.append((dwellings[rows], starts[keep], ends[keep]))
    dwelling = np.concatenate([p[0] for p in parts])
    start = np.floor(np.concatenate([p[1] for p in parts])).astype(np.int32)
    end = np.minimum(np.floor(np.concatenate([p[2] for p in parts])), _OPEN).astype(np.int32)
    order = np.lexsort((start, dwelling))
    dwelling, start, end = dwelling[order], start[order], end[order]
    household, stay_until = _internal_moves(
        rng, dwelling, start, end, dwelling_type[dwelling], last_day
    )
    first_identity, end_identity = _first_identities(
        Keyed(seed), dwelling, start, stay_until, household, geography
    )
    return Tenancies(
        dwelling=dwelling,
        start=start,
        end=end,
        stay_until=stay_until,
        household=household,
        first_identity=first_identity,
        end_identity=end_identity,
    )


def _first_identities(
    keyed: Keyed,
    dwelling: np.ndarray,
    start: np.ndarray,
    stay_until: np.ndarray,
    household: np.ndarray,
    geography: Geography,
) -> tuple[np.ndarray, int]:
    """The BSN index of the first member of every household that can ever live in the city,
    and the index after the last member.

    Composes each household as households_on does on any day: those that arrive from
    outside and, for every tenancy, the successor that would move in once everyone left.
    Numbering only members that exist keeps the index range near the number of people who
    ever live in the city, not the six slots of twice as many households."""
    tenancies = household.size
    members = np.zeros(2 * tenancies, dtype=np.int64)
    departed = np.zeros(tenancies, dtype=np.int64)

    def compose(households: np.ndarray, tenancy: np.ndarray, arrival: np.ndarray) -> Households:
        origin = geography.dwelling_buurt[dwelling[tenancy]]
        return _compose(keyed, household=households, dwelling=dwelling[tenancy], arrival=arrival,
                        origin_buurt=origin, geography=geography, day=0)  # fmt: skip

    roots = np.flatnonzero(household == np.arange(tenancies))
    for begin in range(0, roots.size, _COMPOSE_CHUNK):
        chunk = roots[begin : begin + _COMPOSE_CHUNK]
        composed = compose(chunk, chunk, start[chunk].astype(np.int64))
        members[chunk] = composed.exists.sum(axis=1)
        departed[chunk] = _last_departure(composed)
    successor_arrival = _successor_arrival(keyed, np.arange(tenancies), start, departed[household])
    possible = np.flatnonzero(successor_arrival < stay_until)
    for begin in range(0, possible.size, _COMPOSE_CHUNK):
        chunk = possible[begin : begin + _COMPOSE_CHUNK]
        composed = compose(chunk + tenancies, chunk, successor_arrival[chunk])
        members[chunk + tenancies] = composed.exists.sum(axis=1)
    begin = geography.place.first_identity
    end = begin + int(members.sum())
    if end > RESIDENT_INDEX_LIMIT:
        raise ValueError("too many persons for the synthetic BSN range")
    return np.cumsum(members) - members + begin, end


def _internal_moves(
    rng: np.random.Generator,
    dwelling: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    kind: np.ndarray,
    last_day: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Household identity and registration end per tenancy.

    Households that leave internally and tenancies that start with an internal move are
    paired in time order within a buurt type.
    """
    n = dwelling.size
    first_of_dwelling = np.r_[True, dwelling[1:] != dwelling[:-1]]
    leaves_internally = (end < last_day) & (rng.random(n) < _INTERNAL_MOVE_SHARE)
    arrives_internally = ~first_of_dwelling & (rng.random(n) < _INTERNAL_MOVE_SHARE)
    parent = np.arange(n)
    stay_until = end.copy()
    for group in np.unique(kind):
        leaving = np.flatnonzero(leaves_internally & (kind == group))
        arriving = np.flatnonzero(arrives_internally & (kind == group))
        leaving = leaving[np.argsort(end[leaving], kind="stable")]
        arriving = arriving[np.argsort(start[arriving], kind="stable")]
        pairs = min(leaving.size, arriving.size)
        leaving, arriving = leaving[:pairs], arriving[:pairs]
        later = start[arriving] > start[leaving]
        parent[arriving[later]] = leaving[later]
        stay_until[leaving[later]] = np.maximum(end[leaving[later]], start[arriving[later]])
    household = parent
    while True:
        grandparent = household[household]
        if np.array_equal(grandparent, household):
            return household, stay_until
        household = grandparent


def households_on(keyed: Keyed, tenancies: Tenancies, geography: Geography, day: int) -> Households:
    """The households in the city on ``day``, ordered by dwelling."""
    active = np.flatnonzero((tenancies.start <= day) & (day < tenancies.stay_until))
    household = tenancies.household[active]
    # A household that moved can overlap its old and new tenancy by a few days: keep the newest.
    order = np.lexsort((-tenancies.start[active], household))
    first = np.r_[True, household[order][1:] != household[order][:-1]]
    active = active[np.sort(order[first])]
    household = tenancies.household[active]
    origin_buurt = geography.dwelling_buurt[tenancies.dwelling[household]]
    residents = _compose(
        keyed,
        household=household.astype(np.int64),
        dwelling=tenancies.dwelling[active],
        arrival=tenancies.start[household].astype(np.int64),
        origin_buurt=origin_buurt,
        geography=geography,
        day=day,
    )
    # When everyone has died or left before the tenancy ends, a new household moves in: its
    # identity is the tenancy index shifted past all tenancies, so it is stable over time.
    successor_arrival = _successor_arrival(
        keyed, active, tenancies.start[active], _last_departure(residents)
    )
    replaced = ~residents.present.any(axis=1) & (successor_arrival <= day)
    successors = _compose(
        keyed,
        household=active[replaced].astype(np.int64) + tenancies.household.size,
        dwelling=tenancies.dwelling[active[replaced]],
        arrival=successor_arrival[replaced].astype(np.int64),
        origin_buurt=geography.dwelling_buurt[tenancies.dwelling[active[replaced]]],
        geography=geography,
        day=day,
    )
    kept = _take(residents, ~replaced)
    merged = Households(
        **{
            f.name: np.concatenate([getattr(kept, f.name), getattr(successors, f.name)])
            for f in fields(Households)
        }
    )
    return _take(merged, np.argsort(merged.dwelling, kind="stable"))


def _last_departure(households: Households) -> np.ndarray:
    """Per household, the day its last member dies or leaves."""
    return np.where(households.exists, households.departure, np.iinfo(np.int64).min).max(axis=1)


def _successor_arrival(
    keyed: Keyed, tenancy: np.ndarray, start: np.ndarray, departed: np.ndarray
) -> np.ndarray:
    """When the next household moves into ``tenancy``'s dwelling once everyone has left;
    one rule for the snapshot and for numbering identities, which must agree."""
    return np.maximum(start, departed) + keyed.integers("vacancy", tenancy, 0, _VACANCY_DAYS)


def _take(households: Households, rows: np.ndarray) -> Households:
    return Households(**{f.name: getattr(households, f.name)[rows] for f in fields(Households)})


def _gompertz_death(
    keyed: Keyed, person: np.ndarray, birth: np.ndarray, alive_on: np.ndarray, female: np.ndarray
) -> np.ndarray:
    """Day of death, given that the person is alive on ``alive_on``."""
    a = np.where(female, _GOMPERTZ_A["V"], _GOMPERTZ_A["M"])
    b = _GOMPERTZ_B
    known_age = np.maximum(0.0, (alive_on - birth) / Y)
    u = keyed.uniform("death", person)
    age = np.log(np.exp(b * known_age) - (b / a) * np.log1p(-u)) / b
    return birth + age * Y


def _compose(
    keyed: Keyed,
    *,
    household: np.ndarray,
    dwelling: np.ndarray,
    arrival: np.ndarray,
    origin_buurt: np.ndarray,
    geography: Geography,
    day: int,
) -> Households:
    n = household.size
    origin_type = geography.buurt_type[origin_buurt]
    slot = np.arange(SLOTS)
    person = household[:, None] * SLOTS + slot[None, :]
    kind = keyed.choice("household.kind", household, _HOUSEHOLD_TYPES[origin_type])
    band = keyed.choice("head.band", household, _HEAD_AGE[origin_type, kind])
    low, high = _AGE_BANDS[band], _AGE_BANDS[band + 1]
    head_age = low + (high - low) * keyed.uniform("head.age", household)

    exists = np.zeros((n, SLOTS), dtype=bool)
    child = np.zeros((n, SLOTS), dtype=bool)
    age_on_arrival = np.zeros((n, SLOTS))
    leave = np.full((n, SLOTS), float(_NEVER))
    exists[:, HEAD] = True
    age_on_arrival[:, HEAD] = head_age

    partnered = (kind == COUPLE) | (kind == FAMILY)
    partner_age = np.maximum(18.0, head_age + 3.5 * keyed.normal("partner.age", household))
    exists[:, PARTNER] = partnered
    age_on_arrival[:, PARTNER] = partner_age
    parent_age = np.where(partnered, np.minimum(head_age, partner_age), head_age)

    female_head = keyed.uniform("head.sex", household) < np.where(
        (kind == SINGLE) & (head_age > 70), 0.55, _FEMALE_HEAD[kind]
    )
    female = np.zeros((n, SLOTS), dtype=bool)
    female[:, HEAD] = female_head
    same_sex = keyed.uniform("partner.sex", household) < 0.04
    female[:, PARTNER] = female_head ^ ~same_sex
    others = person[:, 2:]
    female[:, 2:] = keyed.uniform("member.sex", others) < 0.49

    # Children: born to the younger parent between 23 and 44, possibly after arrival.
    children = np.zeros(n, dtype=np.int64)
    for household_kind, distribution in _CHILDREN.items():
        chosen = kind == household_kind
        children[chosen] = keyed.choice("children", household[chosen], np.array(distribution))
    children[(kind == COUPLE) & (parent_age >= 38)] = 0
    parent_birth = arrival - parent_age * Y
    first_birth = np.where(
        kind == COUPLE,
        arrival + keyed.uniform("first.birth.couple", household) * 4.5 * Y + 0.5 * Y,
        parent_birth + (23 + 12 * keyed.uniform("first.birth", household)) * Y,
    )
    spacing = (1.3 + 2.7 * keyed.uniform("spacing", others)) * Y
    spacing[:, 0] = 0
    child_birth = first_birth[:, None] + np.cumsum(spacing, axis=1)
    is_child = (np.arange(4)[None, :] < children[:, None]) & (
        child_birth - parent_birth[:, None] <= 44 * Y
    )
    child_leave = child_birth + (18 + 11 * keyed.uniform("leave.home", others)) * Y
    is_child &= child_leave > arrival[:, None]

    housemates = np.where(kind == SHARED, keyed.choice("housemates", household, _HOUSEMATES), 0)
    is_housemate = np.arange(4)[None, :] < housemates[:, None]
    housemate_age = np.maximum(18.0, head_age[:, None] + 6 * keyed.uniform("mate.age", others) - 3)
    age_on_arrival[:, 2:] = np.where(is_housemate, housemate_age, 0.0)

    birth = arrival[:, None] - age_on_arrival * Y
    birth[:, 2:] = np.where(is_child, child_birth, birth[:, 2:])
    birth = np.floor(birth).astype(np.int64)
    known_alive = np.maximum(birth, arrival[:, None])
    death = np.floor(_gompertz_death(keyed, person, birth, known_alive, female)).astype(np.int64)
    # Nobody is born after the parents died (a household must not come back to life).
    parents_death = np.where(partnered, death[:, :2].min(axis=1), death[:, HEAD])
    is_child &= child_birth < parents_death[:, None]
    child[:, 2:] = is_child
    exists[:, 2:] = is_child | is_housemate
    leave[:, 2:] = np.where(is_child, child_leave, float(_NEVER))
    departure = np.minimum(death, leave.astype(np.int64))
    present = exists & (birth <= day) & (day < departure)

    sex = np.where(female, "V", "M")
    sex = np.where(keyed.uniform("sex.other", person) < _OTHER_SEX_SHARE, "O", sex)
    return Households(
        household=household,
        dwelling=dwelling,
        arrival=arrival,
        origin_buurt=origin_buurt,
        kind=kind,
        person=person,
        birth=birth,
        death=death,
        departure=departure,
        sex=sex,
        child=child,
        exists=exists,
        present=present,
    )
