from __future__ import annotations

import re

import polars as pl
import pytest
from quality_deliveries import TODAY

from udc.quality.expectations import ExpectColumnValuesToBeValidBsn
from udc.quality.suites import (
    META_KEY,
    POSTCODE_NORMALISED_PATTERN,
    POSTCODE_PATTERN,
    POSTCODE_STRICT_PATTERN,
    build_suite,
    date_column,
    valid_date_column,
    with_helper_columns,
)
from udc.sources.contracts import contract_from_dict, load_contracts

CONTRACTS = load_contracts()


def _meta(suite) -> dict[str, dict]:
    return {e.meta[META_KEY]["check_id"]: e.meta[META_KEY] | {"gx": e} for e in suite.expectations}


@pytest.mark.parametrize("source", sorted(CONTRACTS))
def test_every_expectation_carries_its_check_for_the_source(source):
    suite = build_suite(CONTRACTS[source], TODAY)
    ids = [e.meta[META_KEY]["check_id"] for e in suite.expectations]
    assert len(ids) == len(set(ids)) > 0
    for expectation in suite.expectations:
        meta = expectation.meta[META_KEY]
        assert meta["severity"] in ("error", "warning")
        assert meta["column"]
        assert meta["description"].endswith(".")
        assert expectation.severity == ("critical" if meta["severity"] == "error" else "warning")


def test_the_bsn_check_is_the_custom_expectation_and_eight_digits_a_separate_check():
    checks = _meta(build_suite(CONTRACTS["bijstand"], TODAY))
    bsn = checks["bsn.valid_bsn"]["gx"]
    assert isinstance(bsn, ExpectColumnValuesToBeValidBsn)
    assert bsn.expectation_type == "expect_column_values_to_be_valid_bsn"
    assert bsn.eight_digits_reported_separately
    assert checks["bsn.eight_digit_bsn"]["severity"] == "error"
    assert checks["bsn.unique"]["severity"] == "error"


def test_checks_follow_the_contract_settings():
    brp = _meta(build_suite(CONTRACTS["brp"], TODAY))
    assert brp["postcode.postcode_normalised"]["severity"] == "warning"
    assert brp["huisnummer.range"]["gx"].min_value == 1
    assert brp["huisnummer.range"]["gx"].max_value == 99999
    assert set(brp["geslachtsaanduiding.values"]["gx"].value_set) == {"M", "V", "O"}
    assert brp["datum_inschrijving.not_in_future"]["gx"].max_value == 20240630
    assert "voorvoegsel.not_null" not in brp  # nullable
    assert "huisletter.not_null" not in brp
    buurten = _meta(build_suite(CONTRACTS["buurtindeling"], TODAY))
    compound = buurten["postcode+huisnummer.unique"]["gx"]
    assert compound.expectation_type == "expect_compound_columns_to_be_unique"
    bijstand = _meta(build_suite(CONTRACTS["bijstand"], TODAY))
    order = bijstand["einddatum.date_order"]["gx"]
    assert (order.column_A, order.column_B) == (
        date_column("einddatum"),
        date_column("ingangsdatum"),
    )


def test_the_suite_leaves_out_optional_columns_that_were_not_delivered():
    contract = CONTRACTS["brp"]
    delivered = [c for c in contract.column_names if c not in ("anummer", "voornamen")]
    columns = {c["column"] for c in _meta(build_suite(contract, TODAY, delivered)).values()}
    assert "anummer" not in columns and "voornamen" not in columns
    assert "geslachtsnaam" in columns


def test_a_date_setting_on_a_column_without_a_date_type_is_refused():
    contract = contract_from_dict(
        {
            "id": "fout",
            "columns": [{"name": "a", "type": "text"}, {"name": "b", "type": "date"}],
            "date_order": [["a", "b"]],
        }
    )
    with pytest.raises(ValueError, match="'a' is used as a date"):
        build_suite(contract, TODAY)


def test_the_normalised_postcode_pattern_is_loose_but_not_strict():
    samples = ["1234AB", "1234 AB", "1234 ab", "1234ab", "1234aB", "1234Ab", "0123AB", "1234  AB"]
    samples += ["1234A", "12345AB", "1234 A1", "9999ZZ", "1000 zz"]
    for sample in samples:
        loose = re.search(POSTCODE_PATTERN, sample) is not None
        strict = re.search(POSTCODE_STRICT_PATTERN, sample) is not None
        normalised = re.search(POSTCODE_NORMALISED_PATTERN, sample) is not None
        assert normalised == (loose and not strict), sample


def test_date_helpers_know_real_and_brp_dates():
    contract = contract_from_dict(
        {
            "id": "datums",
            "columns": [
                {"name": "brp", "type": "brp_date", "not_in_future": True},
                {"name": "echt", "type": "date", "not_in_future": True},
            ],
        }
    )
    cases = {
        "19700000": (True, 19700101, False),
        "19700500": (True, 19700501, False),
        "20000229": (True, 20000229, True),
        "20240229": (True, 20240229, True),
        "19000229": (False, None, False),
        "21000229": (False, None, False),
        "19700431": (False, None, False),
        "19701300": (False, None, False),
        "19700015": (False, None, False),
        "00000000": (False, None, False),
        "00000101": (False, None, False),
        "1970011": (False, None, False),
        "197001011": (False, None, False),
        "+1970101": (False, None, False),
        "١٩٧٠٠١٠١": (False, None, False),
        None: (True, None, True),
    }
    values = list(cases)
    frame = with_helper_columns(
        pl.DataFrame({"brp": values, "echt": values}, schema={"brp": pl.String, "echt": pl.String}),
        contract,
        [
            valid_date_column("brp"),
            date_column("brp"),
            valid_date_column("echt"),
            date_column("echt"),
        ],
    )
    assert frame.columns == [
        "brp",
        "echt",
        valid_date_column("brp"),
        date_column("brp"),
        valid_date_column("echt"),
        date_column("echt"),
    ]
    expected_brp_floor = [None if floor is None else float(floor) for _, floor, _ in cases.values()]
    expected_real_floor = [
        float(floor) if real and floor else None for _, floor, real in cases.values()
    ]
    assert frame[valid_date_column("brp")].to_list() == [v for v, _, _ in cases.values()]
    assert frame[valid_date_column("echt")].to_list() == [r for _, _, r in cases.values()]
    assert frame[date_column("brp")].to_list() == expected_brp_floor
    assert frame[date_column("echt")].to_list() == expected_real_floor


@pytest.mark.parametrize("months", [-1, 2.5, True, "6"])
def test_a_contracts_archive_months_must_be_whole_months(months):
    with pytest.raises(ValueError, match=r"fout\.archive_months must be a whole number of mon"):
        contract_from_dict(
            {"id": "fout", "columns": [{"name": "a", "type": "text"}], "archive_months": months}
        )
    assert CONTRACTS["politie_incidenten"].archive_months == 6
    assert CONTRACTS["brp"].archive_months is None
