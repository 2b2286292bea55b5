"""Partner and municipal registers of one snapshot: bijstand, Wmo, huurachterstand, politie.

Benefits, provisions and arrears are spells in time drawn with keyed randomness from the
household or person, so a later peildatum sees the same spells continue, end and start.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from udc.sources.synthetic._keyed import Keyed, yyyymmdd
from udc.sources.synthetic.geography import BEDRIJVEN, CENTRUM, STUDENT, Geography
from udc.sources.synthetic.population import (
    COUPLE,
    FAMILY,
    HEAD,
    PARTNER,
    SHARED,
    SINGLE,
    SINGLE_PARENT,
    Households,
    Y,
)
from udc.sources.synthetic.residents import (
    Residents,
    bsn_text,
    date_text,
    dwelling_address,
)

_MAX_SPELLS = 64
AOW_AGE = 67

# Bijstand: the long-run share of time on benefit, by deprivation and household type.
_BIJSTAND_BY_KIND = {SINGLE: 1.0, COUPLE: 0.35, FAMILY: 0.45, SINGLE_PARENT: 2.2, SHARED: 0.15}
_BIJSTAND_SPELL_YEARS = 3.5
_TYPICAL_DEPRIVATION_EFFECT = 0.065
_ANNOUNCED_END_DAYS = 120

# Wmo: most provisions start in the last years of life; a small group needs them young.
VOORZIENINGEN = ("HH", "BG", "WV", "RV", "VV", "BW")
_WMO_OLD = np.array([0.65, 0.12, 0.25, 0.18, 0.35, 0.01])
_WMO_YOUNG = np.array([0.15, 0.45, 0.10, 0.10, 0.30, 0.15])
_WMO_START_YEARS = np.array([1.0, 3.0, 2.0, 4.0, 3.0, 2.0])
_OLD_PATH, _YOUNG_PATH = 0.85, 0.045
# Provider codes by provision (indices into the provider list).
_PROVIDERS = ((0, 1, 2, 3), (3, 4, 5), (6, 7), (7, 8), (8, 9), (10, 11))

_ARREARS_OFF_YEARS, _ARREARS_ON_YEARS = 2.0, 0.45

CLASSES = ("woninginbraak", "fietsdiefstal", "overlast_jeugd", "geweld", "vernieling")
_CLASS_SHARE = np.array([0.10, 0.30, 0.20, 0.15, 0.25])
# Incident rate per resident by buurt type (rows) and class (columns), relative.
_CLASS_BY_TYPE = np.array(
    [
        [0.5, 4.0, 1.5, 4.0, 2.5],
        [0.8, 3.0, 1.0, 1.5, 1.5],
        [1.2, 0.6, 1.0, 0.4, 0.7],
        [1.0, 1.0, 1.0, 1.0, 1.0],
        [0.8, 0.4, 0.5, 0.3, 0.5],
        [1.2, 1.0, 2.0, 1.8, 1.8],
        [3.0, 2.0, 2.0, 1.0, 4.0],
    ]
)
INCIDENTS_PER_RESIDENT_YEAR = 0.05
_MAX_INCIDENTS_PER_DAY = 2700


def _renewal(
    keyed: Keyed,
    stream: str,
    keys: np.ndarray,
    origin: np.ndarray,
    day: int,
    off_years: np.ndarray | float,
    on_years: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Alternating off/on spells from ``origin``: (on, spell start, spell end, spell number)."""
    n = keys.size
    off_days = np.broadcast_to(np.asarray(off_years, dtype=float) * Y, (n,))
    on_days = np.broadcast_to(np.asarray(on_years, dtype=float) * Y, (n,))
    on = np.zeros(n, dtype=bool)
    start = np.zeros(n, dtype=np.int64)
    end = np.zeros(n, dtype=np.int64)
    number = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    cursor = origin.astype(float)
    for spell in range(2 * _MAX_SPELLS):
        if pending.size == 0:
            break
        running = spell % 2 == 1
        mean = (on_days if running else off_days)[pending]
        finish = cursor[pending] + keyed.gamma2(stream, keys[pending] * 256 + spell, mean)
        done = finish > day
        if running:
            hit = pending[done]
            on[hit] = True
            start[hit] = np.floor(cursor[hit])
            end[hit] = np.floor(finish[done])
            number[hit] = spell // 2
        cursor[pending] = finish
        pending = pending[~done]
    return on, start, end, number


