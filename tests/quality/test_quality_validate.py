from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest
from quality_deliveries import (
    CASES,
    TODAY,
    VALID_BSNS,
    base_row,
    case_delivery,
    clean_delivery,
    delivery,
)

from udc.quality.expectations import ExpectColumnValuesToBeValidBsn, gx
from udc.quality.validate import (
    NO_ROWS,
    ValidationReport,
    run_validation,
    validate_delivery,
)
from udc.sources.contracts import contract_from_dict, load_contracts

CONTRACTS = load_contracts()


@pytest.fixture(scope="module")
def case_reports() -> dict[str, ValidationReport]:
    return {
        source: validate_delivery(case_delivery(CONTRACTS[source])[0], CONTRACTS[source], TODAY)
        for source in CASES
    }


def _failed(report: ValidationReport) -> dict[str, tuple[int, ...]]:
    return {c.check_id: c.failed_lines for c in report.checks if c.failed_lines}


@pytest.mark.parametrize("source", sorted(CASES))
def test_each_check_fails_exactly_the_lines_that_violate_it(source, case_reports):
    report = case_reports[source]
    expected: dict[str, list[int]] = {}
    for index, case in enumerate(CASES[source]):
        for check_id in case.fails:
            expected.setdefault(check_id, []).append(index + 2)
    assert _failed(report) == {k: tuple(v) for k, v in expected.items()}
    assert report.rows == len(CASES[source])
    assert not report.delivery_errors


@pytest.mark.parametrize("source", sorted(CASES))
def test_rejected_lines_are_the_lines_failing_an_error_check(source, case_reports):
    report = case_reports[source]
    severities = {c.check_id: c.severity for c in report.checks}
    rejected = [
        index + 2
        for index, case in enumerate(CASES[source])
        if any(severities[check_id] == "error" for check_id in case.fails)
    ]
    warned = [
        index + 2
        for index, case in enumerate(CASES[source])
        if any(severities[check_id] == "warning" for check_id in case.fails)
    ]
    assert report.rejected_lines == tuple(rejected)
    assert report.warning_lines == tuple(warned)
    assert report.rejected_share == pytest.approx(len(rejected) / len(CASES[source]))


def _lines_of_cases(source: str, check_id: str) -> tuple[int, ...]:
    return tuple(i + 2 for i, case in enumerate(CASES[source]) if check_id in case.fails)


def test_a_postcode_to_normalise_is_a_warning_not_a_rejection(case_reports):
    report = case_reports["brp"]
    (check,) = [c for c in report.checks if c.check_id == "postcode.postcode_normalised"]
    lines = _lines_of_cases("brp", "postcode.postcode_normalised")
    assert len(lines) == 2
    assert check.severity == "warning"
    assert check.failed_lines == lines
    assert not set(lines) & set(report.rejected_lines)


def test_an_eight_digit_bsn_is_reported_with_its_own_description(case_reports):
    checks = {c.check_id: c for c in case_reports["brp"].checks}
    eight = checks["burgerservicenummer.eight_digit_bsn"]
    invalid = checks["burgerservicenummer.valid_bsn"]
    (line,) = _lines_of_cases("brp", "burgerservicenummer.eight_digit_bsn")
    assert eight.failed_lines == (line,)
    assert line not in invalid.failed_lines
    assert "8 cijfers" in eight.description and "voorloopnul" in eight.description
    assert eight.description != invalid.description
    assert line in case_reports["brp"].rejected_lines


@pytest.mark.parametrize("source", sorted(CASES))
def test_a_clean_delivery_is_accepted(source):
    report = validate_delivery(clean_delivery(CONTRACTS[source]), CONTRACTS[source], TODAY)
    assert report.verdict() == "accepted"
    assert report.reason() is None
    assert report.checks and all(c.failed_count == 0 for c in report.checks)
    assert report.rejected_lines == () and report.warning_count == 0


