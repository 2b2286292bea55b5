from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from quality_deliveries import TODAY, base_row, case_delivery, delivery

from udc.quality.dutch import thousands
from udc.quality.feedback import (
    FIRST_DELIVERY,
    HTML_LINES_PER_CHECK,
    MAX_TREND_POINTS,
    DeliveryFacts,
    TrendPoint,
    render_csv,
    render_html,
    write_feedback,
)
from udc.quality.report_files import neutralise_cell
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


# -- Trend (verloop) ----------------------------------------------------------------------


class _Tables(HTMLParser):
    """The text of every table cell after the heading "Verloop", table by table."""

    def __init__(self) -> None:
        super().__init__()
        self.in_trend = False
        self.heading = ""
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self.heading = ""
        elif self.in_trend and tag == "table":
            self.tables.append([])
        elif self.in_trend and tag == "tr":
            self.tables[-1].append([])
        elif self.in_trend and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self.in_trend = self.heading == "Verloop"
        elif tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        self.heading += data
        if self.cell is not None:
            self.cell.append(data)


def _trend_tables(page: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def _point(
    day: date,
    rows: int | None = 1000,
    rejected: int | None = 0,
    warnings: int | None = 0,
    verdict: str = "accepted",
    failures: dict[str, int] | None = None,
) -> TrendPoint:
    received = datetime.combine(day + timedelta(days=1), datetime.min.time())
    return TrendPoint(day, received, rows, rejected, warnings, verdict, failures or {})


def _month_ends(count: int, last: date = date(2024, 5, 31)) -> list[date]:
    days, day = [], last
    for _ in range(count):
        days.append(day)
        day = day.replace(day=1) - timedelta(days=1)
    return days[::-1]


def _verloop(rows: list[list[str]]) -> list[list[str]]:
    return [row for row in rows if row[0] == "verloop"]


def test_the_trend_shows_earlier_deliveries_oldest_first_and_this_one_last(tmp_path):
    report = _politie_report({}, failed=30)  # 1000 rows, 30 rejected
    history = [
        _point(date(2024, 5, 31), rows=980, rejected=49, warnings=7, verdict="quarantined"),
        _point(
            date(2024, 4, 30), rows=950, rejected=19, warnings=0, verdict="accepted_with_warnings"
        ),
    ]
    page, _, _ = _read(
        write_feedback(
            tmp_path, _facts("politie_incidenten"), report.verdict(), None, report, history=history
        )
    )
    assert "<h2>Verloop</h2>" in page and FIRST_DELIVERY not in page
    trend = _trend_tables(page)[0]
    assert trend[0] == [
        "Peildatum",
        "Ontvangen",
        "Oordeel",
        "Regels",
        "Afgekeurd",
        "Waarschuwingen",
    ]
    assert trend[1:] == [
        ["30-04-2024", "01-05-2024", "geaccepteerd met waarschuwingen", "950", "19 (2%)", "0 (0%)"],
        ["31-05-2024", "01-06-2024", "in quarantaine", "980", "49 (5%)", "7 (0,71%)"],
        [
            "30-06-2024 (deze levering)",
            "01-07-2024",
            "geaccepteerd met waarschuwingen",
            "1.000",
            "30 (3%)",
            "0 (0%)",
        ],
    ]
    assert "+2,04% regels ten opzichte van de levering met peildatum 31-05-2024" in page


MAY = "de levering met peildatum 31-05-2024"


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        (1000, 1032, f"+3,2% regels ten opzichte van {MAY} (van 1.000 naar 1.032)."),
        (1250, 1000, f"-20% regels ten opzichte van {MAY} (van 1.250 naar 1.000)."),
        (1000, 1000, f"Evenveel regels (1.000) als {MAY}."),
        (0, 12, f"12 regels, waar {MAY} geen gegevensregels had."),
    ],
)
def test_the_trend_gives_the_change_in_row_count(before, now, expected):
    history = [_point(date(2024, 4, 30), rows=10), _point(date(2024, 5, 31), rows=before)]
    page = render_html(_facts("wmo", rows=now), "accepted", None, None, history=history)
    assert expected in page


