"""Views of a written result (`plan.nc` and `summary.json`) that the workbook, the report, the
comparison and the printed summary share. Nothing here recomputes the plan: every number is
read from the result or summed over it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import xarray as xr

from optimiser import output_folder
from optimiser.reading import (
    ReadError,
    json_kind,
    listing,
    load_netcdf,
    read_json,
    reason,
    show,
)
from optimiser.schema import TEAM, ScenarioConfig

DPRK = "DPRK"
ROUND_UP_SLACK = 1e-6
"""Quantities are rounded up after taking off this much [units], so 3.0000000001 packs (the
solver's rounding) count as 3, not 4."""


class ResultError(ReadError):
    """A folder that is not a readable aidopt result (exit status 2)."""


NUMBER = "number"
SUMMARY_FIELDS: dict[str, object] = {
    "scenario": str, "status": str, "epidemic": str, "horizon_date": str, "outlook_date": str,
    **dict.fromkeys(("deaths_no_aid", "deaths_with_plan", "infections_no_aid",
                     "infections_with_plan", "budget_value_deaths_per_usd"), NUMBER),
    **dict.fromkeys(("by_window", "reproduction_number", "spending_usd", "fill_rate",
                     "fill_rate_reachable", "timings_s"), {"*": NUMBER}),
    "lp": {"columns": NUMBER, "rows": NUMBER},
    "coupling": {"mode": str, "iterations": NUMBER, "converged": bool},
    "provenance": dict,
}  # fmt: skip
"""The JSON types of the summary.json fields the views read: a type, NUMBER (a number or
null), or a mapping (`"*"`: every value) whose leaves are checked alike; other fields, and
fields that are absent, are left to `reading_result`."""
SUMMARY_REQUIRED = ("scenario", "coupling", "spending_usd", "fill_rate", "timings_s", "lp")
"""Fields every summary.json of `aidopt run` has (see `optimiser.results.summary_of`)."""


def _wrong_types(value: object, kind: object, where: str) -> list[str]:
    """The fields under `value` (named from `where`) that are not of `kind`."""
    if isinstance(kind, dict):
        if value is None:  # a group the run had none of (an R without the epidemic model)
            return []
        if not isinstance(value, dict):
            return [f"{where} ({json_kind(value)})"]
        return [w for key, item in value.items() if (inner := kind.get(key, kind.get("*")))
                for w in _wrong_types(item, inner, f"{where}.{key}")]  # fmt: skip
    if kind == NUMBER:
        if isinstance(value, dict):  # a table of numbers (by_window: what, then when)
            return _wrong_types(value, {"*": NUMBER}, where)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if value is None or number else [f"{where} ({json_kind(value)})"]
    return [] if isinstance(value, kind) else [f"{where} ({json_kind(value)})"]  # type: ignore


@dataclass(frozen=True)
class Result:
    folder: Path
    ds: xr.Dataset
    summary: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.summary.get("scenario") or self.folder.name)


