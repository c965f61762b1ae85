"""The coupling of the epidemic and the LP.

A plan's worth is the deaths of the epidemic it meets plus its spending over the price of a life
(the merit, in deaths). Coverage links the two: the LP chooses shipments and the coverage they
give against the needs of one epidemic; the epidemic responds to coverage; and its needs depend
on how it goes. Every plan is judged by the coverage it gives against its *own* epidemic: the
fixed point coverage = execute(plan, needs(epidemic under coverage)) (`_evaluate`).

one-way:     the LP is linearised once, at the epidemic without aid.
closed-loop: sequential linear programming with a trust region on coverage. At the current plan
             (coverage c, deaths D, gradient g from the adjoint), the LP finds the best plan
             whose coverage lies within c +- radius; it predicts an improvement
             g.(c' - c) - (spending' - spending) / usd_per_death_averted. The new plan is
             evaluated; its actual improvement over its prediction decides: below 0.1 it is
             rejected and the radius quartered; above 0.75 at the edge the radius doubles; below
             0.25 it halves. Every accepted step lowers the merit, so the loop cannot cycle.
             Converged when the prediction is below `coupling.tolerance` of the deaths (plus
             half a death): no plan near this one is better to first order; or when the radius
             falls under `coupling.min_trust_region`: no step that large improves the plan. At
             the iteration limit the run is reported as not converged.

A scenario that brings its own needs (`needs.csv`) skips the epidemic: the planner's penalties
on unmet need make the harm, and one LP is solved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from models.seir import CARE, D, LEVERS, S
from optimiser.allocation import AllocationLP, Plan
from optimiser.demand import Needs, weekly_needs
from optimiser.epidemic import EpidemicSetup, domestic_care, drivers_from_trajectory
from optimiser.execution import Delivery, Execution, delivery, execute
from optimiser.inputs import Scenario
from optimiser.network import Network, build_network
from optimiser.schema import TEAM

ACCEPT, SHRINK, GROW = 0.1, 0.25, 0.75
"""Trust-region thresholds on actual / predicted improvement (the textbook values)."""
FIXED_POINT_TOLERANCE = 1e-5
"""A plan's coverage against its own epidemic is settled when no coverage moves more."""
FIXED_POINT_ITERATIONS = 60


@dataclass(frozen=True)
class Iteration:
    deaths: float
    """deaths by the end of the outlook at the iteration's plan [persons]"""
    spending_usd: float
    predicted: float
    """improvement in merit the LP predicted for the step [deaths]"""
    actual: float | None
    """improvement the step achieved [deaths]; None where the loop stopped"""
    trust_region: float
    accepted: bool
    change: float
    """largest coverage change of the step [1]"""


@dataclass
class Point:
    """A plan judged against its own epidemic."""

    plan: Plan | None
    coverage: np.ndarray  # (L, P, W)
    execution: Execution | None
    people: np.ndarray  # (state, P, day)
    needs: Needs
    domestic: np.ndarray  # (P, W) domestic care share
    deaths: float
    spending: float
    residual: float = 0.0  # largest coverage change at the last fixed-point step


@dataclass
class Outcome:
    """What a run produces; `results.to_dataset` labels it."""

    scenario: Scenario
    network: Network
    lp: AllocationLP
    plan: Plan
    need: np.ndarray  # (K, P, W) units, against the plan's own epidemic
    team_need: np.ndarray  # (P, W)
    coverage: np.ndarray  # (L, P, W) the plan's coverage against its own epidemic
    fill: np.ndarray  # (K, P, W) share of need used
    team_fill: np.ndarray  # (P, W)
    gradient: np.ndarray | None  # (L, P, W) deaths averted per unit coverage, last linearisation
    domestic_care: np.ndarray | None  # (P, W)
    lab_capacity: np.ndarray  # (P,)
    people_no_aid: np.ndarray | None  # (state, P, day) over the outlook
    people_with_plan: np.ndarray | None
    history: list[Iteration]
    converged: bool
    converged_on: str | None  # "predicted", "step", "one-way", "needs", or None
    reproduction_number: dict | None
    fixed_point_residual: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)


def total_deaths(people: np.ndarray, day: int | None = None) -> float:
    return float(people[D, :, -1 if day is None else day].sum())


def total_infections(people: np.ndarray, population: np.ndarray, day: int | None = None) -> float:
    """Everyone who left S by the day, the seeded infections included."""
    return float((population - people[S, :, -1 if day is None else day]).sum())


