"""The allocation step: a linear program, solved by HiGHS, of what to ship where, when and how.

Variables exist only where the network masks allow a flow (units unless noted):

    ship[k, a, w]      commodity k leaving on arc a in week w, arriving w + transit_a
    procure[k, d, w]   taken from depot d's weekly availability
    stock[k, n, w]     held at node n at the end of week w
    fill[k, p, w]      share of province p's need of k met in week w, in [0, 1]
    package[g, p, w]   coverage a package of complementary inputs gives, in [0, 1]
    coverage[l, p, w]  coverage of lever l (testing, ipc, care) that aid adds
    exempt_ship[e, k, a, w]  the part of a barred flow crossing under exemption e
    team_ship[a, w], dispatch[d, w], deploy[p, w]   medical teams travelling, leaving, starting
    team_fill[p, w]    share of the teams needed that are present

Inputs of one package are complements: package <= fill[k] for each member (a Leontief minimum);
packages of one lever are substitutes: coverage <= sum of its packages. Coverage is what the
epidemic responds to. Its bounds carry the trust region of the closed loop, the domestic care
already in place, and so on.

Objective, solved in two stages on the same HiGHS instance:

1. minimise usd_per_death_averted * harm + spending, where harm (deaths, linearised) is
   -sum(gradient * coverage) with the epidemic, or the planner's penalty on unmet need without;
2. minimise spending + a small tie-break (holding stock, teams travelling) with every variable
   that carries harm held at its stage-1 value, so that costs steer the plan whenever they can
   without costing lives, whatever the price of a life, and equally good plans are told apart.

Needs enter as coefficients (need * fill), changed in place each iteration, so the model is
assembled once; bounds, costs and right-hand sides change in place too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from models.seir import CARE, LEVERS
from optimiser.inputs import Scenario
from optimiser.lp import DUAL_SIMPLEX, INF, PRIMAL_SIMPLEX, ArrayLP, Solver, SolverError
from optimiser.network import Network

NEED_FLOOR = 1e-3
"""Needs below this many units are treated as none [units]."""
HOLDING_USD_PER_T_WEEK = 0.01
"""Tie-break: holding a tonne for a week; far below any real cost, it only orders equals."""
TEAM_TRAVEL_USD_PER_ARC = 0.01
"""Tie-break: a team travelling on an arc."""

__all__ = ["SolverError", "Plan", "AllocationLP", "packages"]


@dataclass(frozen=True)
class Packages:
    """Groups of complementary inputs, each within one lever."""

    names: list[str]
    lever: np.ndarray  # (G,) lever index
    members: list[list[int]]  # commodity indices per package
    teams: int | None  # the package medical teams belong to (care lever)


def packages(scenario: Scenario) -> Packages:
    """Packages from commodities.csv (`lever`, `package`; empty package = one per lever) and
    the staff block (`staff.package`, in the care lever)."""
    keys: list[tuple[str, str]] = []
    members: dict[tuple[str, str], list[int]] = {}
    for k, c in enumerate(scenario.commodities):
        if c.lever == "none":
            continue
        key = (c.lever, c.package or c.lever)
        if key not in members:
            keys.append(key)
            members[key] = []
        members[key].append(k)
    team_key = ("care", scenario.config.staff.package)
    if team_key not in members:
        keys.append(team_key)
        members[team_key] = []
    return Packages(
        names=[f"{lever}:{name}" for lever, name in keys],
        lever=np.array([LEVERS.index(lever) for lever, _ in keys], dtype=int),
        members=[members[key] for key in keys],
        teams=keys.index(team_key),
    )


@dataclass
class Plan:
    """One solve's result as dense arrays (zeros where no variable exists)."""

    shipments: np.ndarray  # (K, A, W) units
    procured: np.ndarray  # (K, N, W) units
    stock: np.ndarray  # (K, N, W) units
    fill: np.ndarray  # (K, P, W) share of need met
    used: np.ndarray  # (K, P, W) units the plan uses against the need it was made for
    coverage: np.ndarray  # (L, P, W) aid's coverage of each lever
    package_coverage: np.ndarray  # (G, P, W)
    team_shipments: np.ndarray  # (A, W) teams
    deployed: np.ndarray  # (P, W) teams starting a deployment
    team_fill: np.ndarray  # (P, W)
    harm: float  # linearised harm of the plan [deaths]
    spending_usd: dict[str, float]  # procurement, transport, teams
    capacity_value: np.ndarray  # (A, W) deaths-equivalent fall per extra t/week
    quota_value: np.ndarray  # (E,) deaths-equivalent fall per extra tonne of quota
    budget_value: float  # deaths-equivalent fall per extra USD of budget
    timings_s: dict[str, float] = field(default_factory=dict)


