"""BRP and buurtindeling rows of one snapshot of the synthetic city."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from udc.sources.synthetic import names
from udc.sources.synthetic._keyed import Keyed, bsn_indices_to_numbers, yyyymmdd
from udc.sources.synthetic.geography import (
    HUISLETTERS,
    STUDENT,
    TOEVOEGINGEN,
    Geography,
)
from udc.sources.synthetic.population import HEAD, PARTNER, Households

_FOREIGN_CODES = np.array([code for code, _ in names.FOREIGN_NATIONALITIES])
_FOREIGN_WEIGHTS = np.array([weight for _, weight in names.FOREIGN_NATIONALITIES], dtype=float)
_UNKNOWN_NATIONALITY_SHARE = 0.002
# Share of people born abroad whose birth date the BRP holds only partly (yyyy0000, yyyymm00).
_PARTIAL_BIRTH_DATE_SHARE = 0.05


@dataclass(frozen=True)
class Residents:
    """One entry per person living in the city on the peildatum (BRP order)."""

    row: np.ndarray  # household row in Households
    slot: np.ndarray
    person: np.ndarray
    bsn: np.ndarray
    birth: np.ndarray
    death: np.ndarray
    age: np.ndarray
    registered: np.ndarray


def age_on(birth: np.ndarray, day: int) -> np.ndarray:
    """Age in whole years by calendar, as a mart computes it from geboortedatum."""
    return (int(yyyymmdd(np.array([day]))[0]) - yyyymmdd(birth)) // 10000


def residents_of(
    seed: int, households: Households, first_identity: np.ndarray, day: int
) -> Residents:
    """``first_identity`` is the BSN index of each household's first member (Tenancies);
    ``seed`` keys the BSN permutation (the country's, for a municipality of a region)."""
    row, slot = np.nonzero(households.present)
    person = households.person[row, slot]
    birth = households.birth[row, slot]
    member = (np.cumsum(households.exists, axis=1) - 1)[row, slot]
    return Residents(
        row=row,
        slot=slot,
        person=person,
        bsn=bsn_indices_to_numbers(seed, first_identity[households.household[row]] + member),
        birth=birth,
        death=households.death[row, slot],
        age=age_on(birth, day),
        registered=np.maximum(households.arrival[row], birth),
    )


def bsn_text(numbers: np.ndarray) -> pl.Series:
    return pl.Series(numbers, dtype=pl.Int64).cast(pl.String).str.zfill(9)


def date_text(days: np.ndarray) -> pl.Series:
    return pl.Series(yyyymmdd(days), dtype=pl.Int64).cast(pl.String)


def _lookup(values: Sequence[str], index: np.ndarray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(pl.Series(index, dtype=pl.UInt32))


def dwelling_address(geography: Geography, dwelling: np.ndarray) -> dict[str, pl.Series]:
    address = geography.dwelling_address[dwelling]
    postcodes = pl.Series(geography.address_postcode, dtype=pl.String)
    return {
        "postcode": postcodes.gather(pl.Series(address, dtype=pl.UInt32)),
        "huisnummer": pl.Series(geography.address_huisnummer[address]).cast(pl.String),
        "huisletter": _lookup(HUISLETTERS, geography.dwelling_huisletter[dwelling]),
        "huisnummertoevoeging": _lookup(TOEVOEGINGEN, geography.dwelling_toevoeging[dwelling]),
    }


def _nationalities(
    keyed: Keyed, geography: Geography, households: Households, residents: Residents
) -> tuple[np.ndarray, np.ndarray]:
    """Nationality code per resident, and whether the resident's household came from abroad."""
    household = households.household
    origin_type = geography.buurt_type[households.origin_buurt]
    foreign_share = 0.06 + 0.3 * geography.deprivation[households.origin_buurt]
    foreign_share = np.where(origin_type == STUDENT, foreign_share + 0.15, foreign_share)
    foreign = keyed.uniform("nationality.household", household) < foreign_share
    household_code = _FOREIGN_CODES[keyed.choice("nationality.code", household, _FOREIGN_WEIGHTS)]
    row, slot = residents.row, residents.slot
    person = residents.person
    born_here = residents.birth > households.arrival[row]
    u = keyed.uniform("nationality.person", person)
    dutch = np.where(
        foreign[row],
        ((slot == PARTNER) & (u < 0.3)) | (born_here & (u < 0.6)),
        ~((slot == PARTNER) & (u < 0.04)),
    )
    mixed_code = _FOREIGN_CODES[keyed.choice("nationality.partner", person, _FOREIGN_WEIGHTS)]
    code = np.where(dutch, names.DUTCH, np.where(foreign[row], household_code[row], mixed_code))
    unknown = keyed.uniform("nationality.unknown", person) < _UNKNOWN_NATIONALITY_SHARE
    return np.where(unknown, names.UNKNOWN, code), foreign[row]


def _name_columns(
    keyed: Keyed,
    households: Households,
    residents: Residents,
    sex: np.ndarray,
    dutch: np.ndarray,
    foreign_household: np.ndarray,
) -> dict[str, pl.Series]:
    row, slot, person = residents.row, residents.slot, residents.person
    surnames = names.DUTCH_SURNAMES + names.OTHER_SURNAMES
    n_dutch = len(names.DUTCH_SURNAMES)
    n_other = len(names.OTHER_SURNAMES)

    def surname_of(keys: np.ndarray, foreign: np.ndarray) -> np.ndarray:
        return np.where(
            foreign,
            n_dutch + keyed.integers("surname.other", keys, 0, n_other),
            keyed.integers("surname", keys, 0, n_dutch),
        )

    # Children carry the head's name, some the partner's; housemates have their own.
    head_name = surname_of(households.person[row, HEAD], foreign_household)
    partner_name = surname_of(households.person[row, PARTNER], foreign_household)
    own_name = surname_of(person, ~dutch)
    child = households.child[row, slot]
    takes_partner_name = keyed.uniform("surname.child", person) < 0.15
    surname = np.select(
        [slot == HEAD, slot == PARTNER, child & ~takes_partner_name, child],
        [head_name, partner_name, head_name, partner_name],
        own_name,
    )
    female = sex == "V"
    first_lists = (
        names.MALE_NAMES,
        names.FEMALE_NAMES,
        names.OTHER_MALE_NAMES,
        names.OTHER_FEMALE_NAMES,
    )
    offsets = np.cumsum([0, *(len(x) for x in first_lists)])
    group = np.where(dutch, 0, 2) + female
    all_first = [name for names_list in first_lists for name in names_list]
    count = keyed.choice("voornamen.count", person, np.array([0.4, 0.4, 0.2])) + 1
    size = offsets[group + 1] - offsets[group]
    given = pl.DataFrame(
        {
            f"v{p}": _lookup(
                all_first,
                offsets[group] + (keyed.uniform(f"voornaam.{p}", person) * size).astype(np.int64),
            )
            for p in range(3)
        }
    ).with_columns(count=pl.Series(count))
    voornamen = given.select(
        pl.concat_str(
            [pl.when(pl.col("count") > p).then(pl.col(f"v{p}")) for p in range(3)],
            separator=" ",
            ignore_nulls=True,
        )
    ).to_series()
    return {
        "geslachtsnaam": _lookup([s for _, s in surnames], surname),
        "voorvoegsel": _lookup([v for v, _ in surnames], surname),
        "voornamen": voornamen,
    }


def brp_frame(
    keyed: Keyed, geography: Geography, households: Households, residents: Residents, day: int
) -> pl.DataFrame:
    row, slot, person = residents.row, residents.slot, residents.person
    sex = households.sex[row, slot]
    nationality, foreign_household = _nationalities(keyed, geography, households, residents)
    born_abroad = (nationality != names.DUTCH) & (residents.birth <= households.arrival[row])
    birth_ymd = yyyymmdd(residents.birth)
    partial = born_abroad & (keyed.uniform("birth.partial", person) < _PARTIAL_BIRTH_DATE_SHARE)
    month_unknown = keyed.uniform("birth.month", person) < 0.5
    unknown_part = np.where(month_unknown, birth_ymd % 10000, birth_ymd % 100)
    birth_ymd = np.where(partial, birth_ymd - unknown_part, birth_ymd)
    anummer = 1_000_000_000 + keyed.integers("anummer", person, 0, 9_000_000_000)
    return pl.DataFrame(
        {
            "burgerservicenummer": bsn_text(residents.bsn),
            "anummer": pl.Series(anummer).cast(pl.String),
            **_name_columns(
                keyed, households, residents, sex, nationality == names.DUTCH, foreign_household
            ),
            "geboortedatum": pl.Series(birth_ymd).cast(pl.String),
            "geslachtsaanduiding": pl.Series(sex, dtype=pl.String),
            **dwelling_address(geography, households.dwelling[row]),
            "gemeentecode": pl.repeat(
                geography.gemeentecode, row.size, eager=True, dtype=pl.String
            ),
            "datum_inschrijving": date_text(residents.registered),
            "nationaliteit": pl.Series(nationality, dtype=pl.String),
        }
    )


def buurtindeling_frame(geography: Geography) -> pl.DataFrame:
    buurten = geography.buurten.with_row_index("buurt")
    addresses = pl.DataFrame(
        {
            "postcode": pl.Series(geography.address_postcode, dtype=pl.String),
            "huisnummer": pl.Series(geography.address_huisnummer).cast(pl.String),
            "buurt": pl.Series(geography.address_buurt, dtype=pl.UInt32),
        }
    )
    return addresses.join(buurten, on="buurt", how="left", maintain_order="left").select(
        "postcode", "huisnummer", "buurtcode", "buurtnaam", "wijkcode", "wijknaam", "gemeentecode"
    )
