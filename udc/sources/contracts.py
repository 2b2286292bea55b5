"""Delivery contracts: what a source promises to deliver, read from TOML configuration.

A contract is data, not code: a municipality adds or changes a source by dropping a
TOML file in a contracts folder. The packaged defaults describe the six demo sources
of ``shared/delivery-contract.md``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ColumnType = Literal["bsn", "text", "code", "date", "brp_date", "integer", "decimal", "postcode"]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]

PACKAGED_CONTRACTS = Path(__file__).parent / "contracts"
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
    file_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "file_pattern", re.compile(rf"^{re.escape(self.id)}_(\d{{8}})\.csv$")
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
    )
    referenced = [contract.bsn_column, contract.record_key]
    referenced += [name for key in contract.unique_keys for name in key]
    referenced += [name for pair in contract.date_order for name in pair]
    for name in referenced:
        if name is not None and name not in names:
            raise ContractError(f"{source_id}: {name!r} is referenced but not a column")
    if contract.bsn_column and contract.column(contract.bsn_column).type != "bsn":
        raise ContractError(f"{source_id}: bsn_column must have type 'bsn'")
    return contract


def load_contract(path: Path) -> Contract:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ContractError(f"{path}: {exc}") from None
    return contract_from_dict(raw)


def load_contracts(*folders: Path) -> dict[str, Contract]:
    """Contracts from the packaged defaults, then each folder in turn (a later one wins)."""
    contracts: dict[str, Contract] = {}
    for folder in (PACKAGED_CONTRACTS, *folders):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                contract = load_contract(path)
                contracts[contract.id] = contract
    return contracts
