"""Delivery contracts: what a source promises to deliver, read from TOML configuration.

A contract is data, not code: a municipality adds or changes a source by dropping a
TOML file in a contracts folder. The packaged defaults describe the six demo sources
of ``shared/delivery-contract.md``.

A data steward adds checks without touching a contract: a file ``<name>.expectations.toml``
in a contracts folder names its ``source`` and holds ``[[expectations]]`` tables, each a
Great Expectations expectation by name with its arguments, a severity and a Dutch
description for the feedback report.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

ColumnType = Literal["bsn", "text", "code", "date", "brp_date", "integer", "decimal", "postcode"]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]

PACKAGED_CONTRACTS = Path(__file__).parent / "contracts"
EXPECTATIONS_SUFFIX = ".expectations.toml"
CHECK_ID = re.compile(r"^[a-z0-9_.+-]{1,80}$")
SEVERITIES = ("error", "warning")
SOURCE_ID = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
DEFAULT_MAX_LENGTH = 200


class ContractError(ValueError):
    """A contract file is not a valid contract."""


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = True
    nullable: bool = False
    values: tuple[str, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    unique: bool = False
    not_in_future: bool = False
    max_length: int = DEFAULT_MAX_LENGTH


# The arguments by which a Great Expectations expectation names the columns it reads.
COLUMN_ARGUMENTS = ("column", "column_A", "column_B")
COLUMN_LIST_ARGUMENT = "column_list"


def columns_named(arguments: Mapping[str, object]) -> tuple[str, ...]:
    """The columns an expectation's arguments name, in argument order."""
    names = [arguments[k] for k in COLUMN_ARGUMENTS if arguments.get(k)]
    names += list(arguments.get(COLUMN_LIST_ARGUMENT) or [])  # type: ignore[call-overload]
    return tuple(str(n) for n in names)


@dataclass(frozen=True)
class CustomExpectation:
    """A check a data steward configured: a GX expectation by name, with its arguments.

    ``kwargs`` name delivered columns; udc hands a number or date column to a comparing
    expectation as a number (a date as YYYYMMDD), so ``min_value = 0`` works on an amount
    delivered as ``"12,50"``.
    """

    id: str
    expectation: str
    kwargs: tuple[tuple[str, object], ...]
    description: str
    severity: str = "warning"

    @property
    def arguments(self) -> dict[str, object]:
        return dict(self.kwargs)

    @property
    def columns(self) -> tuple[str, ...]:
        return columns_named(self.arguments)


@dataclass(frozen=True)
class CrossCheck:
    """After pseudonymisation: do this source's keys occur in a reference source?

    Reported to the data steward only, never to the source: a partner must not learn who is
    registered in the BRP.
    """

    id: str
    columns: tuple[str, ...]
    reference: str
    reference_columns: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Contract:
    id: str
    title: str
    supplier: str
    columns: tuple[Column, ...]
    bsn_column: str | None = None
    record_key: str | None = None
    reference: bool = False
    unique_keys: tuple[tuple[str, ...], ...] = ()
    date_order: tuple[tuple[str, str], ...] = ()
    max_rejected_share: float = 0.05
    # The row count may change this much against the previous delivery (None: unchecked);
    # more is an error about the whole delivery, not a new truth.
    max_row_decrease: float | None = 0.25
    max_row_increase: float | None = 1.0
    expectations: tuple[CustomExpectation, ...] = ()
    cross_checks: tuple[CrossCheck, ...] = ()
    # Months the encrypted raw deliveries are kept; None: udc.toml retention.archive_months.
    archive_months: int | None = None
    file_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "file_pattern",
            re.compile(rf"^{re.escape(self.id)}_(?:(?:GM)?(\d{{4}})_)?(\d{{8}})\.csv$"),
        )

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _column_from_dict(source_id: str, raw: dict) -> Column:
    unknown = set(raw) - set(Column.__dataclass_fields__)
    if unknown:
        raise ContractError(f"{source_id}: unknown column setting(s) {sorted(unknown)}")
    if "name" not in raw or "type" not in raw:
        raise ContractError(f"{source_id}: every column needs a name and a type")
    if raw["type"] not in COLUMN_TYPES:
        raise ContractError(
            f"{source_id}.{raw['name']}: type {raw['type']!r} is not one of {COLUMN_TYPES}"
        )
    values = raw.get("values")
    if raw.get("pattern"):
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise ContractError(f"{source_id}.{raw['name']}: bad pattern: {exc}") from None
    return Column(
        **{
            **raw,
            "name": raw["name"].lower(),
            "values": tuple(values) if values is not None else None,
        }
    )


