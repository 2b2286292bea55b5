"""Keyed hashing of BSNs into pseudonyms: HMAC-SHA256 under a domain key.

The polars_hash plugin only accepts an HMAC key that is a valid UTF-8 str (raw key bytes such
as 0xaa are rejected with a parse error). The domain key is therefore passed as its 64-character
lowercase hex form. That is still 256 bits of entropy, and 64 bytes is exactly one SHA-256 block,
so HMAC uses the key as is instead of hashing it first. The pseudonym of a BSN is thus

    HMAC-SHA256(key=domain_key.hex().encode("ascii"), msg=bsn.encode("utf-8")).hexdigest()

and `pseudonym_of` computes the same with the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import numpy as np
import polars as pl
import polars_hash as plh

from udc.pseudonymize.keys import KEY_LENGTH

PSEUDONYM_LENGTH = 64


def hmac_key_text(domain_key: bytes) -> str:
    """The HMAC key actually used, in the str form the polars plugin accepts."""
    if len(domain_key) != KEY_LENGTH:
        raise ValueError(f"a domain key must be {KEY_LENGTH} bytes, got {len(domain_key)}")
    return domain_key.hex()


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    """Plain HMAC-SHA256 (RFC 2104) as lowercase hex, for arbitrary key bytes."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def pseudonym_expr(column: str, domain_key: bytes) -> pl.Expr:
    """Expression giving the pseudonym of a String column of BSNs (null for null or blank)."""
    value = pl.col(column).str.strip_chars()
    hashed = plh.col(column).str.strip_chars().chash.hmac_sha256(key=hmac_key_text(domain_key))
    return pl.when(value.str.len_bytes() > 0).then(hashed)


def pseudonymise(
    frame: pl.DataFrame, column: str, domain_key: bytes, output: str = "pseudonym"
) -> pl.DataFrame:
    """Replace the BSN column by its pseudonym column, at the same position.

    Values are stripped of surrounding whitespace first; validation (bsn_status) is the caller's
    job and happens before this step, on the raw delivery.
    """
    dtype = frame.schema.get(column)
    if dtype is None:
        raise KeyError(f"column {column!r} is not in the frame")
    # An integer column has already lost leading zeros; hashing it would silently give
    # pseudonyms that never link.
    if dtype != pl.String:
        raise TypeError(
            f"column {column!r} must be read as String to keep leading zeros, got {dtype}"
        )
    if output != column and output in frame.columns:
        raise ValueError(f"output column {output!r} already exists")
    order = [output if name == column else name for name in frame.columns]
    return frame.with_columns(pseudonym_expr(column, domain_key).alias(output)).select(order)


def pseudonym_of(bsn: str, domain_key: bytes) -> str:
    """The pseudonym of one BSN (reference implementation; used for a citizen's access request)."""
    stripped = bsn.strip()
    if not stripped:
        raise ValueError("an empty BSN has no pseudonym")
    key = hmac_key_text(domain_key).encode("ascii")
    return hmac_sha256_hex(key, stripped.encode("utf-8"))


def hmac_rate(n: int = 1_000_000) -> float:
    """Pseudonyms per second of `pseudonymise` on `n` random 9-digit strings."""
    rng = np.random.default_rng(0)
    numbers = rng.integers(0, 10**9, size=n, dtype=np.int64)
    frame = pl.DataFrame({"bsn": numbers}).select(pl.col("bsn").cast(pl.String).str.zfill(9))
    domain_key = rng.bytes(KEY_LENGTH)
    started = time.perf_counter()
    pseudonymise(frame, "bsn", domain_key)
    return n / (time.perf_counter() - started)


SUBJECT_DIGEST_BYTES = 8


def subject_digests(frame: pl.DataFrame, column: str, domain_key: bytes) -> bytes:
    """The people a frame holds, for access requests: the sorted, distinct first 8 bytes of
    each BSN's pseudonym under ``domain_key`` (the log's domain, not the lake's), as one
    big-endian byte string. 8 bytes keep a chance collision between two of 17 million
    people below one in a hundred thousand."""
    prefix = pl.col("_p").str.slice(0, 2 * SUBJECT_DIGEST_BYTES)
    digests = (
        frame.select(pseudonym_expr(column, domain_key).alias("_p"))
        .drop_nulls()
        .select(prefix.str.to_integer(base=16, dtype=pl.UInt64))
        .to_series()
        .unique()
        .sort()
        .to_numpy()
    )
    return digests.astype(">u8").tobytes()


def subject_digest(bsn: str, domain_key: bytes) -> int:
    """One person's entry in ``subject_digests``."""
    return int(pseudonym_of(bsn, domain_key)[: 2 * SUBJECT_DIGEST_BYTES], 16)


def holds_subject(digests: bytes, digest: int) -> bool:
    """Whether ``subject_digests`` output holds the person of ``subject_digest``."""
    values = np.frombuffer(digests, dtype=">u8")
    wanted = np.uint64(digest)
    at = int(np.searchsorted(values, wanted))
    return at < len(values) and values[at] == wanted
