"""The cell key method: record and cell keys, p-table validation, consistent perturbation."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from udc.marts.cellkey import (
    DEFAULT_PTABLE,
    KEY_RANGE,
    CellKeyError,
    PTable,
    Row,
    cell_keys,
    load_ptable,
    perturb,
    record_keys,
)

SECRET = bytes(range(32))


def pseudonyms(n: int, seed: int = 0) -> pl.Series:
    rng = np.random.default_rng(seed)
    return pl.Series("unit_id", [rng.bytes(32).hex() for _ in range(n)])


def key_of(ids: pl.Series) -> int:
    return int(cell_keys(np.array([record_keys(ids, SECRET).cast(pl.UInt64).sum()]))[0])


def write(tmp_path: Path, rows: str, header: str = 'name = "t"\nmax_value = 2\n') -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(header + rows, encoding="utf-8")
    return path


ROW_1 = "[[rows]]\nvalue = 1\nperturbation = { 0 = 1.0 }\n"
ROW_2 = "[[rows]]\nvalue = 2\nperturbation = { -1 = 0.5, 1 = 0.5 }\n"


# Record and cell keys.


def test_record_keys_are_the_first_four_bytes_of_hmac_sha256_under_the_secret():
    ids = pl.Series("unit_id", ["abc", "PL0900-2024000123", "abc"])
    keys = record_keys(ids, SECRET)
    assert keys.dtype == pl.UInt32
    assert keys.name == "unit_id"
    key_text = SECRET.hex().encode("ascii")
    expected = [
        int.from_bytes(hmac.new(key_text, i.encode(), hashlib.sha256).digest()[:4], "big")
        for i in ids
    ]
    assert keys.to_list() == expected
    assert keys[0] == keys[2]
    assert record_keys(ids, SECRET).to_list() == keys.to_list()


def test_without_the_secret_the_record_keys_of_known_ids_cannot_be_computed():
    """A registratienummer is public: a plain hash of it would give away its record key."""
    ids = pl.Series("unit_id", [f"PL0900-2026{n:06d}" for n in range(1_000)])
    keyed = record_keys(ids, SECRET).to_numpy()
    plain = np.array([int.from_bytes(hashlib.sha256(i.encode()).digest()[:4], "big") for i in ids])
    other = record_keys(ids, bytes(32)).to_numpy()
    assert (keyed != plain).all() and (keyed != other).mean() > 0.99


def test_record_keys_hash_the_text_of_numeric_ids_and_refuse_missing_ids_or_weak_secrets():
    assert (
        record_keys(pl.Series([123]), SECRET).to_list()
        == record_keys(pl.Series(["123"]), SECRET).to_list()
    )
    with pytest.raises(CellKeyError, match="without an id"):
        record_keys(pl.Series(["a", None]), SECRET)
    with pytest.raises(CellKeyError, match="at least 16 bytes"):
        record_keys(pl.Series(["a"]), b"short")


def test_record_keys_are_roughly_uniform():
    keys = record_keys(pseudonyms(20_000), SECRET).to_numpy()
    counts = np.bincount((keys >> 28).astype(np.int64), minlength=16)
    assert counts.min() > 20_000 / 16 * 0.9
    assert counts.max() < 20_000 / 16 * 1.1


def test_same_contributors_in_any_order_give_the_same_key_and_value():
    ids = pseudonyms(40)
    shuffled = ids.sample(fraction=1.0, shuffle=True, seed=7)
    assert shuffled.to_list() != ids.to_list()
    assert key_of(ids) == key_of(shuffled)
    ptable = load_ptable()
    first = perturb(np.array([40]), np.array([key_of(ids)]), ptable)
    again = perturb(np.array([40]), np.array([key_of(shuffled)]), ptable)
    assert first == again


def test_different_contributor_sets_get_different_keys():
    ids = pseudonyms(200)
    rng = np.random.default_rng(1)
    keys = {key_of(ids.gather(rng.choice(200, size=20, replace=False))) for _ in range(500)}
    assert len(keys) == 500
    assert key_of(ids[:20]) != key_of(ids[:21])


def test_a_wrapped_group_sum_gives_the_same_cell_keys_as_an_exact_sum():
    keys = record_keys(pseudonyms(3_000), SECRET)
    cells = np.arange(3_000) % 7
    exact = np.array([keys.to_numpy()[cells == c].sum(dtype=np.uint64) for c in range(7)])
    wrapped = np.array([keys.to_numpy()[cells == c].sum(dtype=np.uint32) for c in range(7)])
    assert (wrapped != exact).all()
    assert np.array_equal(cell_keys(wrapped), cell_keys(exact))
    # Whatever integer type polars sums UInt32 keys in, the cell keys are the same.
    frame = pl.DataFrame({"cell": cells, "key": keys})
    summed = frame.group_by("cell").agg(pl.col("key").sum()).sort("cell")["key"].to_numpy()
    assert np.array_equal(cell_keys(summed), cell_keys(exact))
    overflowed = np.array([2**63 - 1], dtype=np.int64) + np.array([2**32 + 5], dtype=np.int64)
    assert overflowed[0] < 0
    assert cell_keys(overflowed)[0] == (2**63 - 1 + 2**32 + 5) % KEY_RANGE


def test_totals_key_is_the_modular_sum_of_its_childrens_keys():
    ids = pseudonyms(100)
    children = [ids[:30], ids[30:45], ids[45:]]
    child_sums = np.array([record_keys(c, SECRET).cast(pl.UInt64).sum() for c in children])
    assert cell_keys(np.array([child_sums.sum()]))[0] == key_of(ids)


# The default p-table and perturbation.


def test_the_default_ptable_loads_and_documents_its_guarantees():
    ptable = load_ptable()
    assert ptable == load_ptable(DEFAULT_PTABLE)
    assert (ptable.name, ptable.max_value, ptable.blocked_up_to, ptable.allow_zero) == (
        "default",
        5,
        2,
        True,
    )
    for row in ptable.rows:
        v, p = np.array(row.perturbations), np.array(row.probabilities)
        assert np.abs(v).max() <= 2
        assert abs(p @ v) < 1e-6
        expected_variance = {1: 2.0, 2: 2.0, 3: 0.0}.get(row.value, 1.0)
        assert p @ v**2 == pytest.approx(expected_variance, abs=1e-3)


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5, 8, 1000])
def test_perturbations_follow_the_ptable_probabilities(value):
    ptable = load_ptable()
    row = ptable.rows[min(value, ptable.max_value) - 1]
    keys = np.random.default_rng(value).integers(0, KEY_RANGE, size=100_000, dtype=np.uint64)
    noise = perturb(np.full(keys.size, value), keys, ptable) - value
    observed = {v: np.mean(noise == v) for v in np.unique(noise)}
    assert set(observed) == set(row.perturbations)
    for v, p in zip(row.perturbations, row.probabilities, strict=True):
        assert observed[v] == pytest.approx(p, abs=0.01)
    assert abs(noise.mean()) < 0.015


def test_key_intervals_are_laid_out_in_ascending_order_of_perturbation():
    ptable = PTable("t", 1, (Row(1, (-1, 0, 1), (0.25, 0.5, 0.25)),), allow_zero=True)
    edges = np.array([0, KEY_RANGE // 4 - 1, KEY_RANGE // 4, 3 * KEY_RANGE // 4, KEY_RANGE - 1])
    assert perturb(np.ones(5, dtype=np.int64), edges, ptable).tolist() == [0, 0, 1, 2, 2]


def test_zeros_stay_zero_and_small_counts_are_never_published():
    ptable = load_ptable()
    rng = np.random.default_rng(3)
    values = np.repeat(np.arange(0, 40), 5_000)
    keys = rng.integers(0, KEY_RANGE, size=values.size, dtype=np.uint64)
    published = perturb(values, keys, ptable)
    assert published.dtype == np.int64
    assert (published[values == 0] == 0).all()
    assert published.min() >= 0
    assert not np.isin(published, [1, 2]).any()
    assert (published[values > 0] > 0).sum() > 0
    assert np.abs(published - values).max() == 2
    # Only 1 and 2 may be published as 0.
    assert set(np.unique(values[(published == 0) & (values > 0)])) == {1, 2}


def test_perturb_refuses_mismatched_or_impossible_input():
    ptable = load_ptable()
    with pytest.raises(CellKeyError, match="cell keys"):
        perturb(np.array([1, 2]), np.array([0]), ptable)
    with pytest.raises(CellKeyError, match="negative"):
        perturb(np.array([-1]), np.array([0]), ptable)
    with pytest.raises(CellKeyError, match=r"\[0, 4294967296\)"):
        perturb(np.array([5]), np.array([KEY_RANGE]), ptable)
    with pytest.raises(CellKeyError, match="integers"):
        perturb(np.array([5.0]), np.array([0]), ptable)


# P-table validation.


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (ROW_1 + ROW_2.replace("-1 = 0.5", "-1 = 0.4"), r"row 2: probabilities sum to 0\.9"),
        (
            ROW_1 + ROW_2.replace("{ -1 = 0.5, 1 = 0.5 }", "{ -1 = 0.4, 1 = 0.6 }"),
            r"row 2: biased, the expected perturbation is \+0\.2 instead of 0",
        ),
        (
            ROW_1 + ROW_2.replace("{ -1 = 0.5, 1 = 0.5 }", "{ -3 = 0.25, 1 = 0.75 }"),
            r"row 2, perturbation -3: would publish the negative count -1",
        ),
        (ROW_2, r"no row for value\(s\) \[1\]"),
        (ROW_1 + ROW_2 + ROW_2, "row 2: given more than once"),
        (
            ROW_1 + ROW_2 + ROW_1.replace("value = 1", "value = 0"),
            "row 0: a zero has no contributors and is never perturbed",
        ),
        (
            ROW_1 + ROW_2.replace("{ -1 = 0.5, 1 = 0.5 }", "{ -2 = 0.5, 2 = 0.5 }"),
            r"row 2, perturbation -2: would publish a positive count as 0; set allow_zero",
        ),
        (ROW_1 + ROW_2.replace("-1 =", '"x" ='), r"row 2: perturbation 'x' is not an integer"),
        (ROW_1 + ROW_2.replace("= 0.5 }", '= "half" }'), r"row 2, perturbation 1: probability"),
        (ROW_1 + ROW_2.replace("-1 = 0.5", "0 = 0.0, -1 = 0.5"), r"probability 0\.0 is not in"),
    ],
)
def test_invalid_ptables_are_refused_naming_the_file_and_the_entry(tmp_path, rows, message):
    path = write(tmp_path, rows)
    with pytest.raises(CellKeyError, match=message) as error:
        load_ptable(path)
    assert str(error.value).startswith(f"{path}: ")


def test_blocked_counts_are_refused(tmp_path):
    header = 'name = "t"\nmax_value = 2\nblocked_up_to = 1\n'
    path = write(tmp_path, ROW_1.replace("{ 0 = 1.0 }", "{ 0 = 0.5, 1 = 0.5 }") + ROW_2, header)
    with pytest.raises(CellKeyError, match="row 1, perturbation \\+0: would publish 1, but"):
        load_ptable(path)


def test_a_valid_table_written_in_any_order_loads(tmp_path):
    path = write(tmp_path, ROW_2.replace("-1 = 0.5, 1 = 0.5", "1 = 0.5, -1 = 0.5") + ROW_1)
    ptable = load_ptable(path)
    assert [row.value for row in ptable.rows] == [1, 2]
    assert ptable.rows[1].perturbations == (-1, 1)
    assert ptable.allow_zero is False


def test_unknown_settings_and_bad_toml_are_refused(tmp_path):
    with pytest.raises(CellKeyError, match=r"unknown setting\(s\) \['js'\]"):
        load_ptable(write(tmp_path, ROW_1 + ROW_2, 'name = "t"\nmax_value = 2\njs = 2\n'))
    with pytest.raises(CellKeyError, match="not valid TOML"):
        load_ptable(write(tmp_path, "[[rows]\n"))
