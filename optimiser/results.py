"""The results step: one labelled `xr.Dataset` holding the inputs that matter, both epidemic
trajectories, the plan, its coverage, values of routes and exemptions, the coupling history and
provenance. Every export is a view of it; `summary.json` is stored in it as an attribute.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from typing import Any

import numpy as np
import xarray as xr

from models.seir import AID, COMPARTMENTS, D, S, V
from optimiser.coupling import Outcome, total_deaths, total_infections
from optimiser.epidemic import AID_UNITS, aid_coverage


def provenance(outcome: Outcome) -> dict[str, str]:
    """Versions and hashes that let someone tell two runs apart."""
    import pyomo

    from optimiser.lp import new_highs

    h = new_highs()
    return {
        "aidopt_version": importlib.metadata.version("aidopt"),
        "inputs_sha256": outcome.scenario.inputs_sha256,
        "overrides": " ".join(outcome.scenario.overrides),
        "overrides_json": json.dumps(list(outcome.scenario.overrides)),
        "highs_version": f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}",
        "pyomo_version": pyomo.version.version,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario_folder": str(outcome.scenario.folder),
    }


def _var(dims, data, units: str, long_name: str) -> xr.Variable:
    return xr.Variable(dims, data, attrs={"units": units, "long_name": long_name})


def _coords(outcome: Outcome) -> dict[str, Any]:
    scn, net = outcome.scenario, outcome.network
    cfg = scn.config
    located = [(n.latitude, n.longitude) for n in scn.provinces]  # the order of scn.node_ids
    located += [(n.latitude, n.longitude) for n in scn.depots]
    located += [(n.latitude, n.longitude) for n in scn.crossings]
    coords: dict[str, Any] = {
        "commodity": scn.commodity_ids,
        "commodity_name": ("commodity", [c.name for c in scn.commodities]),
        "unit": ("commodity", [c.unit for c in scn.commodities]),
        "mass_kg_per_unit": ("commodity", [c.mass_kg_per_unit for c in scn.commodities]),
        "hs_code": ("commodity", [c.hs_code for c in scn.commodities]),
        "province": scn.province_ids,
        "province_name": ("province", [p.name for p in scn.provinces]),
        "week": np.arange(scn.n_weeks),
        "week_start": ("week", scn.week_start_dates.astype("datetime64[ns]")),
        "arc": net.arc_ids,
        "arc_from": ("arc", [a.from_ for a in scn.arcs]),
        "arc_to": ("arc", [a.to for a in scn.arcs]),
        "mode": ("arc", [a.mode for a in scn.arcs]),
        "transit_weeks": ("arc", net.transit_weeks),
        "node": scn.node_ids,
        "country": ("node", [scn.node_country[n] for n in scn.node_ids]),
        "latitude": ("node", [lat for lat, _ in located], {"units": "degrees_north"}),
        "longitude": ("node", [lon for _, lon in located], {"units": "degrees_east"}),
        "exemption": net.exemption_ids,
        "lever": list(AID),
        "lever_unit": ("lever", [AID_UNITS[c] for c in AID]),
        "iteration": np.arange(len(outcome.history)),
    }
    if outcome.people_no_aid is not None:
        n_days = outcome.people_no_aid.shape[-1]
        coords["compartment"] = list(COMPARTMENTS)
        coords["day"] = np.arange(n_days)
        coords["date"] = ("day", (np.datetime64(cfg.start_date, "D")
                                  + np.arange(n_days)).astype("datetime64[ns]"))  # fmt: skip
    return coords


def _plan_variables(outcome: Outcome) -> dict[str, xr.Variable]:
    scn, net, plan = outcome.scenario, outcome.network, outcome.plan
    cfg = scn.config
    mass_t = np.array([c.mass_kg_per_unit for c in scn.commodities]) / 1000.0
    kpw, kaw, pw, cpw = (("commodity", "province", "week"), ("commodity", "arc", "week"),
                         ("province", "week"), ("lever", "province", "week"))  # fmt: skip
    delivered = np.minimum(plan.used, outcome.need)
    weeks = cfg.staff.deployment_weeks
    present = np.stack(
        [plan.deployed[:, max(0, w - weeks + 1) : w + 1].sum(axis=1) for w in range(scn.n_weeks)],
        axis=1,
    )
    n_p = len(scn.provinces)
    data = {
        "population": _var("province", [p.population for p in scn.provinces], "persons",
                           "population"),  # fmt: skip
        "capacity_t_per_week": _var("arc", [a.capacity_t_per_week for a in scn.arcs], "t/week",
                                    "route capacity"),  # fmt: skip
        "cost_per_t": _var("arc", [a.cost_per_t for a in scn.arcs], "USD/t", "transport cost"),
        "personnel_allowed": _var("arc", np.array([a.personnel for a in scn.arcs], dtype=np.int8),
                                  "1", "medical teams may travel on the arc"),  # fmt: skip
        "flow_allowed": _var(kaw, net.allowed.astype(np.int8), "1",
                             "a shipment variable exists (sanctions, windows, approvals, "
                             "reachability)"),  # fmt: skip
        "need": _var(kpw, outcome.need, "units", "units needed against the plan's own epidemic "
                     "(WHO COVID-ESFT)"),
        "used": _var(kpw, plan.used, "units", "units the plan uses up, or has in use"),
        "delivered": _var(kpw, delivered, "units", "units used against the need"),
        "unmet": _var(kpw, outcome.need - delivered, "units", "need not met"),
        "shipments": _var(kaw, plan.shipments, "units", "units leaving on the arc that week"),
        "shipments_t": _var(kaw, plan.shipments * mass_t[:, None, None], "t",
                            "tonnes leaving on the arc"),  # fmt: skip
        "procured": _var(("commodity", "node", "week"), plan.procured, "units",
                         "taken from depot supply"),  # fmt: skip
        "stock": _var(("commodity", "node", "week"), plan.stock, "units",
                      "held at week's end (as planned)"),  # fmt: skip
        "reachable": _var(kpw, net.stock_possible[:, :n_p, :].astype(np.int8), "1",
                          "the commodity can reach the province that week"),  # fmt: skip
        "aid": _var(cpw, outcome.aid, "see lever_unit", "aid capacity the plan gives"),
        "care_beds_equipped": _var(pw, plan.beds, "patients", "patients in care beds the plan "
                                   "equips (the rest of aid's care comes from medical teams)"),
        "team_need": _var(pw, outcome.team_need, "teams", "medical teams needed"),
        "team_deployed": _var(pw, plan.deployed, "teams", "teams starting a deployment"),
        "team_present": _var(pw, present, "teams", "teams deployed in the province"),
        "team_unmet": _var(pw, np.maximum(outcome.team_need - present, 0.0), "teams",
                           "teams needed but not present"),  # fmt: skip
        "staff_present": _var(pw, present * cfg.staff.staff_per_team, "persons",
                              "ROK medical staff deployed"),  # fmt: skip
        "team_shipments": _var(("arc", "week"), plan.team_shipments, "teams",
                               "teams travelling"),  # fmt: skip
        "route_capacity_value": _var(("arc", "week"), plan.capacity_value, "deaths/(t/week)",
                                     "deaths (and spending / usd_per_death_averted) one more "
                                     "tonne a week would save, from the LP's dual"),
        "exemption_quota_value": _var("exemption", plan.quota_value, "deaths/t",
                                      "deaths one more tonne of quota would save, from the "
                                      "LP's dual"),
    }  # fmt: skip
    if outcome.gradient is not None and outcome.loads is not None and outcome.needs is not None:
        data["harm_gradient"] = _var(
            cpw, outcome.gradient, "deaths/unit", "deaths averted per unit more aid, at the plan"
        )
        data["load"] = _var(
            cpw,
            outcome.loads,
            "see lever_unit",
            "what each capacity would need to serve the whole epidemic",
        )
        data["coverage"] = _var(
            cpw, aid_coverage(outcome.aid, outcome.loads), "1", "share of the load the aid covers"
        )
        data["lab_capacity"] = _var(
            "province",
            outcome.needs.lab_capacity,
            "tests/week",
            "tests the province's own laboratories can run",
        )
        data["tests_needed"] = _var(
            pw,
            outcome.needs.tests,
            "tests",
            "tests in the testing programme (ESFT, with the floor)",
        )
    history = outcome.history
    data["deaths_by_iteration"] = _var(
        "iteration",
        [h.deaths for h in history],
        "persons",
        "deaths by the end of the outlook at each trial plan (a robust objective: their mean "
        "or CVaR over the draws)",
    )
    data["predicted_by_iteration"] = _var(
        "iteration",
        [h.predicted for h in history],
        "deaths",
        "improvement in merit the LP predicted",
    )
    data["actual_by_iteration"] = _var("iteration", [np.nan if h.actual is None else h.actual
                                                     for h in history], "deaths",
                                       "improvement in merit achieved")  # fmt: skip
    data["trust_region_by_iteration"] = _var(
        "iteration", [h.trust_region for h in history], "1", "largest coverage change allowed"
    )
    data["accepted_by_iteration"] = _var("iteration", np.array([h.accepted for h in history],
                                                               dtype=np.int8), "1",
                                         "the trial plan was accepted")  # fmt: skip
    if outcome.people_no_aid is not None and outcome.people_with_plan is not None:
        cpd = ("compartment", "province", "day")
        n_c = len(COMPARTMENTS)
        data["people_no_aid"] = _var(cpd, outcome.people_no_aid[:n_c], "persons",
                                     "epidemic without aid")  # fmt: skip
        data["people_with_plan"] = _var(cpd, outcome.people_with_plan[:n_c], "persons",
                                        "epidemic with the plan's coverage")  # fmt: skip
    return data


def fill_rates(ds: xr.Dataset) -> tuple[dict, dict]:
    """Per commodity: share of the whole need met, and of the need it could reach in time."""
    need, delivered, reach = ds["need"], ds["delivered"], ds["reachable"]
    whole = delivered.sum(("province", "week")) / need.sum(("province", "week"))
    reachable = (delivered * reach).sum(("province", "week")) / (need * reach).sum(
        ("province", "week")
    )
    team_total = float(ds["team_need"].sum())
    team = float(1.0 - ds["team_unmet"].sum() / team_total) if team_total else float("nan")
    fill = {**dict(zip(ds["commodity"].values.tolist(), whole.values.tolist(), strict=True)),
            "medical_team": team}  # fmt: skip
    return fill, dict(zip(ds["commodity"].values.tolist(), reachable.values.tolist(),
                          strict=True))  # fmt: skip


def _epidemic_summary(outcome: Outcome) -> dict[str, Any]:
    if outcome.people_no_aid is None or outcome.people_with_plan is None:
        return {
            "epidemic": "not computed: needs come from needs.csv",
            "deaths_no_aid": None,
            "deaths_with_plan": None,
            "infections_no_aid": None,
            "infections_with_plan": None,
        }
    scn = outcome.scenario
    population = np.array([p.population for p in scn.provinces], dtype=float)
    horizon_day = 7 * scn.n_weeks
    runs = {"no_aid": outcome.people_no_aid, "with_plan": outcome.people_with_plan}
    by_window = {
        f"{what}_{name}": {
            "horizon": f(people, day=horizon_day),
            "outlook": f(people),
        }
        for name, people in runs.items()
        for what, f in (("deaths", total_deaths),
                        ("infections", lambda y, day=None: total_infections(y, population, day)))
    }  # fmt: skip
    epi = scn.epidemic
    return {
        "epidemic": "SEIR model",
        # The headline: the whole outlook, the window every lever is valued over.
        **{key: value["outlook"] for key, value in by_window.items()},
        "by_window": by_window,
        "horizon_date": str(scn.config.start_date + dt.timedelta(days=horizon_day)),
        "outlook_date": str(scn.config.start_date + dt.timedelta(weeks=epi.outlook_weeks)),
        "counted_window": counted_window(scn),
        "reproduction_number": outcome.reproduction_number,
    }


def counted_window(scn) -> dict[str, Any]:
    """What the deaths a plan is judged by count, and what ends the epidemic: the window, the
    aid after the horizon, the vaccine."""
    epi = scn.epidemic
    vaccine = epi.vaccination
    return {
        "name": "outlook",
        "weeks": epi.outlook_weeks,
        "end_date": str(scn.config.start_date + dt.timedelta(weeks=epi.outlook_weeks)),
        "after_horizon": epi.after_horizon.aid,
        "after_horizon_rule": epi.after_horizon.describe(),
        "vaccination": "none" if vaccine is None else vaccine.describe(),
    }


def _ensemble(outcome: Outcome) -> tuple[dict[str, xr.Variable], dict[str, Any], dict | None]:
    """Variables along `draw`, their coordinates, and the summary's `uncertainty` block."""
    from optimiser.uncertainty import percentiles

    ens = outcome.ensemble
    if ens is None:
        return {}, {}, None
    population = np.array([p.population for p in outcome.scenario.provinces], dtype=float)
    per_draw = {
        "deaths_no_aid": ens.final_no_aid[:, D],
        "deaths_with_plan": ens.final_with_plan[:, D],
        "infections_no_aid": population - ens.final_no_aid[:, S] - ens.final_no_aid[:, V],
        "infections_with_plan": population - ens.final_with_plan[:, S]
        - ens.final_with_plan[:, V],
    }
    dp = ("draw", "province")
    data = {
        f"{name}_by_draw": _var(dp, values, "persons", f"{name.replace('_', ' ')} by the end of "
                                "the outlook, per drawn epidemic")
        for name, values in per_draw.items()
    }  # fmt: skip
    data["draw_value"] = _var(("draw", "parameter"), ens.draws.values, "see parameter",
                              "each draw's value of each uncertain input (factors where scaled)")
    coords = {
        "draw": np.arange(ens.draws.count),
        "parameter": list(ens.draws.names),
        "draw_overrides": ("draw", [" ".join(o) for o in ens.draws.overrides]),
    }
    totals = {name: values.sum(axis=1) for name, values in per_draw.items()}
    summary = {
        "draws": ens.draws.count,
        "seed": ens.draws.seed,
        "parameters": list(ens.draws.names),
        "robustness": ens.robustness,
        **{name: percentiles(values) for name, values in totals.items()},
        "deaths_averted": percentiles(totals["deaths_no_aid"] - totals["deaths_with_plan"]),
    }
    if ens.comparison is not None:
        summary["comparison"] = ens.comparison
    return data, coords, summary


