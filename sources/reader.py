"""Read one delivered CSV file by its contract, rejecting structurally broken files.

Structural problems (encoding, line ends, delimiter, header, ragged rows, absurd
sizes) reject the whole delivery: row-level checks belong to ``udc.quality``. Messages
name line numbers, byte offsets and contract column names only, never a delivered value,
because a value may be a BSN and messages end up in reason files, feedback reports and
logs.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import polars as pl

from udc.sources.contracts import Contract

BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 64 * 1024
NEWLINE, CARRIAGE_RETURN, SEMICOLON, QUOTE, SPACE, TAB = 10, 13, 59, 34, 32, 9
LINE_NUMBER = "line_number"


class DeliveryRejected(Exception):
    """A delivery that cannot be processed; ``reason`` (English) and ``reden`` (Dutch)."""

    def __init__(self, reason: str, reden: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reden = reden


@dataclass(frozen=True)
class ParsedDelivery:
    """The delivered rows as text, with their line numbers in the delivered file."""

    frame: pl.DataFrame
    delivered_columns: tuple[str, ...]
    blank_lines: int


def _header_line(data: bytes) -> str:
    end = data.find(b"\n")
    return (data if end < 0 else data[:end]).decode("utf-8").rstrip("\r")


def _check_bytes(data: bytes) -> None:
    if not data.strip():
        raise DeliveryRejected("the file is empty", "het bestand is leeg")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DeliveryRejected(
            f"the file holds binary content (a NUL byte at offset {nul}), not CSV text",
            f"het bestand bevat binaire gegevens (NUL-byte op positie {nul}), geen CSV-tekst",
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DeliveryRejected(
            f"the file is not UTF-8 (invalid byte at offset {exc.start}, line {line}); "
            "export it as UTF-8",
            f"het bestand is geen UTF-8 (ongeldige byte op positie {exc.start}, regel {line}); "
            "lever het aan als UTF-8",
        ) from None


def _check_line_ends(data: bytes) -> None:
    """Reject CR line ends: lines are split on LF only, so an old Mac file reads as one line.

    A CR inside a quoted field is content, and one closing the very last line is harmless.
    """
    if b"\r" not in data:
        return
    buffer = np.frombuffer(data, dtype=np.uint8)
    returns = np.flatnonzero(buffer[:-1] == CARRIAGE_RETURN)
    bare = returns[buffer[returns + 1] != NEWLINE]
    # An odd number of quotes before a byte means it sits inside a quoted field; escaped
    # quotes come in pairs and so keep the count even.
    quotes = np.flatnonzero(buffer == QUOTE)
    outside = bare[np.searchsorted(quotes, bare) % 2 == 0]
    if not outside.size:
        return
    offset = int(outside[0])
    if b"\n" not in data:
        raise DeliveryRejected(
            "the file uses CR (old Mac) line ends; the contract asks for LF or CRLF",
            "het bestand gebruikt CR-regeleinden (oude Mac); lever aan met LF of CRLF",
        ) from None
    line = data.count(b"\n", 0, offset) + 1
    raise DeliveryRejected(
        f"line {line} holds a CR line end without LF (offset {offset}); "
        "the contract asks for LF or CRLF",
        f"regel {line} bevat een CR-regeleinde zonder LF (positie {offset}); "
        "lever aan met LF of CRLF",
    ) from None


def _header_columns(header: str, contract: Contract) -> list[str]:
    if ";" not in header and len(contract.required_columns) > 1:
        for symbol, name in ((",", "comma"), ("\t", "tab"), ("|", "pipe")):
            if symbol in header:
                raise DeliveryRejected(
                    f"the file uses the {name} as separator; the contract requires ';'",
                    f"het bestand gebruikt '{symbol}' als scheidingsteken; afgesproken is ';'",
                )
    names = [name.strip().strip('"').strip().lower() for name in header.split(";")]
    seen: set[str] = set()
    duplicated = sorted({n for n in names if n in seen or seen.add(n)})
    if duplicated:
        known = [n for n in duplicated if n in contract.column_names]
        which = ", ".join(known) if known else f"{len(duplicated)} column name(s)"
        raise DeliveryRejected(
            f"the header repeats a column: {which}",
            f"de kopregel bevat een kolom meer dan eens: {which}",
        )
    missing = [c for c in contract.required_columns if c not in names]
    if missing:
        raise DeliveryRejected(
            f"required column(s) missing from the header: {', '.join(missing)}",
            f"verplichte kolom(men) ontbreken in de kopregel: {', '.join(missing)}",
        )
    return names


def _line_bounds(data: bytes) -> np.ndarray:
    """Offsets of the newline before each line (-1 for the first) and after the last."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buffer == NEWLINE)
    tail = [] if data.endswith(b"\n") else [len(data)]
    return np.concatenate([[-1], newlines, tail]).astype(np.int64)


