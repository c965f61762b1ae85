"""The allocation step: a Pyomo LP, solved by HiGHS, of what to ship where, when and how.

Decision variables exist only where the network masks allow a flow:

    ship[k, a, w]     units of commodity k leaving on arc a in week w, arriving w + transit_a
    procure[k, d, w]  units taken from depot d's weekly availability
    stock[k, n, w]    units held at node n at the end of week w
    unmet[k, p, w]    need not met, 0 <= unmet <= need (always feasible, shortfall visible)
    team_ship[a, w]   medical teams travelling on arc a (arcs that allow personnel)
    dispatch[d, w]    teams leaving origin depot d
    deploy[p, w]      teams starting a deployment of `deployment_weeks` in province p
    team_unmet[p, w]  teams needed but not present
    exempt_ship[e, k, a, w]  the part of a barred flow crossing under exemption e

Objective (linearised deaths): minimise sum(harm * unmet) + sum(team_harm * team_unmet)
+ (procurement + transport + team cost) / usd_per_death_averted. `harm` is deaths caused by one unit
of shortfall, taken from the epidemic model (see `coupling.harm_weights`).

The model is built once. Needs, harm weights, capacities, availability, quotas, teams per week
and the budget are mutable parameters: `update()` changes them (setting the Pyomo parameters
directly does not reach HiGHS after the first solve) and `solve()` re-solves the same HiGHS
instance, warm-started, without rebuilding anything.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.core.expr.numeric_expr import LinearExpression

from optimiser.inputs import Scenario
from optimiser.network import Network


class SolverError(RuntimeError):
    """HiGHS did not return an optimal plan."""


@dataclass
class Plan:
    """One solve's result as dense arrays (zeros where no variable exists)."""

    status: str
    objective: float
    shipments: np.ndarray  # (K, A, W) units
    procured: np.ndarray  # (K, N, W) units (depots only)
    stock: np.ndarray  # (K, N, W) units
    unmet: np.ndarray  # (K, P, W) units
    team_shipments: np.ndarray  # (A, W) teams
    deployed: np.ndarray  # (P, W) teams starting deployment
    team_unmet: np.ndarray  # (P, W) teams
    capacity_dual: np.ndarray  # (A, W) d(objective)/d(capacity) [deaths per t/week]
    quota_dual: np.ndarray  # (E,) d(objective)/d(quota) [deaths per t]
    budget_dual: float  # d(objective)/d(budget) [deaths per USD]
    timings_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LPIndex:
    """Integer index tuples of every variable and row family, built from the network."""

    ship: list[tuple[int, int, int]]
    procure: list[tuple[int, int, int]]
    stock: list[tuple[int, int, int]]
    unmet: list[tuple[int, int, int]]
    team_ship: list[tuple[int, int]]
    dispatch: list[tuple[int, int]]
    deploy: list[tuple[int, int]]
    team_need: list[tuple[int, int]]
    capacity: list[tuple[int, int]]
    exempt: list[tuple[int, int, int, int]]
    """(exemption, commodity, arc, week) for barred flows an exemption lets through"""


def lp_index(scenario: Scenario, net: Network) -> LPIndex:
    n_p = len(scenario.provinces)
    node_index = {n: i for i, n in enumerate(scenario.node_ids)}
    k_index = {c: k for k, c in enumerate(scenario.commodity_ids)}
    ship = [(int(k), int(a), int(w)) for k, a, w in np.argwhere(net.allowed)]
    procure = sorted(
        {
            (k_index[r.commodity], node_index[r.depot], w)
            for r in scenario.supply
            if r.units_per_week > 0
            for w in range(scenario.n_weeks)
        }
    )
    stock = [(int(k), int(n), int(w)) for k, n, w in np.argwhere(net.stock_possible)]
    unmet = [
        (k, p, w)
        for k in range(len(scenario.commodities))
        for p in range(n_p)
        for w in range(scenario.n_weeks)
    ]
    team_ship = [(int(a), int(w)) for a, w in np.argwhere(net.team_allowed)]
    origins = [node_index[o] for o in scenario.config.staff.origins]
    dispatch = [(d, w) for d in origins for w in range(scenario.n_weeks)]
    deploy = [(int(p), int(w)) for p, w in np.argwhere(net.team_arrives[:n_p])]
    team_need = [(p, w) for p in range(n_p) for w in range(scenario.n_weeks)]
    capacity = sorted({(a, w) for _, a, w in ship})
    exempt = [
        (int(e), k, a, w)
        for k, a, w in ship
        if net.barred[k, a]
        for e in np.flatnonzero(net.exempt[:, k, a, w])
    ]
    return LPIndex(
        ship, procure, stock, unmet, team_ship, dispatch, deploy, team_need, capacity, exempt
    )


