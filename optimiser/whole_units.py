"""Whole units: an optional last stage (`aidopt run --whole-units`) that turns the continuous
plan into whole lots, whole vehicles and whole teams, solved by HiGHS as a mixed-integer
program, and meets the result with the epidemic again.

The continuous plan's capacities are fixed (the stage rounds a plan, it does not re-plan) and
one MIP chooses, in USD:

    whole lots         n[k, a, w] integer on each item and route-week the plan ships, with
                       lot_units_k x n + short >= the plan's units: no row under one lot, and
                       short only where a full route leaves no room for the lot rounded up
    whole vehicles     sum_k mass_k lot_k n[k, a, w] <= vehicle_t_a x v[a, w], v integer,
                       paid per vehicle (vehicle_t x cost_per_t), within the route's capacity
    whole teams        the LP's own team rows (balance at each node, teams a week) over
                       integer teams sent, travelling and deployed, as near the plan's
                       deployments as they allow

A first attempt, the whole allocation LP with these integers and its deaths objective, left
HiGHS with no incumbent but sending nothing after 120 s on the default scenario: the fixed
capacities make that search needless. The whole-unit plan's aid is the continuous plan's, with
care following the whole teams (patients_per_team each) and any capacity scaled down where a
shortfall leaves its inputs short; the epidemic then meets it. The continuous path is unchanged
when the stage is off.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
import xarray as xr

from models.seir import D
from optimiser.exports import QUANTITY_EPS
from optimiser.lp import new_highs

log = logging.getLogger(__name__)

VEHICLE_T_BY_MODE = {"road": 25.0, "rail": 60.0, "sea": 20.0, "air": 10.0}
"""t per vehicle where arcs.csv leaves vehicle_t empty: road 25 t (2,500 t by about 100 trucks
through Kaesong on the 2005 rice loan's first day, ReliefWeb 2005); rail 60 t a wagon, sea 20 t
a 20-foot container, air 10 t a freighter flight: assumption."""
TIME_LIMIT_S = 120.0
"""assumption: HiGHS's time for the MIP; the best whole-unit plan found by then is kept, with
its gap reported."""
MIP_REL_GAP = 1e-4
"""Relative gap [1] at which HiGHS stops: a ten-thousandth of the deaths-equivalent objective."""


@dataclass
class WholeUnits:
    shipments: np.ndarray  # (K, A, W) units, whole lots
    vehicles: np.ndarray  # (A, W) whole vehicles
    team_shipments: np.ndarray  # (A, W) whole teams
    deployed: np.ndarray  # (P, W) whole teams starting a deployment
    aid: np.ndarray  # (capacity, P, W)
    lot_units: np.ndarray  # (K,)
    vehicle_t: np.ndarray  # (A,)
    spending_usd: dict[str, float]
    status: str
    mip_gap: float
    seconds: float
    deaths: dict[str, float] = field(default_factory=dict)


def vehicle_sizes(scenario) -> np.ndarray:
    return np.array([a.vehicle_t or VEHICLE_T_BY_MODE[a.mode] for a in scenario.arcs])


def _matrix(lp: highspy.HighsLp) -> sp.csc_matrix:
    a = lp.a_matrix_
    return sp.csc_matrix(
        (np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_)),
        shape=(lp.num_row_, lp.num_col_),
    )


SHORT_USD_PER_UNIT_FACTOR = 1e3
"""A unit the whole-unit plan leaves short of the continuous plan's costs this many times the
item's purchase price (at least 1 USD): shortfalls only where a route's capacity leaves no
room for the lot rounded up."""


DEVIATION_FACTOR = 10.0
"""A whole team more or fewer than the continuous plan deploys costs this many times a team's
deployment: the teams follow the plan, not the cheapest roster."""


def solve(outcome) -> WholeUnits:
    """The whole-unit plan of the outcome's continuous one (see the module's doc): one MIP,
    solved by HiGHS, of lots per item and route-week, vehicles per route-week and the teams'
    integer flows, with the continuous plan's capacities fixed."""
    start = time.perf_counter()
    alloc, plan, scn = outcome.lp, outcome.plan, outcome.scenario
    fam, rows = alloc.lp.columns, alloc.lp.rows
    mass_t = np.array([c.mass_kg_per_unit for c in scn.commodities]) / 1000.0
    lot = np.array([c.lot_units for c in scn.commodities], float)
    vehicle_t = vehicle_sizes(scn)
    cost_per_t = np.array([arc.cost_per_t for arc in scn.arcs])
    capacity = np.array([arc.capacity_t_per_week for arc in scn.arcs])
    price = np.zeros(len(lot))
    for r in scn.supply:
        k = scn.commodity_ids.index(r.commodity)
        price[k] = max(price[k], r.procurement_usd_per_unit)

    # Goods: lots n (integer) and shortfalls (continuous) on every row the plan ships.
    # Rows under QUANTITY_EPS (the CSVs leave them out: thousandths of a unit) are not shipped.
    rows_kaw = np.argwhere(plan.shipments > QUANTITY_EPS)
    k, a, w = rows_kaw.T
    x = plan.shipments[k, a, w]
    n_g = len(rows_kaw)
    route_weeks, on = np.unique(rows_kaw[:, 1:], axis=0, return_inverse=True)
    on = on.ravel()
    n_v = len(route_weeks)
    # Teams: the LP's own team rows and columns.
    team_cols = np.concatenate([fam[n].ids for n in ("team_ship", "dispatch", "deploy")])
    team_rows = np.concatenate([rows[n].ids for n in ("team_balance", "team_dispatch")])
    base = alloc.solver.highs.getLp()
    full = _matrix(base).tocsr()[team_rows][:, team_cols].tocsc()
    deploy = fam["deploy"]
    deploy_at = len(team_cols) - deploy.size + np.arange(deploy.size)
    target = plan.deployed[tuple(deploy.index.T)]
    n_t = len(team_cols)
    # columns: [lots n_g | short n_g | vehicles n_v | team columns n_t | deviation deploy.size]
    o_s, o_v, o_t, o_d = n_g, 2 * n_g, 2 * n_g + n_v, 2 * n_g + n_v + n_t
    n_cols = o_d + deploy.size
    g = np.arange(n_g)
    blocks_r, blocks_c, blocks_v = [], [], []

    def put(r, c, v):
        blocks_r.append(np.asarray(r)), blocks_c.append(np.asarray(c))
        blocks_v.append(np.broadcast_to(np.asarray(v, float), np.shape(r)))

    # cover: lot n + short >= x (row i = g)
    put(g, g, lot[k]), put(g, o_s + g, 1.0)
    # vehicles: sum mass lot n - vehicle_t v <= 0 (rows n_g + route-week)
    put(n_g + on, g, mass_t[k] * lot[k]), put(n_g + np.arange(n_v), o_v + np.arange(n_v),
                                              -vehicle_t[route_weeks[:, 0]])  # fmt: skip
    # route capacity: sum mass lot n <= capacity (rows n_g + n_v + route-week)
    put(n_g + n_v + on, g, mass_t[k] * lot[k])
    # teams: the LP's rows over its team columns (rows 2 n_g... after the goods)
    t0 = n_g + 2 * n_v
    coo = full.tocoo()
    put(t0 + coo.row, o_t + coo.col, coo.data)
    # deviation: dev >= deploy - target and dev >= target - deploy
    d0 = t0 + len(team_rows)
    m = np.arange(deploy.size)
    put(d0 + m, o_t + deploy_at, 1.0), put(d0 + m, o_d + m, -1.0)
    put(d0 + deploy.size + m, o_t + deploy_at, -1.0), put(d0 + deploy.size + m, o_d + m, -1.0)
    n_rows = d0 + 2 * deploy.size
    matrix = sp.csc_matrix((np.concatenate(blocks_v), (np.concatenate(blocks_r),
                                                       np.concatenate(blocks_c))),
                           shape=(n_rows, n_cols))  # fmt: skip
    inf = highspy.kHighsInf
    row_lower = np.concatenate([x, np.full(2 * n_v, -inf),
                                np.asarray(base.row_lower_)[team_rows],
                                np.full(2 * deploy.size, -inf)])  # fmt: skip
    row_upper = np.concatenate([np.full(n_g, inf), np.zeros(n_v), capacity[route_weeks[:, 0]],
                                np.asarray(base.row_upper_)[team_rows],
                                target, -target])  # fmt: skip
    team_cost = alloc.spending_cost[team_cols]
    # A lot is bought whole where it leaves a depot; further legs move the same goods.
    depots = {d.id for d in scn.depots}
    from_depot = np.array([scn.arcs[i].from_ in depots for i in a], dtype=float)
    cost = np.concatenate([
        lot[k] * price[k] * from_depot,
        SHORT_USD_PER_UNIT_FACTOR * np.maximum(price[k], 1.0),
        vehicle_t[route_weeks[:, 0]] * cost_per_t[route_weeks[:, 0]],
        team_cost,
        # a team more or fewer than the continuous plan outweighs what a team costs
        np.full(deploy.size, DEVIATION_FACTOR * max(scn.config.staff.cost_usd_per_team_week
                                                    * scn.config.staff.deployment_weeks, 1.0)),
    ])  # fmt: skip
    lower = np.zeros(n_cols)
    upper = np.full(n_cols, inf)
    upper[o_s:o_v] = x
    team_upper = np.asarray(base.col_upper_)[team_cols]
    upper[o_t:o_d] = team_upper
    integer = np.zeros(n_cols, dtype=bool)
    integer[:n_g] = True
    integer[o_v:o_d] = True

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    matrix.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = matrix.indptr, matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in integer]  # fmt: skip
    h = new_highs()
    for name, value in {"threads": 1, "random_seed": 0, "time_limit": TIME_LIMIT_S,
                        "mip_rel_gap": MIP_REL_GAP}.items():  # fmt: skip
        h.setOptionValue(name, value)
    h.passModel(lp)
    log.info("whole units: a MIP of %d integers (%d route-weeks)", int(integer.sum()), n_v)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        raise RuntimeError(f"HiGHS found no whole-unit plan: {status}")
    sol = np.asarray(h.getSolution().col_value).copy()
    sol[integer] = np.round(sol[integer])  # exact integers (HiGHS's are within 1e-6)

    shipments = np.zeros_like(plan.shipments)
    shipments[k, a, w] = sol[:n_g] * lot[k]
    vehicles = np.zeros(plan.team_shipments.shape)
    vehicles[route_weeks[:, 0], route_weeks[:, 1]] = sol[o_v:o_t]
    teams = np.zeros(base.num_col_)
    teams[team_cols] = sol[o_t:o_d]
    deployed = deploy.dense(teams)
    aid = whole_aid(outcome, shipments, deployed)
    spent = {
        "procurement": float(cost[:n_g] @ sol[:n_g]),
        "transport": float(cost[o_v:o_t] @ sol[o_v:o_t]),
        "teams": float(team_cost @ sol[o_t:o_d]),
    }
    return WholeUnits(
        shipments=shipments, vehicles=vehicles, team_shipments=fam["team_ship"].dense(teams),
        deployed=deployed, aid=aid, lot_units=lot, vehicle_t=vehicle_t, spending_usd=spent,
        status=status, mip_gap=float(info.mip_gap), seconds=time.perf_counter() - start,
    )  # fmt: skip


