"""Expectation suites generated from delivery contracts.

Every expectation carries ``meta["udc"]``: a stable check id, the contract column it is
about, its severity (``error`` rejects the row, ``warning`` only reports it) and a Dutch
description written for the person at the source who has to fix the delivery.

Checks GX cannot express efficiently on text columns (is this a real calendar date, how large
is this number, which date comes first) run on helper columns that
:func:`with_helper_columns` derives in polars before the pandas hand-over: a date validity
flag, a date as the number YYYYMMDD, a parsed number and a normalised key. The suite still
decides; polars only prepares the operands.

Each check is a :class:`CheckSpec` with a scope that says what it needs to see: ``value``
checks judge each row on its own values (validation may run them once per distinct value),
``rows`` checks need every row of their columns (uniqueness, aggregates), ``table`` checks
only the delivery as a whole (its row count against the previous delivery).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import polars as pl
from great_expectations.expectations.expectation import (
    BatchExpectation,
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)

from udc.quality.expectations import ExpectColumnValuesToBeValidBsn, gx
from udc.sources.contracts import (
    COLUMN_ARGUMENTS,
    COLUMN_LIST_ARGUMENT,
    Column,
    Contract,
    ContractError,
    CustomExpectation,
    columns_named,
)

Severity = Literal["error", "warning"]
Scope = Literal["value", "rows", "table"]
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


HELPER_COLUMN = re.compile(r"^__(valid_date|date|number|key)__(.+)$")


def base_column(name: str) -> str:
    """The delivered column a (helper) column is derived from."""
    match = HELPER_COLUMN.match(name)
    return match.group(2) if match else name


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


def with_helper_columns(
    frame: pl.DataFrame, contract: Contract, helpers: Collection[str]
) -> pl.DataFrame:
    """``frame`` plus the named helper columns (see :func:`base_column`), derived in polars."""
    wanted = [HELPER_COLUMN.match(h) for h in helpers]
    parsed = [(m.group(1), m.group(2)) for m in wanted if m]
    dates = {base for kind, base in parsed if kind in ("valid_date", "date")}
    # Each date is turned into a number once; validity and order both derive from it.
    numbers = {name: f"__date_number__{name}" for name in dates}
    expressions: list[pl.Expr] = []
    for kind, name in parsed:
        column_type = contract.column(name).type
        value = pl.col(name)
        if kind == "valid_date":
            validity = value.is_null() | _date_validity(pl.col(numbers[name]), column_type)
            expressions.append(validity.alias(valid_date_column(name)))
        elif kind == "date":
            expressions.append(
                _date_floor(pl.col(numbers[name]), column_type).alias(date_column(name))
            )
        elif kind == "number":
            expressions.append(_number(value, column_type).alias(number_column(name)))
        else:
            expressions.append(_key(value, column_type).alias(key_column(name)))
    return (
        frame.with_columns(_date_number(pl.col(name)).alias(n) for name, n in numbers.items())
        .with_columns(expressions)
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


# Expectations whose verdict on a row depends on that row's values in its columns alone.
_VALUE_SCOPED = {
    getattr(gx.expectations, name)
    for name in (
        "ExpectColumnValuesToBeInSet",
        "ExpectColumnValuesToNotBeInSet",
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnValuesToMatchRegex",
        "ExpectColumnValuesToNotMatchRegex",
        "ExpectColumnValuesToMatchRegexList",
        "ExpectColumnValuesToNotMatchRegexList",
        "ExpectColumnValuesToMatchLikePattern",
        "ExpectColumnValuesToNotMatchLikePattern",
        "ExpectColumnValuesToMatchLikePatternList",
        "ExpectColumnValuesToNotMatchLikePatternList",
        "ExpectColumnValuesToNotBeNull",
        "ExpectColumnValuesToBeNull",
        "ExpectColumnValueLengthsToBeBetween",
        "ExpectColumnValueLengthsToEqual",
        "ExpectColumnValuesToMatchStrftimeFormat",
        "ExpectColumnValuesToBeDateutilParseable",
        "ExpectColumnValuesToBeJsonParseable",
        "ExpectColumnPairValuesToBeEqual",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "ExpectColumnPairValuesToBeInSet",
        "ExpectMulticolumnSumToEqual",
        "ExpectSelectColumnValuesToBeUniqueWithinRecord",
    )
} | {ExpectColumnValuesToBeValidBsn}
_TABLE_SCOPED = {
    gx.expectations.ExpectTableRowCountToBeBetween,
    gx.expectations.ExpectTableRowCountToEqual,
}
# Expectations that compare values by size: a number or date column is handed over as a number.
_COMPARING = {
    getattr(gx.expectations, name)
    for name in (
        "ExpectColumnValuesToBeBetween",
        "ExpectColumnMinToBeBetween",
        "ExpectColumnMaxToBeBetween",
        "ExpectColumnMeanToBeBetween",
        "ExpectColumnMedianToBeBetween",
        "ExpectColumnSumToBeBetween",
        "ExpectColumnStdevToBeBetween",
        "ExpectColumnQuantileValuesToBeBetween",
        "ExpectColumnPairValuesAToBeGreaterThanB",
        "ExpectMulticolumnSumToEqual",
    )
}


@dataclass(eq=False)
class CheckSpec:
    """One check: the GX expectation it becomes, and what the report says about it."""

    expectation: type
    check_id: str
    about: str
    description: str
    severity: Severity
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> Scope:
        if self.expectation in _TABLE_SCOPED:
            return "table"
        return "value" if self.expectation in _VALUE_SCOPED else "rows"

    @property
    def row_level(self) -> bool:
        """Whether a failure names rows (a map expectation) rather than the delivery."""
        return issubclass(
            self.expectation,
            (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """The frame columns the expectation reads, helper columns included."""
        return columns_named(self.kwargs)

    @property
    def base_columns(self) -> tuple[str, ...]:
        return tuple(sorted({base_column(c) for c in self.columns}))

    def build(self) -> Any:
        meta = {
            META_KEY: {
                "check_id": self.check_id,
                "column": self.about,
                "severity": self.severity,
                "description": self.description,
            }
        }
        gx_severity = "critical" if self.severity == ERROR else "warning"
        return self.expectation(meta=meta, severity=gx_severity, **self.kwargs)


def suite_of(name: str, specs: Iterable[CheckSpec]) -> gx.ExpectationSuite:
    """A GX suite of ``specs``; raises if GX refuses one (it would otherwise only log it)."""
    expectations = [spec.build() for spec in specs]
    # Passed to the constructor, the suite needs no data context (add_expectation does).
    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    if len(suite.expectations) != len(expectations):
        refused = len(expectations) - len(suite.expectations)
        raise ValueError(f"{name}: GX refused {refused} checks")
    return suite


class _SuiteBuilder:
    def __init__(self) -> None:
        self.specs: list[CheckSpec] = []

    def add(
        self,
        expectation_type: type,
        check_id: str,
        about: str,
        description: str,
        severity: Severity = ERROR,
        **kwargs: Any,
    ) -> None:
        self.specs.append(
            CheckSpec(expectation_type, check_id, about, description, severity, kwargs)
        )


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


@dataclass(frozen=True)
class PreviousDelivery:
    """The delivery the row count is compared with: the source's latest earlier one."""

    peildatum: date
    rows: int