# --- constraint families ---------------------------------------------------------------------
# Each takes the model and the data it needs, and adds one named family of rows.


def stock_balance(m: pyo.ConcreteModel, scenario: Scenario, net: Network, ix: LPIndex) -> None:
    """stock[w] = stock[w-1] + procure[w] + arrivals[w] - departures[w] - (need - unmet)[w],
    the last term only for consumables at provinces; durables are held, not consumed."""
    consumed = [not c.durable for c in scenario.commodities]
    terms: dict[tuple[int, int, int], list[tuple[float, object]]] = defaultdict(list)
    for k, n, w in ix.stock:
        terms[(k, n, w)].append((1.0, m.stock[k, n, w]))
        if w + 1 < scenario.n_weeks:
            terms[(k, n, w + 1)].append((-1.0, m.stock[k, n, w]))
    for k, d, w in ix.procure:
        terms[(k, d, w)].append((-1.0, m.procure[k, d, w]))
    for k, a, w in ix.ship:
        terms[(k, int(net.head[a]), w + int(net.transit_weeks[a]))].append((-1.0, m.ship[k, a, w]))
        terms[(k, int(net.tail[a]), w)].append((1.0, m.ship[k, a, w]))
    rhs: dict[tuple[int, int, int], object] = {}
    for k, p, w in ix.unmet:
        if consumed[k]:
            terms[(k, p, w)].append((-1.0, m.unmet[k, p, w]))
            rhs[(k, p, w)] = -m.need[k, p, w]
    keys = sorted(k for k in terms if terms[k])
    m.BALANCE = pyo.Set(initialize=keys, dimen=3, ordered=True)

    def rule(m, k, n, w):
        coefs, variables = zip(*terms[(k, n, w)], strict=True)
        expr = LinearExpression(constant=0.0, linear_coefs=list(coefs), linear_vars=list(variables))
        return expr == rhs.get((k, n, w), 0.0)

    m.stock_balance = pyo.Constraint(m.BALANCE, rule=rule)


def equipment_in_use(m: pyo.ConcreteModel, scenario: Scenario, ix: LPIndex) -> None:
    """need - unmet <= stock at the province, for durable equipment."""
    stock = set(ix.stock)
    keys = [(k, p, w) for k, p, w in ix.unmet if scenario.commodities[k].durable]
    m.EQUIPMENT = pyo.Set(initialize=keys, dimen=3, ordered=True)

    def rule(m, k, p, w):
        held = m.stock[k, p, w] if (k, p, w) in stock else 0.0
        return m.need[k, p, w] - m.unmet[k, p, w] <= held

    m.equipment_in_use = pyo.Constraint(m.EQUIPMENT, rule=rule)


def route_capacity(m: pyo.ConcreteModel, scenario: Scenario, ix: LPIndex) -> None:
    """sum_k mass_k * ship[k, a, w] <= capacity[a, w], all commodities sharing the tonnes."""
    t_per_unit = [c.mass_kg_per_unit / 1000.0 for c in scenario.commodities]
    by_arc: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, a, w in ix.ship:
        by_arc[(a, w)].append(k)

    def rule(m, a, w):
        ks = by_arc[(a, w)]
        expr = LinearExpression(
            constant=0.0,
            linear_coefs=[t_per_unit[k] for k in ks],
            linear_vars=[m.ship[k, a, w] for k in ks],
        )
        return expr <= m.capacity[a, w]

    m.route_capacity = pyo.Constraint(m.CAPACITY, rule=rule)