def whole_aid(outcome, shipments: np.ndarray, deployed: np.ndarray) -> np.ndarray:
    """The aid the whole-unit plan gives: the continuous plan's, with care scaled where whole
    teams give fewer (or more, up to the plan's) patients in care than the continuous teams,
    and every capacity scaled down where a shortfall leaves less of its inputs shipped."""
    from models.seir import CARE

    plan, cfg = outcome.plan, outcome.scenario.config
    aid = plan.aid.copy()
    weeks = cfg.staff.deployment_weeks

    def present(d: np.ndarray) -> np.ndarray:
        return np.stack([d[:, max(0, t - weeks + 1): t + 1].sum(axis=1)
                         for t in range(d.shape[1])], axis=1)  # fmt: skip

    change = cfg.staff.patients_per_team * (present(deployed) - present(plan.deployed))
    aid[CARE] = np.clip(plan.aid[CARE] + change, 0.0, plan.aid[CARE])
    # Goods: a capacity gets no more than its scarcest input allows, item by item over the
    # horizon (shortfalls are rare: only where a route was full).
    sent = shipments.sum(axis=(1, 2))
    planned = plan.shipments.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        kept = np.where(planned > 0, np.minimum(sent / planned, 1.0), 1.0)
    recipe = outcome.lp.recipe
    for c in range(aid.shape[0]):
        inputs = recipe[:, c] > 0
        if inputs.any():
            aid[c] *= float(kept[inputs].min())
    return aid