def _fraction(source_id: str, raw: dict, key: str, default: float | None) -> float | None:
    value = raw.get(key, default)
    if value is None or value is False:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ContractError(f"{source_id}: {key} must be a non-negative number or false")
    return float(value)


EXPECTATION_SETTINGS = frozenset({"id", "expectation", "severity", "description", "kwargs"})
CROSS_CHECK_SETTINGS = frozenset({"id", "columns", "reference", "reference_columns", "description"})


def _check_id(source_id: str, raw: dict, kind: str, known: frozenset[str]) -> str:
    unknown = set(raw) - known
    if unknown:
        raise ContractError(f"{source_id}: unknown {kind} setting(s) {sorted(unknown)}")
    check_id = str(raw.get("id", ""))
    if not CHECK_ID.match(check_id):
        raise ContractError(
            f"{source_id}: {kind} id {check_id!r} must be lower-case letters, digits, . _ + -"
        )
    return check_id


def expectation_from_dict(source_id: str, raw: dict) -> CustomExpectation:
    check_id = _check_id(source_id, raw, "expectation", EXPECTATION_SETTINGS)
    for key in ("expectation", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise ContractError(f"{source_id}.{check_id}: an expectation needs a {key}")
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ContractError(f"{source_id}.{check_id}: severity must be one of {SEVERITIES}")
    kwargs = raw.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise ContractError(f"{source_id}.{check_id}: kwargs must be a table")
    return CustomExpectation(
        id=check_id,
        expectation=raw["expectation"],
        kwargs=tuple(sorted((k, _frozen(v)) for k, v in kwargs.items())),
        description=raw["description"].strip(),
        severity=severity,
    )


def _frozen(value: object) -> object:
    """TOML arrays as tuples, so a contract stays hashable and immutable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def _cross_check_from_dict(source_id: str, raw: dict) -> CrossCheck:
    check_id = _check_id(source_id, raw, "cross_check", CROSS_CHECK_SETTINGS)
    columns = tuple(raw.get("columns", ()))
    reference_columns = tuple(raw.get("reference_columns", columns))
    if not columns or len(columns) != len(reference_columns):
        raise ContractError(
            f"{source_id}.{check_id}: columns and reference_columns must pair up one to one"
        )
    if not SOURCE_ID.match(str(raw.get("reference", ""))):
        raise ContractError(f"{source_id}.{check_id}: reference must be a source id")
    return CrossCheck(
        id=check_id,
        columns=columns,
        reference=raw["reference"],
        reference_columns=reference_columns,
        description=str(raw.get("description", "")).strip() or check_id,
    )


def _months(source_id: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ContractError(f"{source_id}.archive_months must be a whole number of months >= 0")
    return value


def contract_from_dict(raw: dict) -> Contract:
    source_id = raw.get("id", "")
    if not SOURCE_ID.match(source_id):
        raise ContractError(f"source id {source_id!r} must be lower-case letters, digits, _")
    columns = tuple(_column_from_dict(source_id, c) for c in raw.get("columns", []))
    if not columns:
        raise ContractError(f"{source_id}: a contract needs at least one column")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ContractError(f"{source_id}: column names must be unique")
    contract = Contract(
        id=source_id,
        title=raw.get("title", source_id),
        supplier=raw.get("supplier", ""),
        columns=columns,
        bsn_column=raw.get("bsn_column"),
        record_key=raw.get("record_key"),
        reference=bool(raw.get("reference", False)),
        unique_keys=tuple(tuple(k) for k in raw.get("unique_keys", [])),
        date_order=tuple((a, b) for a, b in raw.get("date_order", [])),
        max_rejected_share=float(raw.get("max_rejected_share", 0.05)),
        max_row_decrease=_fraction(source_id, raw, "max_row_decrease", 0.25),
        max_row_increase=_fraction(source_id, raw, "max_row_increase", 1.0),
        expectations=tuple(
            expectation_from_dict(source_id, e) for e in raw.get("expectations", [])
        ),
        cross_checks=tuple(
            _cross_check_from_dict(source_id, c) for c in raw.get("cross_checks", [])
        ),
        archive_months=_months(source_id, raw.get("archive_months")),
    )
    referenced = [contract.bsn_column, contract.record_key]
    referenced += [name for key in contract.unique_keys for name in key]
    referenced += [name for pair in contract.date_order for name in pair]
    for name in referenced:
        if name is not None and name not in names:
            raise ContractError(f"{source_id}: {name!r} is referenced but not a column")
    if contract.bsn_column and contract.column(contract.bsn_column).type != "bsn":
        raise ContractError(f"{source_id}: bsn_column must have type 'bsn'")
    _check_expectations(contract, contract.expectations)
    for check in contract.cross_checks:
        for name in check.columns:
            if name != PSEUDONYM and name not in names:
                raise ContractError(f"{source_id}.{check.id}: {name!r} is not a column")
    return contract


# The lake column that holds the pseudonymised BSN; cross-checks link on it.
PSEUDONYM = "pseudonym"


def _check_expectations(contract: Contract, expectations: tuple[CustomExpectation, ...]) -> None:
    ids = [e.id for e in expectations]
    if len(set(ids)) != len(ids):
        raise ContractError(f"{contract.id}: expectation ids must be unique")
    for expectation in expectations:
        for name in expectation.columns:
            if name not in contract.column_names:
                raise ContractError(f"{contract.id}.{expectation.id}: {name!r} is not a column")
            # The BSN checks are built in; a configured one could put BSNs in configuration
            # or, as an aggregate, a BSN in a GX result.
            if contract.column(name).type == "bsn":
                raise ContractError(
                    f"{contract.id}.{expectation.id}: BSN columns take no configured checks"
                )


def with_expectations(contract: Contract, expectations: tuple[CustomExpectation, ...]) -> Contract:
    """``contract`` plus a data steward's expectations (checked against its columns)."""
    combined = contract.expectations + expectations
    _check_expectations(contract, combined)
    return replace(contract, expectations=combined)


def load_contract(path: Path) -> Contract:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{path}: {exc}") from None
    return contract_from_dict(raw)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{path}: {exc}") from None


def load_contracts(*folders: Path) -> dict[str, Contract]:
    """Contracts from the packaged defaults, then each folder in turn (a later one wins).

    ``*.expectations.toml`` files add a data steward's checks to the contract they name.
    """
    contracts: dict[str, Contract] = {}
    extra: list[tuple[Path, dict]] = []
    for folder in (PACKAGED_CONTRACTS, *folders):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                if path.name.endswith(EXPECTATIONS_SUFFIX):
                    extra.append((path, _read_toml(path)))
                    continue
                contract = load_contract(path)
                contracts[contract.id] = contract
    for path, raw in extra:
        source = raw.get("source")
        if source not in contracts:
            raise ContractError(f"{path}: source {source!r} has no contract")
        try:
            added = tuple(expectation_from_dict(source, e) for e in raw.get("expectations", []))
            contracts[source] = with_expectations(contracts[source], added)
        except ContractError as exc:
            raise ContractError(f"{path}: {exc}") from None
    return contracts
