"""The feedback report (terugmelding) that goes back to a source for every delivery.

Two files per delivery, in Dutch, for the person at the source who has to act on it: a
self-contained HTML page to read and a CSV file (``;``-separated, for a spreadsheet) to work
through. Both are built from the delivery's facts and a :class:`ValidationReport`, which holds
line numbers and check descriptions only, never a delivered value; the one exception is the
source's own record key, and only for sources whose record key is not a BSN.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from udc.quality.dutch import percent, thousands
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
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_KEY_LENGTH = 60


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


def neutralise_cell(value: object) -> str:
    """The text of a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


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


# -- HTML ---------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0; }
th, td { text-align: left; vertical-align: top; padding: 0.35rem 0.6rem;
         border-bottom: 1px solid #e3e3e3; }
th { background: #f4f4f4; }
td.number { text-align: right; white-space: nowrap; }
.facts th { width: 12rem; background: none; }
.mono { font-family: ui-monospace, Consolas, monospace; word-break: break-all; }
.verdict { display: inline-block; padding: 0.3rem 0.8rem; border-radius: 0.3rem;
           font-weight: bold; }
.verdict.accepted { background: #dff3e3; color: #14532d; }
.verdict.accepted_with_warnings { background: #fff4d6; color: #713f12; }
.verdict.quarantined { background: #fde2e1; color: #7f1d1d; }
.severity-error { color: #9b1c1c; font-weight: bold; }
.severity-warning { color: #8a5a00; font-weight: bold; }
.lines { font-size: 0.9rem; }
.note { color: #555; font-size: 0.9rem; }
"""


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


def render_html(
    facts: DeliveryFacts, verdict: str, reason: str | None, report: ValidationReport | None
) -> str:
    """The HTML page of the feedback report (self-contained, every value escaped)."""
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


def render_csv(
    facts: DeliveryFacts, verdict: str, reason: str | None, report: ValidationReport | None
) -> str:
    """The CSV file of the feedback report, with every formula-like cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quotechar='"', lineterminator="\r\n")
    header = list(CSV_HEADER)
    if report is not None and report.record_key:
        header[-1] = report.record_key
    writer.writerow(header)
    for row in _csv_rows(facts, verdict, reason, report):
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()


def _write_atomically(path: Path, text: str, encoding: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding=encoding, newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_feedback(
    folder: Path,
    facts: DeliveryFacts,
    verdict: str,
    reason: str | None,
    report: ValidationReport | None,
) -> tuple[Path, Path]:
    """Write ``<folder>/<source>_<peildatum>.html`` and ``.csv``; return both paths.

    ``verdict`` is ``accepted``, ``accepted_with_warnings`` or ``quarantined``; ``reason``
    (Dutch) says why, for instance the reader's rejection of a broken file, and defaults to
    the report's own explanation. ``report`` is None when the file was not validated. A
    redelivery for the same peildatum replaces both files.
    """
    if verdict not in VERDICT_LABELS:
        raise ValueError(f"unknown verdict {verdict!r}")
    folder.mkdir(parents=True, exist_ok=True)
    base = _base_name(facts)
    html_path, csv_path = folder / f"{base}.html", folder / f"{base}.csv"
    _write_atomically(html_path, render_html(facts, verdict, reason, report), "utf-8")
    # With a byte order mark, spreadsheets on Windows read the file as UTF-8.
    _write_atomically(csv_path, render_csv(facts, verdict, reason, report), "utf-8-sig")
    return html_path, csv_path
