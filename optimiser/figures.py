"""The report's figures, drawn by matplotlib from the result and returned as SVG text.

SVG keeps text sharp at any zoom and, with glyphs drawn as paths, needs no font to open.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates
import matplotlib.path
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from optimiser import views  # noqa: E402

OUTLINES = Path(__file__).resolve().parent / "data" / "korea_outlines.json"
NO_AID, WITH_PLAN = "#c0392b", "#1f6fb4"
STYLE: dict[Any, Any] = {"svg.fonttype": "path", "svg.hashsalt": "aidopt", "font.size": 9}


def to_svg(fig: Figure) -> str:
    """The figure as SVG text, and the figure closed."""
    buffer = io.StringIO()
    with plt.rc_context(STYLE):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def count(persons: float) -> str:
    """Persons as a whole number, or with one decimal below ten (the model is continuous)."""
    return f"{persons:,.0f}" if persons >= 10 else f"{persons:.1f}"


def _week_ticks(ax, ds: xr.Dataset, every: int = 4) -> None:
    dates = pd.to_datetime(ds["week_start"].values)
    ticks = np.arange(0, len(dates), every)
    ax.set_xticks(ticks)
    ax.set_xticklabels([dates[i].strftime("%d %b") for i in ticks], rotation=45, ha="right")


SHORT_OUTBREAK_DAYS = 183
"""An outbreak whose new infections stay above ACTIVE_SHARE of their peak for at most this many
days is drawn on a linear axis over those days (a log axis over two years squeezes it into a
few weeks); a longer one keeps the log axis and the whole outlook."""
ACTIVE_SHARE = 1e-3


def active_days(daily: np.ndarray) -> tuple[int, int]:
    """First and last day index whose national new infections reach ACTIVE_SHARE of the peak."""
    total = np.asarray(daily).sum(axis=0)
    above = np.flatnonzero(total >= ACTIVE_SHARE * max(float(total.max()), 1e-12))
    return (int(above[0]), int(above[-1])) if above.size else (0, len(total) - 1)


def epidemic_curves(ds: xr.Dataset) -> Figure:
    """New infections per day in each province, without aid and with the plan; each title
    gives the deaths by the last day drawn (the outlook's end), naming that date."""
    no_aid = views.new_infections_per_day(ds, "people_no_aid")
    plan = views.new_infections_per_day(ds, "people_with_plan")
    dates = pd.to_datetime(ds["date"].values[1:]) if "date" in ds.coords else no_aid["day"]
    provinces = ds["province"].values.tolist()
    names = ds["province_name"].values.tolist() if "province_name" in ds.coords else provinces
    first, last = active_days(np.maximum(no_aid.values, plan.values))
    short = last - first <= SHORT_OUTBREAK_DAYS
    end = pd.Timestamp(ds["date"].values[-1]) if "date" in ds.coords else None
    until = f"to {end:%d %b %Y}" if end is not None else "by the end of the outlook"
    cols = 4
    rows = math.ceil(len(provinces) / cols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(10, 2.3 * rows), sharex=True, sharey=True)
        floor = 0.1
        top = max(float(no_aid.max()), float(plan.max()), 1.0) * (1.08 if short else 2)
        deaths_no = views.deaths_by_province(ds, "people_no_aid")
        deaths_plan = views.deaths_by_province(ds, "people_with_plan")
        for ax, province, name in zip(axes.flat, provinces, names, strict=False):
            d_no, d_plan = float(deaths_no[province]), float(deaths_plan[province])
            low = 0.0 if short else floor
            ax.plot(dates, np.maximum(no_aid.sel(province=province), low), color=NO_AID, lw=1.2)
            ax.plot(dates, np.maximum(plan.sel(province=province), low), color=WITH_PLAN, lw=1.2)
            if short:
                margin = 14
                ax.set_xlim(dates[max(first - margin, 0)], dates[min(last + margin,
                                                                     len(dates) - 1)])
                ax.set_ylim(0, top)
                ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
                    lambda v, _: f"{v:,.0f}"))  # fmt: skip
            else:
                ax.set_yscale("log")
                ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
                ax.set_ylim(floor, top)
            ax.set_title(f"{name}\ndeaths {until}: {count(d_no)} -> {count(d_plan)}",
                         fontsize=8)  # fmt: skip
            ax.grid(alpha=0.3)
            ax.tick_params(axis="x", labelrotation=30, labelsize=7, labelbottom=True)
            ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%d %b" if short
                                                                        else "%b %y"))
        for ax in list(axes.flat)[len(provinces) :]:
            ax.axis("off")
        fig.legend(
            [Line2D([], [], color=NO_AID), Line2D([], [], color=WITH_PLAN)],
            ["without aid", "with the plan"],
            loc="lower right",
            frameon=False,
        )
        fig.supylabel("new infections per day [persons/day]")
        fig.subplots_adjust(left=0.09, right=0.98, top=0.95, bottom=0.08, hspace=0.6, wspace=0.08)
    return fig


