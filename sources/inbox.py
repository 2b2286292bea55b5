"""What the inbox holds: delivered files in order, their peildatum, and names fit for logs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from udc.sources.contracts import Contract
from udc.sources.reader import DeliveryRejected

LONG_DIGITS = re.compile(r"\d{8,}")
CONTRACT_NAME = re.compile(r"^[a-z][a-z0-9_]*_(?:(?:GM)?\d{4}_)?\d{8}\.csv$")


def safe_label(name: str) -> str:
    """A file or folder name (or a path of them) fit for logs: long digit runs could be a
    BSN a source typed, except the peildatum of a name the contract allows."""
    return "/".join(
        part if CONTRACT_NAME.match(part) else LONG_DIGITS.sub("#", part)
        for part in name.split("/")
    )


def inbox_files(inbox: Path) -> list[Path]:
    """Delivered files, oldest peildatum first; dotfiles are uploads still in progress."""
    if not inbox.is_dir():
        return []
    files = [
        p
        for p in inbox.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(inbox).parts)
    ]
    return sorted(files, key=lambda p: (p.name.rsplit("_", 1)[-1], str(p)))


def gemeente_of_file(contract: Contract, file_name: str) -> str | None:
    """The gemeente a delivery's file name names (``GM`` and four digits), or None for a
    name without one (a workspace of one municipality)."""
    match = contract.file_pattern.match(file_name)
    return f"GM{match.group(1)}" if match and match.group(1) else None


def peildatum_of_file(contract: Contract, file_name: str, today: dt.date) -> dt.date:
    """The peildatum a delivery's file name gives, or why the file is rejected."""
    match = contract.file_pattern.match(file_name)
    if not match:
        raise DeliveryRejected(
            f"the file name must be {contract.id}_YYYYMMDD.csv or, naming the gemeente, "
            f"{contract.id}_GMnnnn_YYYYMMDD.csv (YYYYMMDD = peildatum)",
            f"de bestandsnaam moet {contract.id}_JJJJMMDD.csv zijn of, met de gemeente, "
            f"{contract.id}_GMnnnn_JJJJMMDD.csv (JJJJMMDD = peildatum)",
        )
    day = match.group(2)
    try:
        peildatum = dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise DeliveryRejected(
            f"the peildatum {day} in the file name is not a date",
            f"de peildatum {day} in de bestandsnaam is geen geldige datum",
        ) from None
    if peildatum > today:
        raise DeliveryRejected(
            f"the peildatum {peildatum:%Y%m%d} in the file name lies in the future",
            f"de peildatum {peildatum:%Y%m%d} in de bestandsnaam ligt in de toekomst",
        )
    return peildatum
