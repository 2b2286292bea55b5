"""Buurt, wijk and gemeente outlines for the dashboards' maps, from the configured files.

A workspace names the CBS wijk- en buurtkaart (or any file keyed like it) in ``udc.toml``:
GeoJSON or GeoPackage, one or more files, features keyed by ``buurtcode``, ``wijkcode``
and ``gemeentecode``. A feature with a buurtcode is a buurt, one with a wijkcode and no
buurtcode a wijk, one with only a gemeentecode a gemeente. CBS publishes in RD New
(EPSG:28992): such coordinates are projected to WGS84, which is what a web map draws.
A level the files lack is dissolved from the level below (wijken from their buurten), and
a configured regio from its gemeenten.
Outlines are simplified to about 5 metres: the maps stay small and look the same.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping, shape

LEVELS = ("buurt", "wijk", "gemeente")
KEYS = {"buurt": "buurtcode", "wijk": "wijkcode", "gemeente": "gemeentecode"}
RD_NEW = 28992
WGS84 = 4326
SIMPLIFY_DEGREES = 0.00005
# CBS marks water-only parts of a buurt; a map of where people live leaves them out.
WATER = ("water", "JA")


class GeometryError(ValueError):
    """A geometry file that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Outline:
    level: str
    code: str
    geometry: shapely.Geometry  # WGS84 longitude, latitude
    above: dict[str, str]  # the codes of the levels above it: a buurt's wijk and gemeente


@dataclass(frozen=True)
class Areas:
    """Per level, per code, a GeoJSON geometry in WGS84."""

    shapes: dict[str, dict[str, dict]]

    def level(self, level: str, codes: Iterable[str] | None = None) -> dict[str, dict]:
        found = self.shapes.get(level, {})
        if codes is None:
            return dict(found)
        return {code: found[code] for code in codes if code in found}


def _level(properties: dict) -> tuple[str, str, dict[str, str]] | None:
    lowered = {str(k).lower(): v for k, v in properties.items()}
    if str(lowered.get(WATER[0], "")).upper() == WATER[1]:
        return None
    for number, level in enumerate(LEVELS):
        code = lowered.get(KEYS[level])
        if code:
            above = {up: str(lowered[KEYS[up]]) for up in LEVELS[number + 1 :]
                     if lowered.get(KEYS[up])}  # fmt: skip
            return level, str(code), above
    return None


def _projector(srid: int | None, sample: shapely.Geometry) -> Callable | None:
    """RD New to WGS84 when the file says so, or when its coordinates cannot be degrees."""
    minx, miny, maxx, maxy = sample.bounds
    if srid in (None, WGS84) and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        return None
    transformer = Transformer.from_crs(srid or RD_NEW, WGS84, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return lambda geometry: shapely.transform(geometry, project)


def _geojson_features(path: Path) -> Iterator[tuple[dict, shapely.Geometry, int | None]]:
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeometryError(f"{path}: not a readable GeoJSON file ({exc})") from None
    crs = json.dumps(collection.get("crs", {}))
    srid = RD_NEW if "28992" in crs else None
    for feature in collection.get("features", []):
        if feature.get("geometry"):
            yield feature.get("properties") or {}, shape(feature["geometry"]), srid


def _gpkg_geometry(blob: bytes) -> shapely.Geometry:
    """A GeoPackage geometry: the 'GP' header (with an optional envelope), then WKB."""
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry")
    flags = blob[3]
    envelope = (0, 32, 48, 48, 64)[(flags >> 1) & 0b111]
    return shapely.from_wkb(blob[8 + envelope :])


def _gpkg_features(path: Path) -> Iterator[tuple[dict, shapely.Geometry, int | None]]:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        layers = connection.execute(
            "SELECT c.table_name, g.column_name, g.srs_id FROM gpkg_contents c "
            "JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
            "WHERE c.data_type = 'features'"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise GeometryError(f"{path}: not a readable GeoPackage ({exc})") from None
    try:
        for table, column, srid in layers:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            names = [d[0] for d in cursor.description]
            for row in cursor:
                record = dict(zip(names, row, strict=True))
                blob = record.pop(column)
                if blob:
                    yield record, _gpkg_geometry(bytes(blob)), int(srid) if srid else None
    finally:
        connection.close()


def _outlines(path: Path) -> Iterator[Outline]:
    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        features = _gpkg_features(path)
    elif suffix in (".geojson", ".json"):
        features = _geojson_features(path)
    else:
        raise GeometryError(f"{path}: geometries must be GeoJSON (.geojson) or GeoPackage (.gpkg)")
    project = None
    decided = False
    for properties, geometry, srid in features:
        key = _level(properties)
        if key is None or geometry.is_empty:
            continue
        if not decided:
            project, decided = _projector(srid, geometry), True
        yield Outline(key[0], key[1], project(geometry) if project else geometry, key[2])


def read_areas(
    paths: Sequence[Path],
    keep: Iterable[str] | None = None,
    regios: Mapping[str, Iterable[str]] | None = None,
) -> Areas:
    """The outlines in ``paths``, only those whose code is in ``keep`` when given (a map
    needs the areas its marts publish, not the whole country). ``regios``: each regio's
    gemeentecodes; its outline is theirs together."""
    wanted = set(keep) if keep is not None else None
    parts: dict[str, dict[str, list[shapely.Geometry]]] = {level: {} for level in LEVELS}
    above: dict[str, dict[str, str]] = {}
    for path in paths:
        if not Path(path).is_file():
            raise GeometryError(f"{path}: the geometry file named in udc.toml does not exist")
        for outline in _outlines(Path(path)):
            parts[outline.level].setdefault(outline.code, []).append(outline.geometry)
            above.setdefault(outline.code, {}).update(outline.above)
    # A level the files lack: dissolve the one below it by its parent code.
    for lower, upper in (("buurt", "wijk"), ("wijk", "gemeente")):
        if parts[upper] or not parts[lower]:
            continue
        for code, geometries in parts[lower].items():
            parent = above.get(code, {}).get(upper)
            if parent:
                above.setdefault(parent, {}).update(
                    {k: v for k, v in above[code].items() if k != upper}
                )
                parts[upper].setdefault(parent, []).extend(geometries)
    parts["regio"] = {
        code: [g for member in members for g in parts["gemeente"].get(member, [])]
        for code, members in (regios or {}).items()
        if any(member in parts["gemeente"] for member in members)
    }
    shapes: dict[str, dict[str, dict]] = {}
    for level in parts:
        shapes[level] = {}
        for code in sorted(parts[level]):
            if wanted is not None and code not in wanted:
                continue
            merged = shapely.union_all(parts[level][code])
            simple = shapely.set_precision(
                merged.simplify(SIMPLIFY_DEGREES, preserve_topology=True), 1e-6
            )
            shapes[level][code] = mapping(simple)
    return Areas(shapes)
