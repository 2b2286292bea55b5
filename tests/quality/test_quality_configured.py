"""Checks a data steward configures, the row-count check, and how checks are grouped."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from quality_deliveries import TODAY, base_row, clean_delivery, delivery

from udc.quality.suites import PreviousDelivery, build_checks, check_contract
from udc.quality.validate import plan_groups, validate_delivery
from udc.sources.contracts import ContractError, load_contracts, with_expectations
from udc.sources.contracts import expectation_from_dict as configured

CONTRACTS = load_contracts()
HUUR = CONTRACTS["huurachterstand"]


def _with(contract, *raw: dict):
    return with_expectations(contract, tuple(configured(contract.id, r) for r in raw))


def _failed(report) -> dict[str, tuple[int, ...]]:
    return {c.check_id: c.failed_lines for c in report.checks if not c.passed}


def _rows(contract, changes: list[dict]) -> pl.DataFrame:
    return delivery(contract, [base_row(contract, i) | c for i, c in enumerate(changes)])


def test_a_configured_check_compares_a_decimal_column_as_a_number():
    contract = _with(
        HUUR,
        {
            "id": "achterstand_bedrag.hoog",
            "expectation": "expect_column_values_to_be_between",
            "kwargs": {"column": "achterstand_bedrag", "max_value": 5000},
            "severity": "warning",
            "description": "Meer dan 5000 euro.",
        },
    )
    # "900,00" is larger than "5000" as text, smaller as a number.
    frame = _rows(
        contract,
        [
            {"achterstand_bedrag": "900,00"},
            {"achterstand_bedrag": "5000,01"},
            {"achterstand_bedrag": "12000"},
            {"achterstand_bedrag": "5000"},
        ],
    )
    report = validate_delivery(frame, contract, TODAY)
    assert _failed(report) == {"achterstand_bedrag.hoog": (3, 4)}
    assert report.verdict() == "accepted_with_warnings"
    assert report.rejected_lines == ()


def test_a_configured_error_check_rejects_its_rows_and_compares_dates_as_dates():
    contract = _with(
        CONTRACTS["bijstand"],
        {
            "id": "ingangsdatum.sinds_2000",
            "expectation": "ExpectColumnValuesToBeBetween",
            "kwargs": {"column": "ingangsdatum", "min_value": 20000101},
            "severity": "error",
            "description": "Een uitkering die vóór 2000 begon, hoort niet in dit bestand.",
        },
    )
    frame = _rows(
        contract,
        [{"ingangsdatum": "19991231"}, {"ingangsdatum": "20000101"}] + [{}] * 40,
    )
    report = validate_delivery(frame, contract, TODAY)
    assert _failed(report) == {"ingangsdatum.sinds_2000": (2,)}
    assert report.rejected_lines == (2,)


def test_a_failing_aggregate_check_is_about_the_whole_delivery():
    warning = {
        "id": "achterstand_maanden.gemiddeld",
        "expectation": "expect_column_mean_to_be_between",
        "kwargs": {"column": "achterstand_maanden", "max_value": 1},
        "severity": "warning",
        "description": "Gemiddeld meer dan een maand achterstand.",
    }
    frame = clean_delivery(HUUR, rows=6)
    report = validate_delivery(frame, _with(HUUR, warning), TODAY)
    [check] = [c for c in report.checks if c.check_id == "achterstand_maanden.gemiddeld"]
    assert (check.passed, check.row_level, check.failed_lines) == (False, False, ())
    assert report.verdict() == "accepted_with_warnings"
    assert report.delivery_warnings == ("Gemiddeld meer dan een maand achterstand.",)
    assert "Gemiddeld meer dan een maand" in report.reason()

    report = validate_delivery(frame, _with(HUUR, warning | {"severity": "error"}), TODAY)
    assert report.verdict() == "quarantined"
    assert "Gemiddeld meer dan een maand achterstand." in report.delivery_errors


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"expectation": "expect_nonsense"}, "expect_nonsense"),
        ({"expectation": "expect_table_columns_to_match_set", "kwargs": {}}, "not about"),
        ({"kwargs": {"column": "onbekend"}}, "'onbekend' is not a column"),
        ({"kwargs": {"column": "bsn_hoofdhuurder"}}, "BSN columns take no configured checks"),
        ({"severity": "fatal"}, "severity"),
        ({"id": "Hoofdletters"}, "id"),
        ({"description": " "}, "description"),
        ({"id": "postcode.postcode"}, "more than once"),
        ({"kwargs": {"column": "postcode", "no_such_argument": 1}}, "huurachterstand"),
    ],
)
def test_a_configured_check_that_cannot_work_is_refused_before_a_run(raw, message):
    base = {
        "id": "check",
        "expectation": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "postcode"},
        "description": "Omschrijving.",
    }
    with pytest.raises(ContractError, match=message):
        check_contract(_with(HUUR, base | raw), TODAY)


def test_expectations_files_add_checks_to_the_contract_they_name(tmp_path):
    (tmp_path / "extra.expectations.toml").write_text(
        'source = "wmo"\n'
        "[[expectations]]\n"
        'id = "aanbieder_agb.bekend"\n'
        'expectation = "expect_column_values_to_not_be_in_set"\n'
        'kwargs = { column = "aanbieder_agb", value_set = ["00000000"] }\n'
        'description = "Onbekende aanbieder."\n',
        encoding="utf-8",
    )
    contracts = load_contracts(tmp_path)
    [added] = contracts["wmo"].expectations
    assert added.id == "aanbieder_agb.bekend" and added.severity == "warning"
    assert added.arguments["value_set"] == ("00000000",)
    assert contracts["bijstand"] == CONTRACTS["bijstand"]
    frame = _rows(contracts["wmo"], [{"aanbieder_agb": "00000000"}, {}])
    assert _failed(validate_delivery(frame, contracts["wmo"], TODAY)) == {
        "aanbieder_agb.bekend": (2,)
    }

    (tmp_path / "kapot.expectations.toml").write_text('source = "onbekend"\n', encoding="utf-8")
    with pytest.raises(ContractError, match="onbekend"):
        load_contracts(tmp_path)


def test_the_row_count_is_compared_with_the_previous_delivery():
    contract = CONTRACTS["bijstand"]  # at most 25% fewer, at most 100% more rows
    frame = clean_delivery(contract, rows=30)
    previous = PreviousDelivery(dt.date(2024, 5, 31), 40)
    assert validate_delivery(frame, contract, TODAY, previous).verdict() == "accepted"

    shrunk = PreviousDelivery(dt.date(2024, 5, 31), 41)  # 30 < 41 * 0.75
    report = validate_delivery(frame, contract, TODAY, shrunk)
    assert report.verdict() == "quarantined"
    [check] = [c for c in report.checks if c.check_id == "rows.change"]
    assert (check.passed, check.row_level) == (False, False)
    assert "31-05-2024" in report.reason() and "tussen 31 en 82" in report.reason()
    assert report.rejected_lines == ()

    grown = PreviousDelivery(dt.date(2024, 5, 31), 14)  # 30 > 14 * 2
    assert validate_delivery(frame, contract, TODAY, grown).verdict() == "quarantined"
    assert "rows.change" not in {
        c.check_id for c in validate_delivery(frame, contract, TODAY).checks
    }


def test_value_checks_run_once_per_distinct_value_and_report_every_line():
    contract = CONTRACTS["wmo"]
    rows = [{"voorziening": "XX"}, {}, {"voorziening": "XX"}, {"voorziening": None}] * 5
    frame = _rows(contract, rows)
    report = validate_delivery(frame, contract, TODAY)
    failed = _failed(report)
    assert failed["voorziening.values"] == tuple(range(2, 22, 2))
    assert failed["voorziening.not_null"] == tuple(range(5, 22, 4))
    assert report.checks[0].check_id == build_checks(contract, TODAY)[0].check_id

    groups = {g.columns: g for g in plan_groups(build_checks(contract, TODAY))}
    assert groups[("voorziening",)].distinct
    # Uniqueness sees every row, and the BSN's value checks join that group.
    unique = build_checks(CONTRACTS["bijstand"], TODAY)
    bsn = {g.columns: g for g in plan_groups(unique)}[("bsn",)]
    assert not bsn.distinct and {s.check_id for s in bsn.specs} >= {"bsn.unique", "bsn.valid_bsn"}