def read_result(folder: str | Path) -> Result:
    """Load a result folder written by `aidopt run`, or raise ResultError saying what is wrong:
    each file is checked for size before it is read, summary.json must be an object whose
    fields have the types aidopt writes."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "no such folder" if not os.path.lexists(folder) else "not a folder"
        raise ResultError(f"{folder}: {what}; give a folder `aidopt run` wrote")
    missing = [n for n in ("plan.nc", "summary.json") if not os.path.lexists(folder / n)]
    if missing:
        raise ResultError(
            f"{folder}: not an aidopt result (no {' or '.join(missing)}); "
            f"give a folder `aidopt run` wrote, such as results/korea-2020"
        )
    problems: list[str] = []
    summary = read_json(folder / "summary.json", problems)
    if problems:
        raise ResultError(problems[0])
    check_summary(folder / "summary.json", summary)
    try:
        ds = load_netcdf(folder / "plan.nc")
    except ReadError as exc:
        raise ResultError(str(exc)) from None
    return Result(folder, ds, cast(dict, summary))  # an object: check_summary says so


def check_summary(path: Path, summary: object) -> None:
    """Raise ResultError unless `summary` is an object whose `SUMMARY_FIELDS` have their types."""
    if not isinstance(summary, dict):
        raise ResultError(f"{path}: holds {json_kind(summary)}; aidopt writes an object {{...}} "
                          f"of the run's figures there")  # fmt: skip
    missing = [k for k in SUMMARY_REQUIRED if k not in summary]
    if missing:
        raise ResultError(f"{path}: has no {listing(missing)}; every summary aidopt run writes "
                          f"has them: write it again with aidopt run")  # fmt: skip
    wrong = [w for k, kind in SUMMARY_FIELDS.items() if k in summary
             for w in _wrong_types(summary[k], kind, k)]  # fmt: skip
    if wrong:
        raise ResultError(f"{path}: field(s) of the wrong type: {listing(wrong)}; aidopt "
                          f"writes numbers (or null) there, text for names, an object for a "
                          f"group")  # fmt: skip


@contextmanager
def reading_result(*results: Result):
    """Turn an error from a field that is missing or of the wrong type, met while a view reads
    `results`, into a ResultError naming the folder(s) and the field."""
    try:
        yield
    except ReadError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        part = f"field or variable {show(exc.args[0])}" if isinstance(exc, KeyError) and exc.args \
            else reason(exc)  # fmt: skip
        where = " or ".join(str(r.folder) for r in results)
        raise ResultError(f"{where}: summary.json or plan.nc is not as aidopt writes it "
                          f"({part}); write it again with aidopt run") from None  # fmt: skip


def write_file(path: Path, write: Callable[[Path], None], command: str = "export") -> Path:
    """Write one file atomically (see `optimiser.output_folder.write_file`)."""
    return output_folder.write_file(path, write, command)


def round_up(values: np.ndarray | pd.Series) -> np.ndarray:
    """Whole packs or teams enough to cover a continuous quantity."""
    return np.ceil(np.maximum(np.asarray(values, dtype=float) - ROUND_UP_SLACK, 0.0))


# --- routes ----------------------------------------------------------------------------------


def node_country(ds: xr.Dataset) -> dict[str, str]:
    return dict(zip(ds["node"].values.tolist(), ds["country"].values.tolist(), strict=True))


def entry_arcs(ds: xr.Dataset) -> list[str]:
    """Routes that cross into the DPRK from outside it."""
    country = node_country(ds)
    ends = zip(ds["arc"].values, ds["arc_from"].values, ds["arc_to"].values, strict=True)
    return [
        str(a) for a, f, t in ends if country.get(str(t)) == DPRK and country.get(str(f)) != DPRK
    ]


def tonnes_by_arc_week(ds: xr.Dataset) -> xr.DataArray:
    """Goods leaving on each route each week [t] (teams weigh nothing here)."""
    return ds["shipments_t"].sum("commodity")


def entry_tonnes(ds: xr.Dataset) -> pd.Series:
    """Tonnes over the horizon on every entry route, largest first [t]."""
    arcs = entry_arcs(ds)
    totals = tonnes_by_arc_week(ds).sel(arc=arcs).sum("week").to_series() if arcs else None
    if totals is None:
        return pd.Series(dtype=float)
    return totals.sort_values(ascending=False, kind="stable")


def route_status(ds: xr.Dataset) -> dict[str, str]:
    """'closed' where no shipment may ever leave on the route (sanctions, a closed border, no
    approval, or no use), 'some goods' where only some commodities may, else 'open'."""
    allowed = ds["flow_allowed"].any("week")
    status = {}
    for arc in ds["arc"].values.tolist():
        by_commodity = allowed.sel(arc=arc).values
        teams = bool(ds["personnel_allowed"].sel(arc=arc)) if "personnel_allowed" in ds else False
        if not by_commodity.any() and not teams:
            status[arc] = "closed"
        elif not by_commodity.all():
            status[arc] = "some goods"
        else:
            status[arc] = "open"
    return status


def route_values(ds: xr.Dataset) -> pd.DataFrame:
    """Routes whose capacity is worth something: the weeks it binds and its value there."""
    value = ds["route_capacity_value"]
    rows = []
    for arc in ds["arc"].values.tolist():
        v = value.sel(arc=arc).values
        binding = v > 1e-9
        if binding.any():
            rows.append(
                {
                    "route": arc,
                    "mode": str(ds["mode"].sel(arc=arc).values),
                    "weeks binding": int(binding.sum()),
                    "largest value [deaths per t/week]": float(v.max()),
                    "summed over weeks [deaths per t/week]": float(v[binding].sum()),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values("summed over weeks [deaths per t/week]", ascending=False)


def exemption_values(ds: xr.Dataset) -> pd.DataFrame:
    if "exemption_quota_value" not in ds or ds.sizes.get("exemption", 0) == 0:
        return pd.DataFrame(columns=["exemption", "quota value [deaths/t]"])
    return pd.DataFrame(
        {
            "exemption": ds["exemption"].values.astype(str),
            "quota value [deaths/t]": ds["exemption_quota_value"].values.astype(float),
        }
    )


# --- needs and coverage ----------------------------------------------------------------------


def unmet_share(ds: xr.Dataset) -> pd.DataFrame:
    """Share of each province's need over the horizon left unmet, per item (commodities and
    medical teams); NaN where nothing was needed. Rows provinces, columns items."""
    need = ds["need"].sum("week").to_pandas()  # commodity x province
    unmet = ds["unmet"].sum("week").to_pandas()
    table = (unmet / need.where(need > 0)).T
    team_need = ds["team_need"].sum("week").to_series()
    team_unmet = ds["team_unmet"].sum("week").to_series()
    table[TEAM] = team_unmet / team_need.where(team_need > 0)
    return table


def most_unmet(ds: xr.Dataset, n: int = 3) -> list[tuple[str, float, str, float]]:
    """(province, mean unmet share over items it needed, worst item, its unmet share), for the
    `n` provinces with the largest mean share; provinces with nothing unmet are left out."""
    shares = unmet_share(ds)
    mean = shares.mean(axis=1, skipna=True).dropna().sort_values(ascending=False, kind="stable")
    rows = []
    for province in mean.index[:n]:
        if mean[province] <= 1e-9:
            break
        row = shares.loc[province].dropna()
        rows.append((str(province), float(mean[province]), str(row.idxmax()), float(row.max())))
    return rows


def coverage(ds: xr.Dataset) -> xr.DataArray | None:
    """Coverage (lever, province, week): the variable, or older results' `<lever>_coverage`;
    None without an epidemic."""
    if "coverage" in ds:
        return ds["coverage"]
    names = [v for v in ds.data_vars if str(v).endswith("_coverage")]
    if not names:
        return None
    levers = [str(v).removesuffix("_coverage") for v in names]
    return xr.concat([ds[v] for v in names], dim=pd.Index(levers, name="lever"))


# --- epidemic --------------------------------------------------------------------------------


def has_epidemic(ds: xr.Dataset) -> bool:
    return "people_no_aid" in ds and "people_with_plan" in ds


def new_infections_per_day(ds: xr.Dataset, variable: str) -> xr.DataArray:
    """Daily new infections (province, day) as the fall in susceptibles [persons/day]."""
    susceptible = ds[variable].sel(compartment="S")
    return -susceptible.diff("day")


def deaths_by_province(ds: xr.Dataset, variable: str) -> pd.Series:
    return ds[variable].sel(compartment="D").isel(day=-1).to_series()


def interval(summary: dict, key: str) -> tuple[float, float] | None:
    """(low, high) for `key` from the summary's optional `uncertainty` block, which may hold
    `key: [low, high]` or `key: {low|lower|p5|q05: ..., high|upper|p95|q95: ...}`."""
    block = summary.get("uncertainty")
    if not isinstance(block, dict) or key not in block:
        return None
    value = block[key]
    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = value
    elif isinstance(value, dict):
        low = next((value[k] for k in ("low", "lower", "p5", "q05") if k in value), None)
        high = next((value[k] for k in ("high", "upper", "p95", "q95") if k in value), None)
    else:
        return None
    if low is None or high is None:
        return None
    return float(low), float(high)


def interval_label(summary: dict) -> str:
    block = summary.get("uncertainty")
    if isinstance(block, dict):
        for key in ("label", "interval", "level"):
            if isinstance(block.get(key), str | int | float):
                return str(block[key])
    return "range"


# --- words -----------------------------------------------------------------------------------


def convergence_text(summary: dict) -> str:
    c = summary.get("coupling", {})
    mode, n = c.get("mode", "?"), c.get("iterations", "?")
    if mode == "one-way" or c.get("converged_on") == "one-way":
        return "one-way coupling: one plan against the epidemic without aid"
    if c.get("converged"):
        return f"{mode} coupling converged on {c.get('converged_on')} after {n} iteration(s)"
    return f"{mode} coupling did NOT converge in {n} iteration(s): read the plan with care"


def config(ds: xr.Dataset) -> dict[str, Any] | None:
    text = ds.attrs.get("scenario_config_json")
    return json.loads(text) if text else None


def settings(ds: xr.Dataset, sections=("epidemic", "staff", "objective", "coupling")) -> list:
    """(dotted key, value, description with unit) of the scenario's scalar settings."""
    cfg = config(ds)
    if cfg is None:
        return []
    rows = []

    def walk(data: dict, model: Any, prefix: str) -> None:
        fields = {(f.alias or n): f for n, f in getattr(model, "model_fields", {}).items()}
        for key, value in data.items():
            field = fields.get(key)
            sub = _model_of(field.annotation) if field is not None else None
            if isinstance(value, dict) and sub is not None:
                walk(value, sub, f"{prefix}{key}.")
            elif value is not None and not isinstance(value, dict):
                rows.append((f"{prefix}{key}", value, field.description if field else ""))

    for section in sections:
        if isinstance(cfg.get(section), dict):
            field = ScenarioConfig.model_fields.get(section)
            walk(cfg[section], _model_of(field.annotation) if field else None, f"{section}.")
    return rows


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def key_assumptions(ds: xr.Dataset, summary: dict) -> list[str]:
    """What a reader must know to read the numbers right."""
    notes = []
    if has_epidemic(ds):
        end = pd.Timestamp(ds["date"].values[-1]).date() if "date" in ds.coords else "the horizon"
        notes.append(
            f"Deaths and infections are the epidemic model's, counted to {end}; they follow its "
            f"assumed severity, detection and contact rates (the settings below), not data."
        )
    else:
        notes.append("Deaths were not computed: the needs came from the scenario's own table.")
    if "shipments_whole" in ds:
        notes.append(
            "The plan is a linear program, rounded by a last stage to whole lots, vehicles and "
            "teams (aidopt run --whole-units): the workbook's rounded columns are that plan's."
        )
    else:
        notes.append(
            "The plan is a linear program: quantities and teams are fractional; aidopt run "
            "--whole-units rounds it to whole lots, vehicles and teams (a MIP)."
        )
    notes.append(
        "Aid acts on the epidemic as capacities: tests a week, isolated people and hospital "
        "patients with IPC supplies, patients in aid's care; coverage is each capacity over the "
        "load the epidemic puts on it that week (suspected cases, people isolated, patients)."
    )
    cfg = config(ds) or {}
    objective = cfg.get("objective") or {}
    if objective.get("usd_per_death_averted"):
        budget = objective.get("budget_usd")
        notes.append(
            f"Spending weighs as deaths at {objective['usd_per_death_averted']:,.0f} USD per "
            f"death averted; budget: {f'{budget:,.0f} USD' if budget else 'none'}."
        )
    overrides = summary.get("provenance", {}).get("overrides")
    if overrides:
        notes.append(f"Run with overrides: {overrides}.")
    return notes


