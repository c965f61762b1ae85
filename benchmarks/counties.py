"""Synthetic larger scenarios for the scale benchmark: provinces split into counties, more
commodities. Everything generated here is SYNTHETIC (labelled so in every source column); no
county data of the DPRK were at hand to license.

    python benchmarks/counties.py SCENARIO OUT [--units N] [--items N]

The rule that splits provinces into counties (issue 9):

* Province p gets n_p counties, n_p proportional to its population share of the target N, by
  largest remainders and at least one each, so that they add up to N.
* County i (from 0) of a province gets a share of its population, hospital beds, doctors, seeded
  infections and GeneXpert modules proportional to 1 / (i + 1): the rank-size rule, county 0 (the
  seat) the largest. Counts are whole numbers by largest remainders, so the province totals stay.
* County 0 sits at the province's point; county i >= 1 at 0.12 deg x sqrt(i) from it, at i x
  137.5 deg (a sunflower spiral: evenly spread, never two on one spot).
* Every route into, out of or between provinces now ends at the province's county 0. Each other
  county is linked to its seat by a local road both ways: great-circle distance x 1.3, 50 t a
  week, 0.25 USD per t-km, no transit week, open to medical teams (the default's own road rates).

More commodities: item j past the scenario's K is a copy of item j mod K ("<id>_v2", ...) with the
same mass, HS code, consumption rates and supply, so every recipe needs each variant as one more
input.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
from pathlib import Path

import yaml

SYNTHETIC = "SYNTHETIC (benchmarks/counties.py): not real data"
LOCAL_ROAD = {"capacity_t_per_week": 50, "usd_per_t_km": 0.25, "winding": 1.3}
SPIRAL_DEG = 0.12
GOLDEN_ANGLE_DEG = 137.5
EARTH_RADIUS_KM = 6371.0


def read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def largest_remainders(total: float, weights: list[float], floor: int = 0) -> list[int]:
    """Whole numbers proportional to `weights` that add up to round(total), each >= floor."""
    total_int = round(total)
    n = len(weights)
    spare = total_int - floor * n
    if spare < 0:
        raise ValueError(f"cannot give {n} parts at least {floor} each out of {total_int}")
    exact = [spare * w / sum(weights) for w in weights]
    out = [floor + math.floor(x) for x in exact]
    order = sorted(range(n), key=lambda i: exact[i] - math.floor(exact[i]), reverse=True)
    for i in order[: total_int - sum(out)]:
        out[i] += 1
    return out


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def split_provinces(folder: Path, n_units: int) -> None:
    """Split the provinces of the scenario in `folder` into `n_units` counties, in place."""
    config = yaml.safe_load((folder / "scenario.yaml").read_text())
    for table in ("mobility", "needs"):
        if config["tables"].get(table):
            raise ValueError(f"{table}.csv cannot be split into counties")
    provinces = read(folder / config["tables"]["provinces"])
    if n_units < len(provinces):
        raise ValueError(f"{n_units} units are fewer than the {len(provinces)} provinces")
    per_province = largest_remainders(n_units, [float(p["population"]) for p in provinces], floor=1)
    seeds = (config.get("epidemic") or {}).get("initial_infections") or {}
    counties, seat, links = [], {}, []
    for p, n in zip(provinces, per_province, strict=True):
        weights = [1.0 / (i + 1) for i in range(n)]
        counted = ("population", "hospital_beds", "doctors", "genexpert_modules")
        split = {key: largest_remainders(float(p[key]), weights) for key in counted}
        ids = [f"{p['id']}_{i:02d}" for i in range(n)]
        seat[p["id"]] = ids[0]
        lat0, lon0 = float(p["latitude"]), float(p["longitude"])
        for i, county in enumerate(ids):
            radius, angle = SPIRAL_DEG * math.sqrt(i), math.radians(GOLDEN_ANGLE_DEG * i)
            lat, lon = lat0 + radius * math.sin(angle), lon0 + radius * math.cos(angle)
            share = weights[i] / sum(weights)
            counties.append({
                **p, "id": county, "name": f"{p['name']} county {i + 1} (synthetic)",
                **{key: split[key][i] for key in split},
                "latitude": round(lat, 4), "longitude": round(lon, 4),
                "initial_infections": float(p["initial_infections"]) * share,
                "source": f"{SYNTHETIC}; split from {p['id']} by the rank-size rule",
            })  # fmt: skip
            if i:
                km = LOCAL_ROAD["winding"] * great_circle_km(lat0, lon0, lat, lon)
                for a, b in ((ids[0], county), (county, ids[0])):
                    links.append({
                        "id": f"{a}-{b}", "from": a, "to": b, "mode": "road",
                        "distance_km": round(km, 1),
                        "capacity_t_per_week": LOCAL_ROAD["capacity_t_per_week"],
                        "cost_per_t": round(LOCAL_ROAD["usd_per_t_km"] * km, 2),
                        "transit_weeks": 0, "personnel": "true", "open_from": "",
                        "open_until": "", "source": f"{SYNTHETIC}; local road to the seat",
                    })  # fmt: skip
        if p["id"] in seeds:
            for county, w in zip(ids, weights, strict=True):
                seeds[county] = seeds[p["id"]] * w / sum(weights)
            del seeds[p["id"]]
    arcs = read(folder / config["tables"]["arcs"])
    for row in arcs:
        row["from"], row["to"] = seat.get(row["from"], row["from"]), seat.get(row["to"], row["to"])
    write(folder / config["tables"]["provinces"], counties)
    write(folder / config["tables"]["arcs"], arcs + [{k: r[k] for k in arcs[0]} for r in links])
    config["name"] = f"{config['name']}-{n_units}-counties"
    config["description"] = f"{SYNTHETIC}: {config.get('description', '')}, {n_units} counties"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def more_commodities(folder: Path, n_items: int) -> None:
    """Copy the commodities of the scenario in `folder` until there are `n_items`, in place."""
    config = yaml.safe_load((folder / "scenario.yaml").read_text())
    tables = config["tables"]
    items = read(folder / tables["commodities"])
    consumption, supply = read(folder / tables["consumption"]), read(folder / tables["supply"])
    base = list(items)
    for j in range(len(base), n_items):
        original = base[j % len(base)]
        new_id = f"{original['id']}_v{j // len(base) + 1}"
        items.append({**original, "id": new_id, "name": f"{original['name']} (variant)",
                      "source": SYNTHETIC})  # fmt: skip
        for table in (consumption, supply):
            table += [{**r, "commodity": new_id, "source": SYNTHETIC}
                      for r in list(table) if r["commodity"] == original["id"]]  # fmt: skip
    write(folder / tables["commodities"], items)
    write(folder / tables["consumption"], consumption)
    write(folder / tables["supply"], supply)
    config["name"] = f"{config['name']}-{n_items}-items"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def synthetic(source: Path, out: Path, units: int | None = None, items: int | None = None) -> Path:
    """A copy of the scenario in `source` at `out`, with `units` counties and `items`
    commodities (unchanged where None)."""
    shutil.copytree(source, out)
    if units is not None:
        split_provinces(out, units)
    if items is not None:
        more_commodities(out, items)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--units", type=int, help="counties in all")
    parser.add_argument("--items", type=int, help="commodities in all")
    args = parser.parse_args()
    print(f"wrote {synthetic(args.scenario, args.out, args.units, args.items)}")


if __name__ == "__main__":
    main()