def _optional_date(days: np.ndarray, known: np.ndarray) -> pl.Series:
    frame = pl.DataFrame({"date": date_text(days), "known": pl.Series(known, dtype=pl.Boolean)})
    return frame.select(pl.when(pl.col("known")).then(pl.col("date"))).to_series()


def _main_person(households: Households) -> tuple[np.ndarray, np.ndarray]:
    """Households with a head or partner present, and that person's slot."""
    head = households.present[:, HEAD]
    partner = households.present[:, PARTNER]
    return head | partner, np.where(head, HEAD, PARTNER)


def bijstand_propensity(geography: Geography, households: Households) -> np.ndarray:
    """Long-run share of time a household lives on bijstand."""
    by_kind = np.zeros(households.kind.size)
    for kind, factor in _BIJSTAND_BY_KIND.items():
        by_kind[households.kind == kind] = factor
    return _deprivation_effect(geography)[households.origin_buurt] * by_kind


def _deprivation_effect(geography: Geography) -> np.ndarray:
    """Per buurt; scaled so that the city-wide rate does not depend on its mix of buurten."""
    effect = 0.012 + 0.26 * geography.deprivation**1.5
    effect = np.where(geography.buurt_type == STUDENT, 0.2 * effect, effect)
    city = (effect * geography.expected_residents).sum() / geography.expected_residents.sum()
    return effect * _TYPICAL_DEPRIVATION_EFFECT / city


def _person_index(residents: Residents, households: Households) -> np.ndarray:
    """Position in ``residents`` of each (household row, slot), -1 where nobody lives."""
    index = np.full(households.present.shape, -1, dtype=np.int64)
    index[residents.row, residents.slot] = np.arange(residents.row.size)
    return index


def bijstand_frame(
    keyed: Keyed,
    geography: Geography,
    households: Households,
    residents: Residents,
    day: int,
) -> pl.DataFrame:
    has_main, main_slot = _main_person(households)
    rows = np.flatnonzero(has_main)
    main = _person_index(residents, households)[rows, main_slot[rows]]
    age = residents.age[main]
    share = bijstand_propensity(geography, households)[rows]
    prone = keyed.uniform("bijstand.prone", households.household[rows]) < np.minimum(
        0.95, 2 * share
    )
    rows, main, age = rows[prone], main[prone], age[prone]
    household = households.household[rows]
    origin = households.arrival[rows] - keyed.uniform("bijstand.phase", household) * 7 * Y
    on, start, end, spell = _renewal(
        keyed, "bijstand", household, origin, day, _BIJSTAND_SPELL_YEARS, _BIJSTAND_SPELL_YEARS
    )
    on &= (age >= 18) & (age < AOW_AGE)
    rows, main, start, end, spell = rows[on], main[on], start[on], end[on], spell[on]
    household = households.household[rows]
    adult_from = residents.birth[main] + np.ceil(18 * Y).astype(np.int64)
    ingang = np.maximum.reduce([start, households.arrival[rows], adult_from])

    spell_key = household * 256 + spell
    u = keyed.uniform("bijstand.regeling", spell_key)
    age_at_start = (yyyymmdd(ingang) - yyyymmdd(residents.birth[main])) // 10000
    regeling = np.where(
        u < 0.04,
        "BBZ",
        np.where(
            (u < 0.2) & (age_at_start >= 50),
            "IOAW",
            np.where((u < 0.23) & (age_at_start >= 55), "IOAZ", "PW"),
        ),
    )
    present = households.present[rows]
    child_age = (day - households.birth[rows]) / Y
    young_child = (present & households.child[rows] & (child_age < 18)).any(axis=1)
    couple = present[:, HEAD] & present[:, PARTNER]
    leefvorm = np.where(
        couple, "gehuwd_samenwonend", np.where(young_child, "alleenstaande_ouder", "alleenstaand")
    )
    announced = (end - day <= _ANNOUNCED_END_DAYS) & (
        keyed.uniform("bijstand.announced", spell_key) < 0.5
    )
    return pl.DataFrame(
        {
            "bsn": bsn_text(residents.bsn[main]),
            "regeling": pl.Series(regeling, dtype=pl.String),
            "leefvorm": pl.Series(leefvorm, dtype=pl.String),
            "ingangsdatum": date_text(ingang),
            "einddatum": _optional_date(end, announced),
        }
    )