def evaluate(outcome, whole: WholeUnits) -> None:
    """Meet the whole-unit plan's aid with the scenario's epidemic: its deaths by the horizon
    and by the end of the outlook [persons]."""
    from optimiser.coupling import total_deaths
    from optimiser.epidemic import EpidemicSetup

    people = EpidemicSetup.from_scenario(outcome.scenario).run(whole.aid).people[0]
    horizon = 7 * outcome.scenario.n_weeks
    whole.deaths = {"horizon": total_deaths(people, day=horizon),
                    "outlook": float(people[D, :, -1].sum())}  # fmt: skip


def attach(ds: xr.Dataset, whole: WholeUnits) -> xr.Dataset:
    """The dataset with the whole-unit plan beside the continuous one, and summary.json's
    `whole_units` block."""
    import json

    from optimiser.results import plain, summary_of

    def var(dims, data, units, long_name):
        return xr.Variable(dims, data, attrs={"units": units, "long_name": long_name})

    kaw, aw = ("commodity", "arc", "week"), ("arc", "week")
    out = ds.assign(
        shipments_whole=var(kaw, whole.shipments, "units", "units leaving on the arc that "
                            "week in the whole-units plan (whole lots)"),
        vehicles=var(aw, whole.vehicles, "vehicles", "whole vehicles leaving on the arc that "
                     "week (whole-units plan)"),
        vehicle_t=var("arc", whole.vehicle_t, "t/vehicle", "payload of one vehicle"),
        lot_units=var("commodity", whole.lot_units, "units/lot", "units in one whole lot"),
        team_shipments_whole=var(aw, whole.team_shipments, "teams", "whole teams travelling"),
        team_deployed_whole=var(("province", "week"), whole.deployed, "teams",
                                "whole teams starting a deployment"),
        aid_whole=var(("lever", "province", "week"), whole.aid, "see lever_unit",
                      "aid capacity the whole-units plan gives"),
    )  # fmt: skip
    summary = summary_of(ds)
    continuous = summary.get("by_window", {}).get("deaths_with_plan", {})
    no_aid = summary.get("by_window", {}).get("deaths_no_aid", {})
    summary["whole_units"] = {
        "status": whole.status,
        "mip_gap": whole.mip_gap,
        "seconds": round(whole.seconds, 3),
        "deaths_with_plan": whole.deaths,
        "deaths_with_continuous_plan": {w: continuous.get(w) for w in whole.deaths},
        "deaths_averted": {w: no_aid[w] - d for w, d in whole.deaths.items() if w in no_aid},
        "vehicles": float(whole.vehicles.sum()),
        "teams_deployed": float(whole.deployed.sum()),
        "teams_deployed_continuous": float(ds["team_deployed"].sum()),
        "spending_usd": {**whole.spending_usd, "total": sum(whole.spending_usd.values())},
    }
    out.attrs["summary_json"] = json.dumps(plain(summary), allow_nan=False)
    return out


