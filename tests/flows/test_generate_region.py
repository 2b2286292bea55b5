"""`udc generate --scope regio|land`: several municipalities' deliveries, their outlines,
and the regios in udc.toml."""

from __future__ import annotations

import json
import tomllib

from typer.testing import CliRunner

from udc.flows.cli import app
from udc.workspace.layout import Workspace

runner = CliRunner()
SOURCES = ("brp", "buurtindeling", "bijstand", "wmo", "huurachterstand", "politie_incidenten")


def test_generate_a_region_writes_its_municipalities_and_declares_the_regio(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    arguments = ["generate", "--workspace", str(workspace), "--scope", "regio",
                 "--gemeenten", "3", "--persons", "3000", "--peildatum", "20260101"]  # fmt: skip
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "3 municipalities" in result.output and "3,000 residents" in result.output
    assert "Declared 1 regio" in result.output

    settings = tomllib.loads((workspace / "udc.toml").read_text(encoding="utf-8"))
    regio = settings["regios"]["RG0001"]
    assert regio["naam"] == "Datalab Regio Oost"
    codes = regio["gemeenten"]
    assert len(codes) == 3 and codes == sorted(codes)
    files = sorted(p.relative_to(workspace / "inbox").as_posix()
                   for p in (workspace / "inbox").glob("*/*.csv"))  # fmt: skip
    assert files == sorted(f"{s}/{s}_{code}_20260101.csv" for s in SOURCES for code in codes)
    assert Workspace(workspace).settings().inbox == workspace / "inbox"

    outlines = json.loads((workspace / "config" / "geo" / "wijkenbuurten.geojson").read_text())
    gemeenten = {f["properties"]["gemeentecode"] for f in outlines["features"]
                 if "gemeentenaam" in f["properties"]}  # fmt: skip
    assert gemeenten == set(codes)

    # Once declared, the regios are the workspace's own: a second run leaves them alone.
    declared = (workspace / "udc.toml").read_text(encoding="utf-8")
    again = runner.invoke(app, arguments)
    assert again.exit_code == 0, again.output
    assert "already declares [regios]" in again.output
    assert (workspace / "udc.toml").read_text(encoding="utf-8") == declared


def test_generate_refuses_what_does_not_fit_the_scope(tmp_path):
    workspace = tmp_path / "ws"
    runner.invoke(app, ["init", "--workspace", str(workspace)])
    city = runner.invoke(app, ["generate", "--workspace", str(workspace), "--gemeenten", "3"])
    assert city.exit_code == 2 and "--scope regio or land" in city.output
    small = runner.invoke(
        app, ["generate", "--workspace", str(workspace), "--scope", "land", "--persons", "1000"]
    )
    assert small.exit_code == 2 and "at least" in small.output
    assert "Traceback" not in small.output
    unknown = runner.invoke(app, ["generate", "--workspace", str(workspace), "--scope", "wijk"])
    assert unknown.exit_code == 2
    assert not list((workspace / "inbox").glob("*/*.csv"))
