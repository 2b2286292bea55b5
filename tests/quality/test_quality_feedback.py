from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from quality_deliveries import TODAY, base_row, case_delivery, delivery

from udc.quality.feedback import (
    HTML_LINES_PER_CHECK,
    DeliveryFacts,
    neutralise_cell,
    write_feedback,
)
from udc.quality.validate import CheckResult, ValidationReport, validate_delivery
from udc.sources.contracts import load_contracts

CONTRACTS = load_contracts()


def _facts(source: str, rows: int | None = 12) -> DeliveryFacts:
    return DeliveryFacts(
        source=source,
        file_name=f"{source}_20240630.csv",
        peildatum=date(2024, 6, 30),
        size_bytes=123_456,
        rows=rows,
        sha256="0f" * 32,
        received_at=datetime(2024, 7, 1, 2, 30),
    )


def _read(paths: tuple[Path, Path]) -> tuple[str, str, list[list[str]]]:
    html_path, csv_path = paths
    csv_text = csv_path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(csv_text, newline=""), delimiter=";"))
    return html_path.read_text(encoding="utf-8"), csv_text, rows


@pytest.fixture(scope="module")
def bsn_delivery() -> tuple[list[str], ValidationReport]:
    contract = CONTRACTS["bijstand"]
    frame, _ = case_delivery(contract)
    extra = [base_row(contract, 200 + i) for i in range(3)]
    extra[1]["bsn"] = extra[0]["bsn"]
    extra[2]["bsn"] = extra[2]["bsn"][1:]
    rows = frame.drop("line_number").to_dicts() + extra
    frame = delivery(contract, rows)
    return frame["bsn"].drop_nulls().to_list(), validate_delivery(frame, contract, TODAY)


def test_feedback_names_the_files_after_source_and_peildatum(tmp_path, bsn_delivery):
    _, report = bsn_delivery
    html_path, csv_path = write_feedback(
        tmp_path / "bijstand", _facts("bijstand"), report.verdict(), None, report
    )
    assert html_path == tmp_path / "bijstand" / "bijstand_20240630.html"
    assert csv_path == tmp_path / "bijstand" / "bijstand_20240630.csv"
    assert sorted(p.name for p in (tmp_path / "bijstand").iterdir()) == [
        "bijstand_20240630.csv",
        "bijstand_20240630.html",
    ]


def test_feedback_holds_verdict_counts_and_line_numbers_but_no_bsn(tmp_path, bsn_delivery):
    bsns, report = bsn_delivery
    assert report.verdict() == "quarantined"
    page, csv_text, rows = _read(
        write_feedback(tmp_path, _facts("bijstand"), report.verdict(), None, report)
    )
    for text in (page, csv_text):
        assert "in quarantaine" in text
        assert not [bsn for bsn in bsns if bsn in text]
    checks = {row[1]: row for row in rows if row[0] == "controle"}
    assert set(checks) == {c.check_id for c in report.checks}
    for check in report.checks:
        assert checks[check.check_id][5] == str(check.failed_count)
        lines = [int(row[7]) for row in rows if row[0] == "regel" and row[1] == check.check_id]
        assert lines == list(check.failed_lines)
    unique = next(c for c in report.checks if c.check_id == "bsn.unique")
    assert unique.failed_lines == (13, 14)
    assert "13, 14" in page
    rejected = next(row for row in rows if row[1] == "afgekeurde regels")
    assert rejected[5] == str(len(report.rejected_lines))


def _politie_report(keys: dict[int, str], failed: int = 3) -> ValidationReport:
    lines = tuple(range(2, 2 + failed))
    check = CheckResult(
        "datum.not_in_future",
        "datum",
        "error",
        "Het veld 'datum' ligt in de toekomst.",
        failed,
        lines,
    )
    passed = CheckResult("datum.not_null", "datum", "error", "Het veld 'datum' is leeg.", 0, ())
    return ValidationReport(
        source="politie_incidenten",
        rows=1000,
        checks=(check, passed),
        rejected_lines=lines,
        warning_lines=(),
        max_rejected_share=0.05,
        record_key="registratienummer",
        record_keys=keys,
    )


def test_formula_cells_are_neutralised_in_the_csv(tmp_path):
    keys = {2: '=HYPERLINK("http://x")', 3: "+31", 4: "-1+1", 5: "@SUM(A1)", 6: "\tx", 7: "PL-1"}
    report = _politie_report(keys, failed=6)
    _, _, rows = _read(
        write_feedback(
            tmp_path, _facts("politie_incidenten"), "accepted_with_warnings", None, report
        )
    )
    assert rows[0][-1] == "registratienummer"
    written = {int(row[7]): row[8] for row in rows if row[0] == "regel"}
    assert written == {
        2: '\'=HYPERLINK("http://x")',
        3: "'+31",
        4: "'-1+1",
        5: "'@SUM(A1)",
        6: "'\tx",
        7: "PL-1",
    }
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("\r=1", "'\r=1"), ("12", "12"), ("", ""), (None, ""), (-3, "'-3")],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


def test_the_html_escapes_record_keys_and_caps_the_line_list(tmp_path):
    failed = HTML_LINES_PER_CHECK + 25
    keys = {2: "<script>alert(1)</script>", 3: "A&B"}
    report = _politie_report(keys, failed=failed)
    page, _, rows = _read(
        write_feedback(tmp_path, _facts("politie_incidenten"), "quarantined", None, report)
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "A&amp;B" in page
    last_shown = HTML_LINES_PER_CHECK + 1  # lines start at 2
    assert f", {last_shown} en nog 25<" in page
    assert len([row for row in rows if row[0] == "regel"]) == failed
    assert "Het veld &#x27;datum&#x27; is leeg." in page  # a check without findings


def test_a_quarantined_unreadable_delivery_still_gets_both_files(tmp_path):
    reason = "het bestand is geen UTF-8 (ongeldige byte op positie 3, regel 1)"
    paths = write_feedback(tmp_path, _facts("wmo", rows=None), "quarantined", reason, None)
    page, _, rows = _read(paths)
    assert all(p.is_file() for p in paths)
    assert "in quarantaine" in page and reason in page
    assert "onbekend" in page
    assert ["levering", "reden", "", "", reason, "", "", "", ""] in rows
    assert ["levering", "oordeel", "", "", "in quarantaine", "", "", "", ""] in rows


def test_a_redelivery_replaces_the_feedback(tmp_path):
    write_feedback(tmp_path, _facts("wmo"), "quarantined", "kapot", None)
    page, _, _ = _read(write_feedback(tmp_path, _facts("wmo"), "accepted", None, None))
    assert "geaccepteerd" in page and "kapot" not in page
    assert len(list(tmp_path.iterdir())) == 2


def test_names_from_the_sender_cannot_leave_the_folder(tmp_path):
    html_path, csv_path = write_feedback(tmp_path, _facts("../brp"), "accepted", None, None)
    assert html_path.parent == csv_path.parent == tmp_path
    assert html_path.name.startswith("brp_")
    unnamed = replace(_facts("brp"), peildatum=None, file_name="../Lijst 2026.csv")
    html_path, _ = write_feedback(tmp_path, unnamed, "quarantined", "naam", None)
    assert html_path == tmp_path / "brp_lijst_2026.html"
    assert "onbekend" in html_path.read_text()
    with pytest.raises(ValueError, match="unknown verdict"):
        write_feedback(tmp_path, _facts("brp"), "ok", None, None)
