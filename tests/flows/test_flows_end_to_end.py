"""The real command line on a real temporary Prefect server, twice, then a BSN scan.

Run 1 processes a clean synthetic city. Run 2 gets broken files, a repeated delivery and
an unknown source: it must quarantine them byte for byte, keep the published marts and
exit 1. Afterwards no delivered BSN may be found in anything the runs wrote outside the
inbox and quarantine: lake, marts, catalog, feedback, archive (encrypted), Prefect's
database, or the console output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from udc.marts.definitions import PACKAGED_DEFINITIONS, load_definitions
from udc.sources.contracts import load_contracts
from udc.sources.synthetic import write_deliveries
from udc.sources.synthetic.shapes import write_shapes

pytestmark = pytest.mark.prefect

PEILDATUM = dt.date(2026, 10, 1)
UDC = str(Path(sys.executable).with_name("udc"))
NINE_DIGITS = re.compile(rb"(?<!\d)\d{9}(?!\d)")


def udc(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "UDC_"))}
    return subprocess.run(
        [UDC, *args, "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def delivered_bsns(inbox: Path) -> set[str]:
    contracts = load_contracts()
    found: set[str] = set()
    for path in inbox.glob("*/*.csv"):
        contract = contracts[path.parent.name]
        if contract.bsn_column:
            frame = pl.read_csv(path, separator=";", infer_schema=False)
            values = frame[contract.bsn_column].drop_nulls().str.strip_chars()
            found |= {v for v in values.to_list() if re.fullmatch(r"\d{9}", v)}
    return found


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("city")
    assert udc(workspace, "init").returncode == 0
    inbox = workspace / "inbox"
    write_deliveries(inbox, 3000, 7, PEILDATUM)
    write_shapes(workspace / "config" / "geo" / "wijkenbuurten.geojson", 7)
    bsns = delivered_bsns(inbox)
    brp_bytes = (inbox / "brp" / f"brp_{PEILDATUM:%Y%m%d}.csv").read_bytes()
    first = udc(workspace, "run")
    releases = {p.parent.name: p.resolve() for p in (workspace / "marts").glob("*/current")}
    broken = {
        "bijstand/bijstand_20261015.csv": b"bsn;regeling;leefvorm;ingangsdatum;einddatum\n"
        b"123456782;PW;alleenstaand;20200101;\n123456782;PW",
        "wmo/wmo_20261015.csv": b"\x89PNG\r\n\x1a\n\x00\x00binary",
        "onbekend/lijst.csv": b"a;b\n1;2\n",
        "brp/brp-oktober.csv": brp_bytes,
    }
    for name, data in broken.items():
        (inbox / name).parent.mkdir(exist_ok=True)
        (inbox / name).write_bytes(data)
    (inbox / "brp" / f"brp_{PEILDATUM:%Y%m%d}.csv").write_bytes(brp_bytes)
    second = udc(workspace, "run")
    return workspace, bsns, first, second, releases, broken


def _unexpected_stderr(stderr: str) -> list[str]:
    """Lines that are neither udc's own messages nor its server notice: log noise, tracebacks."""
    return [
        line
        for line in stderr.splitlines()
        if not line.startswith(("error:", "warning:", "Starting a temporary Prefect server"))
    ]


def test_first_run_publishes_every_mart(city):
    workspace, _, first, *_ = city
    assert first.returncode == 0, first.stdout + first.stderr
    assert _unexpected_stderr(first.stderr) == []
    names = {p.parent.name for p in (workspace / "marts").glob("*/current")}
    assert names == set(load_definitions())
    assert not list((workspace / "inbox").glob("*/*.csv"))
    assert len(list((workspace / "archive").glob("*/*.enc"))) == 6
    assert len(list((workspace / "feedback").glob(f"*/*_{PEILDATUM:%Y%m%d}.html"))) == 6
    # The dashboards follow publication: a page and a CSV per mart, maps from the outlines.
    site = workspace / "dashboards" / "current"
    assert f"Dashboards: {site / 'index.html'}" in first.stdout
    assert {p.stem for p in site.glob("*.html")} == names | {"index"}
    assert {p.stem for p in site.glob("*.csv")} == names
    assert '"wijk":{"type":"FeatureCollection"' in (site / "bevolking_buurt.html").read_text()


