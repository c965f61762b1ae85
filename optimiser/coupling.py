"""The coupling of the epidemic and the LP.

A plan is worth the deaths of the epidemic it meets plus its spending over the price of a life
(its merit, in deaths). The plan's aid capacities (`models.seir.AID`) enter the epidemic, which
measures them against its own load day by day, so evaluating a plan is one integration.

one-way:     the LP is linearised once, at the epidemic without aid.
closed-loop: sequential linear programming with a trust region. At the current plan (aid a,
             deaths D, gradient g from the adjoint), the LP finds the best plan whose aid lies
             within a +- radius x the epidemic's load; it predicts an improvement
             g.(a' - a) - (spending' - spending) / usd_per_death_averted. The candidate is
             integrated; its actual improvement over the predicted one decides: at or below
             ACCEPT it is rejected and the radius quartered; below SHRINK the radius halves;
             above GROW, at the edge, it doubles. Every accepted step lowers the merit, so the
             loop cannot cycle. Converged, by tests that do not look at the radius, when the
             LP finds no plan better to first order than this one (half a death: the
             linearised problem is convex, so none within any radius, "stationary"), or when
             the last `coupling.stall_steps` kept steps together lowered the merit by less
             than `coupling.tolerance` of the deaths plus half a death ("stalled"); as a last
             resort when the radius falls under `coupling.min_trust_region` (no step that large
             improves the plan, "step"). At the iteration limit the run is reported as not
             converged. With `coupling.warm_start` the loop starts from an earlier plan's aid
             instead of from no aid (`start_point`).
multi-start: with `coupling.multi_start` the closed loop runs again from each rule of thumb
             (`optimiser.rules`); the best end (least merit) is the plan, and the others'
             spread is reported: starts that end further apart than the band (tolerance x
             deaths + half a death) disagree, and the run says so (`runner.not_converged`).

A scenario that brings its own needs (`needs.csv`) skips the epidemic: the planner's penalties
on unmet need make the harm, and one LP is solved.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from models.seir import AID, D, S, Trajectory, V
from optimiser.allocation import AllocationLP, Plan
from optimiser.demand import Needs, weekly_needs
from optimiser.epidemic import EpidemicSetup, drivers_from_trajectory
from optimiser.inputs import Scenario
from optimiser.network import Network, build_network
from optimiser.schema import TEAM
from optimiser.uncertainty import Draws, cvar

ACCEPT, SHRINK, GROW = 0.1, 0.25, 0.75
"""Trust-region thresholds on actual / predicted improvement (the textbook values)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Iteration:
    deaths: float
    """deaths by the end of the outlook with the candidate plan [persons]"""
    spending_usd: float
    predicted: float
    """improvement in merit the LP predicted for the step [deaths]"""
    actual: float | None
    """improvement the step achieved [deaths]; None where the loop stopped before trying it"""
    trust_region: float
    accepted: bool
    change: float
    """largest change of aid, as a share of the load, in the step [1]"""


@dataclass
class Point:
    """A plan and the epidemic(s) it meets."""

    plan: Plan | None
    aid: np.ndarray  # (capacity, P, W) in AID_UNITS
    forward: Trajectory  # the integration, kept for the adjoint
    people: np.ndarray  # (state, P, day) over the outlook, of the first draw
    final: np.ndarray  # (B, state, P) on the outlook's last day, every draw
    loads: np.ndarray  # (capacity, P, W) in AID_UNITS, the draws' mean
    deaths_by_draw: np.ndarray  # (B,) by the end of the outlook
    deaths: float  # the risk measure of deaths_by_draw (the deaths themselves for one draw)
    spending: float


@dataclass(frozen=True)
class Risk:
    """How the deaths of many draws become the one figure a plan is judged by."""

    kind: str  # "nominal" (one draw), "expected" or "cvar"
    share: float = 1.0  # cvar: the worst share of draws

    def of(self, deaths: np.ndarray) -> float:
        return cvar(deaths, self.share) if self.kind == "cvar" else float(np.mean(deaths))


NOMINAL = Risk("nominal")


