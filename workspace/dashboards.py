"""The dashboard step: the site in ``dashboards/`` from the workspace's published marts
and the outlines ``udc.toml`` names. Run by the nightly flow after publication and by
``udc dashboard build``."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from udc.dashboards.geometries import Areas, GeometryError, read_areas
from udc.dashboards.site import Site, build_site
from udc.marts.publish import MartStore
from udc.workspace.layout import Workspace


@dataclass(frozen=True)
class DashboardOutcome:
    site: Site
    warnings: tuple[str, ...]  # what a person should fix; the site was built regardless


def _published_codes(store: MartStore) -> set[str]:
    codes: set[str] = set()
    for name in store.names():
        try:
            codes |= set(pl.read_parquet(store.current_path(name), columns=["gebiedscode"])
                         ["gebiedscode"].to_list())  # fmt: skip
        except (OSError, pl.exceptions.PolarsError):
            continue  # the site names the mart it cannot read
    return codes


def _areas(ws: Workspace, store: MartStore) -> tuple[Areas | None, list[str]]:
    """The outlines of the areas the marts publish, or None with what went wrong. The
    default file missing is no mistake (a workspace without a map); a named one is."""
    paths = [p for p in ws.settings().geometries
             if p.is_file() or p != ws.geometries_default]  # fmt: skip
    if not paths:
        return None, []
    regios = {code: regio.gemeenten for code, regio in ws.settings().regios.items()}
    try:
        return read_areas(paths, keep=_published_codes(store), regios=regios), []
    except GeometryError as exc:
        return None, [f"{exc}; the dashboards are built without maps "
                      "(set dashboards.geometries in udc.toml)"]  # fmt: skip


def build_dashboards(ws: Workspace) -> DashboardOutcome:
    store = MartStore(ws.marts)
    areas, warnings = _areas(ws, store)
    site = build_site(store, ws.dashboards, areas)
    return DashboardOutcome(site, tuple(warnings + [f"not shown: {s}" for s in site.skipped]))
