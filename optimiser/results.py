"""The results step: one labelled `xr.Dataset` holding inputs that matter, both epidemic
trajectories, the plan, duals, the coupling history and provenance. Every export is a view of it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
from typing import Any

import numpy as np
import xarray as xr

from models.seir import COMPARTMENTS
from optimiser.coupling import Outcome, total_deaths, total_infections


def provenance(outcome: Outcome) -> dict[str, str]:
    """Versions and hashes that let someone tell two runs apart."""
    import highspy
    import pyomo

    h = highspy.Highs()
    return {
        "aidopt_version": importlib.metadata.version("aidopt"),
        "inputs_sha256": outcome.scenario.inputs_sha256,
        "overrides": " ".join(outcome.scenario.overrides),
        "highs_version": f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}",
        "pyomo_version": pyomo.version.version,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "scenario_folder": str(outcome.scenario.folder),
    }


def to_dataset(outcome: Outcome) -> xr.Dataset:
    scn, net, plan = outcome.scenario, outcome.network, outcome.plan
    cfg = scn.config
    n_days = 7 * scn.n_weeks
    mass_t = np.array([c.mass_kg_per_unit for c in scn.commodities]) / 1000.0
    arc_dims = ("arc",)
    located = [(n.latitude, n.longitude) for n in scn.provinces]  # the order of scn.node_ids
    located += [(n.latitude, n.longitude) for n in scn.depots]
    located += [(n.latitude, n.longitude) for n in scn.crossings]
    coords = {
        "commodity": scn.commodity_ids,
        "commodity_name": ("commodity", [c.name for c in scn.commodities]),
        "unit": ("commodity", [c.unit for c in scn.commodities]),
        "mass_kg_per_unit": ("commodity", [c.mass_kg_per_unit for c in scn.commodities]),
        "hs_code": ("commodity", [c.hs_code for c in scn.commodities]),
        "commodity_lever": ("commodity", [c.lever for c in scn.commodities]),
        "province": scn.province_ids,
        "province_name": ("province", [p.name for p in scn.provinces]),
        "week": np.arange(scn.n_weeks),
        "week_start": ("week", scn.week_start_dates.astype("datetime64[ns]")),
        "arc": net.arc_ids,
        "arc_from": (arc_dims, [a.from_ for a in scn.arcs]),
        "arc_to": (arc_dims, [a.to for a in scn.arcs]),
        "mode": (arc_dims, [a.mode for a in scn.arcs]),
        "transit_weeks": (arc_dims, net.transit_weeks),
        "node": scn.node_ids,
        "country": ("node", [scn.node_country[n] for n in scn.node_ids]),
        "latitude": ("node", [lat for lat, _ in located], {"units": "degrees_north"}),
        "longitude": ("node", [lon for _, lon in located], {"units": "degrees_east"}),
        "exemption": net.exemption_ids,
        "lever": ["testing", "care"],
        "iteration": np.arange(len(outcome.history)),
    }
    delivered = outcome.need - plan.unmet
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(
            outcome.need.sum(axis=(1, 2)) > 0,
            delivered.sum(axis=(1, 2)) / outcome.need.sum(axis=(1, 2)),
            np.nan,
        )
    weeks = cfg.staff.deployment_weeks
    present = np.stack(
        [plan.deployed[:, max(0, w - weeks + 1) : w + 1].sum(axis=1) for w in range(scn.n_weeks)],
        axis=1,
    )
    # Needs a commodity cannot reach in time (before a route opens, say) are no plan's fault.
    n_p = len(scn.provinces)
    reachable = net.stock_possible[:, :n_p, :]
    need_reachable = (outcome.need * reachable).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        fill_reachable = np.where(
            need_reachable > 0, (delivered * reachable).sum(axis=(1, 2)) / need_reachable, np.nan
        )
    team_total = outcome.team_need.sum()
    team_fill = (outcome.team_need - plan.team_unmet).sum() / team_total if team_total else np.nan
    kpw, kaw, pw = (
        ("commodity", "province", "week"),
        ("commodity", "arc", "week"),
        ("province", "week"),
    )

    def var(dims, data, units, long_name):
        return xr.Variable(dims, data, attrs={"units": units, "long_name": long_name})

    data = {
        "population": var(
            "province", [p.population for p in scn.provinces], "persons", "2008 census population"
        ),
        "capacity_t_per_week": var(
            "arc", [a.capacity_t_per_week for a in scn.arcs], "t/week", "route capacity"
        ),
        "cost_per_t": var("arc", [a.cost_per_t for a in scn.arcs], "USD/t", "transport cost"),
        "personnel_allowed": var(
            "arc",
            np.array([a.personnel for a in scn.arcs], dtype=np.int8),
            "1",
            "medical teams may travel on the arc",
        ),
        "flow_allowed": var(
            kaw,
            net.allowed.astype(np.int8),
            "1",
            "a shipment variable exists (sanctions, windows, approvals, reachability)",
        ),
        "need": var(kpw, outcome.need, "units", "units needed"),
        "delivered": var(kpw, delivered, "units", "units used against the need"),
        "unmet": var(kpw, plan.unmet, "units", "need not met"),
        "harm_per_unit": var(kpw, outcome.harm, "deaths/unit", "deaths one unit short causes"),
        "shipments": var(kaw, plan.shipments, "units", "units leaving on the arc that week"),
        "shipments_t": var(
            kaw, plan.shipments * mass_t[:, None, None], "t", "tonnes leaving on the arc"
        ),
        "procured": var(
            ("commodity", "node", "week"), plan.procured, "units", "taken from depot supply"
        ),
        "stock": var(("commodity", "node", "week"), plan.stock, "units", "held at week's end"),
        "fill_rate": var("commodity", fill, "1", "share of the horizon's need delivered"),
        "reachable": var(
            kpw, reachable.astype(np.int8), "1", "the commodity can reach the province that week"
        ),
        "fill_rate_reachable": var(
            "commodity", fill_reachable, "1", "share delivered of the need it could reach"
        ),
        "team_need": var(pw, outcome.team_need, "teams", "medical teams needed"),
        "team_deployed": var(pw, plan.deployed, "teams", "teams starting a deployment"),
        "team_present": var(pw, present, "teams", "teams deployed in the province"),
        "team_unmet": var(pw, plan.team_unmet, "teams", "teams needed but not present"),
        "staff_present": var(
            pw, present * cfg.staff.staff_per_team, "persons", "ROK medical staff deployed"
        ),
        "team_harm": var(pw, outcome.team_harm, "deaths/team", "deaths one team short causes"),
        "team_shipments": var(("arc", "week"), plan.team_shipments, "teams", "teams travelling"),
        "testing_coverage": var(pw, outcome.testing_coverage, "1", "testing lever coverage"),
        "care_coverage": var(pw, outcome.care_coverage, "1", "care lever coverage"),
        "coverage": var(
            ("lever", "province", "week"),
            np.stack([outcome.testing_coverage, outcome.care_coverage]),
            "1",
            "share of each lever's need the plan meets",
        ),
        "route_capacity_value": var(
            ("arc", "week"),
            -plan.capacity_dual,
            "deaths/(t/week)",
            "objective fall per extra tonne of capacity (minus the dual)",
        ),
        "exemption_quota_value": var(
            "exemption",
            -plan.quota_dual,
            "deaths/t",
            "objective fall per extra tonne of exemption quota (minus the dual)",
        ),
        "deaths_by_iteration": var(
            "iteration",
            [h.deaths for h in outcome.history],
            "persons",
            "deaths by the horizon under the coverage each iteration started from",
        ),
        "objective_by_iteration": var(
            "iteration",
            [h.objective for h in outcome.history],
            "linearised deaths",
            "LP objective: harm-weighted unmet need plus spending / usd_per_death_averted",
        ),
        "coverage_change_by_iteration": var(
            "iteration", [h.change for h in outcome.history], "1", "largest coverage change"
        ),
    }
    if outcome.people_no_aid is not None:
        coords["compartment"] = list(COMPARTMENTS)
        coords["day"] = np.arange(n_days + 1)
        coords["date"] = (
            "day",
            (np.datetime64(cfg.start_date, "D") + np.arange(n_days + 1)).astype("datetime64[ns]"),
        )
        cpd = ("compartment", "province", "day")
        data["people_no_aid"] = var(cpd, outcome.people_no_aid, "persons", "epidemic without aid")
        data["people_with_plan"] = var(
            cpd, outcome.people_with_plan, "persons", "epidemic with the plan's coverage"
        )

    epidemic_run = outcome.people_no_aid is not None
    no_aid, with_plan = outcome.people_no_aid, outcome.people_with_plan
    summary: dict[str, Any] = {
        "scenario": cfg.name,
        "status": plan.status,
        "objective": plan.objective,
        "objective_units": "linearised deaths: harm-weighted unmet need + spending / "
        "usd_per_death_averted (not a death count)",
        "deaths_no_aid": total_deaths(no_aid) if no_aid is not None else None,
        "deaths_with_plan": total_deaths(with_plan) if with_plan is not None else None,
        "infections_no_aid": total_infections(no_aid) if no_aid is not None else None,
        "infections_with_plan": total_infections(with_plan) if with_plan is not None else None,
        "epidemic": "SEIR model" if epidemic_run else "not computed: needs come from needs.csv",
        "fill_rate": {
            **{
                k: (None if np.isnan(f) else float(f))
                for k, f in zip(scn.commodity_ids, fill, strict=True)
            },
            "medical_team": None if np.isnan(team_fill) else float(team_fill),
        },
        "fill_rate_reachable": {
            k: (None if np.isnan(f) else float(f))
            for k, f in zip(scn.commodity_ids, fill_reachable, strict=True)
        },
        "budget_value_deaths_per_usd": abs(plan.budget_dual),
        "coupling": {
            "mode": cfg.coupling.mode,
            "iterations": len(outcome.history),
            "converged": outcome.converged,
            "converged_on": outcome.converged_on,
            "tolerance": cfg.coupling.tolerance,
            "deaths_tolerance": cfg.coupling.deaths_tolerance,
            "history": [vars(h) for h in outcome.history],
        },
        "lp": {
            "columns": outcome.lp.n_columns,
            "rows": outcome.lp.n_rows,
            "method": outcome.lp.method,
        },
        "timings_s": {k: round(v, 4) for k, v in outcome.timings_s.items()},
        "provenance": provenance(outcome),
    }
    attrs = {
        "title": f"aidopt plan for scenario {cfg.name}",
        "summary_json": json.dumps(plain(summary), allow_nan=False),
        "scenario_config_json": cfg.model_dump_json(by_alias=True),
        **{f"provenance_{k}": v for k, v in summary["provenance"].items()},
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


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
