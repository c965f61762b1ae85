"""The allocation LP written algebraically in Pyomo, for checking and inspecting the lean path.

`optimiser.allocation` assembles the LP as arrays and hands it to HiGHS. This module writes the
same LP as a Pyomo model, one function per family of variables and constraints, from the same
scenario, network masks and recipes, never from the arrays' matrix: the tests compare the two
(optimum, matrix, bounds and costs, rows and columns matched by family name and index) and
`aidopt run --write-lp FILE` writes it in LP format for people who want to read it.

Indices are the scenario's ids (commodity, arc, node, province, exemption and capacity names)
and week numbers, so that an LP file reads as the plan does. The objective is stage 1's:
OBJECTIVE_SCALE x (harm + (spending + tie-break) / usd_per_death_averted).

Compiling, solving and writing it (`optimiser.lp_forms`) lean on Pyomo's internals; building it
uses only Pyomo's modelling interface.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pe

from models.seir import AID, CARE, TESTS
from optimiser.demand import recipes
from optimiser.inputs import Scenario
from optimiser.lp import HOLDING_USD_PER_T_WEEK, OBJECTIVE_SCALE, TEAM_TRAVEL_USD_PER_ARC
from optimiser.network import Network


@dataclass(frozen=True)
class LPData:
    """What changes between solves; arrays in the units of `AllocationLP.update`."""

    harm: dict[str, np.ndarray]
    """deaths per unit on 'aid' (capacity, P, W), or 'use' (K, P, W) and 'team_fill' (P, W)"""
    aid_bounds: tuple[np.ndarray, np.ndarray] | None = None
    """lower and upper (capacity, P, W) in AID_UNITS (epidemic only)"""
    lab_tests_per_week: np.ndarray | None = None
    """(P,) the provinces' own laboratory capacity; none or inf leaves tests unbounded"""
    need: np.ndarray | None = None
    """(K, P, W) units: the planner's needs (needs.csv only)"""
    team_need: np.ndarray | None = None
    """(P, W) teams (needs.csv only)"""


@dataclass(frozen=True)
class _Ids:
    """Names of the scenario's index positions, and what the families read from it."""

    commodities: list[str]
    arcs: list[str]
    nodes: list[str]
    provinces: list[str]
    exemptions: list[str]
    mass_t: np.ndarray  # (K,)
    durable: np.ndarray  # (K,)
    recipe: np.ndarray  # (K, capacity)
    n_weeks: int


def build_model(scenario: Scenario, net: Network, data: LPData,
                epidemic: bool | None = None) -> pe.ConcreteModel:  # fmt: skip
    """The allocation LP of `scenario` with `data`, as a Pyomo model. `epidemic` as in
    `AllocationLP` (default: the scenario has no needs.csv)."""
    epidemic = scenario.needs is None if epidemic is None else epidemic
    ids = _Ids(
        commodities=list(scenario.commodity_ids), arcs=list(net.arc_ids),
        nodes=list(scenario.node_ids), provinces=list(scenario.province_ids),
        exemptions=list(net.exemption_ids),
        mass_t=np.array([c.mass_kg_per_unit for c in scenario.commodities]) / 1000.0,
        durable=np.array([c.durable for c in scenario.commodities]),
        recipe=recipes(scenario.commodities, scenario.consumption, scenario.config.demand),
        n_weeks=scenario.n_weeks,
    )  # fmt: skip
    m = pe.ConcreteModel(name=scenario.config.name)
    shipments(m, scenario, net, ids)
    procurement(m, scenario, ids)
    stock(m, net, ids)
    teams(m, scenario, net, ids)
    if epidemic:
        aid_capacities(m, ids, data)
    else:
        planner_needs(m, net, ids, data)
    stock_balance(m, net, ids)
    equipment_in_use(m, ids)
    route_capacity(m, scenario, ids)
    exemption_split(m, net, ids)
    sanction_quota(m, scenario, ids)
    budget_cap(m, scenario)
    team_dispatch(m, scenario, ids)
    team_balance(m, net, ids)
    if epidemic:
        care_beds(m, scenario, ids)
        lab_capacity(m, scenario, ids, data)
    else:
        team_cover(m, scenario, ids, data)
    objective(m, scenario, ids, data)
    return m