def test_marts_read_with_duckdb_polars_and_pyarrow(city):
    workspace = city[0]
    path = workspace / "marts" / "bevolking_buurt" / "current" / "bevolking_buurt.parquet"
    via_duckdb = duckdb.sql(f"select * from read_parquet('{path}')").to_arrow_table()
    via_polars = pl.read_parquet(path)
    via_pyarrow = pq.read_table(path)
    # A city of 3,000: bevolking_buurt is published per wijk (its design), 13 areas x 7.
    assert via_duckdb.num_rows == via_polars.height == via_pyarrow.num_rows >= 13 * 7
    metadata = pq.read_schema(path).metadata
    assert metadata[b"udc.mart"] == b"bevolking_buurt"
    assert (
        metadata[b"udc.peildatum"] == f"{PEILDATUM:%Y-%m-%d}".encode()
        or metadata[b"udc.peildatum"] == f"{PEILDATUM:%Y%m%d}".encode()
    )
    for key in (
        b"udc.purpose",
        b"udc.min_cell_size",
        b"udc.dimensions",
        b"udc.measures",
        b"udc.deliveries",
        b"udc.key_fingerprint",
    ):
        assert metadata[key]


def test_second_run_quarantines_broken_files_and_keeps_the_marts(city):
    workspace, _, _, second, releases, broken = city
    assert second.returncode == 1
    assert _unexpected_stderr(second.stderr) == []
    errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, second.stderr
    for name, data in broken.items():
        folder, file_name = name.split("/")
        stored = workspace / "quarantine" / folder / file_name
        assert stored.read_bytes() == data
        assert (stored.parent / f"{file_name}.reason.txt").read_text().strip()
    assert not list((workspace / "inbox").rglob("*.csv"))
    after = {p.parent.name: p.resolve() for p in (workspace / "marts").glob("*/current")}
    assert after == releases
    assert "same bytes were delivered before" in second.stdout + second.stderr or "duplicate" in (
        second.stdout
    )
    assert len(list((workspace / "feedback" / "bijstand").glob("bijstand_20261015.*"))) == 2


