"""Keyed randomness, synthetic BSNs and date helpers for the synthetic city.

Everything a snapshot draws about a household or person is a pure function of
(seed, stream, key), so two peildatums see the same people with the same attributes
without generating the whole life history of everyone who ever lived in the city.
"""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
DAYS_PER_YEAR = 365.2425
EPOCH = dt.date(1970, 1, 1)

# Person indices below this bound belong to (possible) residents; the rest of the BSN index
# space gives valid BSNs of people who never live in the city.
RESIDENT_INDEX_LIMIT = 89_000_000
_BSN_INDICES = 90_000_000 - 9  # 9 prefixes per 7-digit stem, stem 0 left out (see person_bsns)
_FEISTEL_HALF_BITS = 14
_FEISTEL_ROUNDS = 4


def _mix_int(x: int) -> int:
    x &= _MASK
    x ^= x >> 30
    x = (x * _MIX1) & _MASK
    x ^= x >> 27
    x = (x * _MIX2) & _MASK
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place on a uint64 array."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(_MIX1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_MIX2)
    x ^= x >> np.uint64(31)
    return x


class Keyed:
    """Counter-based random numbers: the value for a key never depends on other keys."""

    def __init__(self, seed: int) -> None:
        self._seed = _mix_int(seed * _GOLDEN + 0x5EED)

    def _offsets(self, stream: str) -> tuple[np.uint64, np.uint64]:
        base = _mix_int(self._seed ^ (zlib.crc32(stream.encode()) * _MIX2))
        return np.uint64(base), np.uint64(_mix_int(base + 1))

    def bits(self, stream: str, keys: np.ndarray) -> np.ndarray:
        first, second = self._offsets(stream)
        x = np.asarray(keys).astype(np.uint64)
        x *= np.uint64(_GOLDEN)
        x += first
        _mix(x)
        x ^= second
        return _mix(x)

    def uniform(self, stream: str, keys: np.ndarray) -> np.ndarray:
        return (self.bits(stream, keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def integers(self, stream: str, keys: np.ndarray, low: int, high: int) -> np.ndarray:
        """Integers in [low, high)."""
        span = high - low
        return low + (self.uniform(stream, keys) * span).astype(np.int64)

    def normal(self, stream: str, keys: np.ndarray) -> np.ndarray:
        u1 = self.uniform(stream + ".1", keys)
        u2 = self.uniform(stream + ".2", keys)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def gamma2(self, stream: str, keys: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
        """Gamma(shape 2) durations: few very short spells, unlike an exponential."""
        u1 = self.uniform(stream + ".1", keys)
        u2 = self.uniform(stream + ".2", keys)
        return -(np.log1p(-u1) + np.log1p(-u2)) * (np.asarray(mean) / 2.0)

    def choice(self, stream: str, keys: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
        """Category per key; ``probabilities`` is (k,) or one row of k per key."""
        cumulative = np.cumsum(probabilities, axis=-1)
        cumulative = cumulative / cumulative[..., -1:]
        u = self.uniform(stream, keys)
        if cumulative.ndim == 1:
            return np.minimum(np.searchsorted(cumulative, u, side="right"), cumulative.size - 1)
        return np.minimum((u[:, None] >= cumulative).sum(axis=1), cumulative.shape[1] - 1)


def _feistel(x: np.ndarray, round_keys: list[np.uint64]) -> np.ndarray:
    half_mask = np.uint64((1 << _FEISTEL_HALF_BITS) - 1)
    shift = np.uint64(_FEISTEL_HALF_BITS)
    left = x >> shift
    right = x & half_mask
    for key in round_keys:
        mixed = _mix((right + key) * np.uint64(_GOLDEN))
        left, right = right, left ^ (mixed & half_mask)
    return (left << shift) | right


def bsn_indices_to_numbers(seed: int, indices: np.ndarray) -> np.ndarray:
    """Map distinct indices in [0, 90M - 9) to distinct valid BSNs (as integers).

    A keyed Feistel permutation on 28 bits, cycle-walked into the index range, scatters the
    indices; index i then names stem i // 9 (the first seven digits) and the (i % 9)-th of the
    eighth digits for which a check digit exists. Every stem has at least nine such digits,
    because the eighth digit's weight 2 is invertible mod 11, so at most one of the ten has none.
    """
    round_keys = [np.uint64(_mix_int(seed * 31 + r + 0xB5)) for r in range(_FEISTEL_ROUNDS)]
    x = np.asarray(indices).astype(np.uint64)
    outside = np.ones(x.size, dtype=bool)
    while outside.any():
        x[outside] = _feistel(x[outside], round_keys)
        outside = x >= np.uint64(_BSN_INDICES)
    position = x.astype(np.int64) + 9
    stem = position // 9
    wanted = position % 9
    stem_sum = np.zeros(stem.size, dtype=np.int64)
    for digit_place, weight in enumerate(range(9, 2, -1)):
        stem_sum += (stem // 10 ** (6 - digit_place) % 10) * weight
    # The one eighth digit without a check digit solves stem_sum + 2 * d = 10 (mod 11), and
    # 6 is the inverse of 2 mod 11; when that d is 10 every digit 0..9 has a check digit.
    no_check = (10 - stem_sum) * 6 % 11
    eighth = wanted + (wanted >= no_check)
    check = (stem_sum + 2 * eighth) % 11
    return stem * 100 + eighth * 10 + check


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01."""
    as_date = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    months = as_date.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (as_date - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    year, month, day = ymd(days)
    return year * 10000 + month * 100 + day