def _tuples(mask: np.ndarray, *names: list[str] | None) -> list[tuple]:
    """Index tuples where `mask` holds, each position named by its list (None: the number)."""
    return [tuple(int(i) if n is None else n[i] for i, n in zip(idx, names, strict=True))
            for idx in np.argwhere(mask)]  # fmt: skip


# --- variables ---------------------------------------------------------------------------------


def shipments(m, scenario: Scenario, net: Network, ids: _Ids) -> None:
    """ship[k, a, w] where the network allows the flow; exempt_ship[e, k, a, w], the part of a
    barred flow crossing under exemption e; each costs its tonnes' freight."""
    m.SHIP = pe.Set(initialize=_tuples(net.allowed, ids.commodities, ids.arcs, None), dimen=3)
    m.ship = pe.Var(m.SHIP, domain=pe.NonNegativeReals)
    barred = net.barred[:, :, None] & net.allowed
    m.EXEMPT_SHIP = pe.Set(dimen=4, initialize=_tuples(
        net.exempt & barred[None], ids.exemptions, ids.commodities, ids.arcs, None))  # fmt: skip
    m.exempt_ship = pe.Var(m.EXEMPT_SHIP, domain=pe.NonNegativeReals)
    cost_per_t = {a.id: a.cost_per_t for a in scenario.arcs}
    kid = {c: k for k, c in enumerate(ids.commodities)}
    m.freight_usd = pe.Expression(expr=sum(
        ids.mass_t[kid[k]] * cost_per_t[a] * m.ship[k, a, w] for k, a, w in m.SHIP))  # fmt: skip


def procurement(m, scenario: Scenario, ids: _Ids) -> None:
    """procure[k, d, w] <= depot d's weekly availability, at its price."""
    offers = {(r.commodity, r.depot): r for r in scenario.supply if r.units_per_week > 0}
    m.PROCURE = pe.Set(dimen=3, initialize=[(k, d, w) for (k, d) in offers
                                            for w in range(ids.n_weeks)])  # fmt: skip
    m.procure = pe.Var(m.PROCURE, domain=pe.NonNegativeReals,
                       bounds=lambda _, k, d, w: (0.0, offers[k, d].units_per_week))  # fmt: skip
    m.procurement_usd = pe.Expression(
        expr=sum(
            offers[k, d].procurement_usd_per_unit * m.procure[k, d, w] for k, d, w in m.PROCURE
        )
    )


def stock(m, net: Network, ids: _Ids) -> None:
    """stock[k, n, w] held at the end of the week, where the network says it can be."""
    m.STOCK = pe.Set(dimen=3, initialize=_tuples(net.stock_possible, ids.commodities, ids.nodes,
                                                 None))  # fmt: skip
    m.stock = pe.Var(m.STOCK, domain=pe.NonNegativeReals)


def teams(m, scenario: Scenario, net: Network, ids: _Ids) -> None:
    """team_ship[a, w], dispatch[d, w] from the origins, deploy[p, w] (paid for the whole
    deployment)."""
    staff = scenario.config.staff
    m.TEAM_SHIP = pe.Set(dimen=2, initialize=_tuples(net.team_allowed, ids.arcs, None))
    m.team_ship = pe.Var(m.TEAM_SHIP, domain=pe.NonNegativeReals)
    m.DISPATCH = pe.Set(dimen=2, initialize=[(d, w) for d in staff.origins
                                             for w in range(ids.n_weeks)])  # fmt: skip
    m.dispatch = pe.Var(m.DISPATCH, domain=pe.NonNegativeReals)
    n_p = len(ids.provinces)
    m.DEPLOY = pe.Set(dimen=2, initialize=_tuples(net.team_arrives[:n_p], ids.provinces, None))
    m.deploy = pe.Var(m.DEPLOY, domain=pe.NonNegativeReals)
    m.teams_usd = pe.Expression(expr=staff.cost_usd_per_team_week * staff.deployment_weeks
                                * sum(m.deploy.values()))  # fmt: skip