class Loop:
    """The pieces of one run: epidemic, needs, LP, and the clock."""

    def __init__(self, scenario: Scenario):
        self.scenario, self.cfg = scenario, scenario.config
        self.clock = {"epidemic": 0.0, "gradient": 0.0, "build": 0.0, "solve": 0.0}
        t0 = time.perf_counter()
        self.net = build_network(scenario)
        self.lp = AllocationLP(scenario, self.net)
        self.clock["build"] = time.perf_counter() - t0
        self.usd_per_death = self.cfg.objective.usd_per_death_averted
        commodities = scenario.commodities
        self.durable = [c.durable for c in commodities]
        self.uses_lab = [c.uses_lab for c in commodities]
        self.adds_lab = [c.adds_lab_tests_per_week for c in commodities]
        self.n_p, self.n_w = len(scenario.provinces), scenario.n_weeks
        if self.cfg.epidemic is not None and scenario.needs is None:
            self.epidemic = EpidemicSetup.from_scenario(scenario)

    # --- the epidemic side -------------------------------------------------------------------

    def simulate(self, coverage: np.ndarray | None) -> np.ndarray:
        t0 = time.perf_counter()
        people = self.epidemic.simulate(coverage)[0]
        self.clock["epidemic"] += time.perf_counter() - t0
        return people

    def gradient(self, coverage: np.ndarray) -> np.ndarray:
        """(L, P, W) deaths averted per unit of coverage at `coverage`."""
        t0 = time.perf_counter()
        _, gradient = self.epidemic.harm_gradient(coverage)
        self.clock["gradient"] += time.perf_counter() - t0
        return gradient[0]

    def needs_of(self, people: np.ndarray) -> tuple[Needs, np.ndarray]:
        drivers = drivers_from_trajectory(people, self.epidemic.population, self.n_w)
        needs = weekly_needs(drivers, self.scenario.commodities, self.scenario.provinces,
                             self.cfg.epidemic, self.cfg.staff)  # fmt: skip
        return needs, domestic_care(people, self.epidemic.params, self.n_w)

    def point(self, coverage: np.ndarray, plan: Plan | None = None,
              execution: Execution | None = None, people=None, residual=0.0) -> Point:  # fmt: skip
        people = self.simulate(coverage) if people is None else people
        needs, domestic = self.needs_of(people)
        spending = sum(plan.spending_usd.values()) if plan is not None else 0.0
        return Point(plan, coverage, execution, people, needs, domestic, total_deaths(people),
                     spending, residual)  # fmt: skip

    def delivery(self, plan: Plan) -> Delivery:
        return delivery(plan.shipments, plan.deployed, plan.used, self.net, self.n_p,
                        self.cfg.staff.deployment_weeks, self.durable, self.uses_lab,
                        self.adds_lab, self.lp.packages)  # fmt: skip

    def evaluate(self, plan: Plan, start: np.ndarray) -> Point:
        """The plan against its own epidemic: iterate coverage = execute(plan, needs(epidemic
        under coverage)) from `start` until no coverage moves more than the tolerance; after
        ten steps take half steps, which settles the rare case that alternates."""
        d = self.delivery(plan)
        coverage, residual = start, np.inf
        for step in range(FIXED_POINT_ITERATIONS):
            people = self.simulate(coverage)
            needs, domestic = self.needs_of(people)
            done = execute(d, needs.quantity, needs.teams, needs.lab_capacity, domestic)
            residual = float(np.abs(done.coverage - coverage).max())
            if residual < FIXED_POINT_TOLERANCE:
                return self.point(coverage, plan, done, people, residual)
            weight = 1.0 if step < 10 else 0.5
            coverage = coverage + weight * (done.coverage - coverage)
        return self.point(coverage, plan, done, None, residual)

    # --- the LP side -------------------------------------------------------------------------

    def solve(self, at: Point, gradient: np.ndarray, radius: float) -> Plan:
        """The best plan whose coverage lies within `radius` of `at`'s, linearised there."""
        t0 = time.perf_counter()
        upper = np.ones((len(LEVERS), self.n_p, self.n_w))
        upper[CARE] = np.clip(1.0 - at.domestic, 0.0, 1.0)
        lower = np.clip(at.coverage - radius, 0.0, upper)
        self.lp.update(
            need=at.needs.quantity, team_need=at.needs.teams,
            lab_tests_per_week=at.needs.lab_capacity,
            harm={"coverage": -gradient}, coverage_bounds=(lower, np.minimum(upper, at.coverage + radius)),
        )  # fmt: skip
        plan = self.lp.solve()
        self.clock["solve"] += time.perf_counter() - t0
        return plan

    def merit(self, p: Point) -> float:
        return p.deaths + p.spending / self.usd_per_death


