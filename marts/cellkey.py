"""The cell key method: consistent perturbation of published counts (ABS; ONS, CBS census 2021).

Every unit (a person's pseudonym, an incident's registratienummer) has a fixed *record key*
in ``[0, KEY_RANGE)``, derived from its id under a secret key. A cell's *cell key* is the
sum of the record keys of its distinct contributors modulo ``KEY_RANGE``: a uniform random
number that depends only on the set of contributors. A *p-table* gives, for every original
count ``i``, perturbations ``v`` with probabilities; laid end to end in ascending ``v``
they cut ``[0, KEY_RANGE)`` into intervals, the cell key falls in one of them, and the
published count is ``i + v``.

What it protects:

- Consistency: the same set of contributors always gets the same cell key and so the same
  noise. Re-running a mart, querying the same cell again or publishing it in two marts
  gives the same value, so repeated publications cannot be averaged to remove the noise.
- Small counts are blurred: with the default p-table a published 0 or 3 may stand for a
  1 or a 2, and counts of 1 and 2 are never published.

What it does not protect:

- Additivity is lost: every cell, total or not, is perturbed on its own, so published
  children no longer sum exactly to their published total.
- It is no guarantee against differencing of different populations: two cells whose
  contributor sets differ by one unit get independent noise of bounded size, and many such
  pairs can be combined.

Record keys are keyed (HMAC-SHA256 under a domain key of the master key), not a plain
hash of the id: a registratienummer is no secret, nor is a pseudonym to whoever reads
the lake, and with plain hashes an attacker who knows a cell's other contributors could
compute the candidate cell keys, and so the noise, and test whether a known unit is in it.

``KEY_RANGE`` is ``2**32``: probabilities are resolved to ``2**-32`` instead of the ``1/256``
of the ONS implementation, and because ``2**32`` divides ``2**64`` a sum of record keys that
wraps around in UInt32, UInt64 or Int64 arithmetic still has the right residue.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import polars_hash as plh

KEY_RANGE = 2**32
MIN_KEY_BYTES = 16
PACKAGED_PTABLES = Path(__file__).parent / "ptables"
DEFAULT_PTABLE = PACKAGED_PTABLES / "default.toml"
SUM_TOLERANCE = 1e-9
MEAN_TOLERANCE = 1e-6
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


class CellKeyError(ValueError):
    """A p-table is invalid, or counts and cell keys cannot be perturbed."""


def record_keys(unit_ids: pl.Series, key: bytes) -> pl.Series:
    """The record key of each unit: the first 4 bytes of HMAC-SHA256 under ``key`` of its
    id text (UInt32), uniform on ``[0, 2**32)`` already, so no modulo is needed.

    The polars plugin takes an HMAC key as text, so it gets the key's hex form (as
    ``udc.pseudonymize.hashing`` does): still the key's full entropy.
    """
    if len(key) < MIN_KEY_BYTES:
        raise CellKeyError(f"a record key needs a secret of at least {MIN_KEY_BYTES} bytes")
    if unit_ids.null_count():
        raise CellKeyError("a unit without an id has no record key")
    frame = unit_ids.cast(pl.String).rename("id").to_frame()
    digest = plh.col("id").chash.hmac_sha256(key=key.hex())
    keys = frame.select(digest.str.slice(0, 8).str.to_integer(base=16, dtype=pl.UInt32))
    return keys.to_series().rename(unit_ids.name)


def cell_keys(record_key_sums: np.ndarray) -> np.ndarray:
    """The cell keys from the sums of the record keys of each cell's distinct contributors."""
    sums = np.asarray(record_key_sums)
    if not np.issubdtype(sums.dtype, np.integer):
        raise CellKeyError(f"record key sums must be integers, got {sums.dtype}")
    # A negative sum is a wrapped Int64 sum: as uint64 it has the same residue mod 2**32.
    return sums.astype(np.uint64) % np.uint64(KEY_RANGE)


