"""The feedback report (terugmelding) that goes back to a source for every delivery.

Two files per delivery, in Dutch, for the person at the source who has to act on it: a
self-contained HTML page to read and a CSV file (``;``-separated, for a spreadsheet) to work
through. Both are built from the delivery's facts and a :class:`ValidationReport`, which holds
line numbers and check descriptions only, never a delivered value; the one exception is the
source's own record key, and only for sources whose record key is not a BSN.

Both files also show the trend (verloop) against earlier deliveries of the same source, from
:class:`TrendPoint` records the caller takes from the catalog: dates, counts, shares and
verdicts only.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType

from udc.quality.dutch import percent, thousands
from udc.quality.report_files import BASE_CSS, neutralise_cell, write_atomically
from udc.quality.validate import (
    ACCEPTED,
    ACCEPTED_WITH_WARNINGS,
    QUARANTINED,
    CheckResult,
    ValidationReport,
)

VERDICT_LABELS = {
    ACCEPTED: "geaccepteerd",
    ACCEPTED_WITH_WARNINGS: "geaccepteerd met waarschuwingen",
    QUARANTINED: "in quarantaine",
}
VERDICT_EXPLANATIONS = {
    ACCEPTED: "De levering is verwerkt.",
    ACCEPTED_WITH_WARNINGS: (
        "De levering is verwerkt. Afgekeurde regels zijn niet verwerkt; regels met alleen een "
        "waarschuwing wel."
    ),
    QUARANTINED: (
        "De levering is niet verwerkt en apart gezet. Lever het bestand na verbetering opnieuw "
        "aan met dezelfde peildatum; die levering vervangt deze."
    ),
}
SEVERITY_LABELS = {"error": "fout", "warning": "waarschuwing"}
# How many line numbers the HTML page lists per check, and the CSV file lists per check.
HTML_LINES_PER_CHECK = 50
CSV_LINES_PER_CHECK = 10_000
MAX_KEY_LENGTH = 60
# How many earlier deliveries the trend shows: a year of monthly deliveries.
MAX_TREND_POINTS = 12
CURRENT_DELIVERY = "(deze levering)"
FIRST_DELIVERY = "Dit is de eerste levering van deze bron die wij kennen."
UNKNOWN_NUMBER = "–"


@dataclass(frozen=True)
class DeliveryFacts:
    """What arrived: enough for the source to recognise its own file."""

    source: str
    file_name: str
    peildatum: date | None  # None when the file name does not carry a valid one
    size_bytes: int
    rows: int | None
    sha256: str
    received_at: datetime


@dataclass(frozen=True)
class TrendPoint:
    """One earlier delivery of a source, as the catalog knows it: dates, counts and a verdict.

    ``rows`` is None when the file could not be read; ``rejected`` and ``warnings`` (the number
    of rows with at least one error, resp. warning) are None when its rows were not validated.
    ``check_failures`` maps a check id to the number of rows that failed it; a check that is
    absent failed no row.
    """

    peildatum: date | None  # None only for a delivered file whose name holds none
    received_at: datetime
    rows: int | None
    rejected: int | None
    warnings: int | None
    verdict: str
    check_failures: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICT_LABELS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        # A read-only copy, so a point stays what it was when the caller built it.
        object.__setattr__(self, "check_failures", MappingProxyType(dict(self.check_failures)))

    @property
    def validated(self) -> bool:
        return self.rows is not None and self.rejected is not None


def _share(count: int, rows: int) -> str:
    return percent(count / rows if rows else 0.0)


def _key_text(key: str) -> str:
    return key if len(key) <= MAX_KEY_LENGTH else key[: MAX_KEY_LENGTH - 1] + "…"


def _base_name(facts: DeliveryFacts) -> str:
    # Names come from the sender: only letters, digits and _ reach a file name, never a path.
    source = re.sub(r"[^a-z0-9_]+", "_", facts.source.lower()).strip("_") or "onbekend"
    if facts.peildatum is not None:
        return f"{source}_{facts.peildatum:%Y%m%d}"
    stem = re.sub(r"[^a-z0-9_]+", "_", Path(facts.file_name).stem.lower()).strip("_")
    return f"{source}_{stem or 'bestand'}"


def _day(day: date | None) -> str:
    return f"{day:%d-%m-%Y}" if day else "onbekend (niet af te leiden uit de bestandsnaam)"


def _reason(reason: str | None, report: ValidationReport | None) -> str | None:
    if reason is not None:
        return reason
    return report.reason() if report is not None else None


def _fact_rows(facts: DeliveryFacts) -> list[tuple[str, str]]:
    rows = "onbekend (het bestand kon niet worden gelezen)"
    if facts.rows is not None:
        rows = thousands(facts.rows)
    return [
        ("Bron", facts.source),
        ("Bestand", facts.file_name),
        ("Peildatum", _day(facts.peildatum)),
        ("Grootte", f"{thousands(facts.size_bytes)} bytes"),
        ("Gegevensregels", rows),
        ("SHA-256", facts.sha256),
        ("Ontvangen", f"{facts.received_at:%d-%m-%Y %H:%M:%S}"),
    ]


def _failed_first(report: ValidationReport) -> tuple[list[CheckResult], list[CheckResult]]:
    failed = [c for c in report.checks if c.failed_count]
    failed.sort(key=lambda c: (c.severity != "error", -c.failed_count))
    return failed, [c for c in report.checks if not c.failed_count]


# -- Trend --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trend:
    earlier: list[TrendPoint]  # every earlier delivery, oldest first
    shown: list[TrendPoint]  # the last MAX_TREND_POINTS of them
    current: TrendPoint  # this delivery
    check_ids: list[str]  # checks that failed now or in a shown delivery, failing now first

    def label(self, entry: TrendPoint) -> str:
        day = f"{entry.peildatum:%d-%m-%Y}" if entry.peildatum else "onbekend"
        return f"{day} {CURRENT_DELIVERY}" if entry is self.current else day


def _trend(
    facts: DeliveryFacts,
    verdict: str,
    report: ValidationReport | None,
    history: Sequence[TrendPoint],
) -> _Trend:
    current = TrendPoint(
        peildatum=facts.peildatum,
        received_at=facts.received_at,
        rows=report.rows if report is not None else facts.rows,
        rejected=len(report.rejected_lines) if report is not None else None,
        warnings=report.warning_count if report is not None else None,
        verdict=verdict,
        check_failures={c.check_id: c.failed_count for c in report.checks} if report else {},
    )
    # A caller that records the delivery before writing its feedback may pass it back as history.
    points = [
        p
        for p in history
        if not (p.peildatum == facts.peildatum and p.received_at == facts.received_at)
    ]
    points.sort(key=lambda p: (p.peildatum, p.received_at))
    shown = points[-MAX_TREND_POINTS:]
    failing_now = [c.check_id for c in _failed_first(report)[0]] if report is not None else []
    failing_before = {
        check_id for entry in shown for check_id, count in entry.check_failures.items() if count
    }
    return _Trend(points, shown, current, failing_now + sorted(failing_before - set(failing_now)))


def _row_change(trend: _Trend) -> str:
    """How the row count compares to the latest earlier delivery whose row count is known."""
    current = trend.current
    if current.rows is None:
        return "Het aantal regels van deze levering is onbekend, dus niet te vergelijken."
    previous = next((e for e in reversed(trend.earlier) if e.rows is not None), None)
    if previous is None or previous.rows is None:
        return "Van de eerdere leveringen is het aantal regels niet bekend."
    reference = f"de levering met peildatum {trend.label(previous)}"
    if previous.peildatum == current.peildatum:
        reference += f" die wij op {previous.received_at:%d-%m-%Y} ontvingen"
    before, now = previous.rows, current.rows
    if before == now:
        return f"Evenveel regels ({thousands(now)}) als {reference}."
    if before == 0:
        return f"{thousands(now)} regels, waar {reference} geen gegevensregels had."
    sign = "+" if now > before else "-"
    return (
        f"{sign}{percent(abs(now - before) / before)} regels ten opzichte van {reference} "
        f"(van {thousands(before)} naar {thousands(now)})."
    )


def _check_share(entry: TrendPoint, check_id: str) -> tuple[int, str] | None:
    if not entry.validated or entry.rows is None:
        return None
    count = entry.check_failures.get(check_id, 0)
    return count, _share(count, entry.rows)


# -- HTML ---------------------------------------------------------------------------------

_CSS = (
    BASE_CSS
    + """