def run(scenario: Scenario) -> Outcome:
    """Plan for a scenario: the coupling its `coupling.mode` asks for."""
    start = time.perf_counter()
    loop = Loop(scenario)
    if scenario.needs is not None:
        outcome = _run_needs(loop)
    else:
        outcome = _run_epidemic(loop)
    outcome.timings_s = {**loop.clock, "total": time.perf_counter() - start}
    return outcome


def _run_epidemic(loop: Loop) -> Outcome:
    cfg = loop.cfg.coupling
    zero = np.zeros((len(LEVERS), loop.n_p, loop.n_w))
    no_aid = loop.point(zero)
    current, gradient = no_aid, loop.gradient(zero)
    history: list[Iteration] = []
    converged_on: str | None = None
    if cfg.mode == "one-way":
        plan = loop.solve(current, gradient, 1.0)
        current = loop.evaluate(plan, plan.coverage)
        predicted = -plan.harm - current.spending / loop.usd_per_death
        history.append(Iteration(current.deaths, current.spending, predicted,
                                 loop.merit(no_aid) - loop.merit(current), 1.0, True,
                                 float(np.abs(plan.coverage).max())))  # fmt: skip
        converged_on = "one-way"
    else:
        radius, plan = cfg.trust_region, None
        for _ in range(cfg.max_iterations):
            candidate = loop.solve(current, gradient, radius)
            spent = sum(candidate.spending_usd.values())
            predicted = float(gradient.ravel() @ (candidate.coverage - current.coverage).ravel()
                              ) - (spent - current.spending) / loop.usd_per_death  # fmt: skip
            change = float(np.abs(candidate.coverage - current.coverage).max())
            if predicted <= cfg.tolerance * current.deaths + 0.5:
                history.append(Iteration(current.deaths, current.spending, predicted, None,
                                         radius, False, change))  # fmt: skip
                converged_on = "predicted"
                break
            trial = loop.evaluate(candidate, candidate.coverage)
            actual = loop.merit(current) - loop.merit(trial)
            ratio = actual / predicted
            accepted = ratio > ACCEPT
            history.append(Iteration(trial.deaths, trial.spending, predicted, actual, radius,
                                     accepted, change))  # fmt: skip
            if accepted:
                current, plan = trial, candidate
                gradient = loop.gradient(current.coverage)
            if ratio < SHRINK:
                radius /= 4.0 if not accepted else 2.0
            elif ratio > GROW and change >= 0.99 * radius:
                radius = min(1.0, 2.0 * radius)
            if radius < cfg.min_trust_region:
                converged_on = "step"
                break
        if plan is None:  # no step was ever accepted: the plan is to send nothing
            plan = loop.solve(no_aid, gradient, 0.0)
            current = loop.evaluate(plan, zero)
    executed = current.execution
    return Outcome(
        scenario=loop.scenario, network=loop.net, lp=loop.lp, plan=plan,
        need=current.needs.quantity, team_need=current.needs.teams,
        coverage=current.coverage,
        fill=executed.fill if executed is not None else plan.fill,
        team_fill=executed.team_fill if executed is not None else plan.team_fill,
        gradient=gradient, domestic_care=current.domestic, lab_capacity=current.needs.lab_capacity,
        people_no_aid=no_aid.people, people_with_plan=current.people, history=history,
        converged=converged_on is not None, converged_on=converged_on,
        reproduction_number=loop.epidemic.reproduction_numbers(),
        fixed_point_residual=current.residual,
    )  # fmt: skip


def _run_needs(loop: Loop) -> Outcome:
    """One LP against the planner's own needs and penalties."""
    scenario = loop.scenario
    need, team_need = table_needs(scenario)
    fill_penalty, team_penalty = penalties(scenario, need, team_need)
    loop.lp.update(need=need, team_need=team_need,
                   harm={"fill": -fill_penalty * need, "team_fill": -team_penalty * team_need,
                         "offset": float((fill_penalty * need).sum()
                                         + (team_penalty * team_need).sum())})  # fmt: skip
    t0 = time.perf_counter()
    plan = loop.lp.solve()
    loop.clock["solve"] += time.perf_counter() - t0
    return Outcome(
        scenario=scenario, network=loop.net, lp=loop.lp, plan=plan, need=need,
        team_need=team_need, coverage=plan.coverage, fill=plan.fill, team_fill=plan.team_fill,
        gradient=None, domestic_care=None,
        lab_capacity=np.full(loop.n_p, np.inf), people_no_aid=None, people_with_plan=None,
        history=[Iteration(float("nan"), sum(plan.spending_usd.values()), 0.0, None, 1.0, True,
                           0.0)],
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
