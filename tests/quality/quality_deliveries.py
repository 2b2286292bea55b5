"""Small parsed deliveries for the quality tests, shaped as the reader produces them.

Every line gets distinct values for the columns that must be unique, so a delivery of base
rows passes every check; a case changes some fields of one line and names the checks that
line must fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from udc.pseudonymize.bsn import random_valid_bsns
from udc.sources.contracts import Contract

TODAY = date(2024, 6, 30)
VALID_BSNS: list[str] = random_valid_bsns(np.random.default_rng(20240630), 400).tolist()

BASE_ROWS: dict[str, dict[str, str | None]] = {
    "brp": {
        "anummer": "1234567890",
        "geslachtsnaam": "Jansen",
        "voorvoegsel": None,
        "voornamen": "Jan",
        "geboortedatum": "19800115",
        "geslachtsaanduiding": "V",
        "postcode": "1234AB",
        "huisnummer": "12",
        "huisletter": None,
        "huisnummertoevoeging": None,
        "gemeentecode": "0363",
        "datum_inschrijving": "20000101",
        "nationaliteit": "0001",
    },
    "buurtindeling": {
        "postcode": "9999AA",
        "buurtcode": "BU99990101",
        "buurtnaam": "Centrum",
        "wijkcode": "WK999901",
        "wijknaam": "Binnenstad",
        "gemeentecode": "GM9999",
    },
    "bijstand": {
        "regeling": "PW",
        "leefvorm": "alleenstaand",
        "ingangsdatum": "20230101",
        "einddatum": None,
    },
    "wmo": {
        "voorziening": "HH",
        "ingangsdatum": "20230101",
        "einddatum": "20231231",
        "aanbieder_agb": "12345678",
    },
    "huurachterstand": {
        "postcode": "1234AB",
        "huisnummer": "5",
        "huisletter": "A",
        "huisnummertoevoeging": "2",
        "achterstand_maanden": "3",
        "achterstand_bedrag": "1250,50",
    },
    "politie_incidenten": {
        "datum": "20240101",
        "maatschappelijke_klasse": "fietsdiefstal",
        "postcode": "1234AB",
        "huisnummer": "7",
    },
}


def base_row(contract: Contract, index: int) -> dict[str, str | None]:
    """A valid row whose unique columns differ from those of every other index."""
    row = dict(BASE_ROWS[contract.id])
    if contract.bsn_column:
        row[contract.bsn_column] = VALID_BSNS[index]
    if contract.id == "buurtindeling":
        row["huisnummer"] = str(index + 1)
    if contract.id == "politie_incidenten":
        row["registratienummer"] = f"PL-{index:05d}"
    return row


def delivery(contract: Contract, rows: list[dict[str, str | None]]) -> pl.DataFrame:
    """A parsed delivery: String columns plus line_number (the header is line 1)."""
    columns = list(rows[0])
    frame = pl.DataFrame(
        {c: [row[c] for row in rows] for c in columns}, schema={c: pl.String for c in columns}
    )
    return frame.with_columns(pl.int_range(2, len(rows) + 2, dtype=pl.Int64).alias("line_number"))


@dataclass(frozen=True)
class Case:
    """One line of a delivery: fields changed from a valid row, checks it must fail."""

    changes: dict[str, str | None]
    fails: frozenset[str] = field(default_factory=frozenset)


def case(changes: dict[str, str | None], *fails: str) -> Case:
    return Case(changes, frozenset(fails))


TOO_LONG = "x" * 201

# For every check kind, lines that violate it and lines that (just) do not.
CASES: dict[str, list[Case]] = {
    "brp": [
        case({"burgerservicenummer": None}, "burgerservicenummer.not_null"),
        case({"burgerservicenummer": "123456789"}, "burgerservicenummer.valid_bsn"),
        case({"burgerservicenummer": "12345678A"}, "burgerservicenummer.valid_bsn"),
        case({"burgerservicenummer": "000000000"}, "burgerservicenummer.valid_bsn"),
        case({"burgerservicenummer": "12345678"}, "burgerservicenummer.eight_digit_bsn"),
        case({"anummer": "123"}, "anummer.pattern"),
        case({"geslachtsnaam": None}, "geslachtsnaam.not_null"),
        case({"geslachtsnaam": TOO_LONG}, "geslachtsnaam.max_length"),
        case({"geslachtsnaam": "x" * 200}),
        case({"geboortedatum": "19700000"}),
        case({"geboortedatum": "19700500"}),
        case({"geboortedatum": "20000229"}),
        case({"geboortedatum": "19700229"}, "geboortedatum.brp_date"),
        case({"geboortedatum": "19701300"}, "geboortedatum.brp_date"),
        case({"geboortedatum": "19700015"}, "geboortedatum.brp_date"),
        case({"geboortedatum": "00000000"}, "geboortedatum.brp_date"),
        case({"geboortedatum": "1970-01-01"}, "geboortedatum.brp_date"),
        case({"geboortedatum": None}, "geboortedatum.not_null"),
        case({"geslachtsaanduiding": "X"}, "geslachtsaanduiding.values"),
        case({"geslachtsaanduiding": "m"}, "geslachtsaanduiding.values"),
        case({"postcode": "1234 ab"}, "postcode.postcode_normalised"),
        case({"postcode": "1234Ab"}, "postcode.postcode_normalised"),
        case({"postcode": "0123AB"}, "postcode.postcode"),
        case({"postcode": "1234ABC"}, "postcode.postcode"),
        case({"huisnummer": "1"}),
        case({"huisnummer": "99999"}),
        case({"huisnummer": "0"}, "huisnummer.range"),
        case({"huisnummer": "100000"}, "huisnummer.range"),
        case({"huisnummer": "-1"}, "huisnummer.range"),
        case({"huisnummer": "12a"}, "huisnummer.integer"),
        case({"huisnummer": "1e3"}, "huisnummer.integer"),
        case({"huisletter": "A"}),
        case({"huisletter": "AB"}, "huisletter.pattern"),
        case({"huisnummertoevoeging": "12345"}, "huisnummertoevoeging.pattern"),
        case({"gemeentecode": "363"}, "gemeentecode.pattern"),
        case({"datum_inschrijving": "20240630"}),
        case({"datum_inschrijving": "20240701"}, "datum_inschrijving.not_in_future"),
        case({"datum_inschrijving": "20241301"}, "datum_inschrijving.date"),
        case({"datum_inschrijving": "20240631"}, "datum_inschrijving.date"),
        case({"nationaliteit": "1"}, "nationaliteit.pattern"),
    ],
    "buurtindeling": [
        case({"buurtcode": "BU123"}, "buurtcode.pattern"),
        case({"wijkcode": "WK99990101"}, "wijkcode.pattern"),
        case({"gemeentecode": "9999"}, "gemeentecode.pattern"),
        case({"buurtnaam": None}, "buurtnaam.not_null"),
        case({"wijknaam": TOO_LONG}, "wijknaam.max_length"),
        case({"postcode": "1111AA", "huisnummer": "10"}),
        case({"postcode": "1111AB", "huisnummer": "10"}),
        case({"postcode": "1111AA", "huisnummer": "11"}),
    ],
    "bijstand": [
        case({"regeling": "XX"}, "regeling.values"),
        case({"regeling": None}, "regeling.not_null"),
        case({"leefvorm": "samenwonend"}, "leefvorm.values"),
        case({"leefvorm": "gehuwd_samenwonend"}),
        case({"ingangsdatum": "20230230"}, "ingangsdatum.date"),
        case({"ingangsdatum": "2023-01-01"}, "ingangsdatum.date"),
        case({"ingangsdatum": None}, "ingangsdatum.not_null"),
        case({"einddatum": "20221231"}, "einddatum.date_order"),
        case({"einddatum": "20230101"}),
        case({"einddatum": "20230132"}, "einddatum.date"),
        case({"ingangsdatum": "20230132", "einddatum": "20200101"}, "ingangsdatum.date"),
    ],
    "wmo": [
        case({"voorziening": "XX"}, "voorziening.values"),
        case({"aanbieder_agb": "1234567"}, "aanbieder_agb.pattern"),
        case({"einddatum": None}),
        case({"einddatum": "20221231"}, "einddatum.date_order"),
    ],
    "huurachterstand": [
        case({"achterstand_maanden": "0"}, "achterstand_maanden.range"),
        case({"achterstand_maanden": "1.5"}, "achterstand_maanden.integer"),
        case({"achterstand_maanden": "600"}),
        case({"achterstand_bedrag": "12.50"}),
        case({"achterstand_bedrag": "0"}),
        case({"achterstand_bedrag": "1.000,00"}, "achterstand_bedrag.decimal"),
        case({"achterstand_bedrag": "€ 12"}, "achterstand_bedrag.decimal"),
        case({"achterstand_bedrag": "-5"}, "achterstand_bedrag.range"),
        case(
            {"achterstand_bedrag": "1000000,01"},
            "achterstand_bedrag.range",
            "achterstand_bedrag.plausibel",
        ),
        case({"achterstand_bedrag": "50000"}),
        case({"achterstand_bedrag": "50000,01"}, "achterstand_bedrag.plausibel"),
        case({"huisletter": None, "huisnummertoevoeging": None}),
    ],
    "politie_incidenten": [
        case({"datum": "20240630"}),
        case({"datum": "20250101"}, "datum.not_in_future"),
        case({"maatschappelijke_klasse": "diefstal"}, "maatschappelijke_klasse.values"),
        case({"registratienummer": None}, "registratienummer.not_null"),
    ],
}


def case_delivery(contract: Contract) -> tuple[pl.DataFrame, list[Case]]:
    """One line per case of ``contract`` (line i + 2 holds case i)."""
    cases = CASES[contract.id]
    rows = [base_row(contract, i) | c.changes for i, c in enumerate(cases)]
    return delivery(contract, rows), cases


def clean_delivery(contract: Contract, rows: int = 20) -> pl.DataFrame:
    return delivery(contract, [base_row(contract, i) for i in range(rows)])
