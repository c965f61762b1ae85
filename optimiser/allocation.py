"""The allocation step: a linear program, solved by HiGHS, of what to ship where, when and how.

Variables exist only where the network masks allow a flow (units unless noted):

    ship[k, a, w]      commodity k leaving on arc a in week w, arriving w + transit_a
    procure[k, d, w]   taken from depot d's weekly availability
    stock[k, n, w]     held at node n at the end of week w
    use[k, p, w]       used up (consumables) or in use (durables) in province p
    aid[c, p, w]       the aid capacity c (`models.seir.AID`) the plan gives province p:
                       tests a week, isolated person-days and hospital patient-days with
                       infection prevention and control supplies, patients in aid's care
    beds[p, w]         patients in care beds equipped by the plan
    exempt_ship[e, k, a, w]  the part of a barred flow crossing under exemption e
    team_ship[a, w], dispatch[d, w], deploy[p, w]   medical teams travelling, leaving, starting

A capacity needs all of its recipe's inputs (`optimiser.demand.recipes`): use = recipe x aid,
so zero test kits give zero tests whatever else arrives (inputs are complements). Care beds come
from equipment in use or from medical teams, who bring their own kit (substitutes). Tests are
capped by the province's laboratories. Without an epidemic (needs.csv) there is no `aid`:
`use` is bounded by the planner's need and each unit used is worth its penalty.

Objective, solved in two stages on the same HiGHS instance:

1. minimise harm + spending / usd_per_death_averted, where harm (deaths, linearised) is
   -sum(gradient * aid) with the epidemic, or the planner's penalty on unmet need without;
2. minimise spending + a small tie-break (holding stock, teams travelling) with every variable
   that carries harm held at its stage-1 value, so that costs steer the plan whenever they can
   without costing lives, whatever the price of a life, and equally good plans are told apart.
   The closed loop polishes only the plan it keeps (`polish`).

The matrix never changes after it is assembled: between solves only costs and bounds do, so every
re-solve starts from the last basis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from models.seir import AID, CARE, TESTS
from optimiser.demand import recipes
from optimiser.inputs import Scenario
from optimiser.lp import (  # the scale and tie-breaks: limits reads OBJECTIVE_SCALE here
    DUAL_SIMPLEX,
    HOLDING_USD_PER_T_WEEK,
    INF,
    OBJECTIVE_SCALE,
    PRIMAL_SIMPLEX,
    TEAM_TRAVEL_USD_PER_ARC,
    ArrayLP,
    Solver,
    SolverError,
)
from optimiser.network import Network

__all__ = ["SolverError", "Plan", "AllocationLP"]


@dataclass
class Plan:
    """One solve's result as dense arrays (zeros where no variable exists)."""

    shipments: np.ndarray  # (K, A, W) units
    procured: np.ndarray  # (K, N, W) units
    stock: np.ndarray  # (K, N, W) units
    used: np.ndarray  # (K, P, W) units used up or in use
    aid: np.ndarray  # (capacity, P, W) in AID_UNITS; zeros without an epidemic
    beds: np.ndarray  # (P, W) equipped care beds
    team_shipments: np.ndarray  # (A, W) teams
    deployed: np.ndarray  # (P, W) teams starting a deployment
    team_fill: np.ndarray  # (P, W) share of the teams needed present (needs.csv only)
    harm: float  # linearised harm of the plan [deaths]
    spending_usd: dict[str, float]  # procurement, transport, teams
    capacity_value: np.ndarray  # (A, W) deaths-equivalent fall per extra t/week
    quota_value: np.ndarray  # (E,) deaths-equivalent fall per extra tonne of quota
    budget_value: float  # deaths-equivalent fall per extra USD of budget
    timings_s: dict[str, float] = field(default_factory=dict)
    basis: highspy.HighsBasis | None = None  # HiGHS's basis at stage 1, to polish from

    @property
    def spent(self) -> float:
        return sum(self.spending_usd.values())


