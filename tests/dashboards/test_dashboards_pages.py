"""A mart's page data and its Excel CSV, from the published parquet."""

from __future__ import annotations

import io

import polars as pl

from udc.dashboards.pages import dutch_csv, mart_page, measures, trend_releases


def test_a_page_holds_the_published_cells_and_nulls_the_hidden(published):
    current = published.store.current("bevolking_buurt")
    page = mart_page(current, published.store.releases("bevolking_buurt"))
    frame = pl.read_parquet(current.parquet)
    cells = page["cells"]
    assert page["levels"] == ["buurt", "wijk", "gemeente"]
    assert [d["name"] for d in page["dimensions"]] == ["leeftijdsklasse", "geslacht"]
    assert page["dimensions"][1]["values"] == ["M", "V", "O", "totaal"]
    assert page["measures"] == [
        {"name": "personen", "kind": "count", "hidden_flag": "personen_geheim"}
    ]
    assert cells["personen"] == frame["personen"].to_list()
    hidden = [i for i, flag in enumerate(cells["personen_geheim"]) if flag]
    assert len(hidden) == int(current.metadata["udc.suppressed"]) > 0
    assert all(cells["personen"][i] is None for i in hidden)
    assert not [v for v in cells["personen"] if v is not None and 0 < v < page["min_cell_size"]]
    assert (page["hidden"], page["cells_total"]) == (len(hidden), frame.height)


def test_the_trend_takes_the_latest_release_of_each_peildatum(published):
    releases = published.store.releases("bevolking_buurt")
    current = published.store.current("bevolking_buurt")
    assert len(releases) == 3
    trend = trend_releases(current, releases)
    assert [r.metadata["udc.peildatum"] for r in trend] == ["2026-11-01", "2026-12-01"]
    assert trend[-1] is current and current.release_id == releases[-1].release_id
    page = mart_page(current, releases)
    haven = [page["trend"][t]["cells"]["personen"][0] for t in (0, 1)]
    frame = pl.read_parquet(releases[0].parquet)
    assert haven[0] == frame["personen"][0]
    assert [t["release"] for t in page["trend"]] == [r.release_id for r in trend]


def test_the_csv_is_excel_in_the_dutch_convention(published):
    current = published.store.current("bevolking_buurt")
    frame = pl.read_parquet(current.parquet).with_columns(
        (pl.col("personen") / 7).alias("aandeel_pct")  # a derived share: decimal comma
    )
    data = dutch_csv(frame, measures(current, frame))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    header, first = text.splitlines()[:2]
    assert header.split(";") == [*frame.columns]
    assert first.split(";")[-1].count(",") == 1 and "." not in first.split(";")[-1]
    back = pl.read_csv(io.BytesIO(data), separator=";", decimal_comma=True,
                       schema_overrides={"personen": pl.Int64})  # fmt: skip
    assert set(back["personen_geheim"].to_list()) == {"ja", "nee"}
    hidden = back.filter(pl.col("personen_geheim") == "ja")
    assert hidden.height == int(current.metadata["udc.suppressed"])
    assert hidden["personen"].null_count() == hidden.height
    shown = back.filter(pl.col("personen_geheim") == "nee")["personen"]
    assert shown.to_list() == frame.filter(~pl.col("personen_geheim"))["personen"].to_list()
