"""The static dashboard site: an index of the published marts and a page per mart.

Layout under the site's root (the workspace's ``dashboards/``)::

    builds/<build>/index.html          the published marts
    builds/<build>/<mart>.html         map, categories, trend and table of one mart
    builds/<build>/<mart>.csv          the mart for Excel (Dutch convention)
    builds/<build>/assets/             plotly.min.js from the plotly package, udc.js, udc.css
    current -> builds/<build>          what a browser or ``udc dashboard serve`` opens

Pages carry their data and outlines inline, so the site opens from ``file://`` as well as
from a web server, and fetches nothing. It is built from ``MartStore`` alone: the
published parquet and its metadata. A build is written whole under a staging name, then
``current`` is swapped to it, as marts are published: a reader never sees half a site.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import plotly
import polars as pl

from udc.dashboards.geometries import Areas
from udc.dashboards.pages import PageError, dutch_csv, mart_page, measures
from udc.marts.publish import MartStore

PACKAGED_ASSETS = Path(__file__).parent / "assets"
ASSETS = ("udc.js", "udc.css")
KEPT_BUILDS = 2  # the current one and the one before, which a browser may still be reading
LEVEL_NAMES = {"buurt": "buurten", "wijk": "wijken", "gemeente": "gemeente", "regio": "regio"}


@dataclass(frozen=True)
class SitePage:
    mart: str
    page: Path
    csv: Path
    mapped_levels: tuple[str, ...]  # levels drawn on a map (those with outlines)


@dataclass(frozen=True)
class Site:
    root: Path  # the build folder that ``current`` points to
    index: Path
    pages: tuple[SitePage, ...]
    skipped: tuple[str, ...]  # "<mart>: why" for marts that could not be shown


def _plotly_js() -> bytes:
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def _inline_json(value: object) -> str:
    """JSON safe inside a <script> element: "</" cannot end it early."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _geojson(areas: Areas | None, page: dict) -> dict:
    """The outlines of the areas the page publishes, per level, as FeatureCollections."""
    if areas is None:
        return {}
    cells = page["cells"]
    found = {}
    for level in page["levels"]:
        codes = sorted({c for c, lv in zip(cells["gebiedscode"], cells["gebiedsniveau"],
                                           strict=True) if lv == level})  # fmt: skip
        shapes = areas.level(level, codes)
        if shapes:
            found[level] = {"type": "FeatureCollection", "features": [
                {"type": "Feature", "id": code, "properties": {"code": code}, "geometry": shape}
                for code, shape in shapes.items()]}  # fmt: skip
    return found


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f}".replace(".", ",") + "%"


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _head(title: str) -> str:
    return (
        '<!doctype html>\n<html lang="nl">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="stylesheet" href="assets/udc.css">\n</head>\n'
    )


def _protection_text(page: dict) -> str:
    if page["protection"] == "cell_key":
        return "cell key (licht verstoord)"
    return f"onderdrukking, minimaal {page['min_cell_size']} per cel"


def _index_html(pages: Sequence[dict], built_at: str, skipped: Sequence[str]) -> str:
    rows = []
    for page in pages:
        levels = ", ".join(LEVEL_NAMES[lv] for lv in page["levels"])
        rows.append(
            "<tr>"
            f'<td><a href="{page["mart"]}.html">{html.escape(page["title"])}</a>'
            f'<div class="code">{page["mart"]}</div></td>'
            f"<td>{html.escape(page['purpose'])}</td>"
            f"<td>{page['peildatum']}</td>"
            f"<td>{html.escape(levels)}</td>"
            f'<td class="num">{_number(page["cells_total"])}</td>'
            f'<td class="num">{_percent(page["hidden_share"])}</td>'
            f"<td>{html.escape(page['design'] or '–')}</td>"
            f"<td>{html.escape(_protection_text(page))}</td>"
            f'<td class="deliveries">{"<br>".join(html.escape(d) for d in page["deliveries"])}'
            f"</td>"
            f'<td><a href="{page["mart"]}.csv">CSV</a></td>'
            "</tr>"
        )
    missing = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
    return (
        _head("Dashboards — udc")
        + "<body>\n<header><h1>Dashboards</h1>\n"
        f'<p class="meta">Gebouwd op {built_at} uit de gepubliceerde marts. Alleen '
        "gepubliceerde cijfers: een cel met te weinig personen, of een cel die zo'n kleine "
        "cel beschermt, heet <span class=\"geheim\">geheim</span> en wordt nergens getoond."
        "</p></header>\n<main>\n"
        + (
            '<table class="index"><thead><tr><th>Mart</th><th>Doel (doelbinding)</th>'
            "<th>Peildatum</th><th>Gebieden</th><th>Cellen</th><th>Geheim</th>"
            "<th>Tabelontwerp</th><th>Bescherming</th><th>Leveringen</th><th>Excel</th></tr>"
            "</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
            if rows
            else "<p>Er zijn nog geen marts gepubliceerd.</p>\n"
        )
        + (f'<section class="skipped"><h2>Niet getoond</h2><ul>{missing}</ul></section>\n'
           if missing else "")
        + "</main>\n</body>\n</html>\n"
    )