def whole_unit_plan(outcome, ds: xr.Dataset) -> xr.Dataset:
    """Solve, evaluate and attach: the last stage of `aidopt run --whole-units`."""
    whole = solve(outcome)
    evaluate(outcome, whole)
    log.info("whole units: %s, deaths %.0f (continuous %.0f)", whole.status,
             whole.deaths["outlook"], float(ds["people_with_plan"].sel(compartment="D")
                                            .isel(day=-1).sum()))  # fmt: skip
    return attach(ds, whole)


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """Rows for the workbook's Summary and the page: rounded deaths beside continuous."""
    w = summary.get("whole_units")
    if not w:
        return []
    rows = []
    for window, deaths in w["deaths_with_plan"].items():
        rows.append((f"deaths with the whole-units plan ({window})", deaths, "persons"))
        rows.append((f"deaths with the continuous plan ({window})",
                     w["deaths_with_continuous_plan"].get(window), "persons"))  # fmt: skip
    rows.append(("whole vehicles", w["vehicles"], "vehicles"))
    rows.append(("whole teams deployed", w["teams_deployed"], "teams"))
    rows.append(("teams deployed, continuous plan", w["teams_deployed_continuous"], "teams"))
    rows.append(("whole-units spending", w["spending_usd"]["total"], "USD"))
    return rows