def coverage_heatmap(ds: xr.Dataset) -> Figure | None:
    """Coverage per aid capacity: the share of its load served, province x week (None without
    an epidemic)."""
    found = views.coverage(ds)
    if found is None:
        return None
    cov = found.transpose("lever", "province", "week")
    names = ds["province_name"].values.tolist() if "province_name" in ds.coords else None
    levers = cov["lever"].values.tolist()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, len(levers), figsize=(4.2 * len(levers) + 1, 4), sharey=True, squeeze=False
        )
        # A week that puts no load on a capacity has nothing to serve: grey, not "all served".
        load = ds["load"].transpose("lever", "province", "week") if "load" in ds else None
        cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#c8c8c8")
        for ax, lever in zip(axes[0], levers, strict=True):
            values = cov.sel(lever=lever).values.astype(float)
            if load is not None:
                values = np.where(load.sel(lever=lever).values > 0, values, np.nan)
            ax.imshow(
                np.ma.masked_invalid(values), aspect="auto", vmin=0, vmax=1, cmap=cmap,
                interpolation="nearest",
            )  # fmt: skip
            ax.set_title(f"{lever}")
            ax.set_yticks(range(cov.sizes["province"]))
            ax.set_yticklabels(names or cov["province"].values.tolist())
            _week_ticks(ax, ds)
            ax.set_xlabel("week starting")
        scale = plt.cm.ScalarMappable(cmap="RdYlGn", norm=plt.Normalize(0, 1))
        fig.colorbar(scale, ax=axes[0].tolist(), label="share of the load served [1]", shrink=0.9)
    return fig


OUTLINES_10M = Path(__file__).resolve().parent / "data" / "korea_outlines_10m.json"
"""Country outlines at 1:10m (Natural Earth, public domain; the file names its source)."""
SEA_WAYPOINTS = (
    (126.0, 37.2), (125.5, 37.45), (124.9, 37.5), (124.5, 38.2), (124.3, 38.9), (124.0, 39.6),
    (125.6, 36.4), (125.9, 35.0), (126.6, 33.9), (127.8, 34.3), (128.9, 34.7), (129.7, 35.6),
    (129.6, 36.8), (129.2, 37.9),
    (128.8, 38.8), (129.3, 39.6), (129.9, 40.4), (130.4, 41.3), (130.8, 42.1),
)
"""Points at sea (lon, lat) around the peninsula that sea routes are drawn through: the West
Sea, the Korea Strait north of Jeju, and the East Sea; assumption (drawing only)."""
LAND_STEP_DEG = 0.04
ASHORE_DEG = 0.35
"""How far [deg] a sea route's first and last legs may run over land: a port up an estuary, or a
province's centre inland of its port."""


def _load_outlines() -> tuple[dict[str, list[np.ndarray]], str] | None:
    for path in (OUTLINES_10M, OUTLINES):
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            rings = {c: [np.array(r) for r in rs] for c, rs in data["countries"].items()}
            return rings, str(data.get("source", path.name))
    return None