class AllocationLP:
    """Build once with `AllocationLP(scenario, network)`; then `update(...)` and `solve()`."""

    def __init__(self, scenario: Scenario, net: Network):
        start = time.perf_counter()
        self.scenario, self.net = scenario, net
        cfg = scenario.config
        self.packages = packages(scenario)
        n_k, n_a, n_n = len(scenario.commodities), len(net.arc_ids), len(scenario.node_ids)
        n_p, n_w = len(scenario.provinces), scenario.n_weeks
        self.shape = (n_k, n_a, n_n, n_p, n_w)
        self.usd_per_death = cfg.objective.usd_per_death_averted
        lp = self.lp = ArrayLP()
        build_columns(lp, scenario, net, self.packages)
        self.coefficients: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        stock_balance(lp, scenario, net, self.coefficients)
        equipment_in_use(lp, scenario, self.coefficients)
        lab_capacity(lp, scenario, self.coefficients)
        route_capacity(lp, scenario, net)
        exemption_split(lp, scenario, net)
        sanction_quota(lp, scenario, net.exemption_ids)
        budget_cap(lp, scenario)
        team_dispatch(lp, scenario)
        team_balance(lp, scenario, net)
        team_cover(lp, scenario, self.coefficients)
        package_cover(lp, scenario, self.packages)
        lever_cover(lp, scenario, self.packages)
        self.spending_cost = np.concatenate(lp.cost)
        method = cfg.solver.method if cfg.solver.method != "auto" else "simplex"
        self.method = method
        self.solver = Solver(lp, method, cfg.solver.time_limit_s)
        self.harm_cost = {name: np.zeros(lp.columns[name].size)
                          for name in ("coverage", "fill", "team_fill")}  # fmt: skip
        self.harm_offset = 0.0
        self.need = np.zeros((n_k, n_p, n_w))
        self.tiebreak = self._tiebreak()
        self.build_s = time.perf_counter() - start

    @property
    def n_columns(self) -> int:
        return self.lp.n_cols

    @property
    def n_rows(self) -> int:
        return self.lp.n_rows

    def _tiebreak(self) -> np.ndarray:
        cost = np.zeros(self.lp.n_cols)
        stock = self.lp.columns["stock"]
        mass_t = np.array([c.mass_kg_per_unit for c in self.scenario.commodities]) / 1000.0
        cost[stock.ids] = HOLDING_USD_PER_T_WEEK * mass_t[stock.index[:, 0]]
        cost[self.lp.columns["team_ship"].ids] = TEAM_TRAVEL_USD_PER_ARC
        return cost

    def update(self, *, need=None, team_need=None, harm=None, coverage_bounds=None,
               capacity_t_per_week=None, available=None, quota_t=None, budget_usd=None,
               teams_per_week=None, lab_tests_per_week=None) -> None:  # fmt: skip
        """Change data in place, keeping the model and its basis:
        need (K, P, W) units; team_need (P, W) teams; harm: dict with any of `coverage`
        (L, P, W), `fill` (K, P, W), `team_fill` (P, W) deaths per unit and `offset` deaths;
        coverage_bounds: (lower, upper) each (L, P, W); capacity_t_per_week (A,) or (A, W);
        available (K, N) units a week at depots; quota_t (E,); budget_usd; teams_per_week;
        lab_tests_per_week (P,)."""
        lp, s = self.lp, self.solver
        if need is not None:
            need = np.asarray(need, dtype=float)
            # Thousandths of a unit are no need anyone can act on, and as coefficients they
            # spoil the LP's scaling.
            self.need = np.where(need < NEED_FLOOR, 0.0, need)
            self._coefficients("need", self.need)
        if team_need is not None:
            self._coefficients("team_need", -np.asarray(team_need, dtype=float))
        if harm is not None:
            for name in ("coverage", "fill", "team_fill"):
                if name in harm:
                    fam = lp.columns[name]
                    self.harm_cost[name] = np.asarray(harm[name], float)[tuple(fam.index.T)]
            self.harm_offset = float(harm.get("offset", 0.0))
        if coverage_bounds is not None:
            fam = lp.columns["coverage"]
            lower, upper = (np.asarray(b, dtype=float)[tuple(fam.index.T)] for b in coverage_bounds)
            s.set_col_bounds(fam.ids, lower, np.maximum(lower, upper))
        if capacity_t_per_week is not None:
            fam = lp.rows["route_capacity"]
            cap = np.asarray(capacity_t_per_week, dtype=float)
            cap = cap[fam.index[:, 0]] if cap.ndim == 1 else cap[tuple(fam.index.T)]
            s.set_row_bounds(fam.ids, -INF, cap)
        if available is not None:
            fam = lp.columns["procure"]
            avail = np.asarray(available, dtype=float)[fam.index[:, 0], fam.index[:, 1]]
            s.set_col_bounds(fam.ids, 0.0, avail)
        if quota_t is not None and "sanction_quota" in lp.rows:
            fam = lp.rows["sanction_quota"]
            s.set_row_bounds(fam.ids, -INF, np.asarray(quota_t, dtype=float)[fam.index[:, 0]])
        if budget_usd is not None:
            if "budget_cap" not in lp.rows:
                raise ValueError("the model has no budget row: set objective.budget_usd to build one")
            s.set_row_bounds(lp.rows["budget_cap"].ids, -INF, budget_usd)
        if teams_per_week is not None:
            s.set_row_bounds(lp.rows["team_dispatch"].ids, -INF, teams_per_week)
        if lab_tests_per_week is not None and "lab_capacity" in lp.rows:
            fam = lp.rows["lab_capacity"]
            labs = np.asarray(lab_tests_per_week, float)[fam.index[:, 0]]
            s.set_row_bounds(fam.ids, -INF, np.where(np.isfinite(labs), labs, INF))

    def _coefficients(self, name: str, values: np.ndarray) -> None:
        for key, (rows, cols, where) in self.coefficients.items():
            if key.split(":")[0] == name:
                self.solver.set_coefficients(rows, cols, values[tuple(where.T)])

    def _harm_vector(self) -> np.ndarray:
        cost = np.zeros(self.lp.n_cols)
        for name, values in self.harm_cost.items():
            cost[self.lp.columns[name].ids] = values
        return cost

    def solve(self) -> Plan:
        """Stage 1 (deaths and spending), then stage 2 (spending with harm held).

        Stage 1's objective is in deaths (spending / usd_per_death_averted): in USD its
        coefficients reach 1e9 and HiGHS took five times the iterations (measured). It is
        re-solved by the dual simplex method, whose basis stays dual feasible through changes of
        bounds. Stage 2 holds harm by fixing every variable that carries harm at its stage-1
        value (bounds only: a dense harm row made the primal simplex stall, measured) and
        minimises spending; stage 1's basis stays primal feasible, so the primal simplex method
        finishes it in a few hundred iterations."""
        start = time.perf_counter()
        s, lp = self.solver, self.lp
        harm = self._harm_vector()
        s.set_costs(np.arange(lp.n_cols), harm + self.spending_cost / self.usd_per_death)
        x1, dual1, _ = s.solve(DUAL_SIMPLEX)
        stage1 = time.perf_counter()
        held = np.flatnonzero(harm)
        lower, upper = s.col_bounds(held)
        s.set_col_bounds(held, x1[held], x1[held])
        s.set_costs(np.arange(lp.n_cols), self.spending_cost + self.tiebreak)
        x, _, _ = s.solve(PRIMAL_SIMPLEX)
        s.set_col_bounds(held, lower, upper)
        plan = self._read(x, dual1, float(harm @ x) + self.harm_offset)
        plan.timings_s = {"stage1": stage1 - start, "stage2": time.perf_counter() - stage1,
                          "highs": s.highs_seconds}  # fmt: skip
        return plan

    def _read(self, x: np.ndarray, dual: np.ndarray, harm: float) -> Plan:
        col, row = self.lp.columns, self.lp.rows
        cost = self.spending_cost

        def value(name: str) -> np.ndarray:
            # Within HiGHS's feasibility tolerance a zero may come back as +-1e-12.
            out = col[name].dense(x)
            return np.where(np.abs(out) < 1e-9, 0.0, out)

        def spent(*names: str) -> float:
            return float(sum(cost[col[n].ids] @ x[col[n].ids] for n in names))

        # Stage 1's duals are d(objective)/d(rhs) in deaths (spending counted at
        # usd_per_death_averted); sign flipped so that a positive value is what one more unit of
        # the resource is worth.
        n_a, n_w = self.shape[1], self.shape[4]
        capacity = np.zeros((n_a, n_w))
        if row["route_capacity"].size:
            capacity[tuple(row["route_capacity"].index.T)] = -dual[row["route_capacity"].ids]
        quota = np.zeros(len(self.net.exemption_ids))
        if "sanction_quota" in row and row["sanction_quota"].size:
            quota[row["sanction_quota"].index[:, 0]] = -dual[row["sanction_quota"].ids]
        budget = -float(dual[row["budget_cap"].ids[0]]) if "budget_cap" in row else 0.0
        return Plan(
            shipments=value("ship"), procured=value("procure"), stock=value("stock"),
            fill=np.clip(value("fill"), 0.0, 1.0), used=self.need * np.clip(value("fill"), 0, 1),
            coverage=value("coverage"),
            package_coverage=value("package"), team_shipments=value("team_ship"),
            deployed=value("deploy"), team_fill=np.clip(value("team_fill"), 0.0, 1.0),
            harm=harm,
            spending_usd={"procurement": spent("procure"), "transport": spent("ship"),
                          "teams": spent("deploy")},
            capacity_value=capacity, quota_value=quota, budget_value=budget,
        )  # fmt: skip


