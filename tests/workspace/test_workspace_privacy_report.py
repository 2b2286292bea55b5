"""The privacy officer's report on a workspace with real deliveries, a refusal, a
quarantine and a deletion (SQLite and PostgreSQL catalog)."""

from __future__ import annotations

import csv
import datetime as dt

from test_workspace_ingest import _valid_bsns, bijstand, deliver
from typer.testing import CliRunner

from udc.flows.cli import app
from udc.workspace.ingest import process_delivery
from udc.workspace.logbook import record_run
from udc.workspace.retention import apply_retention


def test_the_report_tells_the_privacy_officer_what_happened(res):
    bsns = _valid_bsns(30)
    run = res.catalog.start_run(None)
    accepted = process_delivery(
        res, deliver(res, "bijstand", "bijstand_20261001.csv", bijstand(bsns)), run
    )
    broken = process_delivery(
        res, deliver(res, "bijstand", "bijstand_20261015.csv", b"BSN;regeling\n1;2"), run
    )
    refused_mart = {"mart": "wmo_wijk", "status": "refused",
                    "message": "wmo_wijk: refused: its purpose 'wmo_monitor' is not approved"}
    deleted = apply_retention(res, run, dt.date(2027, 6, 1))  # the quarantined file
    formula = {"mart": "bijstand_buurt", "status": "failed", "message": "=SUM(A1:A9) in a message"}
    record_run(
        res, run, None, [accepted.to_dict(), broken.to_dict()], [refused_mart, formula], deleted
    )
    res.catalog.withdraw_purpose("veiligheid", by="fg", note="einde project")
    today = res.today()
    result = CliRunner().invoke(
        app,
        ["report", "privacy", "--from", f"{today - dt.timedelta(days=1):%Y%m%d}",
         "--workspace", str(res.workspace.root)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (page,) = res.workspace.reports.glob("privacyrapportage_*.html")
    text = page.read_text()
    assert "Het logboek is <strong>ongeschonden</strong>" in text
    assert "Minimabeleid: bijstandsontvangers naar buurt" in text and "ingetrokken" in text
    assert "gepubliceerd" in text or "geladen" in text
    assert "wmo_wijk: refused: its purpose" in text  # the refusal
    assert "In quarantaine gezet" in text and "retention ended" in text  # the deletion
    # Nothing falls due soon: the archive in 12 months, the lake data are the newest in use.
    assert "Niets verloopt binnenkort." in text
    for bsn in bsns:
        assert bsn not in text
    (table,) = res.workspace.reports.glob("privacyrapportage_*.csv")
    rows = list(csv.reader(table.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][0] == "onderdeel"
    sections = {row[0] for row in rows[1:]}
    assert sections == {"register", "logboek"}
    # A text a spreadsheet would run as a formula is made text.
    assert [r[0] for r in rows if r[-1] == "'=SUM(A1:A9) in a message"] == ["logboek"]
    backwards = CliRunner().invoke(
        app, ["report", "privacy", "--from", "20261201", "--to", "20261101",
              "--workspace", str(res.workspace.root)],
    )  # fmt: skip
    assert backwards.exit_code == 2 and "is after" in backwards.output