def _add_row_count_change(
    builder: _SuiteBuilder, contract: Contract, previous: PreviousDelivery
) -> None:
    decrease, increase = contract.max_row_decrease, contract.max_row_increase
    if decrease is None and increase is None:
        return
    low = math.ceil(previous.rows * (1 - decrease)) if decrease is not None else None
    high = math.floor(previous.rows * (1 + increase)) if increase is not None else None
    if low is not None and high is not None:
        allowed = f"tussen {_format_number(low)} en {_format_number(high)}"
    elif low is not None:
        allowed = f"minstens {_format_number(low)}"
    else:
        allowed = f"hooguit {_format_number(high)}"  # type: ignore[arg-type]
    builder.add(
        gx.expectations.ExpectTableRowCountToBeBetween,
        "rows.change",
        "",
        f"Het aantal regels wijkt te veel af van de vorige levering (peildatum "
        f"{previous.peildatum:%d-%m-%Y}, {_format_number(previous.rows)} regels): verwacht is "
        f"{allowed} regels. Een bestand dat plotseling veel kleiner of groter is, is meestal "
        "onvolledig of dubbel; controleer de selectie en lever opnieuw aan.",
        min_value=low,
        max_value=high,
    )


def _expectation_class(name: str) -> type:
    camel = name if "_" not in name else "".join(p.capitalize() for p in name.split("_"))
    expectation = getattr(gx.expectations, camel, None)
    if not (isinstance(expectation, type) and camel.startswith("Expect")):
        raise ContractError(f"{name!r} is not a Great Expectations expectation")
    return expectation