# --- columns ---------------------------------------------------------------------------------


def build_columns(lp: ArrayLP, scenario: Scenario, net: Network, pk: Packages) -> None:
    """Every variable family, with its spending per unit as cost (stage 2's objective)."""
    cfg = scenario.config
    n_k, n_a, n_n = len(scenario.commodities), len(net.arc_ids), len(scenario.node_ids)
    n_p, n_w = len(scenario.provinces), scenario.n_weeks
    node = {n: i for i, n in enumerate(scenario.node_ids)}
    kid = {c: k for k, c in enumerate(scenario.commodity_ids)}
    weeks = np.arange(n_w)
    mass_t = np.array([c.mass_kg_per_unit for c in scenario.commodities]) / 1000.0
    cost_per_t = np.array([a.cost_per_t for a in scenario.arcs])

    ship = np.argwhere(net.allowed)
    lp.variables("ship", ship, (n_k, n_a, n_w),
                 cost=mass_t[ship[:, 0]] * cost_per_t[ship[:, 1]])  # fmt: skip
    offers = [(kid[r.commodity], node[r.depot], r.units_per_week, r.procurement_usd_per_unit)
              for r in scenario.supply if r.units_per_week > 0]  # fmt: skip
    procure = np.array([(k, d, w) for k, d, _, _ in offers for w in weeks], dtype=int)
    lp.variables("procure", procure, (n_k, n_n, n_w),
                 upper=np.repeat([units for *_, units, _ in offers], n_w),
                 cost=np.repeat([price for *_, price in offers], n_w))  # fmt: skip
    lp.variables("stock", np.argwhere(net.stock_possible), (n_k, n_n, n_w))
    lp.variables("fill", np.argwhere(np.ones((n_k, n_p, n_w))), (n_k, n_p, n_w), upper=1.0)
    n_g = len(pk.names)
    lp.variables("package", np.argwhere(np.ones((n_g, n_p, n_w))), (n_g, n_p, n_w), upper=1.0)
    lp.variables("coverage", np.argwhere(np.ones((len(LEVERS), n_p, n_w))),
                 (len(LEVERS), n_p, n_w), upper=1.0)  # fmt: skip
    exempt = np.array([(e, k, a, w) for k, a, w in ship if net.barred[k, a]
                       for e in np.flatnonzero(net.exempt[:, k, a, w])], dtype=int)  # fmt: skip
    lp.variables("exempt_ship", exempt, (len(net.exemption_ids), n_k, n_a, n_w))
    lp.variables("team_ship", np.argwhere(net.team_allowed), (n_a, n_w))
    origins = [node[o] for o in cfg.staff.origins]
    lp.variables("dispatch", np.array([(d, w) for d in origins for w in weeks], dtype=int),
                 (n_n, n_w))  # fmt: skip
    # A team deployed in week w is paid for its whole deployment.
    lp.variables("deploy", np.argwhere(net.team_arrives[:n_p]), (n_p, n_w),
                 cost=cfg.staff.cost_usd_per_team_week * cfg.staff.deployment_weeks)  # fmt: skip
    lp.variables("team_fill", np.argwhere(np.ones((n_p, n_w))), (n_p, n_w), upper=1.0)


