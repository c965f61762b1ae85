"""What limits the plan: for each item, the rule or resource that holds its fill rate down, read
from the allocation LP's own duals and reduced costs at the final plan.

The LP is solved once more at stage 1 (deaths and spending at `usd_per_death_averted`, linearised
at the final plan), warm from the basis it holds: a one-way run's LP is its plan's own LP; a
closed loop's is widened from its last trust region to any aid from none to the whole load, so
that the region's edge is not mistaken for a limit. Each binding resource is then valued as the
deaths its doubling would avert to first order: its dual (or a bound's reduced cost) times its
amount. The LP's value is convex in its right-hand sides, so this is an upper bound on what
doubling buys; `aidopt run --set` with the row's `set` gives the exact figure.

Resources, each named with the `--set` (and the `aidopt asks` row, where one exists) that
relaxes it:

    supply     a depot's weekly offer of the item (`procure` at its bound)
    labs       the provinces' own laboratory capacity (`lab_capacity` rows): tests past it buy
               nothing, so it holds every item a test uses
    route      a route's tonnes a week (`route_capacity` rows), shared by the items it carries
    quota      an exemption's tonnes (`sanction_quota` rows), shared likewise
    teams      ROK medical teams leaving a week (`team_dispatch` rows)
    budget     the spending cap (`budget_cap`), which holds everything

An item none of these holds is limited either by the load (its capacities already serve the
whole load the epidemic puts on them: the rest of the ESFT need buys no deaths in the model),
or by the price of a life (what it costs, at `usd_per_death_averted`, exceeds the deaths it
averts), or by lead times (the need it could reach in time is met, the rest came too early).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from models.seir import AID, TESTS
from optimiser.lp import DUAL_SIMPLEX, OBJECTIVE_SCALE
from optimiser.schema import TEAM

log = logging.getLogger(__name__)

MATTERS_DEATHS = 0.5
"""assumption: a resource whose doubling would avert fewer deaths than this (to first order)
does not bind in any sense a planner would act on."""
AT_BOUND = 1e-6
"""Relative distance [1] from a bound within which a value counts as on it (HiGHS's primal
feasibility tolerance is 1e-7)."""
MET = 0.99
"""Fill rate [1] of the need it could reach at or above which an item is taken as met."""

WORDS = {
    "supply": "the supply offered",
    "labs": "laboratory capacity",
    "route": "route capacity",
    "quota": "an exemption's quota",
    "teams": "ROK medical teams a week",
    "budget": "the budget",
    "load": "the load: its capacities already serve the epidemic's whole load",
    "price": "the price of a life: it costs more, at usd_per_death_averted, than the deaths "
    "it averts",
    "lead_time": "lead times: the need it could reach in time is met",
    "met": "nothing: the need is met",
}


def _dense(values: np.ndarray, fam) -> np.ndarray:
    out = np.zeros(fam.shape)
    if fam.size:
        out[tuple(fam.index.T)] = values
    return out


def solve_stage1(alloc, widen_to: np.ndarray | None = None):
    """Primal values, row duals and reduced costs [deaths per unit] of stage 1 at the LP's
    current linearisation; `widen_to` (capacity, P, W) frees the aid between 0 and it first.
    Bounds and costs are put back afterwards."""
    lp, s = alloc.lp, alloc.solver
    aid = lp.columns.get("aid")
    saved = s.col_bounds(aid.ids) if aid is not None and widen_to is not None else None
    if saved is not None:
        s.set_col_bounds(aid.ids, 0.0, np.asarray(widen_to, float)[tuple(aid.index.T)])
    spending = alloc.spending_cost + alloc.tiebreak
    stage1 = OBJECTIVE_SCALE * (alloc.harm + spending / alloc.usd_per_death)
    s.set_costs(np.arange(lp.n_cols), stage1)
    try:
        x, dual, _ = s.solve(DUAL_SIMPLEX)
        reduced = np.asarray(s.highs.getSolution().col_dual)
        upper = np.asarray(s.highs.getLp().col_upper_)
    finally:
        if saved is not None:
            s.set_col_bounds(aid.ids, *saved)
        s.set_costs(np.arange(lp.n_cols), alloc.spending_cost + alloc.tiebreak)
    return x, dual / OBJECTIVE_SCALE, reduced / OBJECTIVE_SCALE, upper


def resources(alloc, x, dual, reduced, upper) -> list[dict[str, Any]]:
    """Every binding resource: kind, subject, the items it holds (with shares), its dual
    summed over weeks and the deaths its doubling would avert to first order."""
    scn, net = alloc.scenario, alloc.net
    lp = alloc.lp
    cfg = scn.config
    ids = scn.commodity_ids
    mass_t = np.array([c.mass_kg_per_unit for c in scn.commodities]) / 1000.0
    out: list[dict[str, Any]] = []

    procure = lp.columns["procure"]
    on_bound = (upper[procure.ids] > 0) & (
        np.abs(x[procure.ids] - upper[procure.ids]) <= AT_BOUND * np.maximum(1, upper[procure.ids])
    )
    gain = np.where(on_bound, np.maximum(-reduced[procure.ids], 0.0), 0.0)
    share = use_shares(alloc, upper)
    for k, item in enumerate(ids):
        mine = procure.index[:, 0] == k
        if not mine.any():
            continue
        # Inputs are complements: a scarce item holds every item that goes into the same
        # capacities, weighted by how much of each one's use goes there.
        overlap = share @ share[k]
        held = {other: float(overlap[j]) for j, other in enumerate(ids) if overlap[j] > 0}
        held[item] = 1.0
        if scn.commodities[k].adds_lab_tests_per_week > 0:  # equipment that adds lab tests
            held.update({other: max(held.get(other, 0.0), float(share[j, TESTS]))
                         for j, other in enumerate(ids) if share[j, TESTS] > 0})  # fmt: skip
        out.append({
            "kind": "supply", "subject": item, "items": held,
            "value_per_unit": float(gain[mine].sum()),
            "deaths_if_doubled": float((gain[mine] * upper[procure.ids][mine]).sum()),
            "unit": "deaths per unit/week offered",
            "set": f"supply.*:{item}.units_per_week=*2",
            "ask": None,
        })  # fmt: skip

    ship = lp.columns["ship"]
    tonnes = _dense(x[ship.ids] * mass_t[ship.index[:, 0]], ship)  # (K, A, W)
    if "route_capacity" in lp.rows:
        rows = lp.rows["route_capacity"]
        value = np.maximum(-dual[rows.ids], 0.0)
        cap = np.array([a.capacity_t_per_week for a in scn.arcs])
        for a, arc in enumerate(net.arc_ids):
            mine = (rows.index[:, 0] == a) & (value > 0)
            weeks = rows.index[mine, 1]
            carried = tonnes[:, a, weeks].sum(axis=1)
            out.append({
                "kind": "route", "subject": arc,
                "items": _shares(ids, carried),
                "value_per_unit": float(value[mine].sum()),
                "deaths_if_doubled": float(value[mine].sum() * cap[a]),
                "unit": "deaths per t/week", "set": f"arcs.{arc}.capacity_t_per_week=*2",
                "ask": f"capacity-x2:{arc}",
            })  # fmt: skip

    if "sanction_quota" in lp.rows and lp.rows["sanction_quota"].size:
        rows = lp.rows["sanction_quota"]
        ex = lp.columns["exempt_ship"]
        quota = {e.id: e.quota_t for e in scn.sanctions.exemptions}
        for r, e in zip(rows.ids, rows.index[:, 0], strict=True):
            name = net.exemption_ids[e]
            mine = ex.index[:, 0] == e
            carried = np.zeros(len(ids))
            np.add.at(carried, ex.index[mine, 1], x[ex.ids[mine]] * mass_t[ex.index[mine, 1]])
            value = max(-float(dual[r]), 0.0)
            out.append({
                "kind": "quota", "subject": name, "items": _shares(ids, carried),
                "value_per_unit": value, "deaths_if_doubled": value * quota[name],
                "unit": "deaths per t", "set": f"sanctions.exemptions.{name}.quota_t=*2",
                "ask": f"exemption-quota-x2:{name}",
            })  # fmt: skip

    if "lab_capacity" in lp.rows:
        rows = lp.rows["lab_capacity"]
        lp_upper = np.asarray(alloc.solver.highs.getLp().row_upper_)[rows.ids]
        value = np.maximum(-dual[rows.ids], 0.0)
        finite = np.isfinite(lp_upper)
        testing = {item: float(share[k, TESTS]) for k, item in enumerate(ids)
                   if share[k, TESTS] > 0}  # fmt: skip
        out.append({
            "kind": "labs", "subject": "laboratories", "items": testing,
            "value_per_unit": float(value.sum()),
            "deaths_if_doubled": float((value[finite] * lp_upper[finite]).sum()),
            "unit": "deaths per test/week", "set": "provinces.*.genexpert_modules=*2",
            "ask": None,
        })  # fmt: skip

    rows = lp.rows["team_dispatch"]
    value = np.maximum(-dual[rows.ids], 0.0)
    teams = cfg.staff.teams_per_week
    out.append({
        "kind": "teams", "subject": "teams_per_week", "items": {TEAM: 1.0},
        "value_per_unit": float(value.sum()), "deaths_if_doubled": float(value.sum() * teams),
        "unit": "deaths per team/week", "set": f"staff.teams_per_week={2 * teams:g}",
        "ask": "teams-x1.5",
    })  # fmt: skip

    if "budget_cap" in lp.rows:
        value = max(-float(dual[lp.rows["budget_cap"].ids[0]]), 0.0)
        budget = cfg.objective.budget_usd or 0.0
        out.append({
            "kind": "budget", "subject": "budget_usd", "items": {i: 1.0 for i in [*ids, TEAM]},
            "value_per_unit": value, "deaths_if_doubled": value * budget,
            "unit": "deaths per USD", "set": f"objective.budget_usd={2 * budget:g}", "ask": None,
        })  # fmt: skip
    return out


def use_shares(alloc, upper) -> np.ndarray:
    """(K, capacity) share of each commodity's use, were every capacity at its whole load (the
    aid's upper bound), that goes to each capacity [1]: labs hold a mask only as far as masks
    go to testing."""
    aid = alloc.lp.columns["aid"]
    whole = np.zeros(len(AID))
    np.add.at(whole, aid.index[:, 0], upper[aid.ids])
    use = alloc.recipe * whole
    total = use.sum(axis=1, keepdims=True)
    return np.divide(use, total, out=np.zeros_like(use), where=total > 0)


def break_even_usd(alloc, x, reduced, upper) -> dict[str, float]:
    """Per commodity: the least usd_per_death_averted at which one more unit of a capacity it
    goes into would pay for its inputs, over that capacity's aid below its load [USD]. For an
    aid column with deaths averted g per unit and reduced cost r (both in deaths), its inputs
    cost g + r deaths at today's price, so it pays from usd x (g + r) / g on (ignoring the
    scarcity rents of its inputs, which `resources` reports apart)."""
    aid = alloc.lp.columns["aid"]
    g = -alloc.harm[aid.ids]
    r = reduced[aid.ids]
    below = (x[aid.ids] < upper[aid.ids] * (1 - AT_BOUND)) & (g > 0)
    ratio = np.where(below, (g + np.maximum(r, 0.0)) / np.where(g > 0, g, 1.0), np.inf)
    least = np.full(len(AID), np.inf)
    np.minimum.at(least, aid.index[:, 0], ratio)
    usd = alloc.usd_per_death
    out = {}
    for k, item in enumerate(alloc.scenario.commodity_ids):
        used = alloc.recipe[k] > 0
        if used.any() and np.isfinite(least[used]).any():
            out[item] = float(usd * least[used].min())
    return out


def _shares(ids: list[str], carried: np.ndarray) -> dict[str, float]:
    total = float(carried.sum())
    if total <= 0:
        return {}
    return {item: float(c / total) for item, c in zip(ids, carried, strict=True) if c > 0}


def load_share(alloc, x, reduced, upper) -> dict[str, float]:
    """Per commodity: the share of what its capacities would use at their whole load that sits
    on aid already at that load (aid's upper bound) [1]."""
    aid = alloc.lp.columns.get("aid")
    if aid is None:
        return {}
    values, bound = x[aid.ids], upper[aid.ids]
    full = (bound > 0) & (values >= bound * (1 - AT_BOUND) - 1e-9)
    served = np.zeros(len(AID))
    whole = np.zeros(len(AID))
    np.add.at(served, aid.index[:, 0], np.where(full, bound, 0.0))
    np.add.at(whole, aid.index[:, 0], bound)
    recipe = alloc.recipe
    out = {}
    for k, item in enumerate(alloc.scenario.commodity_ids):
        weight = recipe[k] * whole
        out[item] = float((recipe[k] * served).sum() / weight.sum()) if weight.sum() > 0 else 0.0
    return out


def _round_up(value: float) -> float:
    """Up to two significant digits."""
    scale = 10 ** (np.floor(np.log10(value)) - 1)
    return float(np.ceil(value / scale) * scale)


def limits_of(outcome, fill: dict[str, float], reachable: dict[str, float]) -> dict[str, Any]:
    """summary["limits"]: each item's limiting factor, every resource's value, and the three
    relaxations that would matter most. `fill` and `reachable` are the run's fill rates."""
    alloc = outcome.lp
    if alloc.lp.columns.get("aid") is None:
        return {"note": "not computed: needs come from needs.csv"}
    closed = outcome.scenario.config.coupling.mode != "one-way"
    widen = outcome.loads if closed and outcome.loads is not None else None
    log.info("what limits the plan: stage 1 once more, for its duals")
    x, dual, reduced, upper = solve_stage1(alloc, widen)
    found = resources(alloc, x, dual, reduced, upper)
    at_load = load_share(alloc, x, reduced, upper)
    pays_from = break_even_usd(alloc, x, reduced, upper)
    usd = outcome.scenario.config.objective.usd_per_death_averted
    by_item: dict[str, dict[str, Any]] = {}
    for item in [*outcome.scenario.commodity_ids, TEAM]:
        holding = sorted(
            ((r["deaths_if_doubled"] * r["items"][item], r) for r in found
             if item in r["items"] and r["deaths_if_doubled"] >= MATTERS_DEATHS),
            key=lambda pair: -pair[0])  # fmt: skip
        rate, reach = fill.get(item), reachable.get(item, fill.get(item))
        entry: dict[str, Any] = {"fill_rate": rate, "fill_rate_reachable": reach}
        if holding:
            deaths, top = holding[0]
            entry.update(limit=top["kind"], subject=top["subject"], words=WORDS[top["kind"]],
                         deaths_if_doubled=deaths, set=top["set"], ask=top["ask"])  # fmt: skip
        elif reach is not None and reach >= MET:
            kind = "met" if rate is not None and rate >= MET else "lead_time"
            entry.update(
                limit=kind,
                subject=None,
                words=WORDS[kind],
                deaths_if_doubled=0.0,
                set=None,
                ask="exemption-sooner:*" if kind == "lead_time" else None,
            )
        elif at_load.get(item, 0.0) >= 0.5:
            entry.update(limit="load", subject=None, words=WORDS["load"], deaths_if_doubled=0.0,
                         set=None, ask=None, share_at_load=at_load[item])  # fmt: skip
        else:
            # Past the price at which its first unit pays, with a margin: a value that buys.
            price = _round_up(1.5 * max(pays_from.get(item, usd), usd))
            entry.update(limit="price", subject="usd_per_death_averted", words=WORDS["price"],
                         deaths_if_doubled=None, pays_from_usd=pays_from.get(item),
                         set=f"objective.usd_per_death_averted={price:g}", ask=None)  # fmt: skip
        entry["not_binding"] = [r["set"] for r in found if item in r["items"]
                                and r["deaths_if_doubled"] < MATTERS_DEATHS][:3]  # fmt: skip
        by_item[item] = entry
    ranked = sorted((r for r in found if r["deaths_if_doubled"] >= MATTERS_DEATHS),
                    key=lambda r: -r["deaths_if_doubled"])  # fmt: skip
    most = [
        {k: r[k] for k in ("kind", "subject", "deaths_if_doubled", "set", "ask")}
        | {"items": sorted(r["items"], key=lambda i: -r["items"][i])}
        for r in ranked[:3]
    ]
    return {
        "method": "stage-1 duals and reduced costs at the final plan; deaths_if_doubled is "
        "first order (an upper bound): run the row's --set for the exact figure",
        "items": by_item,
        "most_valuable": most,
        "resources": [
            {
                k: r[k]
                for k in (
                    "kind",
                    "subject",
                    "value_per_unit",
                    "unit",
                    "deaths_if_doubled",
                    "set",
                    "ask",
                )
            }
            for r in found
        ],
    }