def to_dataset(outcome: Outcome) -> xr.Dataset:
    scn, plan = outcome.scenario, outcome.plan
    cfg = scn.config
    draw_data, draw_coords, uncertainty = _ensemble(outcome)
    ds = xr.Dataset({**_plan_variables(outcome), **draw_data},
                    coords={**_coords(outcome), **draw_coords})  # fmt: skip
    fill, reachable = fill_rates(ds)
    ds["fill_rate"] = _var("commodity", list(fill.values())[:-1], "1",
                           "share of the horizon's need delivered")  # fmt: skip
    ds["fill_rate_reachable"] = _var("commodity", list(reachable.values()), "1",
                                     "share delivered of the need it could reach")  # fmt: skip
    history = outcome.history
    summary: dict[str, Any] = {
        "scenario": cfg.name,
        "status": "optimal" if outcome.converged else "not converged",
        **_epidemic_summary(outcome),
        "spending_usd": {**plan.spending_usd, "total": sum(plan.spending_usd.values())},
        "fill_rate": fill,
        "fill_rate_reachable": reachable,
        "budget_value_deaths_per_usd": plan.budget_value,
        **({"uncertainty": uncertainty} if uncertainty is not None else {}),
        "coupling": {
            "mode": cfg.coupling.mode,
            # nominal: history's deaths are the scenario's; else their mean or CVaR over draws
            "robustness": cfg.objective.robustness,
            "iterations": len(history),
            "converged": outcome.converged,
            "converged_on": outcome.converged_on,
            "tolerance": cfg.coupling.tolerance,
            "deaths_range_last_iterations": _last_range(history),
            "history": [vars(h) for h in history],
            **_starts(outcome),
        },
        **_rules_of_thumb(outcome),
        "lp": {
            "columns": outcome.lp.n_columns,
            "rows": outcome.lp.n_rows,
            "method": outcome.lp.method,
        },  # fmt: skip
        "timings_s": {k: round(v, 4) for k, v in outcome.timings_s.items()},
        "provenance": provenance(outcome),
    }
    ds.attrs.update(
        title=f"aidopt plan for scenario {cfg.name}",
        summary_json=json.dumps(plain(summary), allow_nan=False),
        scenario_config_json=cfg.model_dump_json(by_alias=True),
        **{f"provenance_{k}": v for k, v in summary["provenance"].items()},
    )
    return ds


