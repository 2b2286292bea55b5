"""A regional workspace end to end, without Prefect: three small municipalities ingest,
publish with a regio level, a member whose delivery is quarantined leaves its regio waiting,
and its redelivery publishes the regio with the others' cells unchanged."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
import shapely
from shapely.geometry import shape

from udc.pseudonymize.keys import KeyStore
from udc.sources.synthetic.country import municipalities, regios_toml, write_region
from udc.sources.synthetic.shapes import write_region_shapes
from udc.workspace.dashboards import build_dashboards
from udc.workspace.ingest import process_delivery
from udc.workspace.layout import Workspace
from udc.workspace.publish import publish_marts
from udc.workspace.resources import open_resources

OCTOBER, NOVEMBER = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
MARTS = ("stapeling_wijk", "wmo_wijk")  # small grids: quick to protect


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("regio") / "ws"
    workspace = Workspace(root)
    workspace.create_folders()
    KeyStore(workspace.keys).create()
    gemeenten = municipalities("regio", 4500, seed=5, count=3)
    with workspace.settings_file.open("a", encoding="utf-8") as handle:
        handle.write(regios_toml(gemeenten, "regio"))
    return root, gemeenten


def _ingest(res, paths: list[Path]) -> dict[str, str]:
    run_id = res.catalog.start_run(None)
    outcomes = {}
    for path in paths:
        if path.parent.name == "politie_incidenten":
            path.unlink()
            continue
        outcome = process_delivery(res, path, run_id)
        outcomes[path.name] = outcome.status
    return outcomes


def _only(res, names):
    return dataclasses.replace(res, marts={n: res.marts[n] for n in names})


def test_a_region_publishes_regio_cells_only_when_every_member_passed(region):
    root, gemeenten = region
    res = _only(open_resources(root), MARTS)
    codes = [g.code for g in gemeenten]
    (regio,) = res.settings.regios
    statuses = _ingest(res, write_region(res.settings.inbox, gemeenten, 5, OCTOBER))
    assert set(statuses.values()) <= {"accepted", "accepted_with_warnings"}
    run_id = res.catalog.start_run(None)
    outcomes = {o.mart: o for o in publish_marts(res, run_id)}
    assert {o.status for o in outcomes.values()} == {"published"}, outcomes
    october = pl.read_parquet(res.store.current("wmo_wijk").parquet)
    levels = october.group_by("gebiedsniveau").len()
    assert {"gemeente", "regio"} <= set(levels["gebiedsniveau"])
    gemeente_rows = october.filter(pl.col("gebiedsniveau") == "gemeente")
    assert sorted(gemeente_rows["gebiedscode"].unique()) == codes
    regio_rows = october.filter(pl.col("gebiedsniveau") == "regio")
    assert set(regio_rows["gebiedscode"]) == {regio}
    assert set(regio_rows["gebiedsnaam"]) == {res.settings.regios[regio].naam}
    # Per provision (a person may have several: no total over them), the regio's count is
    # its members' sum wherever the members' cells are published.
    at_total = [pl.col(d) == "totaal" for d in ("leeftijdsklasse",) if d in october]
    members = (
        gemeente_rows.filter(*at_total)
        .group_by("voorziening")
        .agg(pl.col("personen").sum(), pl.col("personen").null_count().alias("hidden"))
    )
    regio_totals = regio_rows.filter(*at_total).select("voorziening", "personen")
    compared = members.filter(pl.col("hidden") == 0).join(
        regio_totals, on="voorziening", suffix="_regio"
    )
    assert compared.height > 0
    assert (compared["personen"] == compared["personen_regio"]).all()

    # November: the second member's BRP is broken and quarantined.
    paths = write_region(res.settings.inbox, gemeenten, 5, NOVEMBER)
    broken = next(p for p in paths if p.name == f"brp_{codes[1]}_{NOVEMBER:%Y%m%d}.csv")
    good_brp = broken.read_bytes()
    broken.write_bytes(b"burgerservicenummer;geboortedatum\n123;456\n")
    statuses = _ingest(res, paths)
    assert statuses[broken.name] == "quarantined"
    outcomes = {o.mart: o for o in publish_marts(res, res.catalog.start_run(None))}
    wmo = outcomes["wmo_wijk"]
    assert wmo.status == "published" and wmo.peildatum == f"{NOVEMBER:%Y%m%d}"
    assert f"{codes[1]} is not in it (no accepted brp of {NOVEMBER:%Y%m%d})" in wmo.message
    assert f"regio {regio} waits for {codes[1]}" in wmo.message
    partial = pl.read_parquet(res.store.current("wmo_wijk").parquet)
    assert "regio" not in set(partial["gebiedsniveau"])
    shown = set(partial.filter(pl.col("gebiedsniveau") == "gemeente")["gebiedscode"])
    assert shown == {codes[0], codes[2]}

    # Redelivered, the member joins, the regio is published, and the members' own cells
    # hold what they held (a member's figures depend on its deliveries only).
    broken.write_bytes(good_brp)
    assert _ingest(res, [broken])[broken.name].startswith("accepted")
    outcomes = {o.mart: o for o in publish_marts(res, res.catalog.start_run(None))}
    assert {o.status for o in outcomes.values()} == {"published"}, outcomes
    assert outcomes["wmo_wijk"].message == ""
    full = pl.read_parquet(res.store.current("wmo_wijk").parquet)
    assert regio in set(full["gebiedscode"])
    keys = [c for c in ("gebiedscode", "voorziening", "leeftijdsklasse") if c in full]
    both = partial.join(full, on=keys, suffix="_full").filter(
        pl.col("personen").is_not_null() & pl.col("personen_full").is_not_null()
    )
    assert both.height > 0 and (both["personen"] == both["personen_full"]).all()
    _the_regio_is_mapped_as_its_members_together(root, gemeenten)


def _the_regio_is_mapped_as_its_members_together(root: Path, gemeenten: list) -> None:
    workspace = Workspace(root)
    write_region_shapes(workspace.geometries_default, gemeenten, 5)
    site = build_dashboards(workspace).site
    page = next(p for p in site.pages if p.mart == "wmo_wijk")
    assert {"gemeente", "regio"} <= set(page.mapped_levels)
    found = re.search(r'<script id="udc-geo" type="application/json">(.*?)</script>',
                      page.page.read_text("utf-8"), re.S)  # fmt: skip
    geo = json.loads(found.group(1))
    (regio,) = geo["regio"]["features"]
    members = shapely.union_all([shape(f["geometry"]) for f in geo["gemeente"]["features"]])
    assert regio["id"] in workspace.settings().regios
    assert shape(regio["geometry"]).symmetric_difference(members).area < 1e-3 * members.area