def test_a_duplicate_bsn_rejects_every_line_that_holds_it(capfd):
    contract = CONTRACTS["bijstand"]
    rows = [base_row(contract, i) for i in range(4)]
    rows[3]["bsn"] = rows[1]["bsn"]
    capfd.readouterr()
    report = validate_delivery(delivery(contract, rows), contract, TODAY)
    assert capfd.readouterr() == ("", "")  # no GX progress bars, no warnings
    (unique,) = [c for c in report.checks if c.check_id == "bsn.unique"]
    assert unique.failed_lines == (3, 5)
    assert report.rejected_lines == (3, 5)
    assert "Alle regels" in unique.description
    assert report.verdict() == "quarantined"  # 2 of 4 rows is far above 5%


def test_compound_key_duplicates_count_after_normalisation_and_reject_all_lines():
    contract = CONTRACTS["buurtindeling"]
    rows = [base_row(contract, i) for i in range(5)]
    rows[0] |= {"postcode": "1234AB", "huisnummer": "7"}
    rows[2] |= {"postcode": "1234 ab", "huisnummer": "07"}
    rows[4] |= {"postcode": "1234AB", "huisnummer": "8"}
    report = validate_delivery(delivery(contract, rows), contract, TODAY)
    failed = _failed(report)
    assert failed == {"postcode+huisnummer.unique": (2, 4), "postcode.postcode_normalised": (4,)}
    assert report.rejected_lines == (2, 4)


def test_duplicate_record_keys_are_rejected_and_keys_of_failed_lines_are_kept():
    contract = CONTRACTS["politie_incidenten"]
    rows = [base_row(contract, i) for i in range(4)]
    rows[2]["registratienummer"] = rows[0]["registratienummer"]
    rows[3]["postcode"] = "1234 ab"
    report = validate_delivery(delivery(contract, rows), contract, TODAY)
    assert _failed(report) == {
        "registratienummer.unique": (2, 4),
        "postcode.postcode_normalised": (5,),
    }
    assert report.record_key == "registratienummer"
    assert report.record_keys == {2: "PL-00000", 4: "PL-00000", 5: "PL-00003"}


def test_reports_of_bsn_sources_carry_no_record_keys(case_reports):
    for source in ("brp", "bijstand", "wmo", "huurachterstand"):
        assert case_reports[source].record_key is None
        assert case_reports[source].record_keys == {}


def _bijstand_with_bad_rows(rows: int, bad: int) -> pl.DataFrame:
    contract = CONTRACTS["bijstand"]
    data = [base_row(contract, i) for i in range(rows)]
    for row in data[:bad]:
        row["regeling"] = "ONBEKEND"
    return delivery(contract, data)


@pytest.mark.parametrize(
    ("bad", "verdict", "verdict_at_ten_percent"),
    [
        (5, "accepted_with_warnings", "accepted_with_warnings"),
        (6, "quarantined", "accepted_with_warnings"),
    ],
)
def test_the_verdict_quarantines_above_the_rejected_share(bad, verdict, verdict_at_ten_percent):
    contract = CONTRACTS["bijstand"]
    report = validate_delivery(_bijstand_with_bad_rows(100, bad), contract, TODAY)
    assert len(report.rejected_lines) == bad
    assert report.verdict() == verdict
    assert report.verdict(max_rejected_share=0.10) == verdict_at_ten_percent


def _report(**changes) -> ValidationReport:
    fields = {
        "source": "wmo",
        "rows": 200,
        "checks": (),
        "rejected_lines": (),
        "warning_lines": (),
        "max_rejected_share": 0.05,
    }
    return ValidationReport(**(fields | changes))


def test_verdict_boundaries_without_running_gx():
    ten = tuple(range(2, 12))
    assert _report(rejected_lines=ten).verdict() == "accepted_with_warnings"  # exactly 5%
    assert _report(rejected_lines=(*ten, 12)).verdict() == "quarantined"
    assert _report(warning_lines=(7,)).verdict() == "accepted_with_warnings"
    assert _report(delivery_errors=("kapot",)).verdict() == "quarantined"
    assert "11 van de 200 regels (5,5%)" in _report(rejected_lines=(*ten, 12)).reason()


def test_a_delivery_without_data_rows_is_quarantined_without_running_gx():
    contract = CONTRACTS["wmo"]
    empty = clean_delivery(contract).head(0)
    report, gx_results = run_validation(empty, contract, TODAY)
    assert gx_results == []
    assert report.rows == 0 and report.checks == ()
    assert report.delivery_errors == (NO_ROWS,)
    assert report.verdict() == "quarantined"
    assert report.reason() == NO_ROWS