def _add_configured(builder: _SuiteBuilder, contract: Contract, custom: CustomExpectation) -> None:
    expectation = _expectation_class(custom.expectation)
    if issubclass(expectation, BatchExpectation) and (
        expectation not in _TABLE_SCOPED and not custom.columns
    ):
        raise ContractError(
            f"{contract.id}.{custom.id}: {custom.expectation} is not about delivered rows"
        )
    kwargs = dict(custom.arguments)
    if expectation in _COMPARING:
        for key in (*COLUMN_ARGUMENTS, COLUMN_LIST_ARGUMENT):
            if key in kwargs:
                kwargs[key] = _as_comparable(contract, kwargs[key])
    builder.add(
        expectation,
        custom.id,
        ", ".join(custom.columns),
        custom.description,
        severity=ERROR if custom.severity == ERROR else WARNING,
        **kwargs,
    )


def _as_comparable(contract: Contract, names: Any) -> Any:
    if isinstance(names, list | tuple):
        return [_as_comparable(contract, n) for n in names]
    column_type = contract.column(names).type
    if column_type in NUMBER_TYPES:
        return number_column(names)
    return date_column(names) if column_type in DATE_TYPES else names


def build_checks(
    contract: Contract,
    today: date,
    columns: Collection[str] | None = None,
    previous: PreviousDelivery | None = None,
) -> list[CheckSpec]:
    """The checks of ``contract``, limited to the delivered ``columns``.

    ``today`` is the processing date that ``not_in_future`` compares with; ``previous`` is the
    delivery the row count is compared with (none for a source's first delivery). Checks about
    an optional column that was not delivered are left out. Raises :class:`ContractError` for
    a configured expectation that GX does not know or that is not about delivered rows.
    """
    _check_date_settings(contract)
    present = set(contract.column_names if columns is None else columns)
    builder = _SuiteBuilder()
    for column in [c for c in contract.columns if c.name in present]:
        _add_column_checks(builder, column, column.type in NORMALISED_KEY_TYPES)
        if column.not_in_future:
            _add_not_in_future(builder, column, today)
    for first, then in contract.date_order:
        if first in present and then in present:
            _add_date_order(builder, first, then)
    for key in contract.unique_keys:
        if all(name in present for name in key):
            _add_compound_unique(builder, contract, key)
    for custom in contract.expectations:
        if all(name in present for name in custom.columns):
            try:
                _add_configured(builder, contract, custom)
            except TypeError as exc:
                raise ContractError(f"{contract.id}.{custom.id}: {exc}") from None
    if previous is not None:
        _add_row_count_change(builder, contract, previous)
    ids = [spec.check_id for spec in builder.specs]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ContractError(f"{contract.id}: check id(s) {twice} are used more than once")
    return builder.specs


def build_suite(
    contract: Contract,
    today: date,
    columns: Collection[str] | None = None,
    previous: PreviousDelivery | None = None,
) -> gx.ExpectationSuite:
    """The expectation suite of ``contract`` (see :func:`build_checks`) as one GX suite.

    The frame it runs on must also hold the helper columns its expectations name.
    """
    return suite_of(f"udc.{contract.id}", build_checks(contract, today, columns, previous))


def check_contract(contract: Contract, today: date) -> None:
    """Build every check of ``contract`` once, so configuration errors show before a run."""
    try:
        build_suite(contract, today)
    except ContractError:
        raise
    except (ValueError, TypeError) as exc:
        raise ContractError(f"{contract.id}: {exc}") from None