def wmo_frame(keyed: Keyed, residents: Residents, day: int) -> pl.DataFrame:
    """Provisions running on ``day``."""
    person = residents.person
    death = residents.death
    path = keyed.uniform("wmo.path", person)
    old = path < _OLD_PATH
    young = (path >= _OLD_PATH) & (path < _OLD_PATH + _YOUNG_PATH)
    old_onset = death - keyed.gamma2("wmo.old.onset", person, 12.5 * Y)
    old &= old_onset - residents.birth >= 50 * Y
    young_onset = residents.birth + (2 + 58 * keyed.uniform("wmo.young.onset", person)) * Y
    young_end = young_onset + keyed.gamma2("wmo.young.years", person, 14 * Y)
    onset = np.where(old, old_onset, young_onset)
    candidates = np.flatnonzero((old | young) & (onset <= day))
    parts = []
    for v, name in enumerate(VOORZIENINGEN):
        who = candidates
        key = person[who] * 8 + v
        chance = np.where(old[who], _WMO_OLD[v], _WMO_YOUNG[v])
        who = who[keyed.uniform("wmo.has", key) < chance]
        key = person[who] * 8 + v
        start = onset[who] + keyed.uniform("wmo.start", key) * _WMO_START_YEARS[v] * Y
        if name in ("HH", "BG"):
            planned_end = start + keyed.gamma2("wmo.duration", key, (3 if name == "HH" else 4) * Y)
            ends_early = name == "BG" or keyed.uniform("wmo.early", key) < 0.3
            planned_end = np.where(ends_early, planned_end, np.inf)
        elif name == "WV":
            planned_end = start + (0.2 + 1.3 * keyed.uniform("wmo.duration", key)) * Y
        else:
            planned_end = np.full(who.size, np.inf)
        planned_end = np.where(old[who], planned_end, np.minimum(planned_end, young_end[who]))
        start = np.maximum(np.floor(start).astype(np.int64), residents.registered[who])
        end = np.minimum(planned_end, death[who])
        running = (start <= day) & (day < end)
        who, start, end, key = who[running], start[running], end[running], key[running]
        announced = (end < death[who]) & (end - day <= _ANNOUNCED_END_DAYS)
        provider_choices = np.array(_PROVIDERS[v])
        provider = provider_choices[keyed.integers("wmo.provider", key, 0, provider_choices.size)]
        parts.append(
            (
                who,
                np.full(who.size, v),
                start,
                np.floor(np.where(announced, end, 0)),
                announced,
                provider,
            )
        )
    who, voorziening, start, end, announced, provider = (
        np.concatenate([p[i] for p in parts]) for i in range(6)
    )
    order = np.lexsort((voorziening, who))
    who, voorziening, start = who[order], voorziening[order], start[order]
    end, announced, provider = end[order].astype(np.int64), announced[order], provider[order]
    codes = _provider_codes(keyed)
    return pl.DataFrame(
        {
            "bsn": bsn_text(residents.bsn[who]),
            "voorziening": pl.Series(np.array(VOORZIENINGEN)[voorziening], dtype=pl.String),
            "ingangsdatum": date_text(start),
            "einddatum": _optional_date(end, announced),
            "aanbieder_agb": pl.Series(codes[provider], dtype=pl.String),
        }
    )


def _provider_codes(keyed: Keyed) -> np.ndarray:
    """Eight-digit AGB codes of the city's twelve Wmo providers."""
    numbers = 98_000_000 + keyed.integers("agb", np.arange(12), 0, 1_000_000)
    return np.char.zfill(numbers.astype(str), 8)


