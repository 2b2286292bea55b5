"""The data-quality wiring of the delivery step: row-count change, trend, cross-checks and a
data steward's expectations, on a SQLite and a PostgreSQL catalog."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from udc.pseudonymize.bsn import random_valid_bsns
from udc.pseudonymize.hashing import pseudonym_of
from udc.quality.dutch import thousands
from udc.quality.suites import PreviousDelivery
from udc.sources.contracts import ContractError
from udc.sources.synthetic import generate_city
from udc.workspace.crosscheck import cross_check_run
from udc.workspace.ingest import previous_delivery, process_delivery
from udc.workspace.resources import Resources, open_resources

PERSONS, SEED = 800, 1
JULY, AUGUST, SEPTEMBER, OCTOBER = (dt.date(2026, month, 1) for month in (7, 8, 9, 10))
BSN_COLUMNS = {
    "brp": "burgerservicenummer",
    "bijstand": "bsn",
    "wmo": "bsn",
    "huurachterstand": "bsn_hoofdhuurder",
}
ROW_CHANGE = "Het aantal regels wijkt te veel af van de vorige levering"


@functools.cache
def city(peildatum: dt.date) -> dict[str, bytes]:
    return generate_city(PERSONS, SEED, peildatum)


def first_rows(data: bytes, keep: int) -> bytes:
    """The header and the first ``keep`` data rows of a delivery."""
    lines = data.splitlines(keepends=True)
    assert keep <= len(lines) - 1, "the synthetic delivery is smaller than the test assumes"
    return b"".join(lines[: keep + 1])


def data_rows(data: bytes) -> int:
    return len(data.splitlines()) - 1


def brp(peildatum: dt.date, keep: int | None = None, drop: float = 0.0) -> bytes:
    data = city(peildatum)["brp"]
    if keep is None:
        keep = data_rows(data) - round(data_rows(data) * drop)
    return first_rows(data, keep)


def deliver(res: Resources, source: str, name: str, data: bytes) -> Path:
    path = res.settings.inbox / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def ingest(res: Resources, source: str, peildatum: dt.date, data: bytes, run_id: str):
    return process_delivery(
        res, deliver(res, source, f"{source}_{peildatum:%Y%m%d}.csv", data), run_id
    )


def allowed_range(previous_rows: int) -> tuple[int, int]:
    """The brp contract's bounds (max_row_decrease = max_row_increase = 0.1), in integers."""
    return -(-previous_rows * 9 // 10), previous_rows * 11 // 10


def row_change_text(previous: dt.date, previous_rows: int) -> str:
    low, high = allowed_range(previous_rows)
    return (
        f"(peildatum {previous:%d-%m-%Y}, {previous_rows} regels): verwacht is tussen {low} en "
        f"{high} regels"
    )


def checks_of(res: Resources, delivery_id: int) -> dict:
    return {c.check_id: c for c in res.catalog.checks(delivery_id)}


def latest_delivery(res: Resources, source: str):
    return res.catalog.deliveries(source)[-1]


def feedback_files(res: Resources, source: str, peildatum: dt.date) -> tuple[str, list[list]]:
    base = res.workspace.feedback / source / f"{source}_{peildatum:%Y%m%d}"
    html = base.with_suffix(".html").read_text(encoding="utf-8")
    rows = list(
        csv.reader(io.StringIO(base.with_suffix(".csv").read_text("utf-8-sig")), delimiter=";")
    )
    return html, rows


def reason_of(rows: list[list]) -> str:
    [reason] = [r[4] for r in rows if r[:2] == ["levering", "reden"]]
    return reason


# -- Row-count change ---------------------------------------------------------------------


def test_a_much_smaller_brp_is_quarantined_with_a_row_count_finding(res):
    run_id = res.catalog.start_run(None)
    first = ingest(res, "brp", AUGUST, brp(AUGUST), run_id)
    assert first.status.startswith("accepted")
    first_delivery = latest_delivery(res, "brp")
    assert "rows.change" not in checks_of(res, first_delivery.id)

    shrunk = brp(SEPTEMBER, drop=0.4)
    outcome = ingest(res, "brp", SEPTEMBER, shrunk, run_id)
    assert outcome.status == "quarantined", outcome
    assert outcome.rows == data_rows(shrunk)
    assert (res.workspace.quarantine / "brp" / "brp_20260901.csv").read_bytes() == shrunk
    assert not res.lake.path("brp", SEPTEMBER).exists()

    expected = row_change_text(AUGUST, first.rows)
    html, rows = feedback_files(res, "brp", SEPTEMBER)
    assert ROW_CHANGE in html and expected in html
    assert "in quarantaine" in html
    [finding] = [r for r in rows if r[:2] == ["controle", "rows.change"]]
    assert finding[3] == "fout" and expected in finding[4]
    assert expected in reason_of(rows)

    quarantined = latest_delivery(res, "brp")
    assert quarantined.status == "quarantined" and quarantined.peildatum == SEPTEMBER
    change = checks_of(res, quarantined.id)["rows.change"]
    assert (change.passed, change.row_level, change.severity) == (False, False, "error")
    assert expected in change.description

    # 5% fewer rows lies within the brp's 10%, against August, not the quarantined file.
    smaller = brp(SEPTEMBER, drop=0.05)
    accepted = ingest(res, "brp", SEPTEMBER, smaller, run_id)
    assert accepted.status.startswith("accepted"), accepted
    change = checks_of(res, latest_delivery(res, "brp").id)["rows.change"]
    assert change.passed and expected in change.description
    assert res.lake.read("brp", SEPTEMBER).height == data_rows(smaller) - accepted.rows_rejected
    html, rows = feedback_files(res, "brp", SEPTEMBER)
    assert "geaccepteerd" in html and expected in html
    [finding] = [r for r in rows if r[:2] == ["controle", "rows.change"]]
    assert finding[5] == "0"


def test_a_redelivery_compares_with_the_delivery_before_its_peildatum(res):
    run_id = res.catalog.start_run(None)
    # July 900 rows, August 820 (-9%), September 850 (+4%): all within the brp's 10%.
    for peildatum, keep in ((JULY, 900), (AUGUST, 820), (SEPTEMBER, 850)):
        outcome = ingest(res, "brp", peildatum, brp(peildatum, keep=keep), run_id)
        assert outcome.status.startswith("accepted"), (peildatum, outcome)

    # 800 rows for August: fine against the August being replaced (820) and against
    # September (850), too few against July (at least 810).
    too_few = ingest(res, "brp", AUGUST, brp(AUGUST, keep=800), run_id)
    assert too_few.status == "quarantined", too_few
    change = checks_of(res, latest_delivery(res, "brp").id)["rows.change"]
    assert not change.passed and row_change_text(JULY, 900) in change.description

    # 970 rows for August: too many against the replaced August (at most 902) and against
    # September (at most 935), fine against July (at most 990).
    redelivered = ingest(res, "brp", AUGUST, brp(AUGUST, keep=970), run_id)
    assert redelivered.status.startswith("accepted"), redelivered
    change = checks_of(res, latest_delivery(res, "brp").id)["rows.change"]
    assert change.passed and row_change_text(JULY, 900) in change.description

    august = [d for d in res.catalog.deliveries("brp") if d.peildatum == AUGUST]
    assert [d.status for d in august] == ["replaced", "quarantined", redelivered.status]
    assert [d.rows for d in august] == [820, 800, 970]
    assert res.lake.read("brp", AUGUST).height == 970 - redelivered.rows_rejected


def test_a_first_delivery_has_no_row_count_check(res):
    outcome = ingest(res, "brp", SEPTEMBER, brp(SEPTEMBER, drop=0.5), res.catalog.start_run(None))
    assert outcome.status.startswith("accepted"), outcome
    delivery = latest_delivery(res, "brp")
    assert "rows.change" not in checks_of(res, delivery.id)
    html, rows = feedback_files(res, "brp", SEPTEMBER)
    assert ROW_CHANGE not in html
    assert not [r for r in rows if r[1] == "rows.change"]


# -- previous_delivery ----------------------------------------------------------------------

BIJSTAND_HEADER = "BSN;regeling;leefvorm;ingangsdatum;einddatum\n"


def valid_bsns(n: int, seed: int = 1) -> list[str]:
    return [str(b) for b in random_valid_bsns(np.random.default_rng(seed), n)]


def bijstand(bsns: list[str], extra: str = "") -> bytes:
    rows = "".join(f"{b};PW;alleenstaand;20200101;\n" for b in bsns)
    return (BIJSTAND_HEADER + rows + extra).encode()


def test_previous_delivery_is_the_latest_accepted_one_strictly_before(res):
    run_id = res.catalog.start_run(None)
    assert previous_delivery(res, "bijstand", SEPTEMBER) is None
    assert ingest(res, "bijstand", JULY, bijstand(valid_bsns(40)), run_id).status == "accepted"
    assert previous_delivery(res, "bijstand", JULY) is None
    assert previous_delivery(res, "bijstand", AUGUST) == PreviousDelivery(JULY, 40)
    assert previous_delivery(res, "wmo", AUGUST) is None

    broken = bijstand(valid_bsns(40), "123456789;PW;alleenstaand;20200101;\n" * 5)
    assert ingest(res, "bijstand", AUGUST, broken, run_id).status == "quarantined"
    assert previous_delivery(res, "bijstand", SEPTEMBER) == PreviousDelivery(JULY, 40)

    assert ingest(res, "bijstand", AUGUST, bijstand(valid_bsns(36)), run_id).status == "accepted"
    assert previous_delivery(res, "bijstand", SEPTEMBER) == PreviousDelivery(AUGUST, 36)
    assert previous_delivery(res, "bijstand", OCTOBER) == PreviousDelivery(AUGUST, 36)
    assert previous_delivery(res, "bijstand", AUGUST) == PreviousDelivery(JULY, 40)

    # A replaced delivery is no longer the one in force: its redelivery is.
    assert ingest(res, "bijstand", AUGUST, bijstand(valid_bsns(38)), run_id).status == "accepted"
    assert previous_delivery(res, "bijstand", SEPTEMBER) == PreviousDelivery(AUGUST, 38)


# -- Trend ----------------------------------------------------------------------------------


def verloop(html: str) -> str:
    assert html.count("<h2>Verloop</h2>") == 1
    return html.split("<h2>Verloop</h2>", 1)[1]


def test_the_feedback_report_shows_the_trend_against_earlier_deliveries(res):
    run_id = res.catalog.start_run(None)
    first = ingest(res, "brp", AUGUST, brp(AUGUST), run_id)
    assert first.status.startswith("accepted")
    first_html, first_rows = feedback_files(res, "brp", AUGUST)
    assert "eerste levering" in verloop(first_html)
    assert any(r[0] == "verloop" and "eerste levering" in r[4] for r in first_rows)

    second = ingest(res, "brp", SEPTEMBER, brp(SEPTEMBER, drop=0.05), run_id)
    assert second.status.startswith("accepted")
    trend = verloop(feedback_files(res, "brp", SEPTEMBER)[0])
    assert "eerste levering" not in trend
    assert (
        f"ten opzichte van de levering met peildatum 01-08-2026 "
        f"(van {thousands(first.rows)} naar {thousands(second.rows)})"
    ) in trend
    earlier = re.search(r"<tr><td>01-08-2026</td>.*?</tr>", trend)
    assert earlier, "the trend table has no row for the first delivery"
    assert f"<td class='number'>{thousands(first.rows)}</td>" in earlier.group(0)
    assert "<td>01-09-2026 (deze levering)</td>" in trend
    _, rows = feedback_files(res, "brp", SEPTEMBER)
    [count] = [
        r[5] for r in rows if r[:2] == ["verloop", "01-08-2026"] and r[4] == "gegevensregels"
    ]
    assert count == str(first.rows)
    # The first report is not rewritten by the second delivery.
    assert feedback_files(res, "brp", AUGUST)[0] == first_html


# -- Cross-checks ---------------------------------------------------------------------------


def bsns_in(source: str, data: bytes) -> set[str]:
    frame = pl.read_csv(io.BytesIO(data), separator=";", infer_schema=False)
    column = next(c for c in frame.columns if c.lower() == BSN_COLUMNS[source])
    return {v for v in frame[column].to_list() if v}


def test_cross_checks_go_to_the_steward_and_never_to_the_partner(res):
    deliveries = dict(city(SEPTEMBER))
    known = set().union(*(bsns_in(s, deliveries[s]) for s in BSN_COLUMNS))
    fresh = [b for b in valid_bsns(40, seed=99) if b not in known][:3]
    lines = deliveries["bijstand"].splitlines(keepends=True)
    replaced = [line.split(b";", 1)[0].decode() for line in lines[1:4]]
    for i, bsn in enumerate(fresh, start=1):
        lines[i] = bsn.encode() + lines[i][lines[i].index(b";") :]
    deliveries["bijstand"] = b"".join(lines)

    run_id = res.catalog.start_run(None)
    outcomes = {s: ingest(res, s, SEPTEMBER, data, run_id) for s, data in deliveries.items()}
    assert all(o.status.startswith("accepted") for o in outcomes.values()), outcomes
    assert outcomes["bijstand"].rows_rejected == 0

    # Precondition: apart from the fresh BSNs, every bijstand client is in the BRP lake.
    key = res.link_key()
    brp_pseudonyms = set(res.lake.read("brp", SEPTEMBER)["pseudonym"])
    clients = bsns_in("bijstand", deliveries["bijstand"])
    assert {b for b in clients if pseudonym_of(b, key) not in brp_pseudonyms} == set(fresh)
    assert not set(replaced) & clients

    partner_folder = res.workspace.feedback / "bijstand"
    partner_files = {p: p.read_bytes() for p in partner_folder.iterdir()}
    assert len(partner_files) == 2

    results, reports = cross_check_run(res, run_id)
    found = {(r.source, r.check_id): r for r in results}
    assert set(found) >= {
        ("bijstand", "ingezetene"),
        ("wmo", "ingezetene"),
        ("huurachterstand", "ingezetene"),
        ("brp", "adres_in_buurtindeling"),
        ("huurachterstand", "adres_in_buurtindeling"),
        ("politie_incidenten", "adres_in_buurtindeling"),
    }
    for (source, check_id), result in found.items():
        assert result.peildatum == SEPTEMBER and result.reference_peildatum == SEPTEMBER
        assert result.status in ("ok", "findings"), (source, check_id, result.note)
        assert result.reference == ("brp" if check_id == "ingezetene" else "buurtindeling")
    bijstand_check = found[("bijstand", "ingezetene")]
    assert bijstand_check.rows == outcomes["bijstand"].rows
    assert (bijstand_check.missing, bijstand_check.status) == (len(fresh), "findings")

    folder = res.workspace.reports / "quality"
    html_path, csv_path = (
        folder / "kruiscontroles_20260901.html",
        folder / "kruiscontroles_20260901.csv",
    )
    assert reports == [html_path]
    assert html_path.is_file() and csv_path.is_file()
    internal = list(csv.reader(io.StringIO(csv_path.read_text("utf-8-sig")), delimiter=";"))
    [row] = [r for r in internal if r[1:2] == ["bijstand"] and r[3] == "ingezetene"]
    assert row[9] == str(len(fresh)) and row[7] == "met bevindingen"
    assert "ingezetene" in html_path.read_text(encoding="utf-8")

    recorded = {(c.source, c.check_id): c for c in res.catalog.cross_checks()}
    assert set(recorded) == set(found)
    for key_, result in found.items():
        record = recorded[key_]
        assert (record.rows, record.missing, record.status) == (
            result.rows,
            result.missing,
            result.status,
        )
    bijstand_delivery = latest_delivery(res, "bijstand")
    assert recorded[("bijstand", "ingezetene")].delivery_id == bijstand_delivery.id

    # The partner's feedback was written before the cross-check and does not hear of it.
    assert {p: p.read_bytes() for p in partner_folder.iterdir()} == partner_files
    description = res.contracts["bijstand"].cross_checks[0].description
    for path, data in partner_files.items():
        text = data.decode("utf-8-sig")
        for word in ("ingezetene", "BRP", "kruiscontrole", "niet gevonden", description[:40]):
            assert word.lower() not in text.lower(), (path.name, word)

    delivered = set().union(*(bsns_in(s, deliveries[s]) for s in BSN_COLUMNS)) | set(fresh)
    for path in (html_path, csv_path):
        text = path.read_text(encoding="utf-8-sig")
        assert not [b for b in delivered if b in text], path.name


def test_without_a_brp_the_ingezetene_check_is_not_checked(res):
    run_id = res.catalog.start_run(None)
    outcome = ingest(res, "bijstand", SEPTEMBER, bijstand(valid_bsns(30)), run_id)
    assert outcome.status == "accepted"
    results, reports = cross_check_run(res, run_id)
    [result] = results
    assert (result.source, result.check_id, result.status) == (
        "bijstand",
        "ingezetene",
        "not_checked",
    )
    assert result.reference_peildatum is None and result.rows == 0 and result.missing == 0
    assert "brp" in result.note
    [record] = res.catalog.cross_checks("bijstand", SEPTEMBER)
    assert record.status == "not_checked"
    assert "niet gecontroleerd" in reports[0].read_text(encoding="utf-8")


# -- A data steward's expectations ----------------------------------------------------------

HUUR_HEADER = (
    "bsn_hoofdhuurder;postcode;huisnummer;huisletter;huisnummertoevoeging;"
    "achterstand_maanden;achterstand_bedrag\n"
)
LONG_ARREARS = "Een achterstand van meer dan 24 maanden is ongebruikelijk lang; controleer dit."
HIGH_MEAN = "Het gemiddelde achterstandsbedrag is hoger dan verwacht; controleer de bedragen."


def huurachterstand(months: list[int]) -> bytes:
    bsns = valid_bsns(len(months), seed=7)
    rows = "".join(
        f"{bsn};1234AB;{i + 1};;;{m};250,00\n"
        for i, (bsn, m) in enumerate(zip(bsns, months, strict=True))
    )
    return (HUUR_HEADER + rows).encode()


def with_steward_config(res: Resources, text: str) -> Resources:
    """Resources reopened with ``huurachterstand.expectations.toml`` in the workspace config."""
    folder = res.settings.sources_config
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "huurachterstand.expectations.toml").write_text(text, encoding="utf-8")
    res.catalog.close()
    open_resources.cache_clear()
    return open_resources(res.workspace.root)


