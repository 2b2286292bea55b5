"""Expectation suites generated from delivery contracts.

Every expectation carries ``meta["udc"]``: a stable check id, the contract column it is
about, its severity (``error`` rejects the row, ``warning`` only reports it) and a Dutch
description written for the person at the source who has to fix the delivery.

Checks GX cannot express efficiently on text columns (is this a real calendar date, how large
is this number, which date comes first) run on helper columns that
:func:`with_helper_columns` derives in polars before the pandas hand-over: a date validity
flag, a date as the number YYYYMMDD, a parsed number and a normalised key. The suite still
decides; polars only prepares the operands.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any, Literal

import polars as pl

from udc.quality.expectations import ExpectColumnValuesToBeValidBsn, gx
from udc.sources.contracts import Column, Contract

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"
META_KEY = "udc"

# [0-9] rather than \d: \d also matches non-ASCII digits in some regex engines.
INTEGER_PATTERN = r"^-?[0-9]+$"
DECIMAL_PATTERN = r"^-?[0-9]+(?:[.,][0-9]+)?$"
EIGHT_DIGITS_PATTERN = r"^[0-9]{8}$"
POSTCODE_PATTERN = r"^[1-9][0-9]{3} ?[A-Za-z]{2}$"
POSTCODE_STRICT_PATTERN = r"^[1-9][0-9]{3}[A-Z]{2}$"
# Exactly the values POSTCODE_PATTERN accepts but POSTCODE_STRICT_PATTERN does not (a space or
# a lower-case letter): ingest normalises these, so they are a warning. Values failing
# POSTCODE_PATTERN are an error and are not reported a second time as a warning.
POSTCODE_NORMALISED_PATTERN = r"^[1-9][0-9]{3}(?: [A-Za-z]{2}|[a-z][A-Za-z]|[A-Z][a-z])$"

DATE_TYPES = ("date", "brp_date")
NUMBER_TYPES = ("integer", "decimal")
# Types whose delivered spelling can differ for one value ("1234 ab" and "1234AB", "07" and
# "7"): uniqueness compares them as ingest will store them.
NORMALISED_KEY_TYPES = ("postcode", "integer")


def valid_date_column(name: str) -> str:
    return f"__valid_date__{name}"


def date_column(name: str) -> str:
    return f"__date__{name}"


def number_column(name: str) -> str:
    return f"__number__{name}"


def key_column(name: str) -> str:
    return f"__key__{name}"


def _days_in_month(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return (
        pl.when(month == 2)
        .then(pl.when(leap).then(29).otherwise(28))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )


def _date_number(value: pl.Expr) -> pl.Expr:
    """YYYYMMDD as an integer where the value is exactly 8 ASCII digits, else null."""
    return pl.when(value.str.contains(r"^[0-9]{8}$")).then(value.cast(pl.Int64, strict=False))


def _date_validity(number: pl.Expr, column_type: str) -> pl.Expr:
    """True where a date number (see :func:`_date_number`) is valid for the column type.

    Calendar arithmetic on the number rather than date parsing: several times faster.
    """
    year, month, day = number // 10_000, number // 100 % 100, number % 100
    real = (year > 0) & month.is_between(1, 12) & day.is_between(1, _days_in_month(year, month))
    if column_type == "date":
        return real.fill_null(False)
    # BRP: an unknown day is 00; an unknown month is 00 and then the day is unknown too.
    partial = (year > 0) & (day == 0) & month.is_between(0, 12)
    return (real | partial).fill_null(False)


def _date_floor(number: pl.Expr, column_type: str) -> pl.Expr:
    """The earliest day a valid date number can mean, as float YYYYMMDD (null if invalid).

    A BRP 00 part counts as the 1st. A float64 number rather than a date because GX compares
    numpy numbers vectorised, but other date types one value at a time in Python.
    """
    month, day = number // 100 % 100, number % 100
    floor = number + pl.when(month == 0).then(100).otherwise(0) + (day == 0).cast(pl.Int64)
    return pl.when(_date_validity(number, column_type)).then(floor.cast(pl.Float64))


def _number(value: pl.Expr, column_type: str) -> pl.Expr:
    pattern = INTEGER_PATTERN if column_type == "integer" else DECIMAL_PATTERN
    text = value if column_type == "integer" else value.str.replace(",", ".", literal=True)
    return pl.when(value.str.contains(pattern)).then(text.cast(pl.Float64, strict=False))


def _key(value: pl.Expr, column_type: str) -> pl.Expr:
    if column_type == "postcode":
        return value.str.replace(" ", "", literal=True).str.to_uppercase()
    as_integer = value.cast(pl.Int64, strict=False).cast(pl.String)
    return pl.coalesce(as_integer, value)


def _unique_key_sets(contract: Contract, present: Collection[str]) -> list[tuple[str, ...]]:
    singles = [(c.name,) for c in contract.columns if c.unique and c.name in present]
    compounds = [key for key in contract.unique_keys if all(n in present for n in key)]
    return singles + compounds


def _checked_columns(contract: Contract, present: Collection[str]) -> list[Column]:
    return [c for c in contract.columns if c.name in present]


def with_helper_columns(
    frame: pl.DataFrame, contract: Contract, present: Collection[str]
) -> pl.DataFrame:
    """``frame`` plus the helper columns that the suite of ``contract`` expects."""
    columns = {c.name: c for c in _checked_columns(contract, present)}
    dated = {name for pair in contract.date_order for name in pair if name in columns}
    dated |= {c.name for c in columns.values() if c.not_in_future}
    keyed = {name for key in _unique_key_sets(contract, present) for name in key}
    date_types = {name: c.type for name, c in columns.items() if c.type in DATE_TYPES}
    # Each date is turned into a number once; validity and order both derive from it.
    numbers = {name: f"__date_number__{name}" for name in date_types}
    helpers: list[pl.Expr] = []
    for name, column_type in date_types.items():
        number = pl.col(numbers[name])
        validity = pl.col(name).is_null() | _date_validity(number, column_type)
        helpers.append(validity.alias(valid_date_column(name)))
        if name in dated:
            helpers.append(_date_floor(number, column_type).alias(date_column(name)))
    for column in columns.values():
        value = pl.col(column.name)
        if column.type in NUMBER_TYPES and (column.min is not None or column.max is not None):
            helpers.append(_number(value, column.type).alias(number_column(column.name)))
        if column.name in keyed and column.type in NORMALISED_KEY_TYPES:
            helpers.append(_key(value, column.type).alias(key_column(column.name)))
    return (
        frame.with_columns(_date_number(pl.col(name)).alias(n) for name, n in numbers.items())
        .with_columns(helpers)
        .drop(numbers.values())
    )


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value).replace(".", ",")


def _range_description(column: Column) -> str:
    low, high = column.min, column.max
    if low is not None and high is not None:
        low_text, high_text = _format_number(low), _format_number(high)
        return f"Het veld '{column.name}' ligt niet tussen {low_text} en {high_text}."
    if low is not None:
        return f"Het veld '{column.name}' is kleiner dan {_format_number(low)}."
    return f"Het veld '{column.name}' is groter dan {_format_number(high)}."  # type: ignore[arg-type]


class _SuiteBuilder:
    def __init__(self, contract: Contract) -> None:
        self.name = f"udc.{contract.id}"
        self.expectations: list[Any] = []

    def add(
        self,
        expectation_type: type,
        check_id: str,
        about: str,
        description: str,
        severity: Severity = ERROR,
        **kwargs: Any,
    ) -> None:
        meta = {
            META_KEY: {
                "check_id": check_id,
                "column": about,
                "severity": severity,
                "description": description,
            }
        }
        gx_severity = "critical" if severity == ERROR else "warning"
        self.expectations.append(expectation_type(meta=meta, severity=gx_severity, **kwargs))

    def suite(self) -> gx.ExpectationSuite:
        # Passed to the constructor, the suite needs no data context (add_expectation does).
        suite = gx.ExpectationSuite(name=self.name, expectations=self.expectations)
        # The constructor only logs an expectation it cannot take; a check must never vanish.
        if len(suite.expectations) != len(self.expectations):
            refused = len(self.expectations) - len(suite.expectations)
            raise ValueError(f"{self.name}: GX refused {refused} checks")
        return suite


def _add_column_checks(builder: _SuiteBuilder, column: Column, unique_via_key: bool) -> None:
    name = column.name
    add = builder.add
    e = gx.expectations
    if not column.nullable:
        add(
            e.ExpectColumnValuesToNotBeNull,
            f"{name}.not_null",
            name,
            f"Het veld '{name}' is leeg, maar moet gevuld zijn.",
            column=name,
        )
    if column.type == "bsn":
        add(
            ExpectColumnValuesToBeValidBsn,
            f"{name}.valid_bsn",
            name,
            f"Het veld '{name}' is geen geldig burgerservicenummer: het zijn geen 9 cijfers of het "
            "nummer voldoet niet aan de elfproef.",
            column=name,
            eight_digits_reported_separately=True,
        )
        add(
            e.ExpectColumnValuesToNotMatchRegex,
            f"{name}.eight_digit_bsn",
            name,
            f"Het veld '{name}' heeft 8 cijfers in plaats van 9: waarschijnlijk is de voorloopnul "
            "weggevallen, bijvoorbeeld doordat het bestand in een spreadsheet is geopend. Wij "
            "vullen het nummer niet zelf aan; lever het BSN met 9 cijfers aan.",
            column=name,
            regex=EIGHT_DIGITS_PATTERN,
        )
    elif column.type in DATE_TYPES:
        unknown_parts = " (een onbekende maand of dag is 00)" if column.type == "brp_date" else ""
        add(
            e.ExpectColumnValuesToBeInSet,
            f"{name}.{column.type}",
            name,
            f"Het veld '{name}' is geen bestaande datum in de vorm JJJJMMDD{unknown_parts}.",
            column=valid_date_column(name),
            value_set=[True],
        )
    elif column.type in NUMBER_TYPES:
        what = (
            "geen geheel getal"
            if column.type == "integer"
            else "geen getal (cijfers met een komma of punt als decimaalteken, zonder "
            "scheidingstekens voor duizendtallen)"
        )
        add(
            e.ExpectColumnValuesToMatchRegex,
            f"{name}.{column.type}",
            name,
            f"Het veld '{name}' is {what}.",
            column=name,
            regex=INTEGER_PATTERN if column.type == "integer" else DECIMAL_PATTERN,
        )
        if column.min is not None or column.max is not None:
            add(
                e.ExpectColumnValuesToBeBetween,
                f"{name}.range",
                name,
                _range_description(column),
                column=number_column(name),
                min_value=column.min,
                max_value=column.max,
            )
    elif column.type == "postcode":
        add(
            e.ExpectColumnValuesToMatchRegex,
            f"{name}.postcode",
            name,
            f"Het veld '{name}' is geen postcode: vier cijfers (de eerste geen 0) en twee letters, "
            "zoals 1234AB.",
            column=name,
            regex=POSTCODE_PATTERN,
        )
        add(
            e.ExpectColumnValuesToNotMatchRegex,
            f"{name}.postcode_normalised",
            name,
            f"Het veld '{name}' is niet precies in de afgesproken vorm 1234AB (zonder spatie, "
            "met hoofdletters). Wij hebben de postcode omgezet; pas dit graag aan in volgende "
            "leveringen.",
            severity=WARNING,
            column=name,
            regex=POSTCODE_NORMALISED_PATTERN,
        )
    if column.values is not None:
        add(
            e.ExpectColumnValuesToBeInSet,
            f"{name}.values",
            name,
            f"Het veld '{name}' heeft een waarde die niet is afgesproken; toegestaan zijn: "
            f"{', '.join(column.values)}.",
            column=name,
            value_set=list(column.values),
        )
    if column.pattern is not None:
        add(
            e.ExpectColumnValuesToMatchRegex,
            f"{name}.pattern",
            name,
            f"Het veld '{name}' heeft niet de afgesproken vorm (patroon {column.pattern}).",
            column=name,
            regex=column.pattern,
        )
    if column.type == "text":
        add(
            e.ExpectColumnValueLengthsToBeBetween,
            f"{name}.max_length",
            name,
            f"Het veld '{name}' is langer dan {column.max_length} tekens.",
            column=name,
            max_value=column.max_length,
        )
    if column.unique:
        what = "Hetzelfde BSN" if column.type == "bsn" else "Dezelfde waarde"
        add(
            e.ExpectColumnValuesToBeUnique,
            f"{name}.unique",
            name,
            f"{what} in '{name}' staat op meer dan één regel, terwijl elke waarde maar één keer "
            "mag voorkomen. Alle regels met die waarde zijn afgekeurd, omdat wij niet kunnen "
            "weten welke regel juist is.",
            column=key_column(name) if unique_via_key else name,
        )


def _add_not_in_future(builder: _SuiteBuilder, column: Column, today: date) -> None:
    builder.add(
        gx.expectations.ExpectColumnValuesToBeBetween,
        f"{column.name}.not_in_future",
        column.name,
        f"Het veld '{column.name}' ligt in de toekomst (na {today:%d-%m-%Y}, de dag van "
        "verwerking).",
        column=date_column(column.name),
        max_value=int(f"{today:%Y%m%d}"),
    )


def _add_date_order(builder: _SuiteBuilder, first: str, then: str) -> None:
    builder.add(
        gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB,
        f"{then}.date_order",
        then,
        f"Het veld '{then}' ligt vóór '{first}'.",
        column_A=date_column(then),
        column_B=date_column(first),
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )


def _add_compound_unique(builder: _SuiteBuilder, contract: Contract, key: tuple[str, ...]) -> None:
    normalised = {c.name for c in contract.columns if c.type in NORMALISED_KEY_TYPES}
    names = " en ".join(f"'{name}'" for name in key)
    builder.add(
        gx.expectations.ExpectCompoundColumnsToBeUnique,
        f"{'+'.join(key)}.unique",
        ", ".join(key),
        f"De combinatie van {names} staat op meer dan één regel, terwijl elke combinatie maar "
        "één keer mag voorkomen. Alle regels met die combinatie zijn afgekeurd, omdat wij niet "
        "kunnen weten welke regel juist is.",
        column_list=[key_column(n) if n in normalised else n for n in key],
        ignore_row_if="any_value_is_missing",
    )


def _check_date_settings(contract: Contract) -> None:
    dated = [name for pair in contract.date_order for name in pair]
    dated += [c.name for c in contract.columns if c.not_in_future]
    for name in dated:
        if contract.column(name).type not in DATE_TYPES:
            raise ValueError(f"{contract.id}: {name!r} is used as a date but has no date type")


def build_suite(
    contract: Contract, today: date, columns: Collection[str] | None = None
) -> gx.ExpectationSuite:
    """The expectation suite of ``contract``, limited to the delivered ``columns``.

    ``today`` is the processing date that ``not_in_future`` compares with. Checks about an
    optional column that was not delivered are left out; the frame the suite runs on must
    also hold :func:`with_helper_columns`.
    """
    _check_date_settings(contract)
    present = set(contract.column_names if columns is None else columns)
    builder = _SuiteBuilder(contract)
    for column in _checked_columns(contract, present):
        unique_via_key = column.type in NORMALISED_KEY_TYPES
        _add_column_checks(builder, column, unique_via_key)
        if column.not_in_future:
            _add_not_in_future(builder, column, today)
    for first, then in contract.date_order:
        if first in present and then in present:
            _add_date_order(builder, first, then)
    for key in contract.unique_keys:
        if all(name in present for name in key):
            _add_compound_unique(builder, contract, key)
    return builder.suite()