@dataclass
class Search:
    """What the closed loop found: the plan, the point it stopped at, how it got there."""

    plan: Plan
    current: Point
    no_aid: Point
    gradient: np.ndarray  # (B, capacity, P, W) at `current`
    history: list[Iteration]
    converged_on: str | None
    first: Point | None = None  # where the search started


@dataclass
class Start:
    """Where one closed loop started and where it ended."""

    name: str  # "no_aid", "warm_start" or a rule of thumb's id
    first_deaths: float
    search: Search


@dataclass
class Ensemble:
    """A plan met by many drawn epidemics (`optimiser.uncertainty`)."""

    draws: Draws
    final_no_aid: np.ndarray  # (B, state, P) on the outlook's last day
    final_with_plan: np.ndarray
    robustness: str
    comparison: dict | None = None  # robust runs: the nominal and robust plans on these draws


@dataclass
class Outcome:
    """What a run produces; `results.to_dataset` labels it."""

    scenario: Scenario
    network: Network
    lp: AllocationLP
    plan: Plan
    needs: Needs | None  # ESFT's needs against the plan's own epidemic
    need: np.ndarray  # (K, P, W) units
    team_need: np.ndarray  # (P, W)
    aid: np.ndarray  # (capacity, P, W)
    loads: np.ndarray | None  # (capacity, P, W)
    gradient: np.ndarray | None  # (capacity, P, W) deaths averted per unit, last linearisation
    people_no_aid: np.ndarray | None  # (state, P, day) over the outlook
    people_with_plan: np.ndarray | None
    history: list[Iteration]
    converged: bool
    converged_on: str | None  # "predicted", "step", "one-way", "needs", or None
    reproduction_number: dict | None
    timings_s: dict[str, float] = field(default_factory=dict)
    ensemble: Ensemble | None = None
    rules: list | None = None  # optimiser.rules.RuleOfThumb, met by the scenario's epidemic
    starts: list[Start] | None = None  # every start of the closed loop, the plan's first
    no_aid_deaths: float | None = None  # the loop's measure of deaths without aid
    plan_deaths: float | None = None  # and with the plan
    rule_deaths_by_draw: dict | None = None  # rule id -> (B,) deaths over the run's draws


def total_deaths(people: np.ndarray, day: int | None = None) -> float:
    return float(people[D, :, -1 if day is None else day].sum())


def total_infections(people: np.ndarray, population: np.ndarray, day: int | None = None) -> float:
    """Everyone who left S by the day other than into V (vaccinated, protected, uninfected),
    the seeded infections included."""
    day = -1 if day is None else day
    return float((population - people[S, :, day] - people[V, :, day]).sum())


