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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import shapely
import shapely.affinity
from shapely.geometry import MultiPoint, Polygon, mapping

from udc.sources.synthetic.country import POSTCODE_ORDER, Municipality, city_seed, places
from udc.sources.synthetic.geography import Place, build_geography

# A fictional spot in the east of the country, and metres per degree there.
_ORIGIN_LON, _ORIGIN_LAT = 5.95, 52.21
_METRES_PER_LAT = 111_250.0
_METRES_PER_LON = 111_320.0 * np.cos(np.radians(_ORIGIN_LAT))
_CITY_RADIUS = 5_500.0
_LLOYD_STEPS = 4
# A municipality of a region: towns cover less ground than cities, but not in proportion to
# their residents (the countryside around a town is part of it). Metres between neighbours.
_MEDIAN_RESIDENTS, _MEDIAN_RADIUS = 30_000, 5_000.0
_RADIUS_RANGE = (1_500.0, 12_000.0)
# The provinces' centres on the real map (RD New, km), so that the land looks familiar.
_PROVINCE_CENTRES = {
    "PV20": (235, 580), "PV21": (175, 565), "PV22": (235, 540), "PV23": (230, 485),
    "PV24": (160, 500), "PV25": (190, 450), "PV26": (140, 455), "PV27": (120, 505),
    "PV28": (90, 445), "PV29": (45, 390), "PV30": (140, 395), "PV31": (190, 355),
}  # fmt: skip
_LAND_ASPECT = 0.75  # the country is taller than it is wide


def _outline(rng: np.random.Generator, city_radius: float = _CITY_RADIUS) -> Polygon:
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    wobble = np.convolve(np.tile(rng.normal(0, 0.12, 72), 3), np.ones(7) / 7, "same")[72:144]
    radius = city_radius * (1 + wobble)
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


def _degrees(shape: Polygon, shift: tuple[float, float] = (0.0, 0.0)) -> dict:
    exterior = np.asarray(shape.exterior.coords)
    if shift != (0.0, 0.0):
        exterior = exterior + np.asarray(shift)
    lon = np.round(_ORIGIN_LON + exterior[:, 0] / _METRES_PER_LON, 6)
    lat = np.round(_ORIGIN_LAT + exterior[:, 1] / _METRES_PER_LAT, 6)
    return mapping(Polygon(np.column_stack([lon, lat])))


_Part = tuple[dict, Polygon]  # a feature's properties and its shape


@dataclass(frozen=True)
class _Municipality:
    """One municipality's outlines in metres around its own centre, before it is placed."""

    properties: dict
    outline: Polygon
    wijken: list[tuple[_Part, list[_Part]]]  # each wijk with its buurten


def _shapes(
    buurten: pl.DataFrame,
    rng: np.random.Generator,
    outline: Polygon,
    wijk_points: Callable[[int], np.ndarray],
    gemeentenaam: str,
) -> _Municipality:
    gemeentecode = buurten["gemeentecode"][0]
    wijkcodes = list(dict.fromkeys(buurten["wijkcode"].to_list()))
    wijk_shapes = _cells(wijk_points(len(wijkcodes)), outline)
    wijken = []
    for wijkcode, wijk_shape in zip(wijkcodes, wijk_shapes, strict=True):
        members = buurten.filter(buurten["wijkcode"] == wijkcode)
        wijk = {"wijkcode": wijkcode, "wijknaam": members["wijknaam"][0],
                "gemeentecode": gemeentecode}  # fmt: skip
        points = _spread(rng, wijk_shape, members.height)
        # Buurten numbered from the wijk's centre outwards, as a map reader would expect.
        centre = np.array([wijk_shape.centroid.x, wijk_shape.centroid.y])
        order = np.argsort(np.hypot(*(points - centre).T), kind="stable")
        shapes = _cells(points[order], wijk_shape)
        rows = members.select("buurtcode", "buurtnaam", "wijkcode", "gemeentecode")
        parts = list(zip(rows.iter_rows(named=True), shapes, strict=True))
        wijken.append(((wijk, wijk_shape), parts))
    gemeente = {"gemeentecode": gemeentecode, "gemeentenaam": gemeentenaam}
    return _Municipality(gemeente, outline, wijken)


def _features(municipality: _Municipality, shift: tuple[float, float] = (0.0, 0.0)) -> list:
    """The gemeente, then each wijk followed by its buurten."""
    parts = [(municipality.properties, municipality.outline)]
    for wijk, buurten in municipality.wijken:
        parts += [wijk, *buurten]
    return [{"type": "Feature", "properties": properties, "geometry": _degrees(shape, shift)}
            for properties, shape in parts]  # fmt: skip