def expectation(check_id: str, name: str, kwargs: str, severity: str, description: str) -> str:
    return (
        "[[expectations]]\n"
        f'id = "{check_id}"\n'
        f'expectation = "{name}"\n'
        f"kwargs = {{ {kwargs} }}\n"
        f'severity = "{severity}"\n'
        f'description = "{description}"\n'
    )


def test_a_configured_warning_reports_the_line_and_keeps_the_row(res):
    res = with_steward_config(
        res,
        'source = "huurachterstand"\n\n'
        + expectation(
            "achterstand_maanden.hoog",
            "expect_column_values_to_be_between",
            'column = "achterstand_maanden", max_value = 24',
            "warning",
            LONG_ARREARS,
        ),
    )
    res.check_contracts()
    months = [3] * 40
    months[7] = 30  # line 9: the header is line 1
    outcome = ingest(
        res, "huurachterstand", SEPTEMBER, huurachterstand(months), res.catalog.start_run(None)
    )
    assert outcome.status == "accepted_with_warnings", outcome
    assert (outcome.rows, outcome.rows_rejected, outcome.warnings) == (40, 0, 1)
    assert res.lake.read("huurachterstand", SEPTEMBER).height == 40

    html, rows = feedback_files(res, "huurachterstand", SEPTEMBER)
    assert LONG_ARREARS in html
    finding = re.search(rf"<td>{re.escape(LONG_ARREARS)}</td>.*?</tr>", html)
    assert finding and "<td class='lines'>9</td>" in finding.group(0)
    [check] = [r for r in rows if r[:2] == ["controle", "achterstand_maanden.hoog"]]
    assert check[3:6] == ["waarschuwing", LONG_ARREARS, "1"]
    [line] = [r for r in rows if r[:2] == ["regel", "achterstand_maanden.hoog"]]
    assert line[7] == "9"

    record = checks_of(res, latest_delivery(res, "huurachterstand").id)["achterstand_maanden.hoog"]
    assert (record.severity, record.failed_count, record.row_level) == ("warning", 1, True)
    assert record.description == LONG_ARREARS


