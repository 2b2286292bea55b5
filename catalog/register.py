"""The register of processing purposes (verwerkingsactiviteiten, doelbinding): what each
purpose may process, as GDPR Art. 30(1) asks it to be recorded, read from TOML.

A purpose names the controller and a contact, describes the processing, its legal basis,
the categories of data subjects and personal data, the recipients, how long its data are
kept and the security measures; plus the DPIA it rests on, the sources and the columns it
may use (lake names: ``pseudonym`` for a person source's BSN column), the marts it feeds
and, optionally, the last day its approval holds. The catalog keeps every version of
every purpose with its status (draft, approved, withdrawn), who changed it and when
(``store.Catalog``); this module only reads and checks the specification.

The packaged purposes (``purposes/*.toml``) are those of the five default marts, plus
data quality, whose cross-checks keep a source's link keys.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType

PACKAGED_PURPOSES = Path(__file__).parent / "purposes"
PURPOSE_ID = re.compile(r"^[a-z][a-z0-9_]{1,60}$")
STATUSES = ("draft", "approved", "withdrawn")
TEXT_FIELDS = ("name", "controller", "contact", "description", "legal_basis", "dpia")
LIST_FIELDS = ("data_subjects", "personal_data", "recipients", "security_measures")


class RegisterError(ValueError):
    """A purpose specification is invalid, or a register change is not allowed."""


@dataclass(frozen=True)
class PurposeSpec:
    id: str
    name: str
    controller: str
    contact: str
    description: str
    legal_basis: str
    data_subjects: tuple[str, ...]
    personal_data: tuple[str, ...]
    recipients: tuple[str, ...]
    retention_months: int
    security_measures: tuple[str, ...]
    dpia: str
    sources: Mapping[str, tuple[str, ...]]  # source -> the columns it may use
    marts: tuple[str, ...] = ()
    valid_until: dt.date | None = None  # the last day the approval holds; None: no end

    def expired(self, on: dt.date) -> bool:
        return self.valid_until is not None and on > self.valid_until

    def to_json(self) -> str:
        """The specification as the catalog stores it: stable, so equal specs compare."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["sources"] = {s: list(c) for s, c in sorted(self.sources.items())}
        data["valid_until"] = None if self.valid_until is None else self.valid_until.isoformat()
        return json.dumps(data, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> PurposeSpec:
        return purpose_from_dict(json.loads(text))


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RegisterError(f"{where} must be a non-empty text")
    return value.strip()


def _texts(where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise RegisterError(f"{where} must be a non-empty list of texts")
    return tuple(_text(f"{where}[{i}]", v) for i, v in enumerate(value))


def _sources(where: str, value: object) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(value, dict) or not value:
        raise RegisterError(f"{where} must map each source to the columns it may use")
    sources = {}
    for source, columns in value.items():
        if not PURPOSE_ID.match(str(source)):
            raise RegisterError(f"{where}: {source!r} is not a source id")
        found = _texts(f"{where}.{source}", columns)
        if len(set(found)) != len(found):
            raise RegisterError(f"{where}.{source} names a column twice")
        sources[str(source)] = found
    return MappingProxyType(sources)


def _date(where: str, value: object) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RegisterError(f"{where} must be a date (YYYY-MM-DD)") from None


def purpose_from_dict(raw: Mapping[str, object]) -> PurposeSpec:
    """A purpose specification from its TOML (or stored JSON) form; RegisterError if any
    field GDPR Art. 30(1) asks for is missing or malformed."""
    purpose_id = raw.get("id")
    if not isinstance(purpose_id, str) or not PURPOSE_ID.match(purpose_id):
        raise RegisterError(f"a purpose id is lower-case letters, digits and _: {purpose_id!r}")
    known = {*TEXT_FIELDS, *LIST_FIELDS, "id", "retention_months", "sources", "marts",
             "valid_until"}  # fmt: skip
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RegisterError(f"{purpose_id}: unknown field(s) {unknown}")
    texts = {name: _text(f"{purpose_id}.{name}", raw.get(name)) for name in TEXT_FIELDS}
    lists = {name: _texts(f"{purpose_id}.{name}", raw.get(name)) for name in LIST_FIELDS}
    retention = raw.get("retention_months")
    if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
        raise RegisterError(f"{purpose_id}.retention_months must be a positive whole number")
    marts = raw.get("marts", [])
    if not isinstance(marts, list) or not all(isinstance(m, str) for m in marts):
        raise RegisterError(f"{purpose_id}.marts must be a list of mart names")
    return PurposeSpec(
        id=purpose_id,
        **texts,
        **lists,
        retention_months=retention,
        sources=_sources(f"{purpose_id}.sources", raw.get("sources")),
        marts=tuple(marts),
        valid_until=_date(f"{purpose_id}.valid_until", raw.get("valid_until")),
    )


def load_purpose(path: Path) -> PurposeSpec:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegisterError(f"{path}: {exc}") from None
    return purpose_from_dict(raw)


def packaged_purposes() -> list[PurposeSpec]:
    return [load_purpose(path) for path in sorted(PACKAGED_PURPOSES.glob("*.toml"))]
