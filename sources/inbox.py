"""What the inbox holds: delivered files in order, their peildatum, and names fit for logs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from udc.sources.contracts import Contract
from udc.sources.reader import DeliveryRejected

LONG_DIGITS = re.compile(r"\d{8,}")
CONTRACT_NAME = re.compile(r"^[a-z][a-z0-9_]*_\d{8}\.csv$")


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


def peildatum_of_file(contract: Contract, file_name: str, today: dt.date) -> dt.date:
    """The peildatum a delivery's file name gives, or why the file is rejected."""
    match = contract.file_pattern.match(file_name)
    if not match:
        raise DeliveryRejected(
            f"the file name must be {contract.id}_YYYYMMDD.csv (YYYYMMDD = peildatum)",
            f"de bestandsnaam moet {contract.id}_JJJJMMDD.csv zijn (JJJJMMDD = peildatum)",
        )
    try:
        peildatum = dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        raise DeliveryRejected(
            f"the peildatum {match.group(1)} in the file name is not a date",
            f"de peildatum {match.group(1)} in de bestandsnaam is geen geldige datum",
        ) from None
    if peildatum > today:
        raise DeliveryRejected(
            f"the peildatum {peildatum:%Y%m%d} in the file name lies in the future",
            f"de peildatum {peildatum:%Y%m%d} in de bestandsnaam ligt in de toekomst",
        )
    return peildatum
