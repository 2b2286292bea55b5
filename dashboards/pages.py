"""What a dashboard page shows of a mart, read from its published parquet alone.

A page gets the current release's cells and, for the trend, the latest release of every
peildatum published before it. A hidden cell travels as null with its ``_geheim`` flag;
the page draws it as "geheim" and never as a number, so the site holds exactly the values
the parquet publishes and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from udc.marts.definitions import TOTAL
from udc.marts.publish import Release

AREA_COLUMNS = ("gebiedsniveau", "gebiedscode", "gebiedsnaam")
HIDDEN_SUFFIX = "_geheim"
LEVEL_ORDER = ("buurt", "wijk", "gemeente", "regio")
TREND_PEILDATUMS = 24  # two years of monthly releases: older ones stay in the parquet


class PageError(ValueError):
    """A published mart the dashboard cannot show; the message says which and why."""


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str  # "count", "sum" (a magnitude such as euros) or "derived" (a ratio of counts)
    hidden_flag: str | None  # the column that marks a hidden cell; derived ones have none


def _listed(metadata: dict, key: str) -> list[str]:
    return [str(item) for item in json.loads(metadata.get(key, "[]"))]


def measures(release: Release, frame: pl.DataFrame) -> list[Measure]:
    """Counts and sums as the metadata lists them, then the derived columns the parquet
    adds (a share computed from published counts, null where it is withheld)."""
    listed = _listed(dict(release.metadata), "udc.measures")
    sums = set(_listed(dict(release.metadata), "udc.sums"))
    dimensions = set(_listed(dict(release.metadata), "udc.dimensions"))
    missing = [m for m in listed if m not in frame.columns or f"{m}{HIDDEN_SUFFIX}" not in frame]
    if missing:
        raise PageError(f"{release.mart}: the parquet lacks the columns of {missing}")
    found = [Measure(m, "sum" if m in sums else "count", f"{m}{HIDDEN_SUFFIX}") for m in listed]
    flags = {m.hidden_flag for m in found}
    for column, dtype in frame.schema.items():
        if column in AREA_COLUMNS or column in dimensions or column in listed or column in flags:
            continue
        if dtype.is_numeric():
            found.append(Measure(column, "derived", None))
    return found


def _cells(frame: pl.DataFrame, dimensions: Sequence[str], found: Sequence[Measure]) -> dict:
    """Column-wise cells (compact as JSON). A hidden cell is null whatever the parquet
    holds, so that no value can reach a page that the flag says is not published. A null
    flag is a cell the measure does not have (inwoners has no leefvorm): null as well."""
    columns: dict[str, list] = {c: frame[c].to_list() for c in (*AREA_COLUMNS, *dimensions)}
    for measure in found:
        values = frame[measure.name]
        if measure.hidden_flag is not None:
            flag = frame[measure.hidden_flag]
            values = pl.select(
                pl.when(flag.fill_null(True)).then(None).otherwise(values)
            ).to_series()
            columns[measure.hidden_flag] = flag.to_list()
        columns[measure.name] = [
            None if v is None else (round(v, 4) if isinstance(v, float) else v)
            for v in values.to_list()
        ]
    return columns


def _categories(frame: pl.DataFrame, dimension: str) -> list[str]:
    """In the order the parquet has them (the definition's), the total last."""
    values = list(dict.fromkeys(frame[dimension].to_list()))
    return [v for v in values if v != TOTAL] + ([TOTAL] if TOTAL in values else [])


def trend_releases(current: Release, releases: Sequence[Release]) -> list[Release]:
    """The latest release of each peildatum up to the current one, oldest first; the
    current release stands for its own peildatum."""
    peildatum = current.metadata["udc.peildatum"]
    latest: dict[str, Release] = {}
    for release in releases:  # oldest first: a later one of a peildatum replaces it
        if release.metadata["udc.peildatum"] < peildatum:
            latest[release.metadata["udc.peildatum"]] = release
    latest[peildatum] = current
    return [latest[p] for p in sorted(latest)][-TREND_PEILDATUMS:]


def mart_page(
    current: Release, history: Sequence[Release], frame: pl.DataFrame | None = None
) -> dict:
    """Everything a mart's page shows, JSON-ready: the mart's description, its levels,
    dimensions and measures, the current cells and the cells of earlier peildatums.
    ``frame``: the current release's cells, when the caller has read them already."""
    metadata = dict(current.metadata)
    frame = pl.read_parquet(current.parquet) if frame is None else frame
    dimensions = _listed(metadata, "udc.dimensions")
    absent = [c for c in (*AREA_COLUMNS, *dimensions) if c not in frame.columns]
    if absent:
        raise PageError(f"{current.mart}: the parquet lacks the columns {absent}")
    found = measures(current, frame)
    levels = [lv for lv in LEVEL_ORDER if lv in set(frame["gebiedsniveau"].to_list())]
    trend = []
    for release in trend_releases(current, history):
        earlier = frame if release is current else pl.read_parquet(release.parquet)
        usable = [m for m in found if m.name in earlier.columns
                  and (m.hidden_flag is None or m.hidden_flag in earlier.columns)]  # fmt: skip
        if any(d not in earlier.columns for d in dimensions):
            continue  # an earlier design with other dimensions does not line up
        trend.append({"peildatum": release.metadata["udc.peildatum"],
                      "release": release.release_id,
                      "cells": _cells(earlier, dimensions, usable)})  # fmt: skip
    return {
        "mart": current.mart,
        "title": metadata.get("udc.title", current.mart),
        "purpose": metadata["udc.purpose"],
        "peildatum": metadata["udc.peildatum"],
        "release": current.release_id,
        "published_at": current.published_at,
        "min_cell_size": int(metadata["udc.min_cell_size"]),
        "protection": metadata.get("udc.protection", "suppression"),
        "design": metadata.get("udc.design"),
        "cells_total": int(metadata.get("udc.cells", 0)),
        "hidden": int(metadata.get("udc.suppressed", 0)),
        "hidden_share": float(metadata["udc.hidden_share"]) if "udc.hidden_share" in metadata
        else (int(metadata["udc.suppressed"]) / int(metadata["udc.cells"])
              if int(metadata.get("udc.cells", 0)) else None),
        "deliveries": _listed(metadata, "udc.deliveries"),
        "levels": levels,
        "dimensions": [{"name": d, "values": _categories(frame, d)} for d in dimensions],
        "measures": [{"name": m.name, "kind": m.kind, "hidden_flag": m.hidden_flag}
                     for m in found],
        "cells": _cells(frame, dimensions, found),
        "trend": trend,
    }


def dutch_csv(frame: pl.DataFrame, found: Sequence[Measure]) -> bytes:
    """The mart as Excel in the Netherlands opens it: ``;`` between fields, a decimal
    comma, UTF-8 with a BOM. A hidden cell is empty and its ``_geheim`` column says "ja";
    a cell the measure does not have is empty with an empty flag."""
    flagged = [m for m in found if m.hidden_flag is not None]
    readable = frame.with_columns(
        pl.when(pl.col(m.hidden_flag).fill_null(True)).then(None).otherwise(pl.col(m.name))
        .alias(m.name)
        for m in flagged
    ).with_columns(
        pl.when(pl.col(m.hidden_flag)).then(pl.lit("ja")).otherwise(pl.lit("nee"))
        .alias(m.hidden_flag)
        for m in flagged
    )  # fmt: skip
    return readable.write_csv(separator=";", decimal_comma=True, include_bom=True).encode("utf-8")