class Loop:
    """The pieces of one search: network, LP, the epidemic(s) plans are judged on, and the
    clock."""

    def __init__(self, scenario: Scenario, epidemic: EpidemicSetup | None = None,
                 risk: Risk = NOMINAL):  # fmt: skip
        self.scenario, self.cfg, self.risk = scenario, scenario.config, risk
        self.clock = {"epidemic": 0.0, "gradient": 0.0, "build": 0.0, "solve": 0.0}
        t0 = time.perf_counter()
        log.info("building the LP")
        self.net = build_network(scenario)
        if scenario.needs is None:
            self.epidemic = epidemic or EpidemicSetup.from_scenario(scenario)
        self.lp = AllocationLP(scenario, self.net,
                               cvar_draws=self.epidemic.n_draws if risk.kind == "cvar" else 0)
        self.clock["build"] = time.perf_counter() - t0
        self.usd_per_death = self.cfg.objective.usd_per_death_averted
        self.n_p, self.n_w = len(scenario.provinces), scenario.n_weeks
        self.first: Point | None = None
        """the search's first point"""

    def point(self, aid: np.ndarray, plan: Plan | None = None) -> Point:
        t0 = time.perf_counter()
        forward = self.epidemic.run(aid)
        people = forward.people  # (B, state, P, day)
        self.clock["epidemic"] += time.perf_counter() - t0
        spending = plan.spent if plan is not None else 0.0
        deaths = people[:, D, :, -1].sum(axis=1)
        loads = np.mean([self.epidemic.loads(people[b], b) for b in range(len(people))], axis=0)
        return Point(plan, aid, forward, people[0], people[..., -1].copy(), loads, deaths,
                     self.risk.of(deaths), spending)  # fmt: skip

    def gradient(self, at: Point) -> np.ndarray:
        """(B, capacity, P, W) deaths averted per unit of aid at the point, from the adjoint
        along its own integration."""
        t0 = time.perf_counter()
        gradient = self.epidemic.gradient_at(at.forward)
        self.clock["gradient"] += time.perf_counter() - t0
        return gradient

    def needs_of(self, people: np.ndarray) -> Needs:
        drivers = drivers_from_trajectory(people, self.epidemic.population, self.n_w)
        scn = self.scenario
        return weekly_needs(drivers, scn.commodities, scn.consumption, scn.provinces,
                            self.cfg.demand, self.cfg.staff)  # fmt: skip

    def solve(self, at: Point, gradient: np.ndarray, radius: float, from_zero: bool = False
              ) -> Plan:  # fmt: skip
        """The best plan whose aid lies within `radius` x load of `at`'s, linearised there
        (with `from_zero`, any aid from 0 up to that): the deaths of each draw are
        D_b - g_b . (aid - aid_at), and harm is their mean, or their CVaR through the LP's
        `worst_draws` rows. Its `harm` is then the linear model's deaths, equal to `at.deaths`
        at `at`. The dual simplex method goes on from the last
        basis: the primal method, though the last solution stays feasible after a step is
        taken, took four times as long (measured)."""
        t0 = time.perf_counter()
        reach = radius * at.loads
        lower = np.zeros_like(at.aid) if from_zero else np.maximum(at.aid - reach, 0.0)
        bounds = (lower, at.aid + reach)
        if self.risk.kind == "cvar":
            self.lp.update(cvar=(gradient, at.deaths_by_draw, at.aid), aid_bounds=bounds)
        else:
            mean = gradient.mean(axis=0)
            offset = at.deaths + float(mean.ravel() @ at.aid.ravel())
            self.lp.update(harm={"aid": -mean, "offset": offset}, aid_bounds=bounds)
        plan = self.lp.solve(polish=False)
        self.clock["solve"] += time.perf_counter() - t0
        return plan

    def polish(self, plan: Plan) -> Plan:
        t0 = time.perf_counter()
        polished = self.lp.polish(plan)
        self.clock["solve"] += time.perf_counter() - t0
        return polished

    def merit(self, p: Point) -> float:
        return p.deaths + p.spending / self.usd_per_death


def searches(loop: Loop) -> tuple[Search, list[Start], list]:
    """The closed loop from no aid (or the warm start), the rules of thumb, and with
    `coupling.multi_start` the loop again from each rule: the best end (least merit), every
    start, and the rules. A warm start is the only start: it continues an earlier answer."""
    from optimiser.rules import rules_of_thumb

    cfg = loop.cfg.coupling
    first = search(loop)
    assert loop.first is not None
    name = "warm_start" if loop.scenario.warm_start is not None else "no_aid"
    starts = [Start(name, loop.first.deaths, first)]
    rules = rules_of_thumb(loop, first.no_aid)
    if cfg.mode == "closed-loop" and cfg.multi_start and loop.scenario.warm_start is None:
        for rule in rules:
            log.info("closed loop from the rule of thumb %s", rule.id)
            found = search(loop, first=rule.point, no_aid=first.no_aid)
            starts.append(Start(rule.id, rule.point.deaths, found))
    best = min(starts, key=lambda s: loop.merit(s.search.current))
    loop.first = best.search.first
    return best.search, [best] + [s for s in starts if s is not best], rules


def band(loop_cfg, deaths: float) -> float:
    """The convergence band [deaths]: `coupling.tolerance` of the deaths plus half a death."""
    return loop_cfg.coupling.tolerance * deaths + 0.5


