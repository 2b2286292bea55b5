from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

import polars as pl

from udc.quality.crosscheck import CrossCheckResult, run_cross_check
from udc.quality.internal_report import INTERNAL_NOTICE, write_internal_report
from udc.sources.contracts import PSEUDONYM, CrossCheck

PEILDATUM = date(2024, 6, 30)


def _pseudonym(number: int) -> str:
    return hashlib.sha256(f"persoon-{number}".encode()).hexdigest()


def _results() -> tuple[list[CrossCheckResult], list[str]]:
    brp = pl.DataFrame({PSEUDONYM: [_pseudonym(i) for i in range(8)]})
    clients = [_pseudonym(i) for i in (0, 1, 2, 90)]
    in_brp = CrossCheck(
        id="ingeschreven_in_brp",
        columns=(PSEUDONYM,),
        reference="brp",
        reference_columns=(PSEUDONYM,),
        description="Cliënt staat <b>ingeschreven</b> in de BRP",
    )
    address = CrossCheck(
        id="adres_in_buurtindeling",
        columns=("postcode", "huisnummer"),
        reference="buurtindeling",
        reference_columns=("postcode", "huisnummer"),
        description='=HYPERLINK("http://example.invalid")',
    )
    addresses = pl.DataFrame({"postcode": ["4321XY", "4321XY"], "huisnummer": ["12", "14"]})
    results = [
        run_cross_check(
            pl.DataFrame({PSEUDONYM: clients}), in_brp, brp, "wmo", PEILDATUM, date(2024, 6, 1)
        ),
        run_cross_check(addresses, address, addresses, "politie_incidenten", PEILDATUM, PEILDATUM),
        run_cross_check(addresses, address, None, "huurachterstand", PEILDATUM, None),
    ]
    values = [*clients, *brp[PSEUDONYM].to_list(), "4321XY", "4321 XY"]
    return results, values


def _read(paths) -> tuple[str, list[list[str]]]:
    html_path, csv_path = paths
    text = csv_path.read_text(encoding="utf-8-sig")
    return html_path.read_text(encoding="utf-8"), list(
        csv.reader(io.StringIO(text, newline=""), delimiter=";")
    )


def test_the_report_files_are_named_after_the_peildatum(tmp_path):
    results, _ = _results()
    html_path, csv_path = write_internal_report(tmp_path / "intern", PEILDATUM, results)
    assert html_path == tmp_path / "intern" / "kruiscontroles_20240630.html"
    assert csv_path == tmp_path / "intern" / "kruiscontroles_20240630.csv"
    assert sorted(p.name for p in (tmp_path / "intern").iterdir()) == [
        "kruiscontroles_20240630.csv",
        "kruiscontroles_20240630.html",
    ]


def test_the_html_page_is_internal_and_complete(tmp_path):
    results, _ = _results()
    page, _ = _read(write_internal_report(tmp_path, PEILDATUM, results))
    assert "<title>Kruiscontroles (intern), peildatum 30-06-2024</title>" in page
    assert "Stuur dit rapport, of delen ervan, nooit naar een bron" in page
    assert 'lang="nl"' in page
    for text in (
        "wmo",
        "ingeschreven_in_brp",
        "brp (01-06-2024)",
        "met bevindingen",
        "in orde",
        "niet gecontroleerd",
        "25%",
        "geen levering van buurtindeling op of voor de peildatum",
        "buurtindeling (–)",
    ):
        assert text in page
    assert "<b>ingeschreven</b>" not in page
    assert "Cliënt staat &lt;b&gt;ingeschreven&lt;/b&gt; in de BRP" in page
    assert "3 kruiscontroles: 1 in orde, 1 met bevindingen, 1 niet gecontroleerd." in page


def test_the_csv_file_holds_one_row_per_check(tmp_path):
    results, _ = _results()
    _, rows = _read(write_internal_report(tmp_path, PEILDATUM, results))
    header, notice, *checks = rows
    assert header[:4] == ["soort", "bron", "peildatum", "controle"]
    assert notice[0] == "melding" and INTERNAL_NOTICE in notice
    by_source = {row[1]: dict(zip(header, row, strict=True)) for row in checks}
    assert list(by_source) == ["huurachterstand", "politie_incidenten", "wmo"]
    wmo = by_source["wmo"]
    assert (wmo["referentie"], wmo["peildatum referentie"]) == ("brp", "01-06-2024")
    assert (wmo["regels"], wmo["niet gevonden"], wmo["aandeel"]) == ("4", "1", "25%")
    assert wmo["oordeel"] == "met bevindingen"
    skipped = by_source["huurachterstand"]
    assert skipped["oordeel"] == "niet gecontroleerd"
    assert skipped["regels"] == skipped["niet gevonden"] == ""
    assert skipped["notitie"] == "geen levering van buurtindeling op of voor de peildatum"


def test_a_formula_in_a_description_is_neutralised(tmp_path):
    results, _ = _results()
    _, rows = _read(write_internal_report(tmp_path, PEILDATUM, results))
    descriptions = [row[11] for row in rows[2:]]
    assert '\'=HYPERLINK("http://example.invalid")' in descriptions
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_the_report_holds_no_key_values(tmp_path):
    results, values = _results()
    html_path, csv_path = write_internal_report(tmp_path, PEILDATUM, results)
    text = html_path.read_text(encoding="utf-8") + csv_path.read_text(encoding="utf-8-sig")
    for value in values:
        assert value not in text


def test_an_empty_report_still_carries_the_notice(tmp_path):
    page, rows = _read(write_internal_report(tmp_path, PEILDATUM, []))
    assert "Voor deze peildatum zijn geen kruiscontroles" in page
    assert "nooit naar een bron" in page
    assert len(rows) == 2 and INTERNAL_NOTICE in rows[1]


def test_a_new_report_replaces_the_old_one(tmp_path):
    results, _ = _results()
    write_internal_report(tmp_path, PEILDATUM, results)
    html_path, _ = write_internal_report(tmp_path, PEILDATUM, results[:1])
    assert "politie_incidenten" not in html_path.read_text(encoding="utf-8")
    assert len(list(tmp_path.iterdir())) == 2