def fmt(value: float | None, digits: int = 3) -> str:
    """A number as a person reads it: thousands separated, a few significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


# --- the answer: what arrives where, teams, deaths averted, limits ------------------------------


def province_names(ds: xr.Dataset) -> dict[str, str]:
    ids = ds["province"].values.tolist()
    names = ds["province_name"].values.tolist() if "province_name" in ds.coords else ids
    return dict(zip(ids, [str(n) for n in names], strict=True))


def commodity_names(ds: xr.Dataset) -> dict[str, str]:
    ids = ds["commodity"].values.tolist()
    names = ds["commodity_name"].values.tolist() if "commodity_name" in ds.coords else ids
    return dict(zip(ids, [str(n) for n in names], strict=True))


def node_names(ds: xr.Dataset) -> dict[str, str]:
    """Provinces by their names; depots and crossings keep their ids (the result holds no
    other name for them)."""
    names = {str(n): str(n) for n in ds["node"].values.tolist()} if "node" in ds.coords else {}
    return names | province_names(ds)


def months(ds: xr.Dataset) -> list[str]:
    """The calendar month ('2020-04') of each week's Monday."""
    return [pd.Timestamp(d).strftime("%Y-%m") for d in ds["week_start"].values]


def what_arrives(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (province, item) delivered: units over the horizon, tonnes, and units by
    calendar month of the week's Monday; the same numbers as deliveries.csv's `delivered`."""
    delivered = ds["delivered"].transpose("province", "commodity", "week").values
    mass_t = ds["mass_kg_per_unit"].values / 1000.0
    by_month = months(ds)
    order = list(dict.fromkeys(by_month))
    provinces, items = province_names(ds), commodity_names(ds)
    units = dict(zip(ds["commodity"].values.tolist(), ds["unit"].values.tolist(), strict=True))
    rows = []
    for p, province in enumerate(ds["province"].values.tolist()):
        for k, commodity in enumerate(ds["commodity"].values.tolist()):
            weekly = delivered[p, k]
            if weekly.sum() <= 0:
                continue
            monthly = pd.Series(weekly).groupby(by_month).sum()
            rows.append({
                "province": provinces[province], "province_id": province,
                "item": items[commodity], "item_id": commodity, "unit": str(units[commodity]),
                "total [units]": float(weekly.sum()),
                "total [t]": float(weekly.sum() * mass_t[k]),
                **{f"{m} [units]": float(monthly.get(m, 0.0)) for m in order},
            })  # fmt: skip
    columns = ["province", "province_id", "item", "item_id", "unit", "total [units]",
               "total [t]", *[f"{m} [units]" for m in order]]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def arrivals_matrix(ds: xr.Dataset) -> pd.DataFrame:
    """Provinces x items: units delivered over the horizon (the item's unit in its column's
    name), tonnes of all goods, and a total row; a pivot of `what_arrives`."""
    long = what_arrives(ds)
    items = commodity_names(ds)
    units = dict(zip(ds["commodity"].values.tolist(), ds["unit"].values.tolist(), strict=True))
    used = [k for k in ds["commodity"].values.tolist() if k in set(long["item_id"])]
    table = long.pivot_table(index="province_id", columns="item_id", values="total [units]",
                             aggfunc="sum", fill_value=0.0)  # fmt: skip
    table = table.reindex(index=ds["province"].values.tolist(), columns=used, fill_value=0.0)
    tonnes = long.groupby("province_id")["total [t]"].sum().reindex(table.index, fill_value=0.0)
    table.columns = [f"{items[k]} [{units[k]}]" for k in used]
    table["all goods [t]"] = tonnes
    table.loc["total"] = table.sum(axis=0)
    names = province_names(ds) | {"total": "total"}
    table.insert(0, "province", [names[p] for p in table.index])
    return table.reset_index(drop=True)


def tonnes_by_month(ds: xr.Dataset) -> pd.DataFrame:
    """Provinces x months: tonnes delivered, with a total row and column."""
    long = what_arrives(ds)
    mass = dict(zip(ds["commodity"].values.tolist(), ds["mass_kg_per_unit"].values / 1000.0,
                    strict=True))  # fmt: skip
    order = list(dict.fromkeys(months(ds)))
    rows = []
    for province, name in province_names(ds).items():
        mine = long[long["province_id"] == province]
        tonnes = {m: float((mine[f"{m} [units]"] * mine["item_id"].map(mass)).sum())
                  for m in order}  # fmt: skip
        rows.append({"province": name, **{f"{m} [t]": tonnes[m] for m in order},
                     "total [t]": sum(tonnes.values())})  # fmt: skip
    table = pd.DataFrame(rows)
    if not table.empty:
        total = table.drop(columns="province").sum(axis=0)
        table.loc[len(table)] = {"province": "total", **total.to_dict()}
    return table


def teams_by_province(ds: xr.Dataset) -> pd.DataFrame:
    """ROK medical teams per province: team-weeks present and needed over the horizon, the
    most present in one week, and the share of the need met."""
    names = province_names(ds)
    rows = []
    for province in ds["province"].values.tolist():
        present = ds["team_present"].sel(province=province).values
        need = ds["team_need"].sel(province=province).values
        deployed = ds["team_deployed"].sel(province=province).values
        short = ds["team_unmet"].sel(province=province).values
        rows.append({
            "province": names[province],
            "teams sent [teams]": float(deployed.sum()),
            "most present in a week [teams]": float(present.max()),
            "present [team-weeks]": float(present.sum()),
            "needed [team-weeks]": float(need.sum()),
            "share of the need met": (1.0 - float(short.sum()) / float(need.sum())
                                      if need.sum() > 0 else None),
        })  # fmt: skip
    return pd.DataFrame(rows)


def deaths_averted(summary: dict) -> dict[str, float]:
    """Deaths averted per counted window: the summary's own, or (older results) computed from
    `by_window` [persons]."""
    if isinstance(summary.get("deaths_averted"), dict):
        return {k: float(v) for k, v in summary["deaths_averted"].items() if v is not None}
    w = summary.get("by_window") or {}
    no_aid, plan = w.get("deaths_no_aid") or {}, w.get("deaths_with_plan") or {}
    return {k: float(no_aid[k] - plan[k]) for k in no_aid if k in plan}


def window_date(summary: dict, window: str) -> str | None:
    return summary.get(f"{window}_date")


def limits_table(summary: dict, ds: xr.Dataset | None = None) -> pd.DataFrame:
    """Each item's fill rate and what holds it down (summary["limits"]); empty without."""
    found = (summary.get("limits") or {}).get("items") or {}
    names = commodity_names(ds) if ds is not None else {}
    rows = []
    for item, e in found.items():
        if e.get("fill_rate") is None:
            continue  # nothing is needed of it (equipment that only adds capacity)
        subject = e.get("subject")
        what = e.get("words", "")
        if e.get("limit") in ("supply", "route", "quota") and subject:
            what = f"{what}: {names.get(subject, subject)}"
        doubled = e.get("deaths_if_doubled")
        rows.append({
            "item": names.get(item, "ROK medical teams" if item == TEAM else item),
            "fill rate": percent(e.get("fill_rate")),
            "held down by": what,
            "deaths averted if doubled (first order, at most)": doubled if doubled else "-",
            "to value it exactly": f"--set {e['set']}" if e.get("set") else "-",
        })  # fmt: skip
    return pd.DataFrame(rows)


def most_valuable_limits(summary: dict) -> pd.DataFrame:
    top = (summary.get("limits") or {}).get("most_valuable") or []
    return pd.DataFrame([
        {"limit": f"{r['kind']}: {r['subject']}",
         "deaths averted if doubled (first order, at most)": r["deaths_if_doubled"],
         "holds": ", ".join(r.get("items", [])[:4]),
         "to value it exactly": f"aidopt run --set {r['set']}",
         "aidopt asks row": r.get("ask") or "-"}
        for r in top
    ])  # fmt: skip


def rules_of_thumb(summary: dict) -> pd.DataFrame | None:
    """The plan beside simple rules (summary["rules_of_thumb"], written by the closed loop's
    rules step) or None when the result has none."""
    block = summary.get("rules_of_thumb")
    if not isinstance(block, dict) or not block.get("rules"):
        return None
    rows = [{"rule": r.get("rule"), "what it does": r.get("description", ""),
             "deaths": r.get("deaths"), "deaths averted": r.get("deaths_averted"),
             "spending [USD]": r.get("spending_usd")}
            for r in block["rules"]]  # fmt: skip
    return pd.DataFrame(rows)


def percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"
