import numpy as np
import polars as pl
import pytest

from udc.pseudonymize.bsn import (
    BSN_STATUS_DESCRIPTIONS,
    bsn_status,
    bsn_status_of,
    is_valid_bsn,
    random_valid_bsns,
)

CASES = [
    ("111222333", "valid"),
    ("123456782", "valid"),
    ("012345672", "valid"),
    ("001234560", "valid"),
    ("  123456782 ", "valid"),
    ("\t012345672\r\n", "valid"),
    (None, "missing"),
    ("", "missing"),
    ("   ", "missing"),
    ("12345672", "eight_digits"),
    (" 11222333 ", "eight_digits"),
    ("00000000", "eight_digits"),
    ("1234567", "format"),
    ("1234567890", "format"),
    ("0123456720", "format"),
    ("12345678a", "format"),
    ("+12345672", "format"),
    ("-12345672", "format"),
    ("123 456 782", "format"),
    ("1234.5678", "format"),
    ("١٢٣٤٥٦٧٨٢", "format"),
    ("123456789", "checksum"),
    ("111222334", "checksum"),
    ("000000000", "checksum"),
    ("012345678", "checksum"),
]


def statuses(values: list[str | None]) -> list[str]:
    frame = pl.DataFrame({"bsn": values}, schema={"bsn": pl.String})
    return frame.select(bsn_status(pl.col("bsn"))).to_series().to_list()


def test_bsn_status_classifies_every_category():
    values = [value for value, _ in CASES]
    assert statuses(values) == [expected for _, expected in CASES]


@pytest.mark.parametrize(("value", "expected"), [case for case in CASES if case[0] is not None])
def test_scalar_reference_agrees_on_the_fixed_cases(value, expected):
    assert is_valid_bsn(value) == (expected == "valid")


def test_result_is_string_and_works_lazily_beside_other_columns():
    frame = pl.LazyFrame(
        {"row": [1, 2, 3], "bsn": ["123456782", None, "12345672"]},
    )
    result = frame.with_columns(status=bsn_status(pl.col("bsn"))).collect()
    assert result.schema["status"] == pl.String
    assert result["status"].to_list() == ["valid", "missing", "eight_digits"]
    assert result["row"].to_list() == [1, 2, 3]


def test_integer_column_that_lost_its_leading_zero_is_reported_not_fixed():
    frame = pl.DataFrame({"bsn": [12345672, 123456782]})
    result = frame.select(bsn_status(pl.col("bsn"))).to_series().to_list()
    assert result == ["eight_digits", "valid"]


def test_vectorised_status_agrees_with_scalar_reference_on_random_values():
    rng = np.random.default_rng(11)
    nine = np.char.zfill(rng.integers(0, 10**9, 20_000).astype(str), 9)
    eight = np.char.zfill(rng.integers(0, 10**8, 2_000).astype(str), 8)
    padded = np.char.add(np.char.add(" ", random_valid_bsns(rng, 2_000)), "\t")
    values = np.concatenate([nine, eight, padded, random_valid_bsns(rng, 5_000)]).tolist()
    vectorised = statuses(values)
    assert [status == "valid" for status in vectorised] == [is_valid_bsn(v) for v in values]
    # Random 9-digit strings fail the 11-check about 10 times in 11.
    assert 0.05 < vectorised[:20_000].count("valid") / 20_000 < 0.15
    assert set(vectorised[20_000:22_000]) == {"eight_digits"}


def test_every_single_digit_error_is_detected():
    rng = np.random.default_rng(5)
    mutants = []
    for bsn in random_valid_bsns(rng, 200).tolist():
        for position in range(9):
            for digit in "0123456789":
                if digit != bsn[position]:
                    mutants.append(bsn[:position] + digit + bsn[position + 1 :])
    assert "valid" not in set(statuses(mutants))


def test_descriptions_cover_every_status_in_dutch():
    produced = set(statuses([value for value, _ in CASES]))
    assert produced == set(BSN_STATUS_DESCRIPTIONS)
    assert "voorloopnul" in BSN_STATUS_DESCRIPTIONS["eight_digits"]
    assert "elfproef" in BSN_STATUS_DESCRIPTIONS["checksum"]


def test_random_valid_bsns_are_unique_valid_nine_digit_strings():
    bsns = random_valid_bsns(np.random.default_rng(3), 20_000)
    assert bsns.shape == (20_000,)
    assert bsns.dtype == np.dtype("<U9")
    assert len(set(bsns.tolist())) == 20_000
    assert all(is_valid_bsn(bsn) and len(bsn) == 9 for bsn in bsns.tolist())
    leading_zero = np.char.startswith(bsns, "0").mean()
    assert 0.07 < leading_zero < 0.13


def test_random_valid_bsns_are_reproducible_and_bounded():
    first = random_valid_bsns(np.random.default_rng(9), 100)
    second = random_valid_bsns(np.random.default_rng(9), 100)
    assert first.tolist() == second.tolist()
    assert random_valid_bsns(np.random.default_rng(9), 0).size == 0
    with pytest.raises(ValueError, match="n must be between"):
        random_valid_bsns(np.random.default_rng(9), -1)


def test_the_series_form_agrees_with_the_expression_form():
    rng = np.random.default_rng(12)
    values = [value for value, _ in CASES] + list(random_valid_bsns(rng, 500))
    values += [str(n) for n in rng.integers(0, 10**9, 2_000)] + ["12 345 678", "abc", " "]
    series = pl.Series("bsn", values, dtype=pl.String)
    assert bsn_status_of(series).to_list() == statuses(values)
    assert bsn_status_of(series).name == "bsn"
