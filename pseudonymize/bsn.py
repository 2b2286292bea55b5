"""Burgerservicenummer (BSN) validation, vectorised in polars, and a generator of valid BSNs."""

from __future__ import annotations

import re

import numpy as np
import polars as pl

BSN_LENGTH = 9

# Weights of the BSN 11-check for d1..d9 (the last digit counts negatively).
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)

# About 91 million valid BSNs exist; staying below about half of them keeps rejection sampling
# of distinct values fast.
_MAX_GENERATED = 40_000_000

_NINE_DIGITS = re.compile(r"[0-9]{9}")

BSN_STATUS_DESCRIPTIONS: dict[str, str] = {
    "valid": "geldig BSN",
    "missing": "BSN ontbreekt (leeg)",
    "eight_digits": "BSN van 8 cijfers (voorloopnul kwijtgeraakt, bijvoorbeeld in Excel)",
    "format": "BSN is geen 9 cijfers",
    "checksum": "BSN voldoet niet aan de elfproef",
}


def _eleven_check_sum(number: pl.Expr) -> pl.Expr:
    """Weighted 11-check sum of a 9-digit number held as an integer (digits by arithmetic)."""
    total = pl.lit(0, dtype=pl.Int64)
    for position, weight in enumerate(_WEIGHTS):
        digit = (number // 10 ** (BSN_LENGTH - 1 - position)) % 10
        total = total + digit * weight
    return total


def bsn_status_of(values: pl.Series) -> pl.Series:
    """:func:`bsn_status` for a series, several times faster.

    Each intermediate is materialised once: as one nested expression polars re-evaluates the
    stripped value and integer for every digit.
    """
    frame = pl.DataFrame({"value": values.cast(pl.String).str.strip_chars()})
    # [0-9] rather than \d: the Rust regex engine's \d also matches non-ASCII digits.
    frame = frame.with_columns(nine_digits=pl.col("value").str.contains(r"^[0-9]{9}$"))
    frame = frame.with_columns(
        number=pl.when(pl.col("nine_digits")).then(pl.col("value").cast(pl.Int64, strict=False))
    )
    frame = frame.with_columns(check_sum=_eleven_check_sum(pl.col("number")))
    status = (
        pl.when(pl.col("value").is_null() | (pl.col("value").str.len_bytes() == 0))
        .then(pl.lit("missing"))
        .when(pl.col("value").str.contains(r"^[0-9]{8}$"))
        .then(pl.lit("eight_digits"))
        .when(~pl.col("nine_digits"))
        .then(pl.lit("format"))
        .when((pl.col("check_sum") % 11 == 0) & (pl.col("number") != 0))
        .then(pl.lit("valid"))
        .otherwise(pl.lit("checksum"))
    )
    return frame.select(status.cast(pl.String)).to_series().alias(values.name)


def bsn_status(column: pl.Expr) -> pl.Expr:
    """Classify every value as "valid", "missing", "eight_digits", "format" or "checksum".

    Surrounding whitespace is ignored. An 8-digit value is reported separately because it is
    almost always a BSN whose leading zero a spreadsheet dropped; it is never repaired here,
    since guessing would link a record to the wrong person if the guess were wrong.

    A plain expression on purpose, not a Python function mapped over batches: such a function
    runs inside polars' thread pool, and one that starts a polars query of its own there can
    deadlock when several threads validate at once. :func:`bsn_status_of` is the fast form.
    """
    value = column.cast(pl.String).str.strip_chars()
    nine_digits = value.str.contains(r"^[0-9]{9}$")
    number = pl.when(nine_digits).then(value.cast(pl.Int64, strict=False))
    return (
        pl.when(value.is_null() | (value.str.len_bytes() == 0))
        .then(pl.lit("missing"))
        .when(value.str.contains(r"^[0-9]{8}$"))
        .then(pl.lit("eight_digits"))
        .when(~nine_digits)
        .then(pl.lit("format"))
        .when((_eleven_check_sum(number) % 11 == 0) & (number != 0))
        .then(pl.lit("valid"))
        .otherwise(pl.lit("checksum"))
    )


def is_valid_bsn(value: str) -> bool:
    """Scalar reference implementation of the 11-check (surrounding whitespace ignored)."""
    stripped = value.strip()
    if not _NINE_DIGITS.fullmatch(stripped):
        return False
    digits = [int(character) for character in stripped]
    if not any(digits):
        return False
    return sum(weight * digit for weight, digit in zip(_WEIGHTS, digits, strict=True)) % 11 == 0


def random_valid_bsns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return `n` distinct valid BSNs as 9-character strings, in random order.

    Prefixes d1..d8 are drawn uniformly, so about one in ten starts with a zero (which is what
    spreadsheets lose). For each prefix the check digit d9 is fixed by the 11-check; prefixes
    whose weighted sum is 10 mod 11 have no valid check digit and are discarded.
    """
    if not 0 <= n <= _MAX_GENERATED:
        raise ValueError(f"n must be between 0 and {_MAX_GENERATED}, got {n}")
    numbers = np.empty(0, dtype=np.int64)
    while numbers.size < n:
        # Oversample so that one round nearly always suffices after discarding and de-duplicating.
        prefixes = rng.integers(1, 10**8, size=int((n - numbers.size) * 1.2) + 16, dtype=np.int64)
        check_digits = _digits(prefixes, 8) @ np.array(_WEIGHTS[:8], dtype=np.int64) % 11
        has_check_digit = check_digits != 10
        drawn = prefixes[has_check_digit] * 10 + check_digits[has_check_digit]
        # Sort-based de-duplication: np.unique is several times slower here.
        merged = np.sort(np.concatenate([numbers, drawn]))
        numbers = merged[np.concatenate([[True], merged[1:] != merged[:-1]])]
    chosen = rng.permutation(numbers)[:n]
    characters = (_digits(chosen, BSN_LENGTH) + ord("0")).astype(np.uint8)
    return characters.view(f"S{BSN_LENGTH}").ravel().astype(f"U{BSN_LENGTH}")


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative integers, most significant first, as an (n, width) array."""
    digits = np.empty((numbers.size, width), dtype=np.int64)
    # One column at a time: a broadcast (n, 1) // (width,) division is about four times slower.
    for position in range(width):
        digits[:, position] = numbers // 10 ** (width - 1 - position) % 10
    return digits