# --- constraint families ---------------------------------------------------------------------
# Each adds one named family of rows. Coefficients that change between solves are recorded in
# `coefficients` as (rows, columns, where in the data array) under "<data>:<family>".


def stock_balance(lp: ArrayLP, scenario: Scenario, net: Network, coefficients: dict) -> None:
    """stock[w] - stock[w-1] - procure[w] - arrivals[w] + departures[w] + need fill[w] = 0,
    the last term for consumables at provinces; durables are held, not consumed."""
    col = lp.columns
    n_k, n_a, n_n, n_w = len(scenario.commodities), len(net.arc_ids), len(scenario.node_ids), \
        scenario.n_weeks  # fmt: skip
    terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (k, n, w) keys, cols, coef
    st = col["stock"]
    terms.append((st.index, st.ids, np.ones(st.size)))
    later = st.index[:, 2] + 1 < n_w
    terms.append((st.index[later] + [0, 0, 1], st.ids[later], -np.ones(later.sum())))
    pr = col["procure"]
    terms.append((pr.index, pr.ids, -np.ones(pr.size)))
    sh = col["ship"]
    k, a, w = sh.index.T
    terms.append((np.c_[k, net.tail[a], w], sh.ids, np.ones(sh.size)))
    arrive = w + net.transit_weeks[a]
    terms.append((np.c_[k, net.head[a], arrive], sh.ids, -np.ones(sh.size)))
    fill = col["fill"]
    consumed = ~np.array([c.durable for c in scenario.commodities])[fill.index[:, 0]]
    terms.append((fill.index[consumed], fill.ids[consumed], np.zeros(consumed.sum())))
    keys = np.concatenate([t[0] for t in terms])
    unique, inverse = np.unique(keys[:, 0] * n_n * n_w + keys[:, 1] * n_w + keys[:, 2],
                                return_inverse=True)  # fmt: skip
    index = np.c_[unique // (n_n * n_w), unique // n_w % n_n, unique % n_w]
    rows = lp.constraints("stock_balance", index, (n_k, n_n, n_w), lower=0.0, upper=0.0)
    lp.add(rows.offset + inverse, np.concatenate([t[1] for t in terms]),
           np.concatenate([t[2] for t in terms]))  # fmt: skip
    lookup = rows.lookup()
    need_rows = lookup[tuple(fill.index[consumed].T)]
    coefficients["need:stock_balance"] = (need_rows, fill.ids[consumed], fill.index[consumed])
    del n_a


def equipment_in_use(lp: ArrayLP, scenario: Scenario, coefficients: dict) -> None:
    """need fill - stock <= 0 at the province, for durable equipment: what is in use is held."""
    fill, stock = lp.columns["fill"], lp.columns["stock"]
    durable = np.array([c.durable for c in scenario.commodities])[fill.index[:, 0]]
    index = fill.index[durable]
    rows = lp.constraints("equipment_in_use", index, fill.shape, upper=0.0)
    stock_col = stock.lookup()[index[:, 0], index[:, 1], index[:, 2]]  # provinces are nodes 0..P-1
    lp.add(rows.ids, stock_col, -1.0)
    lp.add(rows.ids, fill.ids[durable], 0.0)
    coefficients["need:equipment_in_use"] = (rows.ids, fill.ids[durable], index)


def lab_capacity(lp: ArrayLP, scenario: Scenario, coefficients: dict) -> None:
    """sum_k need fill over tests that use a lab - sum_k lab tests per unit x equipment held
    <= the province's own lab capacity: tests past what labs can run buy nothing."""
    users = [k for k, c in enumerate(scenario.commodities) if c.uses_lab]
    adders = [k for k, c in enumerate(scenario.commodities) if c.adds_lab_tests_per_week > 0]
    if not users:
        return
    fill, stock = lp.columns["fill"], lp.columns["stock"]
    n_p, n_w = fill.shape[1:]
    # Capacity comes with the needs (`update(lab_tests_per_week=...)`); none until then.
    rows = lp.constraints("lab_capacity", np.argwhere(np.ones((n_p, n_w))), (n_p, n_w))
    lookup, stock_lookup = fill.lookup(), stock.lookup()
    pw = rows.index
    for k in users:
        cols = lookup[k, pw[:, 0], pw[:, 1]]
        lp.add(rows.ids, cols, 0.0)
        coefficients[f"need:lab_capacity:{k}"] = (rows.ids, cols, np.c_[np.full(len(pw), k), pw])
    for k in adders:
        per_unit = scenario.commodities[k].adds_lab_tests_per_week
        lp.add(rows.ids, stock_lookup[k, pw[:, 0], pw[:, 1]], -per_unit)


def route_capacity(lp: ArrayLP, scenario: Scenario, net: Network) -> None:
    """sum_k mass_k ship[k, a, w] <= capacity[a]: all commodities share the tonnes."""
    ship = lp.columns["ship"]
    mass_t = np.array([c.mass_kg_per_unit for c in scenario.commodities]) / 1000.0
    keys = ship.index[:, 1:]
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    capacity = np.array([a.capacity_t_per_week for a in scenario.arcs])
    rows = lp.constraints("route_capacity", unique.reshape(-1, 2), ship.shape[1:],
                          upper=capacity[unique.reshape(-1, 2)[:, 0]])  # fmt: skip
    lp.add(rows.offset + inverse.ravel(), ship.ids, mass_t[ship.index[:, 0]])
    del net


def exemption_split(lp: ArrayLP, scenario: Scenario, net: Network) -> None:
    """ship[k, a, w] = sum_e exempt_ship[e, k, a, w] for barred flows: each tonne that crosses
    is charged to one of the exemptions valid that week, whichever the plan chooses."""
    ship, ex = lp.columns["ship"], lp.columns["exempt_ship"]
    barred = net.barred[ship.index[:, 0], ship.index[:, 1]]
    rows = lp.constraints("exemption_split", ship.index[barred], ship.shape, 0.0, 0.0)
    lp.add(rows.ids, ship.ids[barred], 1.0)
    if ex.size:
        lp.add(rows.lookup()[tuple(ex.index[:, 1:].T)], ex.ids, -1.0)
    del scenario


def sanction_quota(lp: ArrayLP, scenario: Scenario, exemption_ids: list[str]) -> None:
    """sum mass_k exempt_ship[e, k, a, w] <= quota[e]: tonnes crossing under exemption e."""
    ex = lp.columns["exempt_ship"]
    if not ex.size:
        return
    mass_t = np.array([c.mass_kg_per_unit for c in scenario.commodities]) / 1000.0
    used = np.unique(ex.index[:, 0])
    quota = {e.id: e.quota_t for e in scenario.sanctions.exemptions}
    rows = lp.constraints("sanction_quota", used[:, None], (ex.shape[0],),
                          upper=[quota[exemption_ids[e]] for e in used])  # fmt: skip
    lp.add(rows.lookup()[ex.index[:, 0]], ex.ids, mass_t[ex.index[:, 1]])


def budget_cap(lp: ArrayLP, scenario: Scenario) -> None:
    """procurement + transport + teams <= budget_usd (only when a budget is set)."""
    budget = scenario.config.objective.budget_usd
    if budget is None:
        return
    cost = np.concatenate(lp.cost)
    rows = lp.constraints("budget_cap", np.zeros((1, 1)), (1,), upper=budget)
    paid = np.flatnonzero(cost)
    lp.add(np.full(paid.size, rows.offset), paid, cost[paid])


def team_dispatch(lp: ArrayLP, scenario: Scenario) -> None:
    """sum_d dispatch[d, w] <= teams_per_week."""
    dispatch = lp.columns["dispatch"]
    n_w = scenario.n_weeks
    rows = lp.constraints("team_dispatch", np.arange(n_w)[:, None], (n_w,),
                          upper=scenario.config.staff.teams_per_week)  # fmt: skip
    lp.add(rows.offset + dispatch.index[:, 1], dispatch.ids, 1.0)


def team_balance(lp: ArrayLP, scenario: Scenario, net: Network) -> None:
    """Teams arriving (or dispatched) = teams leaving + teams deployed; teams do not wait."""
    col = lp.columns
    n_n, n_w = len(scenario.node_ids), scenario.n_weeks
    ts, dispatch, deploy = col["team_ship"], col["dispatch"], col["deploy"]
    a, w = ts.index.T
    terms = [
        (np.c_[net.tail[a], w], ts.ids, 1.0),
        (np.c_[net.head[a], w + net.transit_weeks[a]], ts.ids, -1.0),
        (dispatch.index, dispatch.ids, -1.0),
        (deploy.index, deploy.ids, 1.0),
    ]
    keys = np.concatenate([t[0] for t in terms]).reshape(-1, 2)
    unique, inverse = np.unique(keys[:, 0] * n_w + keys[:, 1], return_inverse=True)
    rows = lp.constraints("team_balance", np.c_[unique // n_w, unique % n_w], (n_n, n_w),
                          0.0, 0.0)  # fmt: skip
    lp.add(rows.offset + inverse, np.concatenate([t[1] for t in terms]),
           np.concatenate([np.full(len(t[1]), t[2]) for t in terms]))  # fmt: skip


def team_cover(lp: ArrayLP, scenario: Scenario, coefficients: dict) -> None:
    """sum of deployments still running - team_need team_fill >= 0."""
    deploy, fill = lp.columns["deploy"], lp.columns["team_fill"]
    weeks = scenario.config.staff.deployment_weeks
    rows = lp.constraints("team_cover", fill.index, fill.shape, lower=0.0)
    lookup = rows.lookup()
    for lag in range(weeks):
        target = deploy.index + [0, lag]
        keep = target[:, 1] < fill.shape[1]
        lp.add(lookup[tuple(target[keep].T)], deploy.ids[keep], 1.0)
    lp.add(rows.ids, fill.ids, 0.0)
    coefficients["team_need:team_cover"] = (rows.ids, fill.ids, fill.index)


def package_cover(lp: ArrayLP, scenario: Scenario, pk: Packages) -> None:
    """package[g, p, w] <= fill[k, p, w] for every member k (and team_fill for teams):
    complements cover no more than the scarcest of them."""
    package, fill, team_fill = (lp.columns[n] for n in ("package", "fill", "team_fill"))
    n_p, n_w = fill.shape[1:]
    pw = np.argwhere(np.ones((n_p, n_w)))
    pkg_lookup, fill_lookup = package.lookup(), fill.lookup()
    index, pkg_cols, member_cols = [], [], []
    for g, members in enumerate(pk.members):
        sources = [fill_lookup[k, pw[:, 0], pw[:, 1]] for k in members]
        if g == pk.teams:
            sources.append(team_fill.lookup()[pw[:, 0], pw[:, 1]])
        for j, cols in enumerate(sources):
            index.append(np.c_[np.full(len(pw), g), np.full(len(pw), j), pw])
            pkg_cols.append(pkg_lookup[g, pw[:, 0], pw[:, 1]])
            member_cols.append(cols)
    if not index:
        return
    idx = np.concatenate(index)
    width = int(idx[:, 1].max()) + 1
    rows = lp.constraints("package_cover", idx, (len(pk.names), width, n_p, n_w), upper=0.0)
    lp.add(rows.ids, np.concatenate(pkg_cols), 1.0)
    lp.add(rows.ids, np.concatenate(member_cols), -1.0)
    del scenario


def lever_cover(lp: ArrayLP, scenario: Scenario, pk: Packages) -> None:
    """coverage[l, p, w] <= sum of the lever's packages: substitutes add up."""
    cov, package = lp.columns["coverage"], lp.columns["package"]
    rows = lp.constraints("lever_cover", cov.index, cov.shape, upper=0.0)
    lp.add(rows.ids, cov.ids, 1.0)
    lever_rows = rows.lookup()
    g, p, w = package.index.T
    lp.add(lever_rows[pk.lever[g], p, w], package.ids, -1.0)
    del scenario