def exemption_split(m: pyo.ConcreteModel, ix: LPIndex) -> None:
    """ship[k, a, w] = sum_e exempt_ship[e, k, a, w] for barred flows: each tonne that crosses
    is charged to one of the exemptions valid that week, whichever the plan chooses."""
    parts: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for e, k, a, w in ix.exempt:
        parts[(k, a, w)].append(e)

    def rule(m, k, a, w):
        return m.ship[k, a, w] == sum(m.exempt_ship[e, k, a, w] for e in parts[(k, a, w)])

    m.exemption_split = pyo.Constraint(sorted(parts), rule=rule)


def sanction_quota(m: pyo.ConcreteModel, scenario: Scenario, ix: LPIndex) -> None:
    """sum mass_k * exempt_ship[e, k, a, w] <= quota[e]: tonnes crossing under exemption e."""
    t_per_unit = [c.mass_kg_per_unit / 1000.0 for c in scenario.commodities]
    members: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for flow in ix.exempt:
        members[flow[0]].append(flow)

    def rule(m, e):
        expr = LinearExpression(
            constant=0.0,
            linear_coefs=[t_per_unit[k] for _, k, _, _ in members[e]],
            linear_vars=[m.exempt_ship[f] for f in members[e]],
        )
        return expr <= m.quota[e]

    m.sanction_quota = pyo.Constraint(sorted(members), rule=rule)


def budget_cap(m: pyo.ConcreteModel, scenario: Scenario) -> None:
    """procurement + transport + teams <= budget_usd (only when a budget is set)."""
    if scenario.config.objective.budget_usd is None:
        return
    m.budget_cap = pyo.Constraint(expr=m.spending <= m.budget)


def team_dispatch(m: pyo.ConcreteModel, scenario: Scenario, ix: LPIndex) -> None:
    """sum_d dispatch[d, w] <= teams_per_week."""
    by_week: dict[int, list[int]] = defaultdict(list)
    for d, w in ix.dispatch:
        by_week[w].append(d)

    def rule(m, w):
        return sum(m.dispatch[d, w] for d in by_week[w]) <= m.teams_per_week

    m.team_dispatch = pyo.Constraint(sorted(by_week), rule=rule)


def team_balance(m: pyo.ConcreteModel, scenario: Scenario, net: Network, ix: LPIndex) -> None:
    """Teams arriving (or dispatched) = teams leaving + teams deployed; teams do not wait."""
    terms: dict[tuple[int, int], list[tuple[float, object]]] = defaultdict(list)
    for a, w in ix.team_ship:
        terms[(int(net.tail[a]), w)].append((1.0, m.team_ship[a, w]))
        terms[(int(net.head[a]), w + int(net.transit_weeks[a]))].append((-1.0, m.team_ship[a, w]))
    for d, w in ix.dispatch:
        terms[(d, w)].append((-1.0, m.dispatch[d, w]))
    for p, w in ix.deploy:
        terms[(p, w)].append((1.0, m.deploy[p, w]))
    keys = sorted(terms)

    def rule(m, n, w):
        coefs, variables = zip(*terms[(n, w)], strict=True)
        return (
            LinearExpression(constant=0.0, linear_coefs=list(coefs), linear_vars=list(variables))
            == 0.0
        )

    m.team_balance = pyo.Constraint(keys, rule=rule)


def team_cover(m: pyo.ConcreteModel, scenario: Scenario, ix: LPIndex) -> None:
    """team_need - team_unmet <= teams present (deployed within the last deployment_weeks)."""
    weeks = scenario.config.staff.deployment_weeks
    deploy = set(ix.deploy)

    def rule(m, p, w):
        present = [m.deploy[p, s] for s in range(max(0, w - weeks + 1), w + 1) if (p, s) in deploy]
        return m.team_need[p, w] - m.team_unmet[p, w] <= sum(present)

    m.team_cover = pyo.Constraint(m.TEAM_NEED, rule=rule)