def _outlines(ax) -> bool:
    """Country outlines (Natural Earth, public domain) if the package holds them."""
    found = _load_outlines()
    if found is None:
        return False
    for country, rings in found[0].items():
        colour = "#f3efe6" if country in ("PRK", "KOR") else "#e9e9e9"
        edge, width = ("#444444", 1.0) if country == "PRK" else ("#9a9a9a", 0.6)
        for xy in rings:
            ax.fill(xy[:, 0], xy[:, 1], facecolor=colour, edgecolor=edge, lw=width, zorder=0)
            if country == "PRK":  # the border again, above the provinces' fills
                ax.plot(xy[:, 0], xy[:, 1], color=edge, lw=width, zorder=0.8)
    return True


PROVINCE_OUTLINES = Path(__file__).resolve().parent / "data" / "prk_provinces_10m.json"
"""The DPRK's provinces at 1:10m (Natural Earth admin-1, public domain; the file names its source
and data/README.md how it was made)."""


def _load_province_outlines() -> tuple[list[dict[str, Any]], str] | None:
    if not PROVINCE_OUTLINES.is_file():
        return None
    data = json.loads(PROVINCE_OUTLINES.read_text(encoding="utf-8"))
    units = [
        {"name": u["name"], "name_alt": u.get("name_alt") or "",
         "rings": [np.array(r) for r in u["rings"]]}
        for u in data["provinces"].values()
    ]  # fmt: skip
    return units, str(data.get("source", PROVINCE_OUTLINES.name))


def match_provinces(units: list[dict[str, Any]], centres: dict[str, tuple[float, float]],
                    names: dict[str, str]) -> dict[int, str]:  # fmt: skip
    """Which province each boundary unit draws: the one whose centre (lon, lat) lies inside it;
    where several do (Natural Earth's South Pyongan still holds Nampo, its North Hwanghae
    Kaesong), the one the unit's names name, else the first. Provinces left without a unit are
    drawn as discs at their centres."""
    owner: dict[int, str] = {}
    for i, unit in enumerate(units):
        paths = [matplotlib.path.Path(r) for r in unit["rings"]]
        inside = [p for p, xy in centres.items() if any(path.contains_point(xy) for path in paths)]
        if not inside:
            continue
        known = f"{unit['name']}|{unit['name_alt']}".lower()
        named = [p for p in inside if names[p].lower() in known]
        owner[i] = (named or inside)[0]
    return owner


def _land(rings: dict[str, list[np.ndarray]]):
    paths = [matplotlib.path.Path(r) for rs in rings.values() for r in rs]

    def on_land(points: np.ndarray) -> np.ndarray:
        hit = np.zeros(len(points), dtype=bool)
        for path in paths:
            hit |= path.contains_points(points)
        return hit

    return on_land


def _crosses_land(on_land, a: tuple[float, float], b: tuple[float, float]) -> bool:
    n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / LAND_STEP_DEG))
    t = np.linspace(0, 1, n)[1:-1, None]
    return bool(on_land(np.asarray(a) + t * (np.asarray(b) - np.asarray(a))).any())