def test_a_configured_aggregate_error_quarantines_the_delivery(res):
    res = with_steward_config(
        res,
        'source = "huurachterstand"\n\n'
        + expectation(
            "achterstand_bedrag.gemiddelde",
            "expect_column_mean_to_be_between",
            'column = "achterstand_bedrag", max_value = 1',
            "error",
            HIGH_MEAN,
        ),
    )
    data = huurachterstand([3] * 40)
    outcome = ingest(res, "huurachterstand", SEPTEMBER, data, res.catalog.start_run(None))
    assert outcome.status == "quarantined", outcome
    assert (
        res.workspace.quarantine / "huurachterstand" / "huurachterstand_20260901.csv"
    ).read_bytes() == data
    assert not res.lake.path("huurachterstand", SEPTEMBER).exists()

    html, rows = feedback_files(res, "huurachterstand", SEPTEMBER)
    assert HIGH_MEAN in reason_of(rows)
    assert HIGH_MEAN in html and "in quarantaine" in html
    delivery = latest_delivery(res, "huurachterstand")
    assert delivery.status == "quarantined"
    record = checks_of(res, delivery.id)["achterstand_bedrag.gemiddelde"]
    assert (record.passed, record.row_level, record.severity) == (False, False, "error")


def test_an_unknown_configured_expectation_fails_the_contract_check(res):
    res = with_steward_config(
        res,
        'source = "huurachterstand"\n\n'
        + expectation(
            "achterstand_maanden.onzin",
            "expect_nonsense",
            'column = "achterstand_maanden"',
            "warning",
            "Bestaat niet.",
        ),
    )
    assert res.contracts["huurachterstand"].expectations[-1].expectation == "expect_nonsense"
    with pytest.raises(ContractError, match="expect_nonsense"):
        res.check_contracts()