# --- the model -------------------------------------------------------------------------------


def _zero_to_need(m, *index):
    return (0.0, m.need[index])


def _zero_to_team_need(m, *index):
    return (0.0, m.team_need[index])


def _zero_to_available(m, *index):
    return (0.0, m.available[index])


class AllocationLP:
    """Build once with `AllocationLP(scenario, network)`; then `update(...)` and `solve()`."""

    def __init__(self, scenario: Scenario, net: Network):
        start = time.perf_counter()
        self.scenario, self.net = scenario, net
        self.ix = ix = lp_index(scenario, net)
        cfg = scenario.config
        node_index = {n: i for i, n in enumerate(scenario.node_ids)}
        k_index = {c: k for k, c in enumerate(scenario.commodity_ids)}
        self.shape = (
            len(scenario.commodities),
            len(net.arc_ids),
            len(scenario.node_ids),
            len(scenario.provinces),
            scenario.n_weeks,
        )

        m = self.model = pyo.ConcreteModel(name=cfg.name)
        m.SHIP = pyo.Set(initialize=ix.ship, dimen=3, ordered=True)
        m.PROCURE = pyo.Set(initialize=ix.procure, dimen=3, ordered=True)
        m.STOCK = pyo.Set(initialize=ix.stock, dimen=3, ordered=True)
        m.UNMET = pyo.Set(initialize=ix.unmet, dimen=3, ordered=True)
        m.TEAM_SHIP = pyo.Set(initialize=ix.team_ship, dimen=2, ordered=True)
        m.DISPATCH = pyo.Set(initialize=ix.dispatch, dimen=2, ordered=True)
        m.DEPLOY = pyo.Set(initialize=ix.deploy, dimen=2, ordered=True)
        m.TEAM_NEED = pyo.Set(initialize=ix.team_need, dimen=2, ordered=True)
        m.CAPACITY = pyo.Set(initialize=ix.capacity, dimen=2, ordered=True)
        m.EXEMPTIONS = pyo.Set(initialize=range(len(net.exemption_ids)), ordered=True)

        weekly = {(k_index[r.commodity], node_index[r.depot]): r.units_per_week
                  for r in scenario.supply}  # fmt: skip
        available = {(k, d, w): weekly[(k, d)] for k, d, w in ix.procure}
        capacity = {(a, w): scenario.arcs[a].capacity_t_per_week for a, w in ix.capacity}
        quotas = {
            e: next(x.quota_t for x in scenario.sanctions.exemptions if x.id == ex_id)
            for e, ex_id in enumerate(net.exemption_ids)
        }
        mutable = {"mutable": True, "within": pyo.Reals}
        m.need = pyo.Param(m.UNMET, initialize=0.0, **mutable)
        m.harm = pyo.Param(m.UNMET, initialize=0.0, **mutable)
        m.team_need = pyo.Param(m.TEAM_NEED, initialize=0.0, **mutable)
        m.team_harm = pyo.Param(m.TEAM_NEED, initialize=0.0, **mutable)
        m.available = pyo.Param(m.PROCURE, initialize=available, **mutable)
        m.capacity = pyo.Param(m.CAPACITY, initialize=capacity, **mutable)
        m.quota = pyo.Param(m.EXEMPTIONS, initialize=quotas, **mutable)
        m.teams_per_week = pyo.Param(initialize=cfg.staff.teams_per_week, **mutable)
        m.budget = pyo.Param(initialize=cfg.objective.budget_usd or 0.0, **mutable)

        m.ship = pyo.Var(m.SHIP, within=pyo.NonNegativeReals)
        m.procure = pyo.Var(m.PROCURE, bounds=_zero_to_available)
        m.stock = pyo.Var(m.STOCK, within=pyo.NonNegativeReals)
        m.unmet = pyo.Var(m.UNMET, bounds=_zero_to_need)
        m.team_ship = pyo.Var(m.TEAM_SHIP, within=pyo.NonNegativeReals)
        m.dispatch = pyo.Var(m.DISPATCH, within=pyo.NonNegativeReals)
        m.deploy = pyo.Var(m.DEPLOY, within=pyo.NonNegativeReals)
        m.team_unmet = pyo.Var(m.TEAM_NEED, bounds=_zero_to_team_need)
        m.EXEMPT = pyo.Set(initialize=ix.exempt, dimen=4, ordered=True)
        m.exempt_ship = pyo.Var(m.EXEMPT, within=pyo.NonNegativeReals)

        price = {(k, n): 0.0 for k, n, _ in ix.procure}
        for r in scenario.supply:
            price[(k_index[r.commodity], node_index[r.depot])] = r.procurement_usd_per_unit
        freight = [
            [c.mass_kg_per_unit / 1000.0 * arc.cost_per_t for arc in scenario.arcs]
            for c in scenario.commodities
        ]
        # A team deployed in week w is paid for its whole deployment.
        team_cost = cfg.staff.cost_usd_per_team_week * cfg.staff.deployment_weeks
        m.spending = pyo.Expression(
            expr=LinearExpression(
                constant=0.0,
                linear_coefs=[price[(k, n)] for k, n, _ in ix.procure]
                + [freight[k][a] for k, a, _ in ix.ship]
                + [team_cost] * len(ix.deploy),
                linear_vars=[m.procure[i] for i in ix.procure]
                + [m.ship[i] for i in ix.ship]
                + [m.deploy[i] for i in ix.deploy],
            )
        )

        stock_balance(m, scenario, net, ix)
        equipment_in_use(m, scenario, ix)
        route_capacity(m, scenario, ix)
        exemption_split(m, ix)
        sanction_quota(m, scenario, ix)
        budget_cap(m, scenario)
        team_dispatch(m, scenario, ix)
        team_balance(m, scenario, net, ix)
        team_cover(m, scenario, ix)

        m.objective = pyo.Objective(
            expr=sum(m.harm[i] * m.unmet[i] for i in ix.unmet)
            + sum(m.team_harm[i] * m.team_unmet[i] for i in ix.team_need)
            + m.spending / cfg.objective.usd_per_death_averted,
            sense=pyo.minimize,
        )

        self.solver = SolverFactory("highs")
        method = cfg.solver.method
        if method == "auto":
            method = "ipm" if len(ix.ship) > cfg.solver.ipm_above_columns else "simplex"
        self.method = method
        self.solver.config.load_solutions = False
        self.solver.config.raise_exception_on_nonoptimal_result = False
        self.solver.config.solver_options = {"solver": method, "output_flag": False}
        if cfg.solver.time_limit_s is not None:
            self.solver.config.time_limit = cfg.solver.time_limit_s
        # Between solves only mutable parameters change: skip every structural check.
        updates = self.solver.config.auto_updates
        updates.check_for_new_or_removed_constraints = False
        updates.check_for_new_or_removed_vars = False
        updates.check_for_new_or_removed_params = False
        updates.check_for_new_objective = False
        updates.update_constraints = False
        updates.update_vars = False
        updates.update_named_expressions = False
        updates.update_objective = False
        updates.update_parameters = True
        self._highs_seconds = 0.0
        self._in_place: InPlace | None = None
        self.build_s = time.perf_counter() - start

    @property
    def n_columns(self) -> int:
        return self.model.nvariables()

    @property
    def n_rows(self) -> int:
        return self.model.nconstraints()

    def update(self, **values: np.ndarray | float | None) -> None:
        """Change data in place and keep the built model: need, harm (K, P, W); team_need,
        team_harm (P, W); capacity_t_per_week (A, W); available (K, N, W) units a depot
        offers; quota_t (E,); budget_usd; teams_per_week. Pyomo's parameters always follow;
        once HiGHS holds the model the same values go to it directly (see `InPlace`)."""
        m, ix = self.model, self.ix
        families: dict[str, tuple[Any, list]] = {
            "need": (m.need, ix.unmet),
            "harm": (m.harm, ix.unmet),
            "team_need": (m.team_need, ix.team_need),
            "team_harm": (m.team_harm, ix.team_need),
            "capacity_t_per_week": (m.capacity, ix.capacity),
            "available": (m.available, ix.procure),
            "quota_t": (m.quota, [(e,) for e in range(len(self.net.exemption_ids))]),
            "budget_usd": (m.budget, [()]),
            "teams_per_week": (m.teams_per_week, [()]),
        }
        unknown = set(values) - set(families)
        if unknown:
            raise TypeError(f"update() got unknown data {sorted(unknown)}; valid: {list(families)}")
        if values.get("budget_usd") is not None and not hasattr(m, "budget_cap"):
            raise ValueError("the model has no budget row: set objective.budget_usd to build one")
        for name, given in values.items():
            if given is None or not families[name][1]:
                continue  # nothing given, or no row or column holds this data
            param, index = families[name]
            array = np.asarray(given, dtype=float)
            flat = array[tuple(np.array(index, dtype=int).T)] if array.ndim else array[None]
            for i, v in zip(index, flat.tolist(), strict=True):
                param[i if i else None].set_value(v)
            if self._in_place is not None:
                self._in_place.send(name, flat)

    def solve(self) -> Plan:
        start = time.perf_counter()
        results = self.solver.solve(self.model)
        solved = time.perf_counter()
        if self._in_place is None:
            # From now on data goes to HiGHS directly; Pyomo need not re-evaluate parameters.
            self._in_place = InPlace(self)
            self.solver.config.auto_updates.update_parameters = False
        # HiGHS reports its run time since the instance was created; keep this solve's share.
        highs_total = float(results.timing_info.highs_time)
        highs_s, self._highs_seconds = highs_total - self._highs_seconds, highs_total
        if results.termination_condition != TerminationCondition.convergenceCriteriaSatisfied:
            hint = (
                " (raise solver.time_limit_s)"
                if results.termination_condition == TerminationCondition.maxTimeLimit
                else ""
            )
            raise SolverError(
                f"HiGHS did not find an optimal plan: {results.termination_condition.name}{hint}"
            )
        plan = self._in_place.read(float(results.incumbent_objective))
        plan.timings_s = {
            "solve": solved - start,
            "highs": highs_s,
            "read": time.perf_counter() - solved,
        }
        return plan


