"""Outlines from the CBS wijk- en buurtkaart as GeoJSON or GeoPackage, in RD or WGS84."""

from __future__ import annotations

import json
import sqlite3
import struct

import pytest
import shapely
from shapely.geometry import Polygon, shape

from udc.dashboards.geometries import GeometryError, read_areas

# The origin of RD New (EPSG:28992), the Onze Lieve Vrouwetoren in Amersfoort, and its
# WGS84 position as the Kadaster publishes it.
RD_POINT, WGS84_POINT = (155_000, 463_000), (5.387206, 52.155174)


def _rd_square(x: float, y: float, size: float = 500) -> Polygon:
    return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])


def _feature(geometry: Polygon, **properties) -> dict:
    return {"type": "Feature", "properties": properties,
            "geometry": shapely.geometry.mapping(geometry)}  # fmt: skip


def test_rd_geojson_is_projected_and_wijken_dissolved_from_buurten(tmp_path):
    x, y = RD_POINT
    features = [
        _feature(_rd_square(x, y), buurtcode="BU03070101", wijkcode="WK030701",
                 gemeentecode="GM0307", water="NEE"),
        _feature(_rd_square(x + 500, y), buurtcode="BU03070102", wijkcode="WK030701",
                 gemeentecode="GM0307", water="NEE"),
        # Water-only buurt parts stay off a map of where people live.
        _feature(_rd_square(x, y + 500), buurtcode="BU03070199", wijkcode="WK030701",
                 gemeentecode="GM0307", water="JA"),
    ]  # fmt: skip
    path = tmp_path / "buurten.geojson"
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features, "crs": crs}))
    areas = read_areas([path])
    assert sorted(areas.level("buurt")) == ["BU03070101", "BU03070102"]
    corner = shape(areas.level("buurt")["BU03070101"]).exterior.coords
    assert min(corner) == pytest.approx(WGS84_POINT, abs=1e-5)
    wijk = shape(areas.level("wijk")["WK030701"])
    both = shapely.union_all([shape(g) for g in areas.level("buurt").values()])
    assert wijk.area == pytest.approx(both.area, rel=1e-3)
    assert list(areas.level("gemeente")) == ["GM0307"]
    assert list(areas.level("buurt", ["BU03070102", "BU99999999"])) == ["BU03070102"]


def _gpkg_blob(geometry: Polygon, srid: int) -> bytes:
    """A GeoPackage geometry with an xy envelope, as GDAL writes it."""
    minx, miny, maxx, maxy = geometry.bounds
    flags = 0b0000_0011  # little endian, envelope [minx, maxx, miny, maxy]
    return (b"GP" + bytes([0, flags]) + struct.pack("<i", srid)
            + struct.pack("<4d", minx, maxx, miny, maxy) + shapely.to_wkb(geometry))  # fmt: skip


def _gpkg(path, layers: dict[str, list[tuple[dict, Polygon]]], srid: int = 28992):
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT);"
        "CREATE TABLE gpkg_geometry_columns (table_name TEXT, column_name TEXT, srs_id INT);"
    )
    for table, rows in layers.items():
        keys = list(rows[0][0])
        connection.execute(f"CREATE TABLE {table} (fid INTEGER PRIMARY KEY, geom BLOB, "
                           + ", ".join(f"{k} TEXT" for k in keys) + ")")  # fmt: skip
        connection.execute("INSERT INTO gpkg_contents VALUES (?, 'features')", (table,))
        connection.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?)",
                           (table, srid))  # fmt: skip
        for properties, geometry in rows:
            connection.execute(
                f"INSERT INTO {table} (geom, {', '.join(keys)}) VALUES (?{', ?' * len(keys)})",
                (_gpkg_blob(geometry, srid), *properties.values()),
            )
    connection.commit()
    connection.close()


def test_a_cbs_geopackage_gives_buurten_wijken_and_gemeenten(tmp_path):
    x, y = RD_POINT
    path = tmp_path / "wijkenbuurten_2026.gpkg"
    _gpkg(path, {
        "buurten": [({"buurtcode": "BU03070101", "wijkcode": "WK030701", "gemeentecode": "GM0307",
                      "water": "NEE"}, _rd_square(x, y))],
        "wijken": [({"wijkcode": "WK030701", "gemeentecode": "GM0307"}, _rd_square(x, y, 1000))],
        "gemeenten": [({"gemeentecode": "GM0307"}, _rd_square(x - 1000, y - 1000, 3000))],
    })  # fmt: skip
    areas = read_areas([path])
    assert [list(areas.level(lv)) for lv in ("buurt", "wijk", "gemeente")] == [
        ["BU03070101"], ["WK030701"], ["GM0307"]
    ]
    wijk = shape(areas.level("wijk")["WK030701"])
    assert wijk.bounds[:2] == pytest.approx(WGS84_POINT, abs=1e-5)
    assert shape(areas.level("gemeente")["GM0307"]).contains(wijk)


def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(GeometryError, match="does not exist"):
        read_areas([tmp_path / "absent.geojson"])
    broken = tmp_path / "broken.geojson"
    broken.write_text("{ not json")
    with pytest.raises(GeometryError, match="not a readable GeoJSON"):
        read_areas([broken])
    shapefile = tmp_path / "buurten.shp"
    shapefile.write_bytes(b"\0" * 100)
    with pytest.raises(GeometryError, match=r"GeoJSON .* or GeoPackage"):
        read_areas([shapefile])
    not_gpkg = tmp_path / "empty.gpkg"
    not_gpkg.write_bytes(b"nonsense")
    with pytest.raises(GeometryError, match="not a readable GeoPackage"):
        read_areas([not_gpkg])


def test_a_regio_is_drawn_as_its_gemeenten_together(tmp_path):
    x, y = RD_POINT
    features = [
        _feature(_rd_square(x + 500 * n, y), buurtcode=f"BU0{code}0101", wijkcode=f"WK0{code}01",
                 gemeentecode=f"GM0{code}")
        for n, code in enumerate(("307", "308", "309"))
    ]  # fmt: skip
    path = tmp_path / "buurten.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    regios = {"RG01": ("GM0307", "GM0308", "GM0999"), "RG02": ("GM0998",)}
    areas = read_areas([path], regios=regios)
    assert list(areas.level("regio")) == ["RG01"]  # RG02 has no outlined member
    regio = shape(areas.level("regio")["RG01"])
    members = [shape(areas.level("gemeente")[code]) for code in ("GM0307", "GM0308")]
    assert regio.area == pytest.approx(sum(m.area for m in members), rel=1e-3)
    assert not regio.intersects(shape(areas.level("gemeente")["GM0309"]).buffer(-1e-6))