def aid_capacities(m, ids: _Ids, data: LPData) -> None:
    """aid[c, p, w] within the trust region's bounds; beds[p, w] equipped by the plan."""
    pw = [(p, w) for p in ids.provinces for w in range(ids.n_weeks)]
    m.AID = pe.Set(dimen=3, initialize=[(c, p, w) for c in AID for p, w in pw])
    lower, upper = data.aid_bounds or (np.zeros((len(AID), len(pw))),) * 2
    lower, upper = (np.asarray(b, float).reshape(len(AID), len(ids.provinces), ids.n_weeks)
                    for b in (lower, upper))  # fmt: skip
    pid = {p: i for i, p in enumerate(ids.provinces)}

    def bounds(_, c, p, w):
        lo = float(lower[AID.index(c), pid[p], w])
        return lo, max(lo, float(upper[AID.index(c), pid[p], w]))

    m.aid = pe.Var(m.AID, bounds=bounds)
    m.BEDS = pe.Set(dimen=2, initialize=pw)
    m.beds = pe.Var(m.BEDS, domain=pe.NonNegativeReals)


def planner_needs(m, net: Network, ids: _Ids, data: LPData) -> None:
    """use[k, p, w] <= need where goods can arrive; team_fill[p, w] in [0, 1] (needs.csv)."""
    n_p = len(ids.provinces)
    need = np.zeros((len(ids.commodities), n_p, ids.n_weeks)) if data.need is None else data.need
    kid = {c: k for k, c in enumerate(ids.commodities)}
    pid = {p: i for i, p in enumerate(ids.provinces)}
    m.USE = pe.Set(dimen=3, initialize=_tuples(net.stock_possible[:, :n_p], ids.commodities,
                                               ids.provinces, None))  # fmt: skip
    m.use = pe.Var(m.USE, bounds=lambda _, k, p, w: (0.0, float(need[kid[k], pid[p], w])))
    m.TEAM_FILL = pe.Set(dimen=2, initialize=[(p, w) for p in ids.provinces
                                              for w in range(ids.n_weeks)])  # fmt: skip
    m.team_fill = pe.Var(m.TEAM_FILL, bounds=(0.0, 1.0))


# --- constraints -------------------------------------------------------------------------------


def _grouped(pairs: Iterable[tuple[tuple, object]]) -> dict[tuple, list]:
    out: dict[tuple, list] = defaultdict(list)
    for key, term in pairs:
        out[key].append(term)
    return out


def stock_balance(m, net: Network, ids: _Ids) -> None:
    """stock[w] - stock[w-1] - procure[w] + departures[w] - arrivals[w] + used[w] = 0 at every
    (k, n, w) any of them touches; used = sum_c recipe[k, c] aid[c, p, w] for consumables (or
    `use`, without an epidemic)."""
    aid = ids.arcs.index
    tail = {a: ids.nodes[net.tail[aid(a)]] for a in ids.arcs}
    head = {a: ids.nodes[net.head[aid(a)]] for a in ids.arcs}
    transit = {a: int(net.transit_weeks[aid(a)]) for a in ids.arcs}
    terms = _grouped([
        *(((k, n, w), m.stock[k, n, w]) for k, n, w in m.STOCK),
        *(((k, n, w + 1), -m.stock[k, n, w]) for k, n, w in m.STOCK if w + 1 < ids.n_weeks),
        *(((k, d, w), -m.procure[k, d, w]) for k, d, w in m.PROCURE),
        *(((k, tail[a], w), m.ship[k, a, w]) for k, a, w in m.SHIP),
        *(((k, head[a], w + transit[a]), -m.ship[k, a, w]) for k, a, w in m.SHIP),
        *_consumed(m, ids),
    ])  # fmt: skip
    m.STOCK_BALANCE = pe.Set(dimen=3, initialize=sorted(terms, key=_order(ids)))
    m.stock_balance = pe.Constraint(m.STOCK_BALANCE,
                                    rule=lambda _, *key: sum(terms[key]) == 0)  # fmt: skip