def _mart_html(page: dict, geo: dict, built_at: str) -> str:
    perturbed = (
        '<div class="banner" id="verstoord">De cijfers van deze mart zijn licht verstoord '
        "(cell key-methode) om personen te beschermen: elke cel kan enkele eenheden afwijken "
        "van de werkelijkheid, en delen tellen niet altijd precies op tot hun totaal.</div>\n"
        if page["protection"] == "cell_key"
        else ""
    )
    hidden = (
        f"{_number(page['hidden'])} van {_number(page['cells_total'])} cellen "
        f"({_percent(page['hidden_share'])}) zijn geheim"
        if page["protection"] == "suppression"
        else "geen cellen geheim; de cijfers zijn verstoord"
    )
    return (
        _head(f"{page['title']} — udc")
        + "<body>\n<header>"
        '<nav><a href="index.html">← Alle dashboards</a></nav>\n'
        f"<h1>{html.escape(page['title'])}</h1>\n"
        f'<p class="meta">Peildatum {page["peildatum"]} · doel {html.escape(page["purpose"])}'
        f" · {hidden} · tabelontwerp {html.escape(page['design'] or '–')}"
        f" · release {page['release']}, gepubliceerd {page['published_at']}"
        f' · dashboard gebouwd {built_at} · <a href="{page["mart"]}.csv">CSV voor Excel</a>'
        "</p>\n</header>\n"
        + perturbed
        + '<section id="keuzes" class="controls"></section>\n<main>\n'
        '<section class="panel" id="kaart-paneel"><h2 id="kaart-titel">Kaart</h2>'
        '<div id="kaart" class="chart"></div></section>\n'
        '<section class="panel"><h2 id="categorie-titel">Naar categorie</h2>'
        '<div id="categorieen" class="chart"></div></section>\n'
        '<section class="panel"><h2 id="trend-titel">Verloop over de peildatums</h2>'
        '<div id="trend" class="chart"></div></section>\n'
        '<section class="panel wide"><h2>Tabel</h2><div class="table-wrap">'
        '<table id="tabel"></table></div></section>\n'
        f'<p class="uitleg" id="uitleg"></p>\n</main>\n'
        f'<script id="udc-data" type="application/json">{_inline_json(page)}</script>\n'
        f'<script id="udc-geo" type="application/json">{_inline_json(geo)}</script>\n'
        '<script src="assets/plotly.min.js"></script>\n'
        '<script src="assets/udc.js"></script>\n'
        "</body>\n</html>\n"
    )


def _write_assets(folder: Path) -> None:
    assets = folder / "assets"
    assets.mkdir()
    (assets / "plotly.min.js").write_bytes(_plotly_js())
    for name in ASSETS:
        shutil.copyfile(PACKAGED_ASSETS / name, assets / name)


def _swap(root: Path, build: Path) -> None:
    link = root / f".current-{uuid.uuid4().hex}"
    os.symlink(f"builds/{build.name}", link)
    os.replace(link, root / "current")
    # The new one and the newest others (build names sort by the time they were begun).
    others = sorted(p.name for p in (root / "builds").iterdir()
                    if not p.name.startswith(".") and p != build)  # fmt: skip
    for old in others[: max(0, len(others) - (KEPT_BUILDS - 1))]:
        shutil.rmtree(root / "builds" / old)


def build_site(
    store: MartStore, root: Path, areas: Areas | None = None, now: datetime | None = None
) -> Site:
    """Build the site from the marts ``store`` publishes and make it current under ``root``.
    ``areas``: outlines for the maps; without them (or for a level they lack) a page shows
    its charts and table only."""
    root = Path(root)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    built_at = moment.strftime("%Y-%m-%d %H:%M UTC")
    builds = root / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    staging = builds / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        pages, written, skipped = [], [], []
        for name in store.names():
            current = store.current(name)
            if current is None:
                continue
            try:
                frame = pl.read_parquet(current.parquet)
                page = mart_page(current, store.releases(name), frame)
                csv = dutch_csv(frame, measures(current, frame))
            except (PageError, OSError, pl.exceptions.PolarsError) as exc:
                skipped.append(f"{name}: {exc}")
                continue
            geo = _geojson(areas, page)
            (staging / f"{name}.html").write_text(_mart_html(page, geo, built_at), "utf-8")
            (staging / f"{name}.csv").write_bytes(csv)
            pages.append(page)
            written.append((name, tuple(geo)))
        (staging / "index.html").write_text(_index_html(pages, built_at, skipped), "utf-8")
        _write_assets(staging)
        build = builds / f"{moment.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        os.rename(staging, build)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    _swap(root, build)
    current = root / "current"
    return Site(
        root=current,
        index=current / "index.html",
        pages=tuple(SitePage(name, current / f"{name}.html", current / f"{name}.csv", levels)
                    for name, levels in written),
        skipped=tuple(skipped),
    )