def city_shapes(seed: int) -> dict:
    """A GeoJSON FeatureCollection (WGS84) with a feature per buurt, wijk and the gemeente,
    keyed as the CBS wijk- en buurtkaart is: ``buurtcode``, ``wijkcode``, ``gemeentecode``."""
    buurten = build_geography(seed, 1_000).buurten
    rng = np.random.default_rng([seed, 31])
    city = _shapes(buurten, rng, _outline(rng), lambda n: _wijk_points(rng, n),
                   "Synthetische stad")  # fmt: skip
    return {"type": "FeatureCollection", "features": _features(city)}


def write_shapes(path: Path, seed: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(city_shapes(seed), separators=(",", ":")), encoding="utf-8")
    return path


def _municipality_shapes(
    municipality: Municipality, place: Place, seed: int, outline: Polygon
) -> _Municipality:
    own_seed = city_seed(seed, municipality.code)
    buurten = build_geography(own_seed, 1_000, place).buurten
    rng = np.random.default_rng([own_seed, 31])
    centre = np.array([outline.centroid.x, outline.centroid.y])

    def wijk_points(count: int) -> np.ndarray:
        # Wijk 01 (Centrum) in the middle, the others numbered outwards.
        points = _spread(rng, outline, count)
        return points[np.argsort(np.hypot(*(points - centre).T), kind="stable")]

    return _shapes(buurten, rng, outline, wijk_points, municipality.name)


def _province_rank(provincie: str) -> tuple[int, str]:
    rank = POSTCODE_ORDER.index(provincie) if provincie in POSTCODE_ORDER else len(POSTCODE_ORDER)
    return rank, provincie


def _radius(residents: int) -> float:
    size = _MEDIAN_RADIUS * (residents / _MEDIAN_RESIDENTS) ** 0.25
    return float(np.clip(size, *_RADIUS_RANGE))


def _tiles(
    rng: np.random.Generator, within: Polygon, sizes: Sequence[int], points: np.ndarray | None
) -> list[Polygon]:
    """Cells tiling ``within``, one per size (residents), the largest nearest the middle."""
    points = _spread(rng, within, len(sizes)) if points is None else points
    centre = np.array([within.centroid.x, within.centroid.y])
    cells = _cells(points, within)
    inner_first = np.argsort(np.hypot(*(points - centre).T), kind="stable")
    largest_first = np.argsort(-np.asarray(sizes), kind="stable")
    found: list[Polygon] = [cells[0]] * len(sizes)
    for cell, index in zip(inner_first, largest_first, strict=True):
        found[index] = cells[cell]
    return found


def region_shapes(gemeenten: Sequence[Municipality], seed: int) -> dict:
    """As ``city_shapes`` for several municipalities (as ``country.write_region`` writes
    them): a land tiled by its provinces (placed roughly where the real ones lie), each
    province by its municipalities (the largest in its middle), each municipality by its
    wijken and buurten, so that nothing overlaps and neighbours share their borders."""
    rng = np.random.default_rng([seed, 32, len(gemeenten)])
    radius = np.sqrt(sum(_radius(m.residents) ** 2 for m in gemeenten))
    land = shapely.affinity.scale(_outline(rng, radius), xfact=_LAND_ASPECT)
    provinces = sorted({m.provincie for m in gemeenten}, key=_province_rank)
    members = {p: [m for m in gemeenten if m.provincie == p] for p in provinces}
    known = [_PROVINCE_CENTRES.get(p) for p in provinces]
    if len(provinces) > 1 and all(known):
        centres = np.array(known, dtype=float)
        centres -= centres.mean(axis=0)
        centres *= 0.75 * radius / np.abs(centres).max()
        centres[:, 0] *= _LAND_ASPECT
    else:
        centres = None
    residents = [sum(m.residents for m in members[p]) for p in provinces]
    province_shapes = _tiles(rng, land, residents, centres)
    cell_of: dict[str, Polygon] = {}
    for provincie, province_shape in zip(provinces, province_shapes, strict=True):
        inside = members[provincie]
        cells = _tiles(rng, province_shape, [m.residents for m in inside], None)
        cell_of.update({m.code: cell for m, cell in zip(inside, cells, strict=True)})
    features = []
    for municipality, place in zip(gemeenten, places(gemeenten, seed), strict=True):
        shapes = _municipality_shapes(municipality, place, seed, cell_of[municipality.code])
        features += _features(shapes)
    return {"type": "FeatureCollection", "features": features}


def write_region_shapes(path: Path, gemeenten: Sequence[Municipality], seed: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    collection = region_shapes(gemeenten, seed)
    path.write_text(json.dumps(collection, separators=(",", ":")), encoding="utf-8")
    return path