def _at_least_one(chosen: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """``chosen``, or when it holds nobody, the one candidate with the lowest ``draw``: a
    housing corporation with no tenant in arrears delivers nothing, and the contract refuses
    an empty file, which a small town's corporation would otherwise send."""
    if chosen.any() or chosen.size == 0:
        return chosen
    return np.arange(chosen.size) == int(np.argmin(draw))


def huurachterstand_frame(
    keyed: Keyed,
    geography: Geography,
    households: Households,
    residents: Residents,
    day: int,
) -> pl.DataFrame:
    has_main, main_slot = _main_person(households)
    rows = np.flatnonzero(has_main & geography.dwelling_corporation[households.dwelling])
    main = _person_index(residents, households)[rows, main_slot[rows]]
    adult = residents.age[main] >= 18
    rows, main = rows[adult], main[adult]
    household = households.household[rows]
    share = bijstand_propensity(geography, households)[rows]
    draw = keyed.uniform("arrears.prone", household)
    prone = _at_least_one(draw < np.minimum(0.9, 0.06 + 2.0 * share), draw)
    rows, main, household = rows[prone], main[prone], household[prone]
    phase = keyed.uniform("arrears.phase", household)
    origin = households.arrival[rows] - phase * 2 * Y
    on, start, _, _ = _renewal(
        keyed, "arrears", household, origin, day, _ARREARS_OFF_YEARS, _ARREARS_ON_YEARS
    )
    on = _at_least_one(on, phase)
    rows, main, start = rows[on], main[on], start[on]
    start = np.maximum(start, households.arrival[rows])
    months = np.clip(np.ceil((day - start + 1) / (Y / 12)), 1, 12).astype(np.int64)
    dwelling = households.dwelling[rows]
    key = households.household[rows]
    paid_share = 0.5 + 0.5 * keyed.uniform("arrears.share", key)
    cents = np.round(months * geography.dwelling_rent[dwelling] * paid_share * 100).astype(np.int64)
    comma = keyed.uniform("arrears.comma", key) < 0.6
    amount = pl.DataFrame({"cents": cents, "comma": comma}).select(
        pl.concat_str(
            [
                (pl.col("cents") // 100).cast(pl.String),
                pl.when(pl.col("comma")).then(pl.lit(",")).otherwise(pl.lit(".")),
                (pl.col("cents") % 100).cast(pl.String).str.zfill(2),
            ]
        )
    )
    return pl.DataFrame(
        {
            "bsn_hoofdhuurder": bsn_text(residents.bsn[main]),
            **dwelling_address(geography, dwelling),
            "achterstand_maanden": pl.Series(months).cast(pl.String),
            "achterstand_bedrag": amount.to_series(),
        }
    )


def politie_frame(seed: int, keyed: Keyed, geography: Geography, day: int) -> pl.DataFrame:
    """Incidents of the 365 days up to and including ``day``; each day is drawn on its own."""
    days = np.arange(day - 364, day + 1)
    residents = geography.expected_residents.sum()
    season = 1 + 0.15 * np.cos(2 * np.pi * (yyyymmdd(days) // 100 % 100 - 1) / 12)
    rate = residents * INCIDENTS_PER_RESIDENT_YEAR / 365 * season
    counts = np.array(
        [
            np.random.default_rng([seed, 41, int(d)]).poisson(r)
            for d, r in zip(days, rate, strict=True)
        ]
    )
    if counts.max() >= _MAX_INCIDENTS_PER_DAY:
        raise ValueError("too many incidents per day for the registratienummer scheme")
    incident_day = np.repeat(days, counts)
    number = np.arange(incident_day.size) - np.repeat(np.cumsum(counts) - counts, counts)
    key = incident_day * 4096 + number
    klass = keyed.choice("incident.class", key, _CLASS_SHARE)
    weight = (
        geography.expected_residents[:, None]
        * _CLASS_BY_TYPE[geography.buurt_type]
        * geography.hotspot[:, None]
    )
    # Industrial estates and the centre draw incidents beyond their few residents.
    outside_visitors = np.isin(geography.buurt_type, (BEDRIJVEN, CENTRUM))
    weight += outside_visitors[:, None] * weight.mean(axis=0) * 0.3
    probabilities = (weight / weight.sum(axis=0)).T
    buurt = keyed.choice("incident.buurt", key, probabilities[klass])
    first_address = np.searchsorted(geography.address_buurt, np.arange(geography.buurt_type.size))
    n_addresses = np.bincount(geography.address_buurt, minlength=geography.buurt_type.size)
    address = first_address[buurt] + (
        keyed.uniform("incident.address", key) * n_addresses[buurt]
    ).astype(np.int64)
    ymd = yyyymmdd(incident_day)
    as_date = incident_day.astype("datetime64[D]")
    day_of_year = (as_date - as_date.astype("datetime64[Y]").astype("datetime64[D]")).astype(
        np.int64
    )
    sequence = day_of_year * _MAX_INCIDENTS_PER_DAY + number
    registratienummer = pl.DataFrame({"year": ymd // 10000, "sequence": sequence}).select(
        pl.concat_str(
            [
                pl.lit(f"{geography.place.registratie_prefix}-"),
                pl.col("year").cast(pl.String),
                pl.col("sequence").cast(pl.String).str.zfill(6),
            ]
        )
    )
    return pl.DataFrame(
        {
            "registratienummer": registratienummer.to_series(),
            "datum": pl.Series(ymd).cast(pl.String),
            "maatschappelijke_klasse": pl.Series(np.array(CLASSES)[klass], dtype=pl.String),
            "postcode": pl.Series(geography.address_postcode[address], dtype=pl.String),
            "huisnummer": pl.Series(geography.address_huisnummer[address]).cast(pl.String),
        }
    )