def test_commands_for_analysts(city):
    workspace = city[0]
    listing = udc(workspace, "marts", "list")
    assert listing.returncode == 0 and "bevolking_buurt" in listing.stdout
    shown = udc(workspace, "marts", "show", "bijstand_buurt")
    assert shown.returncode == 0 and "minimabeleid" in shown.stdout
    result = udc(
        workspace,
        "query",
        "--csv",
        "select gebiedsniveau, count(*) as n from bevolking_buurt group by 1 order by 1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].replace('"', "") == "gebiedsniveau,n"
    bad = udc(workspace, "query", "select * from nergens")
    assert bad.returncode == 3 and "Traceback" not in bad.stderr


def _strings_in_parquet(path: Path) -> bytes:
    table = pq.read_table(path)
    return "\n".join(str(v) for column in table.columns for v in column.to_pylist()).encode()


def _strings_in_sqlite(path: Path) -> bytes:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    chunks = []
    for (table,) in connection.execute("select name from sqlite_master where type='table'"):
        for row in connection.execute(f'select * from "{table}"'):
            chunks.append(" ".join(str(v) for v in row))
    connection.close()
    return "\n".join(chunks).encode()


def test_no_delivered_bsn_escapes(city):
    workspace, bsns, first, second, *_ = city
    assert len(bsns) > 3000
    scanned = 0
    hits: dict[str, set[str]] = {}
    for path in workspace.rglob("*"):
        relative = path.relative_to(workspace)
        if not path.is_file() or relative.parts[0] in ("inbox", "quarantine"):
            continue
        contents = [path.read_bytes()]
        if path.suffix == ".parquet":
            contents.append(_strings_in_parquet(path))
        if path.suffix == ".db" or path.name.endswith(".db"):
            contents.append(_strings_in_sqlite(path))
        for content in contents:
            found = {m.decode() for m in NINE_DIGITS.findall(content)} & bsns
            if found:
                hits[str(relative)] = found
        scanned += 1
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        found = {m.decode() for m in NINE_DIGITS.findall(output.encode())} & bsns
        if found:
            hits["console output"] = found
    assert scanned > 30
    assert (workspace / ".prefect" / "prefect.db").is_file()
    assert not hits, {k: len(v) for k, v in hits.items()}


def test_archive_is_encrypted_and_opens_with_the_archive_key(city):
    from udc.pseudonymize.encryption import unseal
    from udc.pseudonymize.keys import KeyStore

    workspace = city[0]
    connection = sqlite3.connect(workspace / "catalog.db")
    file_name, digest, stored = connection.execute(
        "select file_name, sha256, stored_path from deliveries "
        "where source = 'bijstand' and status like 'accepted%'"
    ).fetchone()
    connection.close()
    blob = Path(stored).read_bytes()
    assert not blob.startswith(b"bsn")
    raw = unseal(
        blob, KeyStore(workspace / "keys").archive_key(), f"bijstand/{file_name}/{digest}".encode()
    )
    assert hashlib.sha256(raw).hexdigest() == digest


def test_a_rebuild_of_a_published_peildatum_is_audited_with_the_earlier_release(city):
    workspace = city[0]
    mart = workspace / "marts" / "stapeling_wijk"
    earlier = pl.read_parquet(mart / "current" / "stapeling_wijk.parquet")
    # A new title: the same values for the same peildatum, so a new release of the whole
    # release beside the old one, which stays readable.
    definition = (PACKAGED_DEFINITIONS / "stapeling_wijk.toml").read_text()
    (workspace / "config" / "marts").mkdir(parents=True, exist_ok=True)
    (workspace / "config" / "marts" / "stapeling_wijk.toml").write_text(
        definition.replace('title = "Inwoners', 'title = "Alle inwoners', 1)
    )
    third = udc(workspace, "run")
    assert third.returncode == 0, third.stdout + third.stderr
    releases = sorted((mart / "releases").iterdir())
    assert len(releases) == 2
    rebuilt = pl.read_parquet(mart / "current" / "stapeling_wijk.parquet")
    for measure in ("personen", "huurachterstand_euro"):
        was, now = earlier[f"{measure}_geheim"], rebuilt[f"{measure}_geheim"]
        assert not (was.fill_null(False) & ~now.fill_null(False)).any(), measure
    # Read together, the two releases still keep every hidden cell's interval.
    audit = udc(workspace, "marts", "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_the_processing_log_holds_every_run_and_shows_tampering(city):
    workspace = city[0]
    verified = udc(workspace, "log", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "The processing log is intact" in verified.stdout
    shown = udc(workspace, "log", "show", "--source", "bijstand")
    assert shown.returncode == 0, shown.stderr
    for step in ("receive", "validate", "pseudonymise", "load", "quarantine"):
        assert step in shown.stdout, step
    published = udc(workspace, "log", "show", "--purpose", "minimabeleid", "--status", "ok")
    assert "publish" in published.stdout and "mart:bijstand_buurt:" in published.stdout
    connection = sqlite3.connect(workspace / "catalog.db")
    (rows,) = connection.execute("SELECT rows FROM processing_log WHERE seq = 3").fetchone()
    with connection:
        connection.execute("UPDATE processing_log SET rows = ? WHERE seq = 3", ((rows or 0) + 1,))
    tampered = udc(workspace, "log", "verify")
    with connection:
        connection.execute("UPDATE processing_log SET rows = ? WHERE seq = 3", (rows,))
    connection.close()
    assert tampered.returncode == 1
    assert "error: entry 3 differs from what was logged" in tampered.stderr
    assert "Traceback" not in tampered.stderr


def _task_runs(workspace: Path) -> dict[str, set[str]]:
    """Per task-run name, the end states of the runs so far (each run adds its own)."""
    connection = sqlite3.connect(f"file:{workspace / '.prefect' / 'prefect.db'}?mode=ro", uri=True)
    runs: dict[str, set[str]] = {}
    for name, state in connection.execute("select name, state_type from task_run"):
        runs.setdefault(name, set()).add(state)
    connection.close()
    return runs


def test_the_prefect_run_shows_each_release_step_and_the_mart_that_failed(city):
    workspace = city[0]
    marts = ", ".join(sorted(load_definitions()))
    runs = _task_runs(workspace)
    for step in ("protect", "audit", "publish"):
        assert runs[f"{step}-20261001 ({marts})"] == {"COMPLETED"}
    assert runs["build-20261001-wmo_wijk"] == {"COMPLETED"}
    assert runs["ingest-brp/brp_20261001.csv"] == {"COMPLETED"}
    assert runs["dashboards"] == {"COMPLETED"}
    # A definition whose query returns the wrong columns: its build task fails, the rest
    # of the release is protected, audited and published without it.
    definition = workspace / "config" / "marts" / "wmo_wijk.toml"
    definition.parent.mkdir(parents=True, exist_ok=True)
    definition.write_text(
        (PACKAGED_DEFINITIONS / "wmo_wijk.toml").read_text().replace(
            "AS leeftijdsklasse\n", "AS klasse\n"
        )
    )
    try:
        failing = udc(workspace, "run")
    finally:
        definition.unlink()
    assert failing.returncode == 1
    assert _unexpected_stderr(failing.stderr) == []
    assert "error: wmo_wijk: not built: wmo_wijk.personen: the query must return" in (
        failing.stderr
    )
    runs = _task_runs(workspace)
    assert runs["build-20261001-wmo_wijk"] == {"COMPLETED", "FAILED"}
    rest = marts.replace(", wmo_wijk", "")
    for step in ("protect", "audit", "publish"):
        assert runs[f"{step}-20261001 ({rest})"] == {"COMPLETED"}