def _rules_of_thumb(outcome: Outcome) -> dict[str, Any]:
    """summary.json's `rules_of_thumb` (`optimiser.rules.summary`), where there are rules."""
    if not outcome.rules or outcome.no_aid_deaths is None or outcome.plan_deaths is None:
        return {}
    from optimiser.rules import summary

    return {"rules_of_thumb": summary(outcome.rules, outcome.no_aid_deaths, outcome.plan_deaths,
                                      counted_window(outcome.scenario)["name"],
                                      outcome.rule_deaths_by_draw)}  # fmt: skip


def _starts(outcome: Outcome) -> dict[str, Any]:
    """coupling's `starts` (each start's deaths where it began and ended, its iterations and
    how it stopped), their spread and whether they agree within the convergence band."""
    if not outcome.starts:
        return {}
    from optimiser.coupling import band

    ends = [s.search.current.deaths for s in outcome.starts]
    spread = max(ends) - min(ends)
    width = band(outcome.scenario.config, min(ends))
    return {
        "starts": [{"start": s.name, "first_deaths": s.first_deaths,
                    "deaths": s.search.current.deaths,
                    "spending_usd": s.search.current.spending,
                    "iterations": len(s.search.history),
                    "converged_on": s.search.converged_on} for s in outcome.starts],
        "starts_spread_deaths": spread,
        "band_deaths": width,
        "starts_agree": bool(spread <= width),
    }  # fmt: skip


def _last_range(history: list, n: int = 5) -> list[float] | None:
    """Least and most deaths over the last n evaluated plans."""
    deaths = [h.deaths for h in history[-n:] if np.isfinite(h.deaths)]
    return [min(deaths), max(deaths)] if deaths else None


def summary_of(ds: xr.Dataset) -> dict:
    """The run's summary, as stored in the dataset."""
    return json.loads(ds.attrs["summary_json"])


def plain(value: Any) -> Any:
    """JSON-ready copy: numpy scalars as Python numbers, NaN as null."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