@dataclass(frozen=True)
class Row:
    """The perturbations of one original count, in ascending order: the order of the key
    intervals, so that reordering a p-table file never changes a published value."""

    value: int
    perturbations: tuple[int, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class PTable:
    """A perturbation table; ``rows[i - 1]`` perturbs ``i``, the last row every larger count.

    ``blocked_up_to = b`` forbids publishing the counts ``1..b``; ``allow_zero`` allows a
    positive count to be published as 0. Both are checked on construction, with the other
    rules: every row sums to 1, is unbiased and never yields a negative count.
    """

    name: str
    max_value: int
    rows: tuple[Row, ...]
    blocked_up_to: int = 0
    allow_zero: bool = False

    def __post_init__(self) -> None:
        if self.max_value < 1:
            raise CellKeyError(f"max_value must be at least 1, got {self.max_value}")
        if self.blocked_up_to < 0:
            raise CellKeyError(f"blocked_up_to must be at least 0, got {self.blocked_up_to}")
        values = [row.value for row in self.rows]
        for value in values:
            if value == 0:
                raise CellKeyError(
                    "row 0: a zero has no contributors and is never perturbed; remove the row"
                )
            if not 1 <= value <= self.max_value:
                raise CellKeyError(f"row {value}: outside 1..max_value = {self.max_value}")
            if values.count(value) > 1:
                raise CellKeyError(f"row {value}: given more than once")
        missing = sorted(set(range(1, self.max_value + 1)) - set(values))
        if missing:
            raise CellKeyError(
                f"no row for value(s) {missing}: rows 1..max_value = {self.max_value} are needed"
            )
        if values != sorted(values):
            raise CellKeyError("rows must be in ascending order of value")
        for row in self.rows:
            self._check_row(row)

    def _check_row(self, row: Row) -> None:
        where = f"row {row.value}"
        if not row.perturbations or len(row.perturbations) != len(row.probabilities):
            raise CellKeyError(f"{where}: needs one probability per perturbation")
        if list(row.perturbations) != sorted(set(row.perturbations)):
            raise CellKeyError(f"{where}: perturbations must be distinct and ascending")
        for v, p in zip(row.perturbations, row.probabilities, strict=True):
            entry = f"{where}, perturbation {v:+d}"
            if not 0 < p <= 1:
                raise CellKeyError(f"{entry}: probability {p} is not in (0, 1]")
            # The last row also serves every larger count, whose results are larger still:
            # checking it at max_value covers them.
            result = row.value + v
            if result < 0:
                raise CellKeyError(f"{entry}: would publish the negative count {result}")
            if result == 0 and not self.allow_zero:
                raise CellKeyError(
                    f"{entry}: would publish a positive count as 0; set allow_zero = true "
                    "if that is intended"
                )
            if 0 < result <= self.blocked_up_to:
                raise CellKeyError(
                    f"{entry}: would publish {result}, but blocked_up_to = "
                    f"{self.blocked_up_to} forbids the counts 1..{self.blocked_up_to}"
                )
        total = math.fsum(row.probabilities)
        if abs(total - 1) > SUM_TOLERANCE:
            raise CellKeyError(f"{where}: probabilities sum to {total!r}, not 1")
        mean = math.fsum(v * p for v, p in zip(row.perturbations, row.probabilities, strict=True))
        if abs(mean) > MEAN_TOLERANCE:
            raise CellKeyError(
                f"{where}: biased, the expected perturbation is {mean:+.3g} instead of 0"
            )


def _integer(where: str, value: object) -> int:
    # TOML booleans are Python ints.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CellKeyError(f"{where} must be an integer")
    return value


def _probability(where: str, value: object) -> float:
    # A probability of 1 may be written without a decimal point.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CellKeyError(f"{where}: probability must be a number")
    return float(value)


def _row(where: str, raw: object) -> Row:
    if not isinstance(raw, Mapping) or set(raw) != {"value", "perturbation"}:
        raise CellKeyError(f"{where}: needs exactly the keys value and perturbation")
    value = _integer(f"{where}: value", raw["value"])
    where = f"row {value}"
    table = raw["perturbation"]
    if not isinstance(table, Mapping) or not table:
        raise CellKeyError(f"{where}: perturbation must be a table of perturbation = probability")
    entries: dict[int, float] = {}
    for key, probability in table.items():
        if not _INTEGER.match(key):
            raise CellKeyError(f"{where}: perturbation {key!r} is not an integer")
        if int(key) in entries:
            raise CellKeyError(f"{where}: perturbation {int(key):+d} is given more than once")
        entries[int(key)] = _probability(f"{where}, perturbation {key}", probability)
    ordered = sorted(entries)
    return Row(value, tuple(ordered), tuple(entries[v] for v in ordered))


def load_ptable(path: Path | str = DEFAULT_PTABLE) -> PTable:
    """Read and validate a p-table from TOML; every error names the file and the entry."""
    path = Path(path)
    try:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise CellKeyError(f"not valid TOML: {error}") from None
        unknown = set(raw) - {"name", "max_value", "blocked_up_to", "allow_zero", "rows"}
        if unknown:
            raise CellKeyError(f"unknown setting(s) {sorted(unknown)}")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise CellKeyError("name must be a non-empty string")
        allow_zero = raw.get("allow_zero", False)
        if not isinstance(allow_zero, bool):
            raise CellKeyError("allow_zero must be true or false")
        rows = raw.get("rows")
        if not isinstance(rows, list):
            raise CellKeyError("needs [[rows]] entries")
        parsed = sorted(
            (_row(f"rows[{index}]", row) for index, row in enumerate(rows)),
            key=lambda row: row.value,
        )
        return PTable(
            name=name,
            max_value=_integer("max_value", raw.get("max_value")),
            rows=tuple(parsed),
            blocked_up_to=_integer("blocked_up_to", raw.get("blocked_up_to", 0)),
            allow_zero=allow_zero,
        )
    except CellKeyError as error:
        raise CellKeyError(f"{path}: {error}") from None


def find_ptable(name: str, *folders: Path) -> PTable:
    """The p-table ``<name>.toml`` from the first of ``folders`` that has it, else the
    packaged one."""
    for folder in (*folders, PACKAGED_PTABLES):
        path = Path(folder) / f"{name}.toml"
        if path.is_file():
            return load_ptable(path)
    raise CellKeyError(f"no p-table {name!r} (looked in {[str(f) for f in folders]} and udc's own)")


def _upper_bounds(probabilities: tuple[float, ...]) -> np.ndarray:
    """The exclusive upper ends of the key intervals of a row's entries."""
    bounds = np.round(np.cumsum(probabilities) * KEY_RANGE).astype(np.uint64)
    # The probabilities sum to 1 only within SUM_TOLERANCE: every key must land somewhere.
    bounds[-1] = KEY_RANGE
    return bounds


def perturb(values: np.ndarray, cell_keys: np.ndarray, ptable: PTable) -> np.ndarray:
    """The published counts (int64): each count plus the perturbation its cell key selects."""
    counts = np.asarray(values)
    keys = np.asarray(cell_keys)
    if counts.shape != keys.shape:
        raise CellKeyError(f"{counts.shape} counts but {keys.shape} cell keys")
    for label, array in (("counts", counts), ("cell keys", keys)):
        if not np.issubdtype(array.dtype, np.integer):
            raise CellKeyError(f"{label} must be integers, got {array.dtype}")
    if counts.size and counts.min() < 0:
        raise CellKeyError("counts cannot be negative")
    if keys.size and (keys.min() < 0 or keys.max() >= KEY_RANGE):
        raise CellKeyError(f"cell keys must lie in [0, {KEY_RANGE})")
    published = counts.astype(np.int64)
    keys = keys.astype(np.uint64)
    # Zeros match no row and stay 0.
    row_of = np.minimum(published, ptable.max_value)
    for row in ptable.rows:
        at = np.flatnonzero(row_of == row.value)
        if at.size:
            entry = np.searchsorted(_upper_bounds(row.probabilities), keys[at], side="right")
            published[at] += np.asarray(row.perturbations, dtype=np.int64)[entry]
    return published