def test_the_row_count_is_compared_with_the_latest_delivery_whose_count_is_known():
    history = [
        _point(date(2024, 4, 30), rows=800),
        _point(date(2024, 5, 31), rows=None, rejected=None, warnings=None, verdict="quarantined"),
    ]
    page = render_html(_facts("wmo", rows=1000), "accepted", None, None, history=history)
    assert "+25% regels ten opzichte van de levering met peildatum 30-04-2024" in page
    assert ">–<" in page and "–: niet bekend" in page  # the unreadable delivery's counts
    unread = render_html(_facts("wmo", rows=None), "quarantined", "kapot", None, history=history)
    assert "Het aantal regels van deze levering is onbekend" in unread


def test_a_redelivery_is_compared_with_the_earlier_file_of_the_same_peildatum():
    earlier = TrendPoint(
        date(2024, 6, 30), datetime(2024, 6, 30, 9), 1100, 100, 0, "quarantined", {}
    )
    page = render_html(_facts("wmo", rows=1000), "accepted", None, None, history=[earlier])
    assert (
        "-9,09% regels ten opzichte van de levering met peildatum 30-06-2024 die wij op "
        "30-06-2024 ontvingen (van 1.100 naar 1.000)."
    ) in page


def test_the_first_delivery_says_so(tmp_path):
    page, _, rows = _read(write_feedback(tmp_path, _facts("wmo"), "accepted", None, None))
    assert FIRST_DELIVERY in page
    assert "Foutpercentage per controle" not in page and "ten opzichte van" not in page
    assert ["verloop", "", "", "", FIRST_DELIVERY, "", "", "", ""] in rows
    assert {row[1] for row in _verloop(rows)} == {"", "30-06-2024 (deze levering)"}


def test_this_delivery_passed_back_as_history_is_not_an_earlier_one():
    facts = _facts("wmo")
    itself = TrendPoint(facts.peildatum, facts.received_at, 12, None, None, "accepted", {})
    page = render_html(facts, "accepted", None, None, history=[itself])
    assert FIRST_DELIVERY in page


def test_the_trend_shows_only_the_last_twelve_deliveries_in_any_given_order(tmp_path):
    days = _month_ends(20)
    history = [_point(day, rows=1000 + i) for i, day in enumerate(days)]
    random.Random(7).shuffle(history)
    page, _, rows = _read(
        write_feedback(tmp_path, _facts("wmo", rows=1019), "accepted", None, None, history=history)
    )
    trend = _trend_tables(page)[0]
    shown = [row[0] for row in trend[1:]]
    assert shown == [f"{day:%d-%m-%Y}" for day in days[-MAX_TREND_POINTS:]] + [
        "30-06-2024 (deze levering)"
    ]
    assert [row[3] for row in trend[1:-1]] == [thousands(n) for n in range(1008, 1020)]
    for day in days[:-MAX_TREND_POINTS]:
        assert f"{day:%d-%m-%Y}" not in page
    assert f"De laatste {MAX_TREND_POINTS} van de 20 eerdere leveringen" in page
    assert "Evenveel regels (1.019) als de levering met peildatum 31-05-2024." in page
    assert len({row[1] for row in _verloop(rows)}) == MAX_TREND_POINTS + 1