.facts th { width: 12rem; background: none; }
.verdict { display: inline-block; padding: 0.3rem 0.8rem; border-radius: 0.3rem;
           font-weight: bold; }
.verdict.accepted { background: #dff3e3; color: #14532d; }
.verdict.accepted_with_warnings { background: #fff4d6; color: #713f12; }
.verdict.quarantined { background: #fde2e1; color: #7f1d1d; }
.severity-error { color: #9b1c1c; font-weight: bold; }
.severity-warning { color: #8a5a00; font-weight: bold; }
.lines { font-size: 0.9rem; }
.wide { overflow-x: auto; }
.trend .verdict { padding: 0 0.4rem; font-weight: normal; }
.trend tr.current td { font-weight: bold; }
"""
)


def _line_list(check: CheckResult, report: ValidationReport) -> str:
    shown = check.failed_lines[:HTML_LINES_PER_CHECK]
    items = []
    for line in shown:
        key = report.record_keys.get(line)
        items.append(f"{line} ({_key_text(key)})" if key is not None else str(line))
    text = ", ".join(items)
    rest = check.failed_count - len(shown)
    if rest > 0:
        text += f" en nog {thousands(rest)}"
    return html.escape(text)


def _checks_table(checks: Sequence[CheckResult], report: ValidationReport, lines: bool) -> str:
    key_note = f" ({html.escape(report.record_key)})" if report.record_key else ""
    line_head = f"<th>Regelnummers{key_note}</th>" if lines else ""
    head = (
        "<tr><th>Controle</th><th>Kolom</th><th>Ernst</th><th>Regels</th><th>Aandeel</th>"
        f"{line_head}</tr>"
    )
    body = [
        "<tr>"
        f"<td>{html.escape(c.description)}</td>"
        f"<td class='mono'>{html.escape(c.column)}</td>"
        f"<td class='severity-{html.escape(c.severity)}'>"
        f"{html.escape(SEVERITY_LABELS[c.severity])}</td>"
        f"<td class='number'>{thousands(c.failed_count)}</td>"
        f"<td class='number'>{_share(c.failed_count, report.rows)}</td>"
        + (f"<td class='lines'>{_line_list(c, report)}</td>" if lines else "")
        + "</tr>"
        for c in checks
    ]
    return f"<table>{head}{''.join(body)}</table>"


def _report_html(report: ValidationReport) -> str:
    parts = ["<h2>Controles</h2>"]
    parts.append(
        "<p>"
        f"{thousands(report.rows)} gegevensregels gecontroleerd: "
        f"{thousands(len(report.rejected_lines))} afgekeurd "
        f"({_share(len(report.rejected_lines), report.rows)}), "
        f"{thousands(report.warning_count)} met een waarschuwing. "
        f"Bij meer dan {percent(report.max_rejected_share)} afgekeurde "
        "regels gaat de hele levering in quarantaine.</p>"
    )
    if report.delivery_errors:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in report.delivery_errors)
        parts.append(f"<p>De levering als geheel voldoet niet:</p><ul>{items}</ul>")
    failed, passed = _failed_first(report)
    if failed:
        parts.append("<h3>Bevindingen</h3>")
        parts.append(_checks_table(failed, report, lines=True))
        parts.append(
            "<p class='note'>Regelnummers tellen de kopregel mee als regel 1, zoals in een "
            "teksteditor. Een regel met een fout is niet verwerkt; een regel met alleen een "
            f"waarschuwing wel. Per controle staan hier hooguit {HTML_LINES_PER_CHECK} "
            "regelnummers; het CSV-bestand bij deze terugmelding noemt er tot "
            f"{thousands(CSV_LINES_PER_CHECK)} per controle.</p>"
        )
    if passed:
        parts.append("<h3>Controles zonder bevindingen</h3>")
        parts.append(_checks_table(passed, report, lines=False))
    return "".join(parts)


def _count_share(count: int | None, rows: int | None) -> str:
    if count is None or rows is None:
        return UNKNOWN_NUMBER
    return f"{thousands(count)} ({_share(count, rows)})"


def _trend_table(trend: _Trend) -> str:
    head = (
        "<tr><th>Peildatum</th><th>Ontvangen</th><th>Oordeel</th><th>Regels</th>"
        "<th>Afgekeurd</th><th>Waarschuwingen</th></tr>"
    )
    body = []
    for entry in [*trend.shown, trend.current]:
        rows = thousands(entry.rows) if entry.rows is not None else UNKNOWN_NUMBER
        row_class = " class='current'" if entry is trend.current else ""
        body.append(
            f"<tr{row_class}>"
            f"<td>{html.escape(trend.label(entry))}</td>"
            f"<td>{entry.received_at:%d-%m-%Y}</td>"
            f"<td><span class='verdict {html.escape(entry.verdict)}'>"
            f"{html.escape(VERDICT_LABELS[entry.verdict])}</span></td>"
            f"<td class='number'>{rows}</td>"
            f"<td class='number'>{_count_share(entry.rejected, entry.rows)}</td>"
            f"<td class='number'>{_count_share(entry.warnings, entry.rows)}</td>"
            "</tr>"
        )
    return f"<div class='wide'><table class='trend'>{head}{''.join(body)}</table></div>"


def _trend_checks_table(trend: _Trend, report: ValidationReport | None) -> str:
    if not trend.check_ids:
        return (
            "<p>Geen enkele controle had bevindingen in deze levering of in de eerdere "
            "leveringen hierboven.</p>"
        )
    descriptions = {c.check_id: c.description for c in report.checks} if report else {}
    entries = [*trend.shown, trend.current]
    labels = "".join(f"<th class='number'>{html.escape(trend.label(e))}</th>" for e in entries)
    head = f"<tr><th>Controle</th>{labels}</tr>"
    body = []
    for check_id in trend.check_ids:
        name = html.escape(descriptions.get(check_id, ""))
        name += f" <span class='mono note'>{html.escape(check_id)}</span>"
        cells = []
        for entry in entries:
            share = _check_share(entry, check_id)
            if share is None:
                cells.append(f"<td class='number'>{UNKNOWN_NUMBER}</td>")
            else:
                count, text = share
                cells.append(f"<td class='number' title='{thousands(count)} regels'>{text}</td>")
        body.append(f"<tr><td>{name.strip()}</td>{''.join(cells)}</tr>")
    return (
        "<h3>Foutpercentage per controle</h3>"
        "<p>Per controle het aandeel regels dat niet voldeed, voor de controles met bevindingen "
        "in deze levering of in een van de eerdere leveringen hierboven.</p>"
        f"<div class='wide'><table class='trend'>{head}{''.join(body)}</table></div>"
    )


def _trend_html(trend: _Trend, report: ValidationReport | None) -> str:
    parts = ["<h2>Verloop</h2>"]
    if not trend.earlier:
        parts.append(f"<p>{html.escape(FIRST_DELIVERY)}</p>")
        return "".join(parts)
    parts.append(f"<p>{html.escape(_row_change(trend))}</p>")
    if len(trend.earlier) > len(trend.shown):
        intro = (
            f"De laatste {len(trend.shown)} van de {thousands(len(trend.earlier))} eerdere "
            "leveringen van deze bron die wij kennen, met deze levering onderaan."
        )
    else:
        intro = "De eerdere leveringen van deze bron die wij kennen, met deze levering onderaan."
    parts.append(f"<p>{intro}</p>{_trend_table(trend)}")
    parts.append(_trend_checks_table(trend, report))
    if not all(entry.validated for entry in [*trend.shown, trend.current]):
        parts.append(
            f"<p class='note'>{UNKNOWN_NUMBER}: niet bekend, omdat het bestand niet te lezen was "
            "of niet per regel is gecontroleerd.</p>"
        )
    return "".join(parts)


def render_html(
    facts: DeliveryFacts,
    verdict: str,
    reason: str | None,
    report: ValidationReport | None,
    *,
    history: Sequence[TrendPoint] = (),
) -> str:
    """The HTML page of the feedback report (self-contained, every value escaped).

    ``history`` holds earlier deliveries of the same source in any order; the section
    "Verloop" shows the last :data:`MAX_TREND_POINTS` of them with this delivery below.
    """
    title = f"Terugmelding {facts.source}, peildatum {_day(facts.peildatum)}"
    fact_rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td class='mono'>{html.escape(value)}</td></tr>"
        for label, value in _fact_rows(facts)
    )
    why = _reason(reason, report)
    why_html = f"<p>{html.escape(why)}</p>" if why else ""
    delivered = "regelnummers"
    if report is not None and report.record_key:
        delivered += f" en uw eigen {report.record_key}"
    if report is not None:
        checks_html = _report_html(report)
    else:
        checks_html = (
            "<h2>Controles</h2><p>De inhoud van het bestand is niet per regel gecontroleerd, "
            "omdat het bestand als geheel niet te verwerken was.</p>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<p class='note'>Terugmelding van het Urban Data Center over uw levering.</p>"
        f"<h2>Ontvangen</h2><table class='facts'>{fact_rows}</table>"
        "<h2>Oordeel</h2>"
        f"<p><span class='verdict {html.escape(verdict)}'>"
        f"{html.escape(VERDICT_LABELS[verdict])}</span></p>"
        f"<p>{html.escape(VERDICT_EXPLANATIONS[verdict])}</p>{why_html}"
        f"{checks_html}"
        f"{_trend_html(_trend(facts, verdict, report, history), report)}"
        "<p class='note'>Deze terugmelding bevat geen gegevens uit uw bestand behalve "
        f"{html.escape(delivered)}.</p></body></html>\n"
    )


# -- CSV ----------------------------------------------------------------------------------

CSV_HEADER = (
    "soort",
    "onderdeel",
    "kolom",
    "ernst",
    "omschrijving",
    "aantal",
    "aandeel",
    "regelnummer",
    "sleutel",
)


def _csv_rows(
    facts: DeliveryFacts, verdict: str, reason: str | None, report: ValidationReport | None
) -> Iterator[tuple[object, ...]]:
    for label, value in _fact_rows(facts):
        yield ("levering", label.lower(), "", "", value, "", "", "", "")
    yield ("levering", "oordeel", "", "", VERDICT_LABELS[verdict], "", "", "", "")
    why = _reason(reason, report)
    if why:
        yield ("levering", "reden", "", "", why, "", "", "", "")
    if report is None:
        return
    for error in report.delivery_errors:
        yield ("levering", "fout in de levering", "", "fout", error, "", "", "", "")
    yield (
        "levering",
        "afgekeurde regels",
        "",
        "",
        "",
        len(report.rejected_lines),
        _share(len(report.rejected_lines), report.rows),
        "",
        "",
    )
    failed, passed = _failed_first(report)
    for check in failed + passed:
        severity = SEVERITY_LABELS[check.severity]
        yield (
            "controle",
            check.check_id,
            check.column,
            severity,
            check.description,
            check.failed_count,
            _share(check.failed_count, report.rows),
            "",
            "",
        )
    for check in failed:
        severity = SEVERITY_LABELS[check.severity]
        for line in check.failed_lines[:CSV_LINES_PER_CHECK]:
            key = report.record_keys.get(line, "")
            yield ("regel", check.check_id, check.column, severity, "", "", "", line, key)
        rest = check.failed_count - CSV_LINES_PER_CHECK
        if rest > 0:
            yield (
                "regel",
                check.check_id,
                check.column,
                severity,
                f"en nog {rest} regels, niet opgesomd",
                rest,
                "",
                "",
                "",
            )


def _trend_csv_rows(trend: _Trend, report: ValidationReport | None) -> Iterator[tuple[object, ...]]:
    if not trend.earlier:
        yield ("verloop", "", "", "", FIRST_DELIVERY, "", "", "", "")
    checks = {c.check_id: c for c in report.checks} if report is not None else {}
    for entry in [*trend.shown, trend.current]:
        day, rows = trend.label(entry), entry.rows
        received = f"ontvangen: {entry.received_at:%d-%m-%Y %H:%M:%S}"
        yield ("verloop", day, "", "", received, "", "", "", "")
        yield ("verloop", day, "", "", f"oordeel: {VERDICT_LABELS[entry.verdict]}", "", "", "", "")
        yield ("verloop", day, "", "", "gegevensregels", rows, "", "", "")
        for severity, what, count in (
            ("error", "afgekeurde regels", entry.rejected),
            ("warning", "regels met een waarschuwing", entry.warnings),
        ):
            share = _share(count, rows) if count is not None and rows is not None else ""
            yield ("verloop", day, "", SEVERITY_LABELS[severity], what, count, share, "", "")
        for check_id in trend.check_ids:
            found = _check_share(entry, check_id)
            if found is None:
                continue
            check = checks.get(check_id)
            column = check.column if check else ""
            severity = SEVERITY_LABELS[check.severity] if check else ""
            yield ("verloop", day, column, severity, f"controle {check_id}", *found, "", "")


def render_csv(
    facts: DeliveryFacts,
    verdict: str,
    reason: str | None,
    report: ValidationReport | None,
    *,
    history: Sequence[TrendPoint] = (),
) -> str:
    """The CSV file of the feedback report, with every formula-like cell neutralised.

    The trend against ``history`` (earlier deliveries of the same source, any order) follows
    the other rows, in the same columns, with ``soort`` "verloop": per delivery, oldest first
    and at most :data:`MAX_TREND_POINTS` earlier ones, then this delivery. ``onderdeel`` is the
    peildatum (dd-mm-jjjj; this delivery's has " (deze levering)" appended) and ``omschrijving``
    says what the row holds:

    - "ontvangen: <dd-mm-jjjj uu:mm:ss>" and "oordeel: <Dutch verdict>", with no numbers;
    - "gegevensregels": the row count in ``aantal``;
    - "afgekeurde regels" (``ernst`` fout) and "regels met een waarschuwing" (``ernst``
      waarschuwing): the count in ``aantal`` and its share of the rows in ``aandeel``;
    - "controle <check id>", for each check that failed in this delivery or a shown earlier
      one: the rows that failed it in ``aantal`` and their share in ``aandeel``; ``kolom`` and
      ``ernst`` are filled when the check is also in this delivery's report.

    A count that is not known (file not readable or not validated) is left empty, and a
    delivery that was not validated gets no "controle" rows. Without any earlier delivery, one
    "verloop" row says so in ``omschrijving`` before this delivery's rows.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quotechar='"', lineterminator="\r\n")
    header = list(CSV_HEADER)
    if report is not None and report.record_key:
        header[-1] = report.record_key
    writer.writerow(header)
    trend = _trend(facts, verdict, report, history)
    for row in (*_csv_rows(facts, verdict, reason, report), *_trend_csv_rows(trend, report)):
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()


def write_feedback(
    folder: Path,
    facts: DeliveryFacts,
    verdict: str,
    reason: str | None,
    report: ValidationReport | None,
    *,
    history: Sequence[TrendPoint] = (),
) -> tuple[Path, Path]:
    """Write ``<folder>/<source>_<peildatum>.html`` and ``.csv``; return both paths.

    ``verdict`` is ``accepted``, ``accepted_with_warnings`` or ``quarantined``; ``reason``
    (Dutch) says why, for instance the reader's rejection of a broken file, and defaults to
    the report's own explanation. ``report`` is None when the file was not validated. A
    redelivery for the same peildatum replaces both files.

    ``history`` holds the earlier deliveries of the same source, in any order, for the trend
    (verloop); a point with this delivery's peildatum and ``received_at`` is taken to be this
    delivery and left out.
    """
    if verdict not in VERDICT_LABELS:
        raise ValueError(f"unknown verdict {verdict!r}")
    folder.mkdir(parents=True, exist_ok=True)
    base = _base_name(facts)
    html_path, csv_path = folder / f"{base}.html", folder / f"{base}.csv"
    html_text = render_html(facts, verdict, reason, report, history=history)
    csv_text = render_csv(facts, verdict, reason, report, history=history)
    write_atomically(html_path, html_text, "utf-8")
    # With a byte order mark, spreadsheets on Windows read the file as UTF-8.
    write_atomically(csv_path, csv_text, "utf-8-sig")
    return html_path, csv_path