def test_missing_optional_columns_are_not_checked_and_missing_required_ones_quarantine():
    contract = CONTRACTS["brp"]
    optional = ["anummer", "geslachtsnaam", "voorvoegsel", "voornamen"]
    frame = clean_delivery(contract, rows=5).drop(optional)
    report = validate_delivery(frame, contract, TODAY)
    assert report.verdict() == "accepted"
    assert not {c.column for c in report.checks} & set(optional)

    report = validate_delivery(frame.drop("geslachtsaanduiding"), contract, TODAY)
    assert report.verdict() == "quarantined"
    assert "geslachtsaanduiding" in report.delivery_errors[0]
    assert not any(c.column == "geslachtsaanduiding" for c in report.checks)


def test_gx_results_and_reports_hold_no_delivered_bsn():
    contract = CONTRACTS["bijstand"]
    frame, _ = case_delivery(contract)
    rows = [base_row(contract, 100 + i) for i in range(6)]
    rows[1]["bsn"] = rows[0]["bsn"]
    rows[2]["bsn"] = rows[3]["bsn"][1:]  # eight digits
    rows[4]["bsn"] = rows[4]["bsn"][:8] + str((int(rows[4]["bsn"][8]) + 1) % 10)  # checksum
    frame = pl.concat([frame, delivery(contract, rows).with_columns(pl.col("line_number") + 50)])
    report, gx_results = run_validation(frame, contract, TODAY)
    assert {"bsn.unique", "bsn.eight_digit_bsn", "bsn.valid_bsn"} <= set(_failed(report))

    serialised = json.dumps([r.to_json_dict() for r in gx_results]) + repr(report)
    delivered = [b for b in frame["bsn"].drop_nulls().to_list()]
    assert delivered
    assert not [b for b in delivered if b in serialised]
    # Nor a fingerprint of the data (switched off for speed), nor failing values.
    assert "pandas_data_fingerprint" not in serialised
    assert "partial_unexpected_list" not in serialised
    assert "unexpected_list" not in serialised.replace("unexpected_index_list", "")


def test_the_bsn_expectation_alone_rejects_eight_digits_too():
    frame = pl.DataFrame({"bsn": [VALID_BSNS[0], VALID_BSNS[1][1:], "123456789", None]})
    data = frame.to_pandas()
    data.index = np.array([2, 3, 4, 5])
    data.index.name = "line_number"
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("bsn_only")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": data})
    )
    result = batch.validate(
        ExpectColumnValuesToBeValidBsn(column="bsn"),
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["line_number"],
            "exclude_unexpected_values": True,
        },
    )
    assert not result.success
    assert result.result["unexpected_index_list"] == [{"line_number": [3, 4]}]


def test_a_check_that_cannot_run_quarantines_the_delivery_without_quoting_gx(caplog, recwarn):
    contract = contract_from_dict(
        {
            "id": "kapot",
            "columns": [
                {"name": "n", "type": "integer", "min": 10, "max": 1},
                {"name": "soort", "type": "text", "pattern": "^(A|B)$"},
            ],
        }
    )
    frame = pl.DataFrame({"n": ["5", "20"], "soort": ["A", "C"], "line_number": [2, 3]})
    report = validate_delivery(frame, contract, TODAY)
    assert report.delivery_errors == ("De controle n.range kon niet worden uitgevoerd.",)
    assert report.verdict() == "quarantined"
    assert "n.range" not in {c.check_id for c in report.checks}
    assert _failed(report) == {"soort.pattern": (3,)}
    assert "min_value" not in caplog.text and "check n.range could not be evaluated" in caplog.text
    assert not [w for w in recwarn if "regular expression" in str(w.message)]


def test_concurrent_validations_in_threads_match_sequential_ones():
    jobs = [(source, case_delivery(CONTRACTS[source])[0]) for source in sorted(CASES)] * 2
    sequential = [validate_delivery(frame, CONTRACTS[s], TODAY) for s, frame in jobs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda j: validate_delivery(j[1], CONTRACTS[j[0]], TODAY), jobs))
    assert threaded == sequential
