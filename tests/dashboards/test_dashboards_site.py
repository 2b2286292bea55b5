"""The site: built from the published marts only, offline, swapped in whole."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from udc.dashboards import site as site_module
from udc.dashboards.geometries import read_areas
from udc.dashboards.site import build_site
from udc.marts.publish import MartStore


def _embedded(page_html: str, element: str) -> object:
    found = re.search(rf'<script id="{element}" type="application/json">(.*?)</script>',
                      page_html, re.S)  # fmt: skip
    assert found, element
    return json.loads(found.group(1))


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, int | float):
        return [value]
    items = value.values() if isinstance(value, dict) else value
    return [n for item in items for n in _numbers(item)]


def _shown(frame: pl.DataFrame) -> set[float]:
    """Every number a parquet publishes (hidden cells are null there)."""
    return {v for c in frame.columns if frame[c].dtype.is_numeric()
            for v in frame[c].drop_nulls().to_list()}  # fmt: skip


def _hidden_truth(published, mart: str) -> dict[str, list[tuple[tuple, int]]]:
    """Per measure, the (cell, true value) of every cell the current release hides."""
    current = published.store.current(mart)
    frame = pl.read_parquet(current.parquet)
    dimensions = json.loads(current.metadata["udc.dimensions"])
    truth: dict[str, list[tuple[tuple, int]]] = {}
    for table in published.counts[mart].measures:
        name = table.measure.name
        keys = ["gebiedscode", *table.measure.dimensions]
        counted = table.grid.with_columns(pl.Series("_true", np.asarray(table.values)))
        at_totals = [pl.lit("totaal").alias(d) for d in dimensions if d not in keys]
        joined = frame.filter(pl.col(f"{name}_geheim").fill_null(False)).join(
            counted.with_columns(at_totals) if at_totals else counted, on=keys + [
                d for d in dimensions if d not in keys], how="left")  # fmt: skip
        assert joined["_true"].null_count() == 0
        truth[name] = [(tuple(r[k] for k in ["gebiedsniveau", *keys]), r["_true"])
                       for r in joined.iter_rows(named=True)]  # fmt: skip
    return truth


def test_the_site_shows_no_hidden_value_and_no_small_count(published, buurt_outlines, tmp_path):
    areas = read_areas([buurt_outlines])
    site = build_site(published.store, tmp_path / "dashboards", areas)
    assert {p.mart for p in site.pages} == {"bevolking_buurt", "bijstand_buurt"}
    for built in site.pages:
        text = built.page.read_text("utf-8")
        page = _embedded(text, "udc-data")
        min_size = page["min_cell_size"]
        truth = _hidden_truth(published, built.mart)
        assert sum(len(v) for v in truth.values()) == page["hidden"] > 0
        counts = [m for m in page["measures"] if m["hidden_flag"]]
        for measure in counts:
            published_values = [v for v in page["cells"][measure["name"]] if v is not None]
            assert not [v for v in published_values if 0 < v < min_size]
            # The page and its CSV hold no number that no release of the mart publishes,
            # so the true value of a hidden cell is none of them unless a release
            # publishes that same number elsewhere.
            releases = [published.store.current(built.mart), *published.store.releases(built.mart)]
            in_parquets = {v for r in releases for v in _shown(pl.read_parquet(r.parquet))}
            csv = pl.read_csv(built.csv, separator=";", decimal_comma=True,
                              infer_schema_length=None)  # fmt: skip
            in_csv = {v for c in csv.columns if csv[c].dtype.is_numeric()
                      for v in csv[c].drop_nulls().to_list()}  # fmt: skip
            on_page = set(_numbers(page["cells"])) | set(_numbers(page["trend"]))
            assert on_page <= in_parquets and in_csv <= in_parquets
            secret = {v for _, v in truth[measure["name"]]} - in_parquets
            assert secret and not secret & (on_page | in_csv), measure
            # Every hidden cell is null on the page, its flag set.
            cells = page["cells"]
            index = {tuple(cells[k][i] for k in ["gebiedsniveau", "gebiedscode",
                                                  *[d["name"] for d in page["dimensions"]]]): i
                     for i in range(len(cells["gebiedscode"]))}  # fmt: skip
            for key, _ in truth[measure["name"]]:
                at = [k for k in index if k[:2] == key[:2]
                      and all(v in k for v in key[2:])]  # fmt: skip
                assert at and all(cells[measure["name"]][index[k]] is None for k in at
                                  if cells[measure["hidden_flag"]][index[k]])  # fmt: skip
        # Nothing on the page is a count between 1 and the minimum: the numbers it embeds
        # are the published values, shares and the page's own facts.
        small = [n for n in _numbers(page["cells"]) + _numbers(page["trend"])
                 if isinstance(n, int) and 0 < n < min_size]  # fmt: skip
        assert not small


def test_pages_fetch_nothing_and_open_from_a_folder(published, tmp_path):
    site = build_site(published.store, tmp_path / "dashboards")
    for path in [site.index, *(p.page for p in site.pages)]:
        text = path.read_text("utf-8")
        references = re.findall(r'(?:src|href)="([^"]+)"', text)
        assert references and not [r for r in references if "//" in r or r.startswith("/")]
        for reference in references:
            assert (site.root / reference).is_file(), reference
    assert (site.root / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    index = site.index.read_text("utf-8")
    for mart in ("bevolking_buurt", "bijstand_buurt"):
        assert f'href="{mart}.html"' in index and f'href="{mart}.csv"' in index
    assert "kerncijfers_bevolking" in index and "buurt_zonder_leeftijd" in index
    assert "bijstand-20261201" in index  # the deliveries it was built from


def test_a_mart_without_geometries_gets_its_charts_and_table(published, tmp_path):
    site = build_site(published.store, tmp_path / "dashboards", areas=None)
    for built in site.pages:
        assert built.mapped_levels == ()
        assert _embedded(built.page.read_text("utf-8"), "udc-geo") == {}
        assert 'id="categorieen"' in built.page.read_text("utf-8")


def test_only_areas_with_outlines_are_mapped(published, buurt_outlines, tmp_path):
    areas = read_areas([buurt_outlines])
    site = build_site(published.store, tmp_path / "dashboards", areas)
    page = next(p for p in site.pages if p.mart == "bevolking_buurt")
    geo = _embedded(page.page.read_text("utf-8"), "udc-geo")
    assert page.mapped_levels == ("buurt", "wijk", "gemeente")
    assert [f["id"] for f in geo["buurt"]["features"]] == [
        "BU99990101", "BU99990102", "BU99990201", "BU99990202"
    ]
    assert len(geo["wijk"]["features"]) == 2  # dissolved from the buurten


def test_a_rebuild_swaps_the_site_whole_and_a_failed_one_keeps_the_last(
    published, tmp_path, monkeypatch
):
    root = tmp_path / "dashboards"
    first = build_site(published.store, root, now=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    before = (root / "current").readlink()
    assert "2026-12-01 02:00 UTC" in first.index.read_text("utf-8")

    def broken(folder):
        raise OSError("disk full")

    monkeypatch.setattr(site_module, "_write_assets", broken)
    with pytest.raises(OSError):
        build_site(published.store, root)
    assert (root / "current").readlink() == before
    assert not [p for p in (root / "builds").iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    for _ in range(3):
        build_site(published.store, root)
    assert (root / "current").readlink() != before
    assert len(list((root / "builds").iterdir())) == site_module.KEPT_BUILDS


def test_a_mart_the_site_cannot_read_is_named_not_shown(published, tmp_path):
    marts = tmp_path / "marts"
    shutil.copytree(published.store.root, marts, symlinks=True)
    store = MartStore(marts)
    broken = store.current("bijstand_buurt").parquet
    broken.write_bytes(b"not parquet")
    site = build_site(store, tmp_path / "dashboards")
    assert [p.mart for p in site.pages] == ["bevolking_buurt"]
    assert site.skipped and site.skipped[0].startswith("bijstand_buurt: ")
    assert "Niet getoond" in site.index.read_text("utf-8")


def test_a_cell_key_mart_says_its_figures_are_perturbed(published, tmp_path):
    store = MartStore(tmp_path / "marts")
    current = published.store.current("bevolking_buurt")
    frame = pl.read_parquet(current.parquet)
    store.publish("bevolking_cellkey", frame, dict(current.metadata) | {
        "udc.mart": "bevolking_cellkey", "udc.protection": "cell_key"})  # fmt: skip
    store.publish("bevolking_buurt", frame, dict(current.metadata))
    site = build_site(store, tmp_path / "dashboards")
    pages = {p.mart: p.page.read_text("utf-8") for p in site.pages}
    assert 'id="verstoord"' in pages["bevolking_cellkey"]
    assert "licht verstoord" in pages["bevolking_cellkey"]
    assert 'id="verstoord"' not in pages["bevolking_buurt"]
    assert "cell key (licht verstoord)" in site.index.read_text("utf-8")