def start_point(loop: Loop) -> Point | None:
    """The plan `coupling.warm_start` names as the loop's first point, or None without one.

    Where this scenario can give exactly its aid, the point carries the cheapest plan that does,
    and the loop goes on from it as from any plan it accepted. Where a changed rule puts that
    aid out of reach, the point carries no plan: the loop only linearises there, and its first
    step, which may lower any aid to 0, is taken whatever it achieves."""
    warm = loop.scenario.warm_start
    if warm is None:
        return None
    from optimiser.lp import SolverError

    t0 = time.perf_counter()
    loop.lp.update(aid_bounds=(warm.aid, warm.aid))
    try:
        plan: Plan | None = loop.lp.solve(polish=False)
    except SolverError:
        plan = None
        log.info("the warm start's aid is out of reach here: the first step starts from 0")
    # An LP with every aid fixed (or found infeasible by presolve) takes far fewer iterations
    # than the loop's: `solver.method: auto` must not take it as the cold solve to beat.
    loop.lp.solver.cold_iterations = None
    loop.clock["solve"] += time.perf_counter() - t0
    start = loop.point(warm.aid, plan)
    start.spending = warm.spending_usd if plan is None else plan.spent
    return start


def search(loop: Loop, start: Search | None = None, first: Point | None = None,
           no_aid: Point | None = None) -> Search:  # fmt: skip
    """The closed loop (or the one-way step) from no aid, from the plan `start` found, from a
    `first` point with its plan (a rule of thumb), or from the scenario's
    `coupling.warm_start`; `no_aid` is the epidemic without aid where already integrated."""
    cfg = loop.cfg.coupling
    if no_aid is None:
        zero = np.zeros((len(AID), loop.n_p, loop.n_w))
        log.info("epidemic without aid")
        no_aid = loop.point(zero)
        loop.lp.update(lab_tests_per_week=loop.needs_of(no_aid.people).lab_capacity)
    plan = None
    current = no_aid
    restoring = False  # linearised at an earlier plan's aid, not a plan here
    if first is not None:
        current, plan = first, first.plan
    elif start is not None:
        log.info("from the nominal plan")
        plan = replace(start.plan, basis=None)  # that basis is another LP's
        current = loop.point(start.current.aid, plan)
    elif (warm := start_point(loop)) is not None:
        current, plan, restoring = warm, warm.plan, warm.plan is None
    loop.first = first_point = current
    gradient = loop.gradient(current)
    history: list[Iteration] = []
    converged_on: str | None = None
    radius = 1.0 if cfg.mode == "one-way" else cfg.trust_region
    for _ in range(1 if cfg.mode == "one-way" else cfg.max_iterations):
        candidate = loop.solve(current, gradient, radius, from_zero=restoring)
        predicted = current.deaths - candidate.harm - (
            candidate.spent - current.spending) / loop.usd_per_death  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = np.abs(candidate.aid - current.aid) / current.loads
        change = float(np.nanmax(np.where(np.isfinite(shares), shares, 0.0)))
        if cfg.mode == "closed-loop" and not restoring and predicted <= 0.5:
            # No plan within the radius is better to first order, so none within any: the
            # linearised problem is an LP over a convex set.
            history.append(Iteration(current.deaths, current.spending, predicted, None, radius,
                                     False, change))  # fmt: skip
            converged_on = "stationary"
            break
        trial = loop.point(candidate.aid, candidate)
        actual = loop.merit(current) - loop.merit(trial)
        ratio = actual / predicted if predicted > 0 else -np.inf
        accepted = cfg.mode == "one-way" or restoring or ratio > ACCEPT
        history.append(Iteration(trial.deaths, trial.spending, predicted, actual, radius,
                                 accepted, change))  # fmt: skip
        log.info("iteration %d: deaths %.0f, predicted %.1f, actual %.1f, radius %.3g%s",
                 len(history), trial.deaths, predicted, actual, radius,
                 "" if accepted else " (rejected)")  # fmt: skip
        if accepted:
            current, plan, restoring = trial, candidate, False
            if cfg.mode == "one-way":
                converged_on = "one-way"
                break
            gradient = loop.gradient(current)
            kept = [h.actual for h in history if h.accepted][-cfg.stall_steps :]
            stalled = len(kept) == cfg.stall_steps and sum(kept) <= band(loop.cfg, current.deaths)
            if cfg.mode == "closed-loop" and stalled:
                converged_on = "stalled"
                break
        if ratio <= ACCEPT:
            radius /= 4.0
        elif ratio < SHRINK:
            radius /= 2.0
        elif ratio > GROW and change >= 0.99 * radius:
            radius = min(1.0, 2.0 * radius)
        if radius < cfg.min_trust_region:
            converged_on = "step"
            break
    if plan is None:  # no step was accepted: the best plan is to send nothing
        plan = loop.solve(no_aid, gradient, 0.0)
    # The cheapest plan giving the same aid: same deaths, spending no higher.
    plan = loop.polish(plan)
    return Search(plan, current, no_aid, gradient, history, converged_on, first_point)


