"""The internal report of the cross-source checks, for the data steward only.

Two files per peildatum, in Dutch: an HTML page to read and a CSV file (``;``-separated, for a
spreadsheet). They hold counts and check descriptions only, never a key value. Even the counts
must stay inside the data center: a partner who learns how many of its clients are not in the
BRP learns something about who is registered there.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from udc.quality.crosscheck import FINDINGS, NOT_CHECKED, OK, CrossCheckResult
from udc.quality.dutch import percent, thousands
from udc.quality.report_files import BASE_CSS, neutralise_cell, write_atomically

TITLE = "Kruiscontroles (intern)"
INTERNAL_NOTICE = (
    "Intern rapport voor de data steward. Stuur dit rapport, of delen ervan, nooit naar een "
    "bron: ook aantallen verraden wie wel of niet in een andere bron, zoals de BRP, "
    "voorkomt."
)
STATUS_LABELS = {OK: "in orde", FINDINGS: "met bevindingen", NOT_CHECKED: "niet gecontroleerd"}
NOT_APPLICABLE = "–"

CSV_HEADER = (
    "soort",
    "bron",
    "peildatum",
    "controle",
    "kolommen",
    "referentie",
    "peildatum referentie",
    "oordeel",
    "regels",
    "niet gevonden",
    "aandeel",
    "omschrijving",
    "notitie",
)


def _day(day: date | None) -> str:
    return f"{day:%d-%m-%Y}" if day else NOT_APPLICABLE


def _ordered(results: Sequence[CrossCheckResult]) -> list[CrossCheckResult]:
    return sorted(results, key=lambda r: (r.source, r.gemeente or "", r.check_id, r.reference))


def _numbers(result: CrossCheckResult) -> tuple[str, str, str]:
    if result.status == NOT_CHECKED:
        return NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE
    return thousands(result.rows), thousands(result.missing), percent(result.missing_share)


def _summary(results: Sequence[CrossCheckResult]) -> str:
    counts = {status: 0 for status in STATUS_LABELS}
    for result in results:
        counts[result.status] += 1
    parts = [f"{counts[s]} {STATUS_LABELS[s]}" for s in STATUS_LABELS]
    return f"{len(results)} kruiscontroles: " + ", ".join(parts) + "."


# -- HTML ---------------------------------------------------------------------------------

_CSS = (
    BASE_CSS
    + """
body { max-width: 72rem; }
.internal { background: #fde2e1; color: #7f1d1d; border: 1px solid #f5b5b3;
            padding: 0.6rem 0.9rem; border-radius: 0.3rem; font-weight: bold; }
.status-ok { color: #14532d; }
.status-findings { color: #8a5a00; font-weight: bold; }
.status-not_checked { color: #555; font-style: italic; }
"""
)


def _html_row(result: CrossCheckResult) -> str:
    rows, missing, share = _numbers(result)
    reference = f"{result.reference} ({_day(result.reference_peildatum)})"
    explanation = html.escape(result.description)
    if result.note:
        explanation += f"<br><span class='note'>{html.escape(result.note)}</span>"
    return (
        "<tr>"
        f"<td class='mono'>{html.escape(result.label)}</td>"
        f"<td class='mono'>{html.escape(result.check_id)}</td>"
        f"<td class='mono'>{html.escape(', '.join(result.columns))}</td>"
        f"<td class='mono'>{html.escape(reference)}</td>"
        f"<td class='status-{html.escape(result.status)}'>"
        f"{html.escape(STATUS_LABELS[result.status])}</td>"
        f"<td class='number'>{rows}</td>"
        f"<td class='number'>{missing}</td>"
        f"<td class='number'>{share}</td>"
        f"<td>{explanation}</td>"
        "</tr>"
    )


def render_html(peildatum: date, results: Sequence[CrossCheckResult]) -> str:
    """The HTML page of the internal report (self-contained, every value escaped)."""
    title = f"{TITLE}, peildatum {_day(peildatum)}"
    head = (
        "<tr><th>Bron</th><th>Controle</th><th>Kolommen</th><th>Referentie (peildatum)</th>"
        "<th>Oordeel</th><th>Regels</th><th>Niet gevonden</th><th>Aandeel</th>"
        "<th>Omschrijving en notitie</th></tr>"
    )
    ordered = _ordered(results)
    if ordered:
        table = f"<table>{head}{''.join(_html_row(r) for r in ordered)}</table>"
    else:
        table = "<p>Voor deze peildatum zijn geen kruiscontroles ingesteld of uitgevoerd.</p>"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='internal'>{html.escape(INTERNAL_NOTICE)}</p>"
        "<h2>Resultaten</h2>"
        f"<p>{html.escape(_summary(ordered))}</p>"
        f"{table}"
        "<p class='note'>Regels: regels van de bron waarin alle sleutelkolommen gevuld zijn. "
        "Niet gevonden: daarvan de regels waarvan de sleutel niet voorkomt in de referentie "
        "(de laatste levering op of voor de peildatum). Sleutels worden vergeleken na "
        "pseudonimisering; adressen zonder spaties en hoofdletterongevoelig, huisnummers "
        "zonder voorloopnullen. Dit rapport bevat geen sleutelwaarden, alleen aantallen.</p>"
        "</body></html>\n"
    )


# -- CSV ----------------------------------------------------------------------------------


def _csv_rows(peildatum: date, results: Sequence[CrossCheckResult]) -> Iterator[tuple]:
    notice = ("melding", "", _day(peildatum), "", "", "", "", "", "", "", "")
    yield (*notice, INTERNAL_NOTICE, "")
    for result in _ordered(results):
        checked = result.status != NOT_CHECKED
        yield (
            "kruiscontrole",
            result.label,
            _day(result.peildatum),
            result.check_id,
            ", ".join(result.columns),
            result.reference,
            _day(result.reference_peildatum),
            STATUS_LABELS[result.status],
            result.rows if checked else "",
            result.missing if checked else "",
            percent(result.missing_share) if checked else "",
            result.description,
            result.note or "",
        )


def render_csv(peildatum: date, results: Sequence[CrossCheckResult]) -> str:
    """The CSV file of the internal report, with every formula-like cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quotechar='"', lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in _csv_rows(peildatum, results):
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()


def write_internal_report(
    folder: Path, peildatum: date, results: Sequence[CrossCheckResult]
) -> tuple[Path, Path]:
    """Write ``<folder>/kruiscontroles_<YYYYMMDD>.html`` and ``.csv``; return both paths.

    ``folder`` must be an internal folder, never one that is shared with or sent to sources.
    A new report for the same peildatum replaces both files.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    base = f"kruiscontroles_{peildatum:%Y%m%d}"
    html_path, csv_path = folder / f"{base}.html", folder / f"{base}.csv"
    write_atomically(html_path, render_html(peildatum, results), "utf-8")
    # With a byte order mark, spreadsheets on Windows read the file as UTF-8.
    write_atomically(csv_path, render_csv(peildatum, results), "utf-8-sig")
    return html_path, csv_path