def _records_without_quotes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Line numbers and field counts of each line after the header, vectorised."""
    bounds = _line_bounds(data)
    buffer = np.frombuffer(data, dtype=np.uint8)
    semicolons = np.flatnonzero(buffer == SEMICOLON)
    starts, ends = bounds[:-1] + 1, bounds[1:]
    counts = np.searchsorted(semicolons, ends) - np.searchsorted(semicolons, starts) + 1
    lengths = ends - starts
    carriage = np.zeros(len(ends), dtype=bool)
    nonempty = lengths > 0
    carriage[nonempty] = buffer[ends[nonempty] - 1] == CARRIAGE_RETURN
    blank = (lengths - carriage) == 0
    # Only a line without separators that starts with a space or tab can be whitespace
    # alone; checking just those keeps a per-byte pass off the hot path.
    candidates = np.flatnonzero((counts == 1) & ~blank)
    first = buffer[starts[candidates]]
    for index in candidates[(first == SPACE) | (first == TAB)]:
        blank[index] = not data[starts[index] : ends[index]].strip(b" \t\r")
    counts[blank] = 0
    too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
    if too_long.size:
        line = int(too_long[0]) + 1
        raise DeliveryRejected(
            f"line {line} is {int(lengths[too_long[0]])} bytes long; no field of the contract "
            "can be that large",
            f"regel {line} is {int(lengths[too_long[0]])} bytes lang; geen veld uit de "
            "afspraak kan zo groot zijn",
        )
    line_numbers = np.arange(1, len(counts) + 1)
    return line_numbers[1:], counts[1:]


def _whitespace_only(data: bytes, bounds: np.ndarray, line: int) -> bool:
    return not data[int(bounds[line - 1]) + 1 : int(bounds[line])].strip(b" \t\r")


def _records_with_quotes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    # Splitting on LF only keeps a CR inside a quoted field from counting as a line, so
    # line numbers agree with the unquoted path.
    text = io.StringIO(data.decode("utf-8"), newline="\n")
    reader = csv.reader(text, delimiter=";", quotechar='"', strict=True)
    lines: list[int] = []
    counts: list[int] = []
    previous_end = 0
    bounds: np.ndarray | None = None
    try:
        for row in reader:
            line = previous_end + 1
            lines.append(line)
            counts.append(len(row))
            if len(row) == 1 and reader.line_num == line and not row[0].strip(" \t"):
                # The same field could be a quoted blank string, which is not a blank line.
                bounds = _line_bounds(data) if bounds is None else bounds
                if _whitespace_only(data, bounds, line):
                    counts[-1] = 0
            previous_end = reader.line_num
            if sum(len(v) for v in row) > MAX_LINE_BYTES:
                raise DeliveryRejected(
                    f"the record on line {lines[-1]} is larger than {MAX_LINE_BYTES} bytes",
                    f"het record op regel {lines[-1]} is groter dan {MAX_LINE_BYTES} bytes",
                )
    except csv.Error:
        raise DeliveryRejected(
            f"the quotes do not match near line {reader.line_num}; the file may be truncated",
            f"de aanhalingstekens kloppen niet rond regel {reader.line_num}; "
            "het bestand is mogelijk afgebroken",
        ) from None
    return np.asarray(lines[1:], dtype=np.int64), np.asarray(counts[1:], dtype=np.int64)


def parse_delivery(data: bytes, contract: Contract) -> ParsedDelivery:
    """Parse a delivery into text columns named as in the contract, plus ``line_number``.

    Columns that the contract does not know are dropped here; surrounding whitespace is
    stripped and empty values become null.
    """
    _check_bytes(data)
    try:
        return _parse_body(data[len(BOM) :] if data.startswith(BOM) else data, contract)
    except DeliveryRejected:
        # A CR used as line end breaks the file in ways whose symptom misleads (a repeated
        # header column, ragged rows); looking for it only once parsing failed keeps it off
        # the hot path and leaves a harmless CR inside a value to the quality checks.
        _check_line_ends(data)
        raise


def _parse_body(body: bytes, contract: Contract) -> ParsedDelivery:
    names = _header_columns(_header_line(body), contract)
    if b'"' in body:
        line_numbers, counts = _records_with_quotes(body)
    else:
        line_numbers, counts = _records_without_quotes(body)
    blank = counts == 0
    ragged = np.flatnonzero(~blank & (counts != len(names)))
    if ragged.size:
        first = int(line_numbers[ragged[0]])
        raise DeliveryRejected(
            f"{ragged.size} line(s) do not have {len(names)} fields, first on line {first} "
            f"({int(counts[ragged[0]])} fields); the file may be truncated or use another layout",
            f"{ragged.size} regel(s) hebben niet {len(names)} velden, de eerste is regel {first} "
            f"({int(counts[ragged[0]])} velden); het bestand is mogelijk afgebroken",
        )
    if not (~blank).any():
        raise DeliveryRejected(
            "the file holds a header but no data rows",
            "het bestand bevat alleen een kopregel, geen gegevens",
        )
    keep = [name for name in names if name in contract.column_names]
    try:
        frame = pl.read_csv(
            io.BytesIO(body),
            separator=";",
            quote_char='"',
            has_header=True,
            infer_schema=False,
            columns=[names.index(name) for name in keep],
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError:
        # The parser's own message quotes the offending field, which may be a BSN.
        raise DeliveryRejected(
            "the file could not be parsed as CSV; check quotes, separators and line ends",
            "het bestand kan niet als CSV worden gelezen; controleer aanhalingstekens, "
            "scheidingstekens en regeleinden",
        ) from None
    if frame.height != len(line_numbers):
        raise DeliveryRejected(
            "the number of records does not match the number of lines; check line ends",
            "het aantal records klopt niet met het aantal regels; controleer de regeleinden",
        )
    frame.columns = keep
    frame = frame.with_columns(
        [pl.col(c).str.strip_chars().replace("", None) for c in keep]
        + [pl.Series(LINE_NUMBER, line_numbers, dtype=pl.Int64)]
    ).filter(pl.Series(~blank))
    return ParsedDelivery(frame=frame, delivered_columns=tuple(names), blank_lines=int(blank.sum()))
