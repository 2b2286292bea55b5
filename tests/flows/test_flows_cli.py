"""Command-line behaviour that needs no Prefect server: setup, errors, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from udc.flows.cli import app

runner = CliRunner()


def test_init_creates_the_workspace_and_refuses_a_second_time(tmp_path):
    workspace = tmp_path / "ws"
    result = runner.invoke(app, ["init", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    for folder in ("inbox", "quarantine", "archive", "lake", "marts", "feedback", "reports"):
        assert (workspace / folder).is_dir()
    assert (workspace / "lake").stat().st_mode & 0o777 == 0o700
    assert (workspace / "catalog.db").is_file()
    again = runner.invoke(app, ["init", "--workspace", str(workspace)])
    assert again.exit_code == 3
    assert "never overwrites a key" in again.output
    assert "Traceback" not in again.output


def test_commands_outside_a_workspace_say_what_to_do(tmp_path):
    result = runner.invoke(app, ["run", "--workspace", str(tmp_path)])
    assert result.exit_code == 3
    assert "udc init" in result.output


def test_workspace_comes_from_the_environment(tmp_path):
    result = runner.invoke(app, ["init"], env={"UDC_WORKSPACE": str(tmp_path / "env")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env" / "udc.toml").is_file()


def test_generate_writes_the_six_sources(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    result = runner.invoke(
        app,
        ["generate", "--workspace", str(workspace), "--persons", "600", "--peildatum", "20260101"],
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (workspace / "inbox").glob("*/*.csv"))
    assert files == sorted(
        f"{s}_20260101.csv"
        for s in (
            "brp",
            "buurtindeling",
            "bijstand",
            "wmo",
            "huurachterstand",
            "politie_incidenten",
        )
    )
    assert (workspace / "config" / "geo" / "wijkenbuurten.geojson").is_file()
    bad = runner.invoke(app, ["generate", "--workspace", str(workspace), "--peildatum", "2026"])
    assert bad.exit_code == 2


def test_the_dashboards_build_and_serve_on_localhost(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    early = runner.invoke(app, ["dashboard", "serve", "--workspace", str(workspace)])
    assert early.exit_code == 3 and "udc dashboard build" in early.output
    built = runner.invoke(app, ["dashboard", "build", "--workspace", str(workspace)])
    assert built.exit_code == 0, built.output
    index = workspace / "dashboards" / "current" / "index.html"
    assert f"Dashboards: {index}" in built.output
    assert "nog geen marts gepubliceerd" in index.read_text("utf-8")
    # A named outline file that is missing: a warning, and the site without maps.
    settings = workspace / "udc.toml"
    settings.write_text(settings.read_text().replace(
        'geometries = ["config/geo/wijkenbuurten.geojson"]', 'geometries = ["geo/kaart.gpkg"]'))
    warned = runner.invoke(app, ["dashboard", "build", "--workspace", str(workspace)])
    assert warned.exit_code == 0
    assert "kaart.gpkg" in warned.output and "without maps" in warned.output
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("udc")), "dashboard", "serve", "--port", "0",
         "--workspace", str(workspace)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url + "index.html", timeout=10) as response:
            assert "Dashboards" in response.read().decode("utf-8")
        with urllib.request.urlopen(url + "assets/plotly.min.js", timeout=10) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_without_a_prefect_server_explains_how_to_start_one(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    result = runner.invoke(
        app, ["serve", "--workspace", str(workspace)], env={"PREFECT_API_URL": ""}
    )
    assert result.exit_code == 3
    assert "prefect server start" in result.output


def test_every_command_has_help():
    for command in (
        ["init"],
        ["generate"],
        ["run"],
        ["demo"],
        ["marts", "list"],
        ["marts", "show"],
        ["query"],
        ["serve"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "--workspace" in result.output, command


def test_an_unreachable_prefect_server_is_one_clear_line(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    result = runner.invoke(
        app,
        ["serve", "--workspace", str(workspace)],
        env={"PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )
    assert result.exit_code == 3
    assert "does not answer" in result.output
    assert "Traceback" not in result.output


def test_quality_show_and_report_list_deliveries_and_their_feedback(tmp_path):
    import numpy as np

    from udc.pseudonymize.bsn import random_valid_bsns
    from udc.workspace.ingest import process_delivery
    from udc.workspace.resources import open_resources

    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    res = open_resources(workspace.resolve())
    bsns = [str(b) for b in random_valid_bsns(np.random.default_rng(3), 40)]
    rows = "".join(f"{b};PW;alleenstaand;20200101;\n" for b in bsns)
    path = res.settings.inbox / "bijstand" / "bijstand_20261001.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("bsn;regeling;leefvorm;ingangsdatum;einddatum\n" + rows + "123;PW;x;1;\n")
    process_delivery(res, path, res.catalog.start_run(None))

    shown = runner.invoke(app, ["quality", "show", "bijstand", "--workspace", str(workspace)])
    assert shown.exit_code == 0, shown.output
    assert "bijstand_20261001.csv" in shown.output and "2.44%" in shown.output
    assert not any(b in shown.output for b in bsns)
    report = runner.invoke(
        app, ["quality", "report", "bijstand", "20261001", "--workspace", str(workspace)]
    )
    assert report.exit_code == 0, report.output
    html_path, csv_path = report.output.split()
    assert html_path.endswith("bijstand_20261001.html") and csv_path.endswith(".csv")
    missing = runner.invoke(
        app, ["quality", "report", "wmo", "20261001", "--workspace", str(workspace)]
    )
    assert missing.exit_code == 3 and "udc quality show" in missing.output


def test_a_configured_check_gx_does_not_know_stops_the_run_before_anything_moves(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    runner.invoke(app, ["generate", "--workspace", str(workspace), "--persons", "600"])
    config = workspace / "config" / "sources"
    config.mkdir(parents=True, exist_ok=True)
    (config / "steward.expectations.toml").write_text(
        'source = "wmo"\n[[expectations]]\nid = "wmo.onzin"\nexpectation = "expect_nonsense"\n'
        'kwargs = { column = "voorziening" }\ndescription = "Onzin."\n',
        encoding="utf-8",
    )
    inbox = sorted((workspace / "inbox").rglob("*.csv"))
    result = runner.invoke(app, ["run", "--workspace", str(workspace)])
    assert result.exit_code == 3, result.output
    assert "expect_nonsense" in result.output and "Traceback" not in result.output
    assert sorted((workspace / "inbox").rglob("*.csv")) == inbox
    assert not list((workspace / "feedback").rglob("*"))


def _publish_tiny_mart(workspace, name: str, hidden: dict[str, int | None]) -> None:
    """A gemeente table n by klasse a, b, c plus totaal; ``hidden`` maps klassen to None."""
    import polars as pl

    from udc.marts.publish import MartStore

    values = {"a": 12, "b": 3, "c": 20} | hidden
    klassen = [*values, "totaal"]
    frame = pl.DataFrame(
        {
            "gebiedsniveau": ["gemeente"] * 4,
            "gebiedscode": ["GM9999"] * 4,
            "gebiedsnaam": ["Stad"] * 4,
            "klasse": klassen,
            "n": [*values.values(), 35],
            "n_geheim": [values[k] is None for k in values] + [False],
        }
    )
    metadata = {
        "peildatum": "2026-11-01",
        "purpose": "test",
        "min_cell_size": 10,
        "dimensions": ["klasse"],
        "measures": ["n"],
        "deliveries": [],
        "key_fingerprint": "0" * 16,
    }
    MartStore(workspace / "marts").publish(name, frame, metadata)


def test_the_audit_finds_a_cell_its_line_gives_away_and_passes_a_protected_one(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    _publish_tiny_mart(workspace, "lek", {"b": None})
    _publish_tiny_mart(workspace, "veilig", {"b": None, "c": None})
    result = runner.invoke(app, ["marts", "audit", "lek", "--workspace", str(workspace)])
    assert result.exit_code == 1, result.output
    assert "1 suppressed cells can be narrowed down" in " ".join(result.output.split())
    result = runner.invoke(app, ["marts", "audit", "veilig", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "keeps an interval" in result.output
    shown = runner.invoke(app, ["marts", "show", "lek", "--workspace", str(workspace)])
    [audit] = json.loads(shown.output)["disclosure_audit"]
    assert (audit["suppressed"], audit["exactly_determined"], audit["min_width"]) == (1, 1, 0)
    result = runner.invoke(app, ["marts", "audit", "geen", "--workspace", str(workspace)])
    assert result.exit_code == 3 and "no published mart" in result.output