def outcome_of(loop: Loop, search: Search, own: Loop, met: Search) -> Outcome:
    """The run's outcome from `loop`'s search, with the figures of the scenario's own epidemic
    (`own`'s): `met` holds its points, the search's own or the plan met by that epidemic."""
    log.info("epidemic with the plan")
    current = met.current
    needs = own.needs_of(current.people)
    return Outcome(
        scenario=loop.scenario, network=loop.net, lp=loop.lp, plan=search.plan, needs=needs,
        need=needs.quantity, team_need=needs.teams, aid=current.aid, loads=current.loads,
        gradient=search.gradient.mean(axis=0), people_no_aid=met.no_aid.people,
        people_with_plan=current.people, history=search.history,
        converged=search.converged_on is not None, converged_on=search.converged_on,
        reproduction_number=own.epidemic.reproduction_numbers(),
    )  # fmt: skip


def run_needs(loop: Loop) -> Outcome:
    """One LP against the planner's own needs and penalties."""
    scenario = loop.scenario
    need, team_need = table_needs(scenario)
    fill_penalty, team_penalty = penalties(scenario, need, team_need)
    loop.lp.update(need=need, team_need=team_need,
                   harm={"use": -np.broadcast_to(fill_penalty, need.shape),
                         "team_fill": -team_penalty * team_need,
                         "offset": float((fill_penalty * need).sum()
                                         + (team_penalty * team_need).sum())})  # fmt: skip
    t0 = time.perf_counter()
    plan = loop.lp.solve()
    loop.clock["solve"] += time.perf_counter() - t0
    return Outcome(
        scenario=scenario, network=loop.net, lp=loop.lp, plan=plan, needs=None, need=need,
        team_need=team_need, aid=plan.aid, loads=None, gradient=None, people_no_aid=None,
        people_with_plan=None,
        history=[Iteration(float("nan"), plan.spent, 0.0, None, 1.0, True, 0.0)],
        converged=True, converged_on="needs", reproduction_number=None,
    )  # fmt: skip


def table_needs(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """(K, P, W) and (P, W) needs from needs.csv."""
    n_k, n_p, n_w = len(scenario.commodities), len(scenario.provinces), scenario.n_weeks
    need, team_need = np.zeros((n_k, n_p, n_w)), np.zeros((n_p, n_w))
    k_index = {c: k for k, c in enumerate(scenario.commodity_ids)}
    p_index = {p: i for i, p in enumerate(scenario.province_ids)}
    for row in scenario.needs or ():
        if row.commodity == TEAM:
            team_need[p_index[row.province], row.week] = row.quantity
        else:
            need[k_index[row.commodity], p_index[row.province], row.week] = row.quantity
    return need, team_need


def penalties(scenario: Scenario, need: np.ndarray, team_need: np.ndarray):
    """Deaths per unit short, (K, 1, 1) and scalar: the scenario's `objective.unmet_penalty`
    (USD converted at usd_per_death_averted), else one death per unit of mean weekly need."""
    objective = scenario.config.objective

    def per_unit(item: str, needs: np.ndarray) -> float:
        given = objective.unmet_penalty.get(item)
        if given is not None and given.deaths_per_unit is not None:
            return given.deaths_per_unit
        if given is not None and given.usd_per_unit is not None:
            return given.usd_per_unit / objective.usd_per_death_averted
        positive = needs[needs > 0]
        return 1.0 / positive.mean() if positive.size else 0.0

    fill = np.array([per_unit(c, need[k]) for k, c in enumerate(scenario.commodity_ids)])
    return fill[:, None, None], per_unit(TEAM, team_need)
