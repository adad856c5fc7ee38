"""属地 by coordinates: the demo district's (illustrative) polygons, coordinates in the formats
apps and GeoReport clients send, datums, and the router's fallback when the address names no
known place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import ConfigError, load_config
from engine.places import (
    CoordinateError,
    Datum,
    GeoPoint,
    PlaceFinder,
    gcj02_to_wgs84,
    parse_point,
    point_of,
    wgs84_to_gcj02,
)

CONFIG = load_config()
FINDER = PlaceFinder.from_config(CONFIG)
# Inside 茶亭路社区 (中街街道) on the demo polygons, in GCJ-02.
CHATING = (21.480, 109.125)


def where(value, datum: Datum = Datum.GCJ02):
    assert FINDER is not None
    found = FINDER.locate(parse_point(value, datum))
    return (found.community, found.street) if found else None


@pytest.mark.parametrize(
    "value",
    [
        CHATING,
        "21.480,109.125",
        "21.480, 109.125",
        "109.125,21.480",  # 高德: longitude first
        "109.125，21.480",  # a Chinese comma
        "21°28'48\"N 109°07'30\"E",
        "北纬21°28′48″ 东经109°7′30″",
        {"type": "Point", "coordinates": [109.125, 21.480]},
    ],
)
def test_the_formats_residents_apps_send_all_land_in_the_same_community(value) -> None:
    assert where(value) == ("chatinglu", "zhongjie")


def test_communities_and_streets_of_the_demo_district() -> None:
    assert where((21.450, 109.065)) == ("dijiaolu", "dijiao")
    assert where((21.490, 109.175)) == ("hepulu", "dongjie")
    assert where((21.30, 109.10)) is None  # at sea, south of every polygon
    # A street is the union of its communities: every community's street is its parent.
    for area in FINDER.areas:
        if area.kind == "community":
            assert CONFIG.street_of(area.unit).id == area.street


def test_datums_gps_points_are_shifted_to_gcj02_before_the_test() -> None:
    lat, lng = wgs84_to_gcj02(*CHATING)
    assert 0.0005 < abs(lng - CHATING[1]) + abs(lat - CHATING[0]) < 0.02  # the ~500 m offset
    back = gcj02_to_wgs84(lat, lng)
    assert abs(back[0] - CHATING[0]) < 1e-6 and abs(back[1] - CHATING[1]) < 1e-6
    # The same place sent as WGS-84 by an Open311 client: converted, then found.
    wgs = gcj02_to_wgs84(*CHATING)
    assert where(wgs, Datum.WGS84) == ("chatinglu", "zhongjie")
    assert point_of({"open311": {"lat": str(wgs[0]), "long": str(wgs[1])}}, "open311") == GeoPoint(wgs[0], wgs[1], Datum.WGS84)
    assert point_of({"lat": 21.48, "lng": 109.125, "coord_system": "bd09"}, "app").datum == Datum.BD09


@pytest.mark.parametrize("bad", ["", "north", "21.48", "95,200", "nan,nan", [1, "x"], {"type": "Line"}])
def test_coordinates_that_do_not_read_are_refused(bad) -> None:
    with pytest.raises(CoordinateError):
        parse_point(bad)
    assert point_of({"lat": "abc", "lng": "def"}, "app") is None


def test_the_router_uses_the_polygons_only_when_the_address_names_no_known_place() -> None:
    from adapters.bootstrap import bootstrap
    from engine.application import now_shanghai
    from engine.intake import Channel, IntakeCommand
    from engine.settings import Settings

    rt = bootstrap(Settings.from_env({"SANSHI_DB": "memory://"}))
    try:
        def receive(ref: str, address: str, **extra):
            return rt.app.get_case(rt.app.receive(IntakeCommand(
                channel=Channel.APP, source_ref=ref, received_at=now_shanghai(),
                content="路灯坏了好几天，晚上很黑", address=address, extra=extra)).case_id)

        by_point = receive("P1", "小区门口", lat=21.480, lng=109.125)
        assert (by_point.locality, by_point.street) == ("chatinglu", "zhongjie")
        # The address names a place: it wins over coordinates elsewhere.
        named = receive("P2", "海城区贵州路5号", lat=21.480, lng=109.125)
        assert named.locality == "guizhoulu"
        nowhere = receive("P3", "小区门口")
        assert nowhere.locality is None
    finally:
        rt.close()


def test_a_bad_geojson_is_a_bad_district_file(tmp_path: Path) -> None:
    source = Path(CONFIG.source_dir) / "haicheng.yaml"
    text = source.read_text("utf-8").replace("geojson: haicheng-areas.geojson", "geojson: areas.geojson")
    (tmp_path / "d.yaml").write_text(text, "utf-8")
    (tmp_path / "areas.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"unit": "nowhere"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}), "utf-8")
    with pytest.raises(ConfigError, match="nowhere"):
        load_config(tmp_path / "d.yaml")
    (tmp_path / "areas.geojson").write_text("{not json", "utf-8")
    with pytest.raises(ConfigError, match="JSON"):
        load_config(tmp_path / "d.yaml")


def test_the_leaders_counts_by_area_count_received_and_still_open_cases() -> None:
    from engine.domain import Status
    from tests.support.api import ASSIGNED, LEADER, api_client, auth, case_in

    with api_client() as (client, rt):
        case_in(rt, Status.DISPATCHED)
        case_in(rt, Status.RESOLVED)
        counts = client.get("/api/places/counts", headers=auth(LEADER)).json()
        assert counts["communities"]["chatinglu"] == {"received": 2, "open": 1}
        assert counts["streets"]["zhongjie"] == {"received": 2, "open": 1}
        assert client.get("/api/places/counts", headers=auth(ASSIGNED)).status_code == 403