def _consumed(m, ids: _Ids):
    """((k, p, w), the units of consumable k used) terms of the stock balance."""
    consumed = [(k, c) for k, c in enumerate(ids.commodities) if not ids.durable[k]]
    if hasattr(m, "use"):
        yield from (((k, p, w), m.use[k, p, w]) for k, p, w in m.USE
                    if not ids.durable[ids.commodities.index(k)])  # fmt: skip
        return
    for k, name in consumed:
        for cap, c in enumerate(AID):
            if ids.recipe[k, cap] != 0:
                yield from (((name, p, w), ids.recipe[k, cap] * m.aid[c, p, w])
                            for p in ids.provinces for w in range(ids.n_weeks))  # fmt: skip


def _order(ids: _Ids):
    """Sort key of (commodity, node, week) tuples in the scenario's order."""
    kid = {c: k for k, c in enumerate(ids.commodities)}
    nid = {n: i for i, n in enumerate(ids.nodes)}
    return lambda t: (kid[t[0]], nid[t[1]], t[2])


def equipment_in_use(m, ids: _Ids) -> None:
    """in use - stock <= 0 at the province for durables: the recipe's share of the equipped
    beds (or `use`, without an epidemic) must be held there."""
    if hasattr(m, "use"):
        rows = {(k, p, w): m.use[k, p, w] for k, p, w in m.USE
                if ids.durable[ids.commodities.index(k)]}  # fmt: skip
    else:
        rows = {(ids.commodities[k], p, w): ids.recipe[k, CARE] * m.beds[p, w]
                for k in np.flatnonzero(ids.durable & (ids.recipe[:, CARE] > 0))
                for p, w in m.BEDS}  # fmt: skip
    held = {key: m.stock[key] if key in m.STOCK else 0.0 for key in rows}
    m.EQUIPMENT_IN_USE = pe.Set(dimen=3, initialize=list(rows))
    m.equipment_in_use = pe.Constraint(
        m.EQUIPMENT_IN_USE, rule=lambda _, *key: rows[key] - held[key] <= 0
    )


def _present(m, deployment_weeks: int, p: str, w: int):
    """Teams deployed in province p during week w."""
    return sum(m.deploy[p, w - lag] for lag in range(deployment_weeks)
               if (p, w - lag) in m.DEPLOY)  # fmt: skip


def care_beds(m, scenario: Scenario, ids: _Ids) -> None:
    """aid[care] <= equipped beds + patients_per_team x teams present."""
    staff = scenario.config.staff
    m.care_beds = pe.Constraint(m.BEDS, rule=lambda _, p, w: m.aid[AID[CARE], p, w] - m.beds[p, w]
                                - staff.patients_per_team * _present(m, staff.deployment_weeks,
                                                                     p, w) <= 0)  # fmt: skip


