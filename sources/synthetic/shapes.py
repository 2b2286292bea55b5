"""Plausible outlines of the synthetic city's buurten, wijken and gemeente, as GeoJSON.

A dashboard needs a map, and a synthetic city has no CBS wijk- en buurtkaart. The wijken
are the Voronoi cells of one point per wijk (Centrum in the middle, the others in a ring)
inside a ragged city outline; each wijk is cut into its buurten the same way, with the
points spread by a few Lloyd steps so that no buurt is a sliver. Buurten therefore nest
in their wijk and tile the city without gaps or overlaps, like the real map. The shapes
depend on the seed alone, as the codes and names do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon, mapping

from udc.sources.synthetic.geography import GEMEENTECODE, build_geography

# A fictional spot in the east of the country, and metres per degree there.
_ORIGIN_LON, _ORIGIN_LAT = 5.95, 52.21
_METRES_PER_LAT = 111_250.0
_METRES_PER_LON = 111_320.0 * np.cos(np.radians(_ORIGIN_LAT))
_CITY_RADIUS = 5_500.0
_LLOYD_STEPS = 4


def _outline(rng: np.random.Generator) -> Polygon:
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    wobble = np.convolve(np.tile(rng.normal(0, 0.12, 72), 3), np.ones(7) / 7, "same")[72:144]
    radius = _CITY_RADIUS * (1 + wobble)
    return Polygon(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)]))


def _cells(points: np.ndarray, within: Polygon) -> list[Polygon]:
    """The Voronoi cells of ``points`` clipped to ``within``, in the order of the points."""
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=within, ordered=True)
    return [_largest(cell.intersection(within)) for cell in cells.geoms]


def _largest(shape: shapely.Geometry) -> Polygon:
    if isinstance(shape, Polygon):
        return shape
    return max(getattr(shape, "geoms", []), key=lambda part: part.area)


def _spread(rng: np.random.Generator, within: Polygon, count: int) -> np.ndarray:
    """``count`` points inside ``within``, evened out by Lloyd's relaxation."""
    if count == 1:
        point = within.representative_point()
        return np.array([[point.x, point.y]])
    minx, miny, maxx, maxy = within.bounds
    points: list[tuple[float, float]] = []
    while len(points) < count:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if within.contains(shapely.Point(x, y)):
            points.append((x, y))
    spread = np.array(points)
    for _ in range(_LLOYD_STEPS):
        spread = np.array([[c.centroid.x, c.centroid.y] for c in _cells(spread, within)])
    return spread


def _wijk_points(rng: np.random.Generator, wijken: int) -> np.ndarray:
    ring = wijken - 1
    angles = np.linspace(0, 2 * np.pi, ring, endpoint=False) + rng.uniform(-0.2, 0.2, ring)
    radius = _CITY_RADIUS * rng.uniform(0.45, 0.7, ring)
    return np.vstack([[0.0, 0.0], np.column_stack([radius * np.cos(angles),
                                                   radius * np.sin(angles)])])  # fmt: skip


def _degrees(shape: Polygon) -> dict:
    exterior = np.asarray(shape.exterior.coords)
    lon = np.round(_ORIGIN_LON + exterior[:, 0] / _METRES_PER_LON, 6)
    lat = np.round(_ORIGIN_LAT + exterior[:, 1] / _METRES_PER_LAT, 6)
    return mapping(Polygon(np.column_stack([lon, lat])))


def city_shapes(seed: int) -> dict:
    """A GeoJSON FeatureCollection (WGS84) with a feature per buurt, wijk and the gemeente,
    keyed as the CBS wijk- en buurtkaart is: ``buurtcode``, ``wijkcode``, ``gemeentecode``."""
    buurten = build_geography(seed, 1_000).buurten
    rng = np.random.default_rng([seed, 31])
    outline = _outline(rng)
    wijkcodes = list(dict.fromkeys(buurten["wijkcode"].to_list()))
    wijk_shapes = _cells(_wijk_points(rng, len(wijkcodes)), outline)
    features = [{"type": "Feature", "properties": {"gemeentecode": f"GM{GEMEENTECODE}",
                                                   "gemeentenaam": "Synthetische stad"},
                 "geometry": _degrees(outline)}]  # fmt: skip
    for wijkcode, wijk_shape in zip(wijkcodes, wijk_shapes, strict=True):
        members = buurten.filter(buurten["wijkcode"] == wijkcode)
        features.append({"type": "Feature", "properties": {
            "wijkcode": wijkcode, "wijknaam": members["wijknaam"][0],
            "gemeentecode": f"GM{GEMEENTECODE}"}, "geometry": _degrees(wijk_shape)})  # fmt: skip
        points = _spread(rng, wijk_shape, members.height)
        # Buurten numbered from the wijk's centre outwards, as a map reader would expect.
        centre = np.array([wijk_shape.centroid.x, wijk_shape.centroid.y])
        order = np.argsort(np.hypot(*(points - centre).T), kind="stable")
        shapes = _cells(points[order], wijk_shape)
        for row, shape in zip(members.iter_rows(named=True), shapes, strict=True):
            features.append({"type": "Feature", "properties": {
                key: row[key] for key in ("buurtcode", "buurtnaam", "wijkcode", "gemeentecode")
            }, "geometry": _degrees(shape)})  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def write_shapes(path: Path, seed: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(city_shapes(seed), separators=(",", ":")), encoding="utf-8")
    return path