class AllocationLP:
    """Build once with `AllocationLP(scenario, network)`; then `update(...)` and `solve()`."""

    def __init__(self, scenario: Scenario, net: Network, epidemic: bool | None = None,
                 cvar_draws: int = 0):  # fmt: skip
        """`epidemic` (default: the scenario has no needs.csv) builds the aid capacities;
        without, `use` is bounded by needs given to `update`. `cvar_draws` > 0 builds the rows
        that make harm the mean deaths of the worst `objective.cvar_share` of that many
        draws (`worst_draws`)."""
        start = time.perf_counter()
        self.scenario, self.net = scenario, net
        cfg = scenario.config
        n_k, n_a, n_n = len(scenario.commodities), len(net.arc_ids), len(scenario.node_ids)
        n_p, n_w = len(scenario.provinces), scenario.n_weeks
        self.shape = (n_k, n_a, n_n, n_p, n_w)
        self.epidemic = scenario.needs is None if epidemic is None else epidemic
        self.usd_per_death = cfg.objective.usd_per_death_averted
        self.recipe = recipes(scenario.commodities, scenario.consumption, cfg.demand)
        lp = self.lp = ArrayLP()
        build_columns(lp, scenario, net, self.epidemic, self.recipe)
        stock_balance(lp, scenario, net, self.recipe)
        equipment_in_use(lp, scenario, self.recipe)
        route_capacity(lp, scenario)
        exemption_split(lp, net)
        sanction_quota(lp, scenario, net.exemption_ids)
        budget_cap(lp, scenario)
        team_dispatch(lp, scenario)
        team_balance(lp, scenario, net)
        if self.epidemic:
            care_beds(lp, scenario)
            lab_capacity(lp, scenario)
        else:
            team_cover(lp, scenario)
        if cvar_draws:
            worst_draws(lp, cvar_draws)
        self.spending_cost = np.concatenate(lp.cost)
        self.method = cfg.solver.method if cfg.solver.method != "auto" else "simplex"
        # Only the closed loop re-solves stage 1; one LP is best solved with HiGHS's defaults.
        resolves = cfg.coupling.mode == "closed-loop" and scenario.needs is None
        self.solver = self._open_solver(resolves)
        self.harm = np.zeros(lp.n_cols)
        self.harm_offset = 0.0
        if cvar_draws:
            share = cfg.objective.cvar_share
            self.harm[lp.columns["cvar_threshold"].ids] = 1.0
            self.harm[lp.columns["cvar_excess"].ids] = 1.0 / (share * cvar_draws)
        self.tiebreak = self._tiebreak()
        self.build_s = time.perf_counter() - start

    def _open_solver(self, resolves: bool):
        """The arrays in one HiGHS instance, or with `solver.backend: pyomo` the Pyomo model
        re-solved in place (`optimiser.lp_persistent`)."""
        cfg = self.scenario.config.solver
        if cfg.backend == "pyomo":
            from optimiser.lp_persistent import PyomoSolver

            return PyomoSolver(self, cfg.pyomo_solver, cfg.method, cfg.time_limit_s, resolves)
        return Solver(self.lp, cfg.method, cfg.time_limit_s, resolves)

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

    def update(self, *, harm=None, aid_bounds=None, need=None, team_need=None,
               capacity_t_per_week=None, available=None, quota_t=None, budget_usd=None,
               teams_per_week=None, lab_tests_per_week=None, cvar=None) -> None:  # fmt: skip
        """Change data in place, keeping the model and its basis.

        harm: dict of deaths per unit on `aid` (capacity, P, W), `use` (K, P, W) or
        `team_fill` (P, W), and an `offset` in deaths; aid_bounds: (lower, upper) (capacity,
        P, W); need (K, P, W) and team_need (P, W): the planner's needs (needs.csv only);
        capacity_t_per_week (A,) or (A, W); available (K, N) units a week at depots; quota_t
        (E,); budget_usd; teams_per_week; lab_tests_per_week (P,); cvar: (gradients (B,
        capacity, P, W) in deaths averted per unit, deaths (B,), aid (capacity, P, W)), the
        draws' linearisation at a plan (`worst_draws`)."""
        lp, s = self.lp, self.solver
        if harm is not None:
            for name in ("aid", "use", "team_fill"):
                if name in harm and name in lp.columns:
                    fam = lp.columns[name]
                    self.harm[fam.ids] = np.asarray(harm[name], float)[tuple(fam.index.T)]
            self.harm_offset = float(harm.get("offset", 0.0))
        if aid_bounds is not None:
            fam = lp.columns["aid"]
            lower, upper = (np.asarray(b, dtype=float)[tuple(fam.index.T)] for b in aid_bounds)
            s.set_col_bounds(fam.ids, lower, np.maximum(lower, upper))
        if need is not None:
            fam = lp.columns["use"]
            s.set_col_bounds(fam.ids, 0.0, np.asarray(need, dtype=float)[tuple(fam.index.T)])
        if team_need is not None and "team_cover" in lp.rows:
            s.set_coefficients(*self._team_need_entries(np.asarray(team_need, dtype=float)))
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
                raise ValueError(
                    "the model has no budget row: set objective.budget_usd to build one"
                )
            s.set_row_bounds(lp.rows["budget_cap"].ids, -INF, budget_usd)
        if teams_per_week is not None:
            s.set_row_bounds(lp.rows["team_dispatch"].ids, -INF, teams_per_week)
        if lab_tests_per_week is not None and "lab_capacity" in lp.rows:
            fam = lp.rows["lab_capacity"]
            labs = np.asarray(lab_tests_per_week, float)[fam.index[:, 0]]
            s.set_row_bounds(fam.ids, -INF, np.where(np.isfinite(labs), labs, INF))

        if cvar is not None:
            self._linearise_draws(*cvar)

    def _linearise_draws(self, gradient: np.ndarray, deaths: np.ndarray, at: np.ndarray) -> None:
        """Each draw's row: excess_b + t + g_b . aid >= D_b + g_b . aid_at."""
        rows, aid = self.lp.rows["cvar_excess_rows"], self.lp.columns["aid"]
        g = np.asarray(gradient, float)[(slice(None), *aid.index.T)]  # (B, aid columns)
        self.solver.set_coefficients(np.repeat(rows.ids, aid.size), np.tile(aid.ids, rows.size),
                                     g.ravel())  # fmt: skip
        at_cols = np.asarray(at, float)[tuple(aid.index.T)]
        self.solver.set_row_bounds(rows.ids, np.asarray(deaths, float) + g @ at_cols, INF)

    def _held(self) -> np.ndarray:
        """Columns polishing holds: those carrying harm; with the CVaR rows, the aid itself
        (its threshold and excesses stay free, as later linearisations may have moved)."""
        held = np.flatnonzero(self.harm)
        if "cvar_excess" in self.lp.columns:
            cvar = np.concatenate([self.lp.columns[n].ids
                                   for n in ("cvar_threshold", "cvar_excess")])  # fmt: skip
            held = np.union1d(np.setdiff1d(held, cvar), self.lp.columns["aid"].ids)
        return held

    def _team_need_entries(self, team_need: np.ndarray):
        rows, fill = self.lp.rows["team_cover"], self.lp.columns["team_fill"]
        return rows.ids, fill.ids, -team_need[tuple(fill.index.T)]

    def solve(self, polish: bool = True, strategy: int = DUAL_SIMPLEX) -> Plan:
        """Stage 1 (deaths and spending), then, if `polish`, stage 2 (spending with harm held).

        Stage 1's objective is in deaths (spending / usd_per_death_averted), scaled by
        OBJECTIVE_SCALE: in USD its coefficients reach 1e9, and unscaled the smallest costs sit
        at HiGHS's dual tolerance; both took more iterations (measured). The tie-break is in
        it too: without it many routes and weeks tie, and two warm re-solves of the default
        scenario took 35,000-47,000 iterations instead of about 5,000 (measured). The dual
        simplex method re-solves it from the last basis."""
        start = time.perf_counter()
        s, harm = self.solver, self.harm
        spending = self.spending_cost + self.tiebreak
        s.set_costs(np.arange(self.lp.n_cols),
                    OBJECTIVE_SCALE * (harm + spending / self.usd_per_death))  # fmt: skip
        x, dual, _ = s.solve(strategy)
        plan = self._read(x, dual / OBJECTIVE_SCALE, float(harm @ x) + self.harm_offset)
        plan.basis = s.highs.getBasis()
        plan.timings_s = {"stage1": time.perf_counter() - start}
        return self.polish(plan, x) if polish else plan

    def polish(self, plan: Plan, x: np.ndarray | None = None) -> Plan:
        """Stage 2: the cheapest plan that keeps every variable carrying harm where `plan` has
        it (so the same aid and the same deaths), with the tie-break; bounds change, the matrix
        does not, and the primal simplex method starts from the last basis. The duals stay
        stage 1's."""
        start = time.perf_counter()
        s, lp, harm = self.solver, self.lp, self.harm
        held = self._held()
        values = self._harm_values(plan, held) if x is None else x[held]
        lower, upper = s.col_bounds(held)
        if plan.basis is not None:  # start from the plan's own optimal basis
            s.highs.setBasis(plan.basis)
        s.set_col_bounds(held, values, values)
        s.set_costs(np.arange(lp.n_cols), self.spending_cost + self.tiebreak)
        try:
            x2, _, _ = s.solve(PRIMAL_SIMPLEX)
        finally:
            s.set_col_bounds(held, lower, upper)
        polished = self._read(x2, None, float(harm @ x2) + self.harm_offset)
        polished.capacity_value, polished.quota_value = plan.capacity_value, plan.quota_value
        polished.budget_value = plan.budget_value
        polished.timings_s = {**plan.timings_s, "stage2": time.perf_counter() - start}
        return polished

    def _used(self, x: np.ndarray) -> np.ndarray:
        """(K, P, W) units the recipes take for the plan's aid: consumables used up, durables
        in use in equipped beds."""
        aid = self.lp.columns["aid"].dense(x)
        aid[CARE] = self.lp.columns["beds"].dense(x)
        return np.einsum("kc,cpw->kpw", self.recipe, aid)

    def _harm_values(self, plan: Plan, held: np.ndarray) -> np.ndarray:
        """The plan's values of the `held` columns (of aid, use and team_fill)."""
        dense = {"aid": plan.aid, "use": plan.used, "team_fill": plan.team_fill}
        x = np.zeros(self.lp.n_cols)
        for name, values in dense.items():
            if name in self.lp.columns:
                fam = self.lp.columns[name]
                x[fam.ids] = values[tuple(fam.index.T)]
        return x[held]

    def _read(self, x: np.ndarray, dual: np.ndarray | None, harm: float) -> Plan:
        col, row, cost = self.lp.columns, self.lp.rows, self.spending_cost
        n_k, n_a, _, n_p, n_w = self.shape

        def value(name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
            if name not in col:
                return np.zeros(shape or ())
            # Within HiGHS's feasibility tolerance a zero may come back as +-1e-12.
            out = col[name].dense(x)
            return np.where(np.abs(out) < 1e-9, 0.0, out)

        def spent(*names: str) -> float:
            return float(sum(cost[col[n].ids] @ x[col[n].ids] for n in names))

        # Stage 1's duals are d(objective)/d(rhs) in deaths (spending counted at
        # usd_per_death_averted); sign flipped so that a positive value is what one more unit of
        # the resource is worth.
        capacity = np.zeros((n_a, n_w))
        dual = np.zeros(self.lp.n_rows) if dual is None else dual
        if row["route_capacity"].size:
            capacity[tuple(row["route_capacity"].index.T)] = -dual[row["route_capacity"].ids]
        quota = np.zeros(len(self.net.exemption_ids))
        if "sanction_quota" in row and row["sanction_quota"].size:
            quota[row["sanction_quota"].index[:, 0]] = -dual[row["sanction_quota"].ids]
        budget = -float(dual[row["budget_cap"].ids[0]]) if "budget_cap" in row else 0.0
        return Plan(
            shipments=value("ship"), procured=value("procure"), stock=value("stock"),
            used=value("use") if "use" in col else self._used(x),
            aid=value("aid", (len(AID), n_p, n_w)),
            beds=value("beds", (n_p, n_w)), team_shipments=value("team_ship"),
            deployed=value("deploy"), team_fill=np.clip(value("team_fill", (n_p, n_w)), 0, 1),
            harm=harm,
            spending_usd={"procurement": spent("procure"), "transport": spent("ship"),
                          "teams": spent("deploy")},
            capacity_value=capacity, quota_value=quota, budget_value=budget,
        )  # fmt: skip


# --- columns ---------------------------------------------------------------------------------


def build_columns(lp: ArrayLP, scenario: Scenario, net: Network, epidemic: bool,
                  recipe: np.ndarray) -> None:  # fmt: skip
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
    if not epidemic:
        # Goods can only be used where they can arrive, up to the need (set by update).
        lp.variables("use", np.argwhere(net.stock_possible[:, :n_p, :]), (n_k, n_p, n_w))
    else:
        lp.variables("aid", np.argwhere(np.ones((len(AID), n_p, n_w))), (len(AID), n_p, n_w),
                     upper=0.0)  # bounded by the trust region each solve  # fmt: skip
        lp.variables("beds", np.argwhere(np.ones((n_p, n_w))), (n_p, n_w))
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
    if not epidemic:
        lp.variables("team_fill", np.argwhere(np.ones((n_p, n_w))), (n_p, n_w), upper=1.0)


# --- constraint families ---------------------------------------------------------------------
# Each adds one named family of rows.


def _rows_for(lp: ArrayLP, name: str, keys: np.ndarray, shape: tuple[int, ...], lower, upper):
    """Rows for the distinct keys (n, d) among `keys`, and each key's row id."""
    flat = np.ravel_multi_index(tuple(keys.T), shape) if len(keys) else np.zeros(0, int)
    unique, inverse = np.unique(flat, return_inverse=True)
    rows = lp.constraints(name, np.c_[np.unravel_index(unique, shape)].reshape(-1, len(shape)),
                          shape, lower, upper)  # fmt: skip
    return rows, rows.offset + inverse.ravel()


def stock_balance(lp: ArrayLP, scenario: Scenario, net: Network, recipe: np.ndarray) -> None:
    """stock[w] - stock[w-1] - procure[w] - arrivals[w] + departures[w] + used[w] = 0, where
    used is the recipe's consumables for the aid given (or `use`, without an epidemic);
    durables in use are held, not used up."""
    col = lp.columns
    n_w = scenario.n_weeks
    st, pr, sh = col["stock"], col["procure"], col["ship"]
    later = st.index[:, 2] + 1 < n_w
    k, a, w = sh.index.T
    consumed = ~np.array([c.durable for c in scenario.commodities])
    terms = [
        (st.index, st.ids, np.ones(st.size)),
        (st.index[later] + [0, 0, 1], st.ids[later], -np.ones(later.sum())),
        (pr.index, pr.ids, -np.ones(pr.size)),
        (np.c_[k, net.tail[a], w], sh.ids, np.ones(sh.size)),
        (np.c_[k, net.head[a], w + net.transit_weeks[a]], sh.ids, -np.ones(sh.size)),
    ]
    if "use" in col:
        use = col["use"]
        eaten = consumed[use.index[:, 0]]
        terms.append((use.index[eaten], use.ids[eaten], np.ones(eaten.sum())))
    else:
        aid = col["aid"]
        for commodity in np.flatnonzero(consumed):
            for c in np.flatnonzero(recipe[commodity]):
                part = aid.index[aid.index[:, 0] == c]
                terms.append(
                    (
                        np.c_[np.full(len(part), commodity), part[:, 1:]],
                        aid.lookup()[tuple(part.T)],
                        np.full(len(part), recipe[commodity, c]),
                    )
                )
    keys = np.concatenate([t[0] for t in terms])
    # Goods can be used only where they can be held: drop uses where no stock can exist.
    rows, row_of = _rows_for(lp, "stock_balance", keys, st.shape, 0.0, 0.0)
    lp.add(row_of, np.concatenate([t[1] for t in terms]), np.concatenate([t[2] for t in terms]))
    del rows


def equipment_in_use(lp: ArrayLP, scenario: Scenario, recipe: np.ndarray) -> None:
    """in use - stock <= 0 at the province, for durable equipment: what is in use is held. In
    use is the recipe's share of the equipped care beds (or `use`, without an epidemic)."""
    stock = lp.columns["stock"]
    durable = np.array([c.durable for c in scenario.commodities])
    if "use" in lp.columns:
        use = lp.columns["use"]
        keep = durable[use.index[:, 0]]
        index, cols, coef = use.index[keep], use.ids[keep], np.ones(keep.sum())
    else:
        beds = lp.columns["beds"]
        parts = [(k, recipe[k, CARE]) for k in np.flatnonzero(durable) if recipe[k, CARE] > 0]
        index = np.concatenate([np.c_[np.full(beds.size, k), beds.index] for k, _ in parts]
                               ).reshape(-1, 3) if parts else np.zeros((0, 3), int)  # fmt: skip
        cols = np.concatenate([beds.ids for _ in parts]) if parts else np.zeros(0, int)
        coef = np.concatenate([np.full(beds.size, r) for _, r in parts]) if parts else cols * 0.0
    rows = lp.constraints("equipment_in_use", index, stock.shape, upper=0.0)
    lp.add(rows.ids, cols, coef)
    lp.add(rows.ids, stock.lookup()[tuple(index.T)], -1.0)  # provinces are nodes 0..P-1


def care_beds(lp: ArrayLP, scenario: Scenario) -> None:
    """aid[care] <= equipped beds + patients_per_team x teams present: teams bring their kit."""
    aid, beds, deploy = lp.columns["aid"], lp.columns["beds"], lp.columns["deploy"]
    staff = scenario.config.staff
    rows = lp.constraints("care_beds", beds.index, beds.shape, upper=0.0)
    lp.add(rows.ids, aid.lookup()[CARE, beds.index[:, 0], beds.index[:, 1]], 1.0)
    lp.add(rows.ids, beds.ids, -1.0)
    lookup = rows.lookup()
    for lag in range(staff.deployment_weeks):
        target = deploy.index + [0, lag]
        keep = target[:, 1] < beds.shape[1]
        lp.add(lookup[tuple(target[keep].T)], deploy.ids[keep], -staff.patients_per_team)


def lab_capacity(lp: ArrayLP, scenario: Scenario) -> None:
    """aid[tests] - sum_k lab tests per unit x equipment held <= the province's own laboratory
    capacity (set with the needs): tests past what labs can run buy nothing."""
    aid, stock = lp.columns["aid"], lp.columns["stock"]
    n_p, n_w = aid.shape[1:]
    pw = np.argwhere(np.ones((n_p, n_w)))
    rows = lp.constraints("lab_capacity", pw, (n_p, n_w))
    lp.add(rows.ids, aid.lookup()[TESTS, pw[:, 0], pw[:, 1]], 1.0)
    for k, c in enumerate(scenario.commodities):
        if c.adds_lab_tests_per_week > 0:
            lp.add(rows.ids, stock.lookup()[k, pw[:, 0], pw[:, 1]], -c.adds_lab_tests_per_week)


def route_capacity(lp: ArrayLP, scenario: Scenario) -> None:
    """sum_k mass_k ship[k, a, w] <= capacity[a]: all commodities share the tonnes."""
    ship = lp.columns["ship"]
    mass_t = np.array([c.mass_kg_per_unit for c in scenario.commodities]) / 1000.0
    capacity = np.array([a.capacity_t_per_week for a in scenario.arcs])
    rows, row_of = _rows_for(lp, "route_capacity", ship.index[:, 1:], ship.shape[1:], -INF, INF)
    lp.row_upper[-1][:] = capacity[rows.index[:, 0]]
    lp.add(row_of, ship.ids, mass_t[ship.index[:, 0]])


def exemption_split(lp: ArrayLP, net: Network) -> None:
    """ship[k, a, w] = sum_e exempt_ship[e, k, a, w] for barred flows: each tonne that crosses
    is charged to one of the exemptions valid that week, whichever the plan chooses."""
    ship, ex = lp.columns["ship"], lp.columns["exempt_ship"]
    barred = net.barred[ship.index[:, 0], ship.index[:, 1]]
    rows = lp.constraints("exemption_split", ship.index[barred], ship.shape, 0.0, 0.0)
    lp.add(rows.ids, ship.ids[barred], 1.0)
    if ex.size:
        lp.add(rows.lookup()[tuple(ex.index[:, 1:].T)], ex.ids, -1.0)


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
    ts, dispatch, deploy = col["team_ship"], col["dispatch"], col["deploy"]
    a, w = ts.index.T
    terms = [
        (np.c_[net.tail[a], w], ts.ids, 1.0),
        (np.c_[net.head[a], w + net.transit_weeks[a]], ts.ids, -1.0),
        (dispatch.index, dispatch.ids, -1.0),
        (deploy.index, deploy.ids, 1.0),
    ]
    _, row_of = _rows_for(lp, "team_balance", np.concatenate([t[0] for t in terms]).reshape(-1, 2),
                          (len(scenario.node_ids), scenario.n_weeks), 0.0, 0.0)  # fmt: skip
    lp.add(row_of, np.concatenate([t[1] for t in terms]),
           np.concatenate([np.full(len(t[1]), t[2]) for t in terms]))  # fmt: skip


def worst_draws(lp: ArrayLP, n_draws: int) -> None:
    """CVaR of deaths over equally likely draws (Rockafellar and Uryasev 2000): a threshold t
    (free) and each draw's excess over it, excess_b >= D_b(aid) - t >= ..., with D_b linearised
    at the current plan: excess_b + t + g_b . aid >= D_b + g_b . aid_0. Harm is
    t + sum(excess) / (cvar_share x B), at its least the mean of the worst share of draws.
    The aid coefficients are placeholders that `update(cvar=...)` sets each iteration; the
    family adds B + 1 columns, B rows and B x (aid columns) coefficients."""
    aid = lp.columns["aid"]
    t = lp.variables("cvar_threshold", np.zeros((1, 1)), (1,), lower=-INF)
    excess = lp.variables("cvar_excess", np.arange(n_draws)[:, None], (n_draws,))
    rows = lp.constraints("cvar_excess_rows", np.arange(n_draws)[:, None], (n_draws,), lower=0.0)
    lp.add(rows.ids, excess.ids, 1.0)
    lp.add(rows.ids, np.full(n_draws, t.offset), 1.0)
    lp.add(np.repeat(rows.ids, aid.size), np.tile(aid.ids, n_draws), 0.0)


def team_cover(lp: ArrayLP, scenario: Scenario) -> None:
    """sum of deployments still running - team_need x team_fill >= 0 (needs.csv only; the
    coefficient is the planner's team need, set by update)."""
    deploy, fill = lp.columns["deploy"], lp.columns["team_fill"]
    rows = lp.constraints("team_cover", fill.index, fill.shape, lower=0.0)
    lookup = rows.lookup()
    for lag in range(scenario.config.staff.deployment_weeks):
        target = deploy.index + [0, lag]
        keep = target[:, 1] < fill.shape[1]
        lp.add(lookup[tuple(target[keep].T)], deploy.ids[keep], 1.0)
    lp.add(rows.ids, fill.ids, 0.0)