class InPlace:
    """Where each variable and row of the LP sits in the persistent HiGHS instance.

    Pyomo stays the modelling layer and builds and translates the model once. Between solves
    only data change (needs, harm weights, capacities, availability, quotas, budget, teams);
    evaluating every mutable parameter expression through Pyomo cost about 0.08 s per
    re-solve against 0.013 s for HiGHS itself
    (default scenario), so this sends the new values to HiGHS in a few vectorised highspy
    calls and reads the solution back as arrays. It relies on the persistent interface's
    HiGHS object and index maps (Pyomo 6.10), and checks on creation that the rows it will
    change hold exactly the values its formulas give.
    """

    def __init__(self, lp: AllocationLP):
        opt, m, ix = lp.solver, lp.model, lp.ix
        try:
            self.highs = opt._solver_model
            var_col = opt._pyomo_var_to_solver_var_map
            con_row = opt._pyomo_con_to_solver_con_map
        except AttributeError as exc:  # a Pyomo release that moved these
            raise RuntimeError(
                "this Pyomo release's persistent HiGHS interface has no column/row maps; "
                "aidopt needs Pyomo 6.10"
            ) from exc
        self.lp = lp

        def cols(var, index) -> np.ndarray:
            return np.array([var_col[id(var[i])] for i in index], dtype=np.int32)

        def rows(con, index) -> np.ndarray:
            return np.array([con_row[con[i]] for i in index], dtype=np.int32)

        durable = np.array([c.durable for c in lp.scenario.commodities])
        unmet_durable = durable[np.array([k for k, _, _ in ix.unmet], dtype=int)]
        self.consumed = ~unmet_durable
        self.cols = {
            name: cols(getattr(m, name), index)
            for name, index in (
                ("ship", ix.ship), ("procure", ix.procure), ("stock", ix.stock),
                ("unmet", ix.unmet), ("team_ship", ix.team_ship), ("deploy", ix.deploy),
                ("team_unmet", ix.team_need),
            )
        }  # fmt: skip
        unmet = np.array(ix.unmet, dtype=int).reshape(-1, 3)
        self.rows = {
            "balance": rows(m.stock_balance, [tuple(u) for u in unmet[self.consumed]]),
            "equipment": rows(m.equipment_in_use, [tuple(u) for u in unmet[~self.consumed]]),
            "team_cover": rows(m.team_cover, ix.team_need),
            "capacity": rows(m.route_capacity, ix.capacity),
            "dispatch": np.array([con_row[c] for c in m.team_dispatch.values()], dtype=np.int32),
        }
        # Exemptions no flow can use have no quota row; -1 marks them.
        self.quota_rows = np.array(
            [con_row[m.sanction_quota[e]] if e in m.sanction_quota else -1
             for e in range(len(lp.net.exemption_ids))], dtype=np.int64,
        )  # fmt: skip
        self.budget_row = con_row[m.budget_cap] if hasattr(m, "budget_cap") else None
        self.index = {
            "ship": ix.ship, "procure": ix.procure, "stock": ix.stock, "unmet": ix.unmet,
            "team_ship": ix.team_ship, "deploy": ix.deploy, "team_unmet": ix.team_need,
        }  # fmt: skip
        self._check(m, ix)

    def _check(self, m, ix) -> None:
        """The bounds, rows and costs this class changes must read as its formulas say, at
        both ends, so that a sign or a side the translation chose differently shows up."""
        model = self.highs.getLp()
        col_lower, col_upper = np.asarray(model.col_lower_), np.asarray(model.col_upper_)
        row_lower, row_upper = np.asarray(model.row_lower_), np.asarray(model.row_upper_)
        cost = np.asarray(model.col_cost_)

        def values(param, index) -> np.ndarray:
            return np.array([pyo.value(param[i]) for i in index], dtype=float)

        need, team_need = values(m.need, ix.unmet), values(m.team_need, ix.team_need)
        quotas = self.quota_rows >= 0
        quota = values(m.quota, range(quotas.size))[quotas]
        dispatch = np.full(self.rows["dispatch"].size, pyo.value(m.teams_per_week))
        inf = highspy.kHighsInf
        expected = [
            (col_lower[self.cols["unmet"]], 0.0),
            (col_upper[self.cols["unmet"]], need),
            (cost[self.cols["unmet"]], values(m.harm, ix.unmet)),
            (row_lower[self.rows["balance"]], -need[self.consumed]),
            (row_upper[self.rows["balance"]], -need[self.consumed]),
            (row_lower[self.rows["equipment"]], -inf),
            (row_upper[self.rows["equipment"]], -need[~self.consumed]),
            (col_lower[self.cols["team_unmet"]], 0.0),
            (col_upper[self.cols["team_unmet"]], team_need),
            (cost[self.cols["team_unmet"]], values(m.team_harm, ix.team_need)),
            (row_lower[self.rows["team_cover"]], -inf),
            (row_upper[self.rows["team_cover"]], -team_need),
            (row_lower[self.rows["capacity"]], -inf),
            (row_upper[self.rows["capacity"]], values(m.capacity, ix.capacity)),
            (col_lower[self.cols["procure"]], 0.0),
            (col_upper[self.cols["procure"]], values(m.available, ix.procure)),
            (row_lower[self.quota_rows[quotas]], -inf),
            (row_upper[self.quota_rows[quotas]], quota),
            (row_lower[self.rows["dispatch"]], -inf),
            (row_upper[self.rows["dispatch"]], dispatch),
        ]
        if self.budget_row is not None:
            expected += [
                (row_lower[[self.budget_row]], -inf),
                (row_upper[[self.budget_row]], pyo.value(m.budget)),
            ]
        for got, want in expected:
            if not np.allclose(got, want, rtol=1e-12, atol=1e-12):
                raise RuntimeError("HiGHS holds the LP in a form aidopt does not expect")

    def _bounds(self, kind: str, idx: np.ndarray, lower, upper) -> None:
        n = idx.size
        if n == 0:
            return
        lower = np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy()
        upper = np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy()
        change = self.highs.changeColsBounds if kind == "col" else self.highs.changeRowsBounds
        change(n, idx, lower, upper)

    def send(self, name: str, values: np.ndarray) -> None:
        """Put one changed parameter family into HiGHS."""
        inf = highspy.kHighsInf
        if name == "need":
            self._bounds("col", self.cols["unmet"], 0.0, values)
            consumed = values[self.consumed]
            self._bounds("row", self.rows["balance"], -consumed, -consumed)
            self._bounds("row", self.rows["equipment"], -inf, -values[~self.consumed])
        elif name == "harm":
            self.highs.changeColsCost(values.size, self.cols["unmet"], values)
        elif name == "team_need":
            self._bounds("col", self.cols["team_unmet"], 0.0, values)
            self._bounds("row", self.rows["team_cover"], -inf, -values)
        elif name == "team_harm":
            self.highs.changeColsCost(values.size, self.cols["team_unmet"], values)
        elif name == "capacity_t_per_week":
            self._bounds("row", self.rows["capacity"], -inf, values)
        elif name == "available":
            self._bounds("col", self.cols["procure"], 0.0, values)
        elif name == "quota_t":
            has_row = self.quota_rows >= 0
            self._bounds("row", self.quota_rows[has_row].astype(np.int32), -inf, values[has_row])
        elif name == "budget_usd":
            self._bounds("row", np.array([self.budget_row], dtype=np.int32), -inf, values)
        elif name == "teams_per_week":
            self._bounds("row", self.rows["dispatch"], -inf, values[0])
        else:
            raise KeyError(name)

    def read(self, objective: float) -> Plan:
        n_k, n_a, n_n, n_p, n_w = self.lp.shape
        solution = self.highs.getSolution()
        primal = np.asarray(solution.col_value)
        dual = np.asarray(solution.row_dual)

        def dense(name: str, shape: tuple[int, ...]) -> np.ndarray:
            out = np.zeros(shape)
            if self.index[name]:
                values = primal[self.cols[name]]
                # Within HiGHS's feasibility tolerance (1e-7) a zero may come back as +-1e-12.
                out[tuple(np.array(self.index[name]).T)] = np.where(
                    np.abs(values) < 1e-9, 0.0, values
                )
            return out

        capacity_dual = np.zeros((n_a, n_w))
        if self.lp.ix.capacity:
            capacity_dual[tuple(np.array(self.lp.ix.capacity).T)] = dual[self.rows["capacity"]]
        quota_dual = np.where(self.quota_rows >= 0, dual[np.maximum(self.quota_rows, 0)], 0.0)
        return Plan(
            status="optimal",
            objective=objective,
            shipments=dense("ship", (n_k, n_a, n_w)),
            procured=dense("procure", (n_k, n_n, n_w)),
            stock=dense("stock", (n_k, n_n, n_w)),
            unmet=dense("unmet", (n_k, n_p, n_w)),
            team_shipments=dense("team_ship", (n_a, n_w)),
            deployed=dense("deploy", (n_p, n_w)),
            team_unmet=dense("team_unmet", (n_p, n_w)),
            capacity_dual=capacity_dual,
            quota_dual=quota_dual,
            budget_dual=0.0 if self.budget_row is None else float(dual[self.budget_row]),
        )
