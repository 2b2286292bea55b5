"""The privacy officer's report (``udc report privacy``): the register of purposes, what
ran in a period and for which purpose, what it read and published, refusals, quarantines,
deletions, what falls due, the disclosure audits of the published marts, and whether the
processing log is intact. HTML to read, CSV to filter; in Dutch, for a reader who is not
an engineer. It holds ids, counts, names and dates: never a BSN or a delivered value.

It draws on the catalog, the log, the mart store and the retention plan at once, so it
lives with the wiring rather than in ``catalog``.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from udc.catalog.models import LogEntry
from udc.catalog.processing_log import ProcessingLog, Verification
from udc.catalog.register import PurposeSpec
from udc.quality.report_files import BASE_CSS, neutralise_cell, write_atomically
from udc.workspace.resources import Resources
from udc.workspace.retention import Kept, retention_plan

DUE_WITHIN_DAYS = 90
STATUS_NL = {"draft": "concept", "approved": "goedgekeurd", "withdrawn": "ingetrokken"}
STEP_NL = {
    "receive": "ontvangen", "quarantine": "in quarantaine", "validate": "gecontroleerd",
    "pseudonymise": "gepseudonimiseerd", "load": "geladen", "aggregate": "geaggregeerd",
    "protect": "beveiligd", "publish": "gepubliceerd", "delete": "verwijderd",
}  # fmt: skip
KIND_NL = {
    "archive": "archief (versleutelde levering)", "quarantine": "quarantaine",
    "lake": "lake (gepseudonimiseerde data)", "mart_release": "oude mart-versie",
}  # fmt: skip


@dataclass(frozen=True)
class ReportData:
    since: dt.date
    until: dt.date
    generated: dt.datetime
    purposes: list[tuple[PurposeSpec, object, bool]]  # spec, latest version row, holds
    entries: list[LogEntry]
    due: list[Kept]
    audits: list[dict]
    verification: Verification


def gather(res: Resources, since: dt.date, until: dt.date) -> ReportData:
    today = res.today()
    in_force = res.catalog.purposes_in_force(today)
    purposes = [
        (PurposeSpec.from_json(row.spec), row, row.purpose_id in in_force)
        for row in res.catalog.purposes()
    ]
    log = ProcessingLog(res.catalog)
    horizon = today + dt.timedelta(days=DUE_WITHIN_DAYS)
    audits = []
    for name in res.store.names():
        release = res.store.current(name)
        assert release is not None
        for a in res.catalog.latest_audits(name, release.release_id):
            audits.append({
                "mart": name, "release": release.release_id, "measure": a.measure,
                "suppressed": a.suppressed, "exact": a.exact, "too_narrow": a.too_narrow,
                "whole_groups": a.whole_groups, "audited_at": a.audited_at,
            })  # fmt: skip
    return ReportData(
        since=since,
        until=until,
        generated=dt.datetime.now(dt.UTC),
        purposes=purposes,
        entries=log.entries(since=since, until=until),
        due=sorted(
            (k for k in retention_plan(res, today) if k.due <= horizon),
            key=lambda k: (k.due, k.kind, k.name),
        ),
        audits=audits,
        verification=log.verify(res.keys.log_signing_key().public_key()),
    )


def _table(headers: list[str], rows: list[list[object]], empty: str) -> str:
    if not rows:
        return f'<p class="note">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _purposes_of(entry: LogEntry) -> list[str]:
    return [p.split("@")[0] for p in json.loads(entry.purposes)]


def _day(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def render_html(data: ReportData) -> str:
    period = f"{data.since:%d-%m-%Y} t/m {data.until:%d-%m-%Y}"
    verification = data.verification
    parts = [
        '<!doctype html><html lang="nl"><head><meta charset="utf-8">',
        f"<title>Privacyrapportage {html.escape(period)}</title><style>{BASE_CSS}</style>",
        "</head><body>",
        f"<h1>Privacyrapportage datalab</h1><p>Periode {html.escape(period)}; "
        f"opgesteld {data.generated:%d-%m-%Y %H:%M} UTC.</p>",
        "<h2>Verwerkingslogboek</h2><p>",
        (
            f"Het logboek is <strong>ongeschonden</strong>: {verification.entries} regels, "
            f"{verification.checkpoints} ondertekende controlepunten."
            if verification.intact
            else "<strong>Het logboek is aangetast.</strong> Bevindingen: "
            + "; ".join(html.escape(p) for p in verification.problems)
        ),
        "</p>",
        "<h2>Register van verwerkingen (doelbinding)</h2>",
        _table(
            ["doel", "versie", "status", "geldt nu", "door", "wanneer", "grondslag",
             "bewaartermijn", "DPIA", "bronnen", "marts"],
            [
                [spec.name, row.version, STATUS_NL.get(row.status, row.status),
                 "ja" if holds else "nee", row.changed_by, _day(row.changed_at),
                 spec.legal_basis, f"{spec.retention_months} maanden", spec.dpia,
                 ", ".join(sorted(spec.sources)), ", ".join(spec.marts) or "-"]
                for spec, row, holds in data.purposes
            ],
            "Het register is leeg.",
        ),
    ]  # fmt: skip
    ran = Counter((p, e.name) for e in data.entries for p in _purposes_of(e))
    parts += [
        "<h2>Welke doelen draaiden, en wat gebeurde er</h2>",
        _table(
            ["doel", "stap", "aantal keer"],
            [[p, STEP_NL.get(step, step), n] for (p, step), n in sorted(ran.items())],
            "In deze periode is niets verwerkt.",
        ),
        "<h2>Wat werd gelezen en gepubliceerd</h2>",
        _table(
            ["wanneer", "doel", "stap", "bron", "rijen", "resultaat"],
            [
                [_day(e.started_at), ", ".join(_purposes_of(e)), STEP_NL[e.name],
                 e.source or "", e.rows if e.rows is not None else "",
                 ", ".join(json.loads(e.outputs))]
                for e in data.entries if e.name in ("load", "publish")
            ],
            "Niets geladen of gepubliceerd.",
        ),
    ]  # fmt: skip
    for title, chosen, empty in (
        ("Geweigerd (geen goedgekeurd doel, of buiten het doel)",
         [e for e in data.entries if e.status == "refused"], "Niets geweigerd."),
        ("In quarantaine gezet", [e for e in data.entries if e.name == "quarantine"],
         "Geen leveringen in quarantaine."),
        ("Verwijderd na afloop van de bewaartermijn",
         [e for e in data.entries if e.name == "delete"], "Niets verwijderd."),
    ):  # fmt: skip
        parts += [
            f"<h2>{html.escape(title)}</h2>",
            _table(
                ["wanneer", "stap", "bron", "toelichting"],
                [[_day(e.started_at), STEP_NL[e.name], e.source or "", e.message or ""]
                 for e in chosen],
                empty,
            ),
        ]
    parts += [
        f"<h2>Bewaartermijn verloopt binnen {DUE_WITHIN_DAYS} dagen</h2>",
        _table(
            ["verloopt", "wat", "bron of mart", "sinds", "regel"],
            [[f"{k.due:%d-%m-%Y}", KIND_NL[k.kind], k.name, f"{k.since:%d-%m-%Y}", k.reason]
             for k in data.due],
            "Niets verloopt binnenkort.",
        ),
        "<h2>Onthullingscontrole van de gepubliceerde marts</h2>",
        '<p class="note">Per tabel: verborgen cellen, cellen die exact terug te rekenen '
        "zijn, cellen smaller beschermd dan vereist, en cellen die een hele groep tonen. "
        "Alles behalve de eerste kolom hoort 0 te zijn.</p>",
        _table(
            ["mart", "maat", "verborgen", "exact", "te smal", "hele groep", "gecontroleerd"],
            [[a["mart"], a["measure"], a["suppressed"], a["exact"], a["too_narrow"],
              "-" if a["whole_groups"] is None else a["whole_groups"], _day(a["audited_at"])]
             for a in data.audits],
            "Geen gepubliceerde marts gecontroleerd.",
        ),
        "</body></html>",
    ]
    return "".join(parts)


def render_csv(data: ReportData) -> str:
    rows: list[list[object]] = [
        ["onderdeel", "wanneer", "doel", "stap_of_status", "bron_of_mart", "aantal", "toelichting"]
    ]
    for spec, row, holds in data.purposes:
        rows.append(["register", _day(row.changed_at), spec.id,
                     f"{row.status} (versie {row.version})", ", ".join(sorted(spec.sources)),
                     "", "geldt nu" if holds else "geldt niet"])  # fmt: skip
    for e in data.entries:
        rows.append(["logboek", _day(e.started_at), ", ".join(_purposes_of(e)),
                     f"{e.name}: {e.status}", e.source or "",
                     "" if e.rows is None else e.rows, e.message or ""])  # fmt: skip
    for k in data.due:
        rows.append(["bewaartermijn", f"{k.due:%Y-%m-%d}", "", k.kind, k.name, "", k.reason])
    for a in data.audits:
        found = f"exact {a['exact']}, te smal {a['too_narrow']}"
        rows.append(["onthullingscontrole", _day(a["audited_at"]), "", a["measure"], a["mart"],
                     a["suppressed"], found])  # fmt: skip
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()


def write_report(res: Resources, since: dt.date, until: dt.date) -> tuple[Path, Path]:
    data = gather(res, since, until)
    folder = res.workspace.reports
    folder.mkdir(exist_ok=True)
    stem = f"privacyrapportage_{since:%Y%m%d}_{until:%Y%m%d}"
    page, table = folder / f"{stem}.html", folder / f"{stem}.csv"
    write_atomically(page, render_html(data), "utf-8")
    write_atomically(table, render_csv(data), "utf-8-sig")
    return page, table