def test_the_csv_trend_carries_verdicts_counts_and_shares_safely(tmp_path):
    report = _politie_report({}, failed=30)
    history = [
        _point(
            date(2024, 5, 31),
            rows=980,
            rejected=49,
            warnings=7,
            verdict="quarantined",
            failures={"=HYPERLINK(1)": 4, "datum.not_in_future": 49},
        ),
        _point(date(2024, 4, 30), rows=None, rejected=None, warnings=None, verdict="quarantined"),
    ]
    _, _, rows = _read(
        write_feedback(
            tmp_path,
            _facts("politie_incidenten"),
            report.verdict(),
            None,
            report,
            history=history,
        )
    )
    trend = _verloop(rows)
    assert [row[1] for row in trend if row[4].startswith("oordeel")] == [
        "30-04-2024",
        "31-05-2024",
        "30-06-2024 (deze levering)",
    ]
    may = [row[2:7] for row in trend if row[1] == "31-05-2024"]
    assert may == [
        ["", "", "ontvangen: 01-06-2024 00:00:00", "", ""],
        ["", "", "oordeel: in quarantaine", "", ""],
        ["", "", "gegevensregels", "980", ""],
        ["", "fout", "afgekeurde regels", "49", "5%"],
        ["", "waarschuwing", "regels met een waarschuwing", "7", "0,71%"],
        ["datum", "fout", "controle datum.not_in_future", "49", "5%"],
        ["", "", "controle =HYPERLINK(1)", "4", "0,41%"],
    ]
    assert all(row[7:] == ["", ""] for row in trend)
    unread = [row for row in trend if row[1] == "30-04-2024"]
    assert ["verloop", "30-04-2024", "", "", "gegevensregels", "", "", "", ""] in unread
    assert not [row for row in unread if row[4].startswith("controle")]
    now = [row for row in trend if row[1] == "30-06-2024 (deze levering)"]
    assert ["verloop", now[0][1], "", "fout", "afgekeurde regels", "30", "3%", "", ""] in now
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    # Counts come from the catalog, yet a nonsensical negative one still cannot be a formula.
    csv_text = render_csv(
        _facts("wmo"), "accepted", None, None, history=[_point(date(2024, 5, 31), rows=-1)]
    )
    assert "verloop;31-05-2024;;;gegevensregels;'-1;" in csv_text


def test_the_trend_shows_failure_shares_per_check(tmp_path):
    report = _politie_report({}, failed=30)  # datum.not_in_future fails now, datum.not_null not
    history = [
        _point(date(2024, 3, 31), rows=500, failures={"datum.not_in_future": 5}),
        _point(date(2024, 4, 30), rows=800, failures={"oud.<b>weg</b>": 8}),
        _point(date(2024, 5, 31), rows=None, rejected=None, warnings=None, verdict="quarantined"),
    ]
    facts = _facts("politie_incidenten")
    page, _, _ = _read(
        write_feedback(tmp_path, facts, "accepted_with_warnings", None, report, history=history)
    )
    assert "<h3>Foutpercentage per controle</h3>" in page
    checks = _trend_tables(page)[1]
    assert checks[0] == [
        "Controle",
        "31-03-2024",
        "30-04-2024",
        "31-05-2024",
        "30-06-2024 (deze levering)",
    ]
    assert checks[1:] == [
        ["Het veld 'datum' ligt in de toekomst. datum.not_in_future", "1%", "0%", "–", "3%"],
        ["oud.<b>weg</b>", "0%", "1%", "–", "0%"],
    ]
    assert "oud.&lt;b&gt;weg&lt;/b&gt;" in page and "<b>" not in page
    assert "title='5 regels'" in page
    assert "datum.not_null" not in page.split("<h2>Verloop</h2>")[1]


def test_without_failures_the_trend_says_no_check_had_findings():
    clean = replace(_politie_report({}, failed=0), checks=(), rejected_lines=())
    history = [_point(date(2024, 5, 31))]
    page = render_html(_facts("wmo"), "accepted", None, clean, history=history)
    assert "Geen enkele controle had bevindingen" in page
    assert "–: niet bekend" not in page
    assert "Foutpercentage per controle" not in page


def test_a_trend_point_needs_a_known_verdict_and_keeps_its_failures():
    with pytest.raises(ValueError, match="unknown verdict"):
        _point(date(2024, 5, 31), verdict="ok")
    failures = {"a.b": 1}
    point = _point(date(2024, 5, 31), failures=failures)
    failures["a.b"] = 2
    assert point.check_failures == {"a.b": 1}
    with pytest.raises(TypeError):
        point.check_failures["a.b"] = 3  # type: ignore[index]
