"""Draws engine/data/haicheng-areas.geojson: ILLUSTRATIVE polygons for the demo district's 8
streets and 19 communities (海城区 of the demo config). They are not surveyed boundaries: each
street is a cell of a 4 × 2 grid over the old town of 北海 (GCJ-02), cut into its communities
along a slanted line so that the shapes are not all rectangles. A real district replaces the
file with its own 社区/街道 boundaries (docs/configuration.md, "places").

    python scripts/draw_haicheng_areas.py > engine/data/haicheng-areas.geojson
"""

from __future__ import annotations

import json

# (street, [communities]) by grid cell: north row west → east, then the south row.
LAYOUT = [
    ("haijiao", ["haijiaolu", "zhanjianglu"]),
    ("xijie", ["yunnanlu", "hubeilu", "wushadao"]),
    ("zhongjie", ["chatinglu", "zhuhailu", "beibuwan"]),
    ("dongjie", ["guizhoulu", "sichuanlu", "hepulu"]),
    ("dijiao", ["dijiaolu", "yixiu"]),
    ("xiantian", ["xiantianlu", "gangkou"]),
    ("yima", ["yimalu", "xinshiji"]),
    ("gaode", ["gaodejie", "zhuangtou"]),
]
WEST, EAST = 109.060, 109.180
NORTH, MIDDLE, SOUTH = 21.495, 21.465, 21.435
SLANT = 0.004  # how far a dividing line leans (degrees of longitude)


def r(x: float) -> float:
    return round(x, 6)


def features() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    width = (EAST - WEST) / 4
    for index, (_street, communities) in enumerate(LAYOUT):
        col, row = index % 4, index // 4
        x0, x1 = WEST + col * width, WEST + (col + 1) * width
        top, bottom = (NORTH, MIDDLE) if row == 0 else (MIDDLE, SOUTH)
        n = len(communities)
        # Dividing lines: x at the top and at the bottom (leaning), the cell's edges straight.
        cuts = [(x0, x0)] + [
            (x0 + (x1 - x0) * k / n + SLANT / 2, x0 + (x1 - x0) * k / n - SLANT / 2) for k in range(1, n)
        ] + [(x1, x1)]
        for k, community in enumerate(communities):
            (a_top, a_bottom), (b_top, b_bottom) = cuts[k], cuts[k + 1]
            ring = [
                [r(a_top), r(top)], [r(b_top), r(top)], [r(b_bottom), r(bottom)],
                [r(a_bottom), r(bottom)], [r(a_top), r(top)],
            ]
            out.append({
                "type": "Feature",
                "properties": {"unit": community, "illustrative": True},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            })
    return out


if __name__ == "__main__":
    print(json.dumps({
        "type": "FeatureCollection",
        "name": "海城区社区边界（示意，非测绘数据）",
        "crs_note": "GCJ-02; illustrative shapes for the demo district, not surveyed boundaries",
        "features": features(),
    }, ensure_ascii=False, indent=1))