def lab_capacity(m, scenario: Scenario, ids: _Ids, data: LPData) -> None:
    """aid[tests] - sum_k lab tests per unit x equipment held <= the province's laboratories;
    no row where that capacity is unbounded."""
    labs = np.full(len(ids.provinces), np.inf) if data.lab_tests_per_week is None else np.asarray(
        data.lab_tests_per_week, float)  # fmt: skip
    adds = {c.id: c.adds_lab_tests_per_week for c in scenario.commodities
            if c.adds_lab_tests_per_week > 0}  # fmt: skip
    pid = {p: i for i, p in enumerate(ids.provinces)}

    def rule(_, p, w):
        if not np.isfinite(labs[pid[p]]):
            return pe.Constraint.Skip
        equipment = sum(n * m.stock[k, p, w] for k, n in adds.items() if (k, p, w) in m.STOCK)
        return m.aid[AID[TESTS], p, w] - equipment <= float(labs[pid[p]])

    m.lab_capacity = pe.Constraint(m.BEDS, rule=rule)


def route_capacity(m, scenario: Scenario, ids: _Ids) -> None:
    """sum_k mass_k ship[k, a, w] <= capacity[a] for each arc-week that carries a flow."""
    mass = dict(zip(ids.commodities, ids.mass_t, strict=True))
    loads = _grouped(((a, w), mass[k] * m.ship[k, a, w]) for k, a, w in m.SHIP)
    capacity = {a.id: a.capacity_t_per_week for a in scenario.arcs}
    m.ROUTE_WEEKS = pe.Set(dimen=2, initialize=sorted(loads, key=lambda t: (ids.arcs.index(t[0]),
                                                                            t[1])))  # fmt: skip
    m.route_capacity = pe.Constraint(
        m.ROUTE_WEEKS, rule=lambda _, a, w: sum(loads[a, w]) <= capacity[a]
    )


def exemption_split(m, net: Network, ids: _Ids) -> None:
    """ship[k, a, w] = sum_e exempt_ship[e, k, a, w] for every barred flow: each tonne that
    crosses is charged to one of the exemptions valid that week."""
    parts = _grouped(((k, a, w), m.exempt_ship[e, k, a, w]) for e, k, a, w in m.EXEMPT_SHIP)
    m.BARRED = pe.Set(dimen=3, initialize=_tuples(net.barred[:, :, None] & net.allowed,
                                                  ids.commodities, ids.arcs, None))  # fmt: skip
    m.exemption_split = pe.Constraint(
        m.BARRED, rule=lambda _, *key: m.ship[key] - sum(parts.get(key, ())) == 0
    )


def sanction_quota(m, scenario: Scenario, ids: _Ids) -> None:
    """sum mass_k exempt_ship[e, k, a, w] <= quota[e]: tonnes crossing under exemption e."""
    mass = dict(zip(ids.commodities, ids.mass_t, strict=True))
    tonnes = _grouped((e, mass[k] * m.exempt_ship[e, k, a, w]) for e, k, a, w in m.EXEMPT_SHIP)
    quota = {e.id: e.quota_t for e in scenario.sanctions.exemptions}
    m.EXEMPTIONS = pe.Set(initialize=[e for e in ids.exemptions if e in tonnes])
    m.sanction_quota = pe.Constraint(m.EXEMPTIONS, rule=lambda _, e: sum(tonnes[e]) <= quota[e])


def budget_cap(m, scenario: Scenario) -> None:
    """procurement + transport + teams <= budget_usd, when a budget is set."""
    budget = scenario.config.objective.budget_usd
    if budget is not None:
        m.budget_cap = pe.Constraint(expr=m.procurement_usd + m.freight_usd + m.teams_usd
                                     <= budget)  # fmt: skip


def team_dispatch(m, scenario: Scenario, ids: _Ids) -> None:
    """sum_d dispatch[d, w] <= teams_per_week."""
    limit = scenario.config.staff.teams_per_week
    m.WEEKS = pe.Set(initialize=range(ids.n_weeks))
    m.team_dispatch = pe.Constraint(m.WEEKS, rule=lambda _, w: sum(
        m.dispatch[d, w] for d in scenario.config.staff.origins) <= limit)  # fmt: skip