def sea_lane(on_land, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """A drawn sea route from `start` to `end`: straight if that stays at sea, else the
    shortest path through SEA_WAYPOINTS whose legs between waypoints do not cross land (the
    first and last legs, ashore to the nearest waypoints, may)."""
    if not _crosses_land(on_land, start, end):
        return np.array([start, end])
    points = [start, end, *SEA_WAYPOINTS]
    n = len(points)
    dist = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = points[i], points[j]
            length = math.hypot(a[0] - b[0], a[1] - b[1])
            ends = i < 2 or j < 2
            if (i, j) == (0, 1):
                continue
            if ends:
                # Ashore to the sea: the leg may cross land only within ASHORE_DEG of its port.
                port, sea = (a, b) if i < 2 else (b, a)
                cut = min(ASHORE_DEG / max(length, 1e-9), 1.0)
                off = (port[0] + cut * (sea[0] - port[0]), port[1] + cut * (sea[1] - port[1]))
                if length < 2.0 and not _crosses_land(on_land, off, sea):
                    dist[i, j] = dist[j, i] = length
            elif not _crosses_land(on_land, a, b):
                dist[i, j] = dist[j, i] = length
    best, previous, done = np.full(n, np.inf), np.full(n, -1), np.zeros(n, dtype=bool)
    best[0] = 0.0
    for _ in range(n):
        i = int(np.argmin(np.where(done, np.inf, best)))
        if not np.isfinite(best[i]):
            break
        done[i] = True
        better = best[i] + dist[i] < best
        best[better], previous[better] = best[i] + dist[i][better], i
    if not np.isfinite(best[1]):
        return np.array([start, end])
    route, at = [1], 1
    while at != 0:
        at = int(previous[at])
        route.append(at)
    return np.array([points[i] for i in reversed(route)])


def _place_labels(ax, items: list[tuple[float, float, str]], fontsize: float = 7) -> None:
    """Labels beside their points, each at the first of eight offsets where it overlaps no
    label placed before it (and no other label's point)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    offsets = [(5, 4), (5, -11), (-5, 4), (-5, -11), (0, 8), (0, -14), (9, -3), (-9, -3)]
    for x, y, text in items:
        label = None
        for dx, dy in offsets:
            if label is not None:
                label.remove()
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                                fontsize=fontsize, zorder=6, ha="left" if dx >= 0 else "right",
                                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                                      "alpha": 0.75})  # fmt: skip
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        if label is not None:
            placed.append(label.get_window_extent(renderer))


def _province_values(ds: xr.Dataset) -> tuple[pd.Series, str]:
    """Deaths averted per province by the end of the outlook, or the share of need unmet
    without an epidemic."""
    if views.has_epidemic(ds):
        averted = (views.deaths_by_province(ds, "people_no_aid")
                   - views.deaths_by_province(ds, "people_with_plan"))  # fmt: skip
        end = pd.Timestamp(ds["date"].values[-1]) if "date" in ds.coords else None
        return averted, f"deaths averted to {end:%d %b %Y} [persons]" if end else "deaths averted"
    return views.unmet_share(ds).mean(axis=1) * 100, "mean share of need unmet [%]"


def _province_polygons(ax, provinces: list[str], lon: dict, lat: dict, names: dict, values,
                       cmap, norm) -> set[str]:  # fmt: skip
    """Fill each province's boundary with its value's colour over the country outline; returns
    the provinces so drawn (the others are left to discs)."""
    found = _load_province_outlines()
    if found is None:
        return set()
    units = found[0]
    owner = match_provinces(units, {p: (lon[p], lat[p]) for p in provinces}, names)
    for i, province in owner.items():
        for xy in units[i]["rings"]:
            ax.fill(xy[:, 0], xy[:, 1], facecolor=cmap(norm(float(values[province]))),
                    edgecolor="white", lw=0.7, zorder=0.5)  # fmt: skip
    return set(owner.values())


def flow_map(ds: xr.Dataset) -> tuple[Figure, str]:
    """Provinces coloured by deaths averted, routes by the tonnes they carry over the horizon
    (sea routes drawn around the coast), closed routes dashed, the border and the DMZ; returns
    the figure and its basemap note."""
    lon = dict(zip(ds["node"].values.tolist(), ds["longitude"].values.tolist(), strict=True))
    lat = dict(zip(ds["node"].values.tolist(), ds["latitude"].values.tolist(), strict=True))
    country = views.node_country(ds)
    names = views.node_names(ds)
    tonnes = views.tonnes_by_arc_week(ds).sum("week").to_series()
    teams = ds["team_shipments"].sum("week").to_series() if "team_shipments" in ds else None
    status = views.route_status(ds)
    biggest = max(float(tonnes.max()), 1e-9)
    found = _load_outlines()
    on_land = _land(found[0]) if found is not None else None
    values, value_label = _province_values(ds)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 9.5))
        has_outlines = _outlines(ax)
        arcs = zip(ds["arc"].values.tolist(), ds["arc_from"].values.tolist(),
                   ds["arc_to"].values.tolist(), ds["mode"].values.tolist(), strict=True)
        for arc, f, t, mode in arcs:
            ends = (lon[f], lat[f]), (lon[t], lat[t])
            line = (sea_lane(on_land, *ends) if mode == "sea" and on_land is not None
                    else np.array(ends))  # fmt: skip
            xs, ys = line[:, 0], line[:, 1]
            carried = float(tonnes[arc])
            if status[arc] == "closed":
                ax.plot(xs, ys, color="#c0392b", lw=1.0, ls=(0, (3, 2)), zorder=1)
            elif carried > 1e-3:
                width = 0.8 + 7.0 * math.sqrt(carried / biggest)
                ax.plot(xs, ys, color="#1f6fb4", lw=width, alpha=0.7, zorder=2,
                        solid_capstyle="round", solid_joinstyle="round")  # fmt: skip
            elif teams is not None and float(teams[arc]) > 1e-3:
                ax.plot(xs, ys, color="#7d3c98", lw=1.2, ls=":", zorder=2)
            else:
                ax.plot(xs, ys, color="#b5b5b5", lw=0.5, zorder=1)
        provinces = ds["province"].values.tolist()
        norm = plt.Normalize(0, max(float(values.max()), 1e-9))
        # Warm fills, so the blue routes stand out over every province.
        cmap = plt.get_cmap("YlOrBr")
        drawn = (_province_polygons(ax, provinces, lon, lat, names, values, cmap, norm)
                 if has_outlines else set())  # fmt: skip
        discs = [p for p in provinces if p not in drawn]
        ax.scatter([lon[p] for p in discs], [lat[p] for p in discs], s=260,
                   c=[cmap(norm(float(values[p]))) for p in discs], edgecolor="#2c3e50",
                   linewidth=0.8, zorder=4)  # fmt: skip
        if drawn:
            ax.scatter([lon[p] for p in drawn], [lat[p] for p in drawn], s=9, color="#2c3e50",
                       zorder=4)  # fmt: skip
        others = [n for n in lon if n not in provinces]
        for node in others:
            marker, colour = ("s", "#117a65") if country[node] == "ROK" else ("^", "#a04000")
            ax.scatter(lon[node], lat[node], marker=marker, s=45, color=colour, zorder=4,
                       edgecolor="white", linewidth=0.6)  # fmt: skip
        if has_outlines:
            ax.annotate("DMZ", (127.45, 38.08), fontsize=8, color="#5f5f5f", rotation=18,
                        ha="center", zorder=3, fontweight="bold")  # fmt: skip
        _place_labels(ax, [(lon[n], lat[n], names[n]) for n in [*provinces, *others]])
        lons, lats = list(lon.values()), list(lat.values())
        ax.set_xlim(min(lons) - 0.9, max(lons) + 0.9)
        ax.set_ylim(min(lats) - 0.7, max(lats) + 0.6)
        ax.set_aspect(1 / math.cos(math.radians(float(np.mean(lats)))))
        ax.set_xlabel("longitude [deg E]")
        ax.set_ylabel("latitude [deg N]")
        scale = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
        fig.colorbar(scale, ax=ax, shrink=0.6, pad=0.02, label=value_label)
        handles = [
            Line2D([], [], color="#1f6fb4", lw=4, label=f"goods (widest: {views.fmt(biggest)} t)"),
            Line2D([], [], color="#7d3c98", lw=1.2, ls=":", label="medical teams only"),
            Line2D([], [], color="#c0392b", lw=1.2, ls=(0, (3, 2)), label="closed: no flow"),
            Line2D([], [], color="#b5b5b5", lw=0.5, label="open, unused"),
            (Patch(facecolor="#f0a040", edgecolor="white", label="DPRK province (colour: see "
                   "the bar; dot: its centre)") if drawn else
             Line2D([], [], marker="o", ls="", color="#f0a040", markeredgecolor="#2c3e50",
                    label="DPRK province (colour: see the bar)")),
            *([Line2D([], [], marker="o", ls="", color="#f0a040", markeredgecolor="#2c3e50",
                      label="city province without its own boundary")] if drawn and discs
              else []),
            Line2D([], [], marker="s", ls="", color="#117a65", label="ROK depot"),
            Line2D([], [], marker="^", ls="", color="#a04000", label="foreign crossing"),
        ]  # fmt: skip
        ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.9)
        ax.set_title("Routes by tonnes carried over the horizon; provinces by "
                     + value_label.split(" [")[0])  # fmt: skip
    if has_outlines and found is not None:
        note = (
            f"Country outlines and the DPRK's border: {found[1]}. Sea routes are drawn through "
            "points at sea around the coast, land routes straight between their ends. "
        )
        shapes = _load_province_outlines()
        if drawn and shapes is not None:
            note += f"Province boundaries: {shapes[1]}."
            if discs:
                note += (" " + ", ".join(names[p] for p in discs) + " "
                         + ("is" if len(discs) == 1 else "are")
                         + " drawn as discs at their centres, inside the boundary that still "
                         "holds them.")  # fmt: skip
        else:
            note += "Provinces are discs at their centres: no province boundary file is shipped."
    else:
        note = ("Schematic: nodes at their latitude and longitude, no coastlines or borders; "
                "routes as straight lines between their ends.")  # fmt: skip
    return fig, note


def entry_routes_by_week(ds: xr.Dataset) -> Figure | None:
    """Tonnes entering the DPRK on each route, stacked per week; None if nothing entered."""
    arcs = [a for a, t in views.entry_tonnes(ds).items() if t > 1e-3]
    if not arcs:
        return None
    weekly = views.tonnes_by_arc_week(ds).sel(arc=arcs).transpose("arc", "week").values
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 3.6))
        bottom = np.zeros(weekly.shape[1])
        colours = plt.get_cmap("tab10")
        for i, arc in enumerate(arcs):
            ax.bar(np.arange(weekly.shape[1]), weekly[i], bottom=bottom, label=arc,
                   color=colours(i % 10), width=0.85)  # fmt: skip
            bottom += weekly[i]
        _week_ticks(ax, ds)
        ax.set_xlabel("week starting")
        ax.set_ylabel("tonnes leaving [t/week]")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, ncol=2, frameon=False)
    return fig


def comparison(table: pd.DataFrame) -> Figure:
    """Several results side by side (`compare.side_by_side`): deaths without aid and with the
    plan, deaths averted, spending, and each item's fill rate."""
    labels = list(table.columns[1:])
    values = table.set_index("item")
    colours = plt.get_cmap("tab10")
    x = np.arange(len(labels))

    def row(name: str) -> np.ndarray:
        if name not in values.index:
            return np.full(len(labels), np.nan)
        return values.loc[name].to_numpy(dtype=float)

    fills = [i for i in values.index if str(i).startswith("fill_rate.")]
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(10, 7.5))
        grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.15], hspace=0.55, wspace=0.35)
        ax = fig.add_subplot(grid[0, 0])
        ax.bar(x - 0.2, row("deaths_no_aid"), 0.4, color=NO_AID, label="without aid")
        ax.bar(x + 0.2, row("deaths_with_plan"), 0.4, color=WITH_PLAN, label="with the plan")
        ax.set_title("deaths [persons]")
        ax.legend(fontsize=7, frameon=False)
        for ax, name, title in ((fig.add_subplot(grid[0, 1]), "deaths_averted",
                                 "deaths averted [persons]"),
                                (fig.add_subplot(grid[0, 2]), "spending_usd.total",
                                 "spending [M USD]")):  # fmt: skip
            scale = 1e6 if name.startswith("spending") else 1.0
            ax.bar(x, row(name) / scale, 0.6, color=[colours(i % 10) for i in x])
            ax.set_title(title)
        for ax in fig.axes:
            ax.set_xticks(x)
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
            ax.grid(axis="y", alpha=0.3)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax = fig.add_subplot(grid[1, :])
        width = 0.8 / max(len(labels), 1)
        positions = np.arange(len(fills))
        for i, label in enumerate(labels):
            shares = [100 * float(values.loc[f, label]) for f in fills]
            ax.bar(positions + (i - (len(labels) - 1) / 2) * width, shares, width,
                   color=colours(i % 10), label=label)  # fmt: skip
        ax.set_xticks(positions)
        ax.set_xticklabels([f.removeprefix("fill_rate.") for f in fills], rotation=30,
                           ha="right", fontsize=7)  # fmt: skip
        ax.set_ylabel("fill rate [%]")
        ax.set_title("share of each item's need delivered")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, frameon=False, ncol=min(len(labels), 4))
    return fig