def team_balance(m, net: Network, ids: _Ids) -> None:
    """Teams arriving (or dispatched) = teams leaving + teams deployed; teams do not wait."""
    aid = ids.arcs.index
    terms = _grouped([
        *(((ids.nodes[net.tail[aid(a)]], w), m.team_ship[a, w]) for a, w in m.TEAM_SHIP),
        *(((ids.nodes[net.head[aid(a)]], w + int(net.transit_weeks[aid(a)])), -m.team_ship[a, w])
          for a, w in m.TEAM_SHIP),
        *(((d, w), -m.dispatch[d, w]) for d, w in m.DISPATCH),
        *(((p, w), m.deploy[p, w]) for p, w in m.DEPLOY),
    ])  # fmt: skip
    nid = {n: i for i, n in enumerate(ids.nodes)}
    m.NODE_WEEKS = pe.Set(dimen=2, initialize=sorted(terms, key=lambda t: (nid[t[0]], t[1])))
    m.team_balance = pe.Constraint(m.NODE_WEEKS, rule=lambda _, n, w: sum(terms[n, w]) == 0)


def team_cover(m, scenario: Scenario, ids: _Ids, data: LPData) -> None:
    """teams present - team_need x team_fill >= 0 (needs.csv only)."""
    staff = scenario.config.staff
    need = np.zeros((len(ids.provinces), ids.n_weeks)) if data.team_need is None else np.asarray(
        data.team_need, float)  # fmt: skip
    pid = {p: i for i, p in enumerate(ids.provinces)}
    m.team_cover = pe.Constraint(
        m.TEAM_FILL,
        rule=lambda _, p, w: (
            _present(m, staff.deployment_weeks, p, w) - float(need[pid[p], w]) * m.team_fill[p, w]
            >= 0
        ),
    )


def objective(m, scenario: Scenario, ids: _Ids, data: LPData) -> None:
    """Stage 1: OBJECTIVE_SCALE x (harm + (spending + tie-break) / usd_per_death_averted),
    harm = sum of deaths per unit x unit over the variables that carry it."""
    usd_per_death = scenario.config.objective.usd_per_death_averted
    mass = dict(zip(ids.commodities, ids.mass_t, strict=True))
    tiebreak = (HOLDING_USD_PER_T_WEEK * sum(mass[k] * m.stock[k, n, w] for k, n, w in m.STOCK)
                + TEAM_TRAVEL_USD_PER_ARC * sum(m.team_ship.values()))  # fmt: skip
    spending = m.procurement_usd + m.freight_usd + m.teams_usd + tiebreak
    kid = {c: k for k, c in enumerate(ids.commodities)}
    pid = {p: i for i, p in enumerate(ids.provinces)}
    harm = 0.0
    if hasattr(m, "aid") and "aid" in data.harm:
        per_unit = np.asarray(data.harm["aid"], float)
        harm = sum(per_unit[AID.index(c), pid[p], w] * m.aid[c, p, w] for c, p, w in m.AID
                   if per_unit[AID.index(c), pid[p], w] != 0)  # fmt: skip
    if hasattr(m, "use"):
        use = np.broadcast_to(np.asarray(data.harm.get("use", 0.0), float),
                              (len(ids.commodities), len(ids.provinces), ids.n_weeks))  # fmt: skip
        fill = np.broadcast_to(np.asarray(data.harm.get("team_fill", 0.0), float),
                               (len(ids.provinces), ids.n_weeks))  # fmt: skip
        harm = sum(
            use[kid[k], pid[p], w] * m.use[k, p, w]
            for k, p, w in m.USE
            if use[kid[k], pid[p], w] != 0
        ) + sum(fill[pid[p], w] * m.team_fill[p, w] for p, w in m.TEAM_FILL if fill[pid[p], w] != 0)
    m.stage1 = pe.Objective(expr=OBJECTIVE_SCALE * (harm + spending / usd_per_death),
                            sense=pe.minimize)  # fmt: skip
