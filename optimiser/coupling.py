"""The coupling of the epidemic and the LP.

one-way:     epidemic without aid -> needs and harm weights -> LP -> plan.
closed-loop: starting from no coverage, repeat
                 epidemic(coverage) -> needs, harm weights -> LP (updated, re-solved) -> plan
                 new coverage = what the plan delivers / what is needed
                 coverage += damping * (new coverage - coverage)
             until the largest change in coverage is below the tolerance, or (if
             `deaths_tolerance` is set) deaths change by less than that share between
             iterations, or the iteration limit.

Either way the plan's own coverage is then run through the epidemic once more to report deaths
with the plan. A scenario that brings its own needs (`needs.csv`) skips the epidemic.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from models.seir import D, S
from optimiser.allocation import AllocationLP, Plan
from optimiser.demand import Needs, weekly_needs
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import Scenario
from optimiser.network import Network, build_network
from optimiser.schema import TEAM, CommodityRow, Staff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Iteration:
    deaths: float
    """deaths by the horizon's end under the coverage the iteration started from [persons]"""
    objective: float
    """LP objective [linearised deaths]"""
    change: float
    """largest change in coverage the plan proposes [1]"""


@dataclass
class Outcome:
    """What a run produces; `results.to_dataset` labels it."""

    scenario: Scenario
    network: Network
    lp: AllocationLP
    plan: Plan
    needs: Needs | None
    need: np.ndarray  # (K, P, W) units the plan was made for
    team_need: np.ndarray  # (P, W)
    harm: np.ndarray  # (K, P, W) deaths per unit short
    team_harm: np.ndarray  # (P, W) deaths per team short
    testing_coverage: np.ndarray  # (P, W) from the plan
    care_coverage: np.ndarray  # (P, W) from the plan
    people_no_aid: np.ndarray | None  # (C, P, days+1)
    people_with_plan: np.ndarray | None
    history: list[Iteration]
    converged: bool
    converged_on: str | None  # "coverage", "deaths", "one-way", or None
    timings_s: dict[str, float] = field(default_factory=dict)


def harm_weights(
    need: np.ndarray,
    team_need: np.ndarray,
    gradient_testing: np.ndarray,
    gradient_care: np.ndarray,
    commodities: tuple[CommodityRow, ...],
    staff: Staff,
) -> tuple[np.ndarray, np.ndarray]:
    """Deaths one unit of shortfall causes: lever share x dDeaths/dcoverage / need.

    A lever's coverage is sum_k share_k * delivered_k / need_k, so a unit of commodity k in
    province-week (p, w) adds share_k / need_k[p, w] of coverage, which averts
    gradient[p, w] deaths per unit of coverage. Zero where nothing is needed.
    """
    gradient = {"testing": gradient_testing, "care": gradient_care}
    share = np.array([c.lever_share for c in commodities])[:, None, None]
    per_lever = np.stack([gradient[c.lever] for c in commodities])
    with np.errstate(divide="ignore", invalid="ignore"):
        harm = np.where(need > 0, share * per_lever / need, 0.0)
        team_harm = np.where(team_need > 0, staff.care_share * gradient_care / team_need, 0.0)
    return harm, team_harm


def flat_harm_weights(
    need: np.ndarray, team_need: np.ndarray, commodities: tuple[CommodityRow, ...], staff: Staff
) -> tuple[np.ndarray, np.ndarray]:
    """Without an epidemic model, every unit short of a commodity weighs the same:
    its lever share over its mean positive need, so each commodity counts by its share."""
    share = np.array([c.lever_share for c in commodities])
    harm = np.zeros_like(need)
    for k in range(len(commodities)):
        positive = need[k][need[k] > 0]
        if positive.size:
            harm[k] = np.where(need[k] > 0, share[k] / positive.mean(), 0.0)
    positive = team_need[team_need > 0]
    team_harm = (
        np.where(team_need > 0, staff.care_share / positive.mean(), 0.0)
        if positive.size
        else np.zeros_like(team_need)
    )
    return harm, team_harm


def plan_coverage(
    plan: Plan,
    need: np.ndarray,
    team_need: np.ndarray,
    commodities: tuple[CommodityRow, ...],
    staff: Staff,
) -> tuple[np.ndarray, np.ndarray]:
    """(testing, care) coverage (P, W) in [0, 1] that the plan's deliveries give."""
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(need > 0, 1.0 - plan.unmet / need, 1.0)
        team_fill = np.where(team_need > 0, 1.0 - plan.team_unmet / team_need, 1.0)
    fill = np.clip(fill, 0.0, 1.0)
    testing = sum(
        c.lever_share * fill[k] for k, c in enumerate(commodities) if c.lever == "testing"
    )
    care = staff.care_share * np.clip(team_fill, 0.0, 1.0) + sum(
        c.lever_share * fill[k] for k, c in enumerate(commodities) if c.lever == "care"
    )
    return np.clip(testing, 0.0, 1.0), np.clip(care, 0.0, 1.0)


def _table_needs(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
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


def _converged(history: list[Iteration], coupling) -> str | None:
    """Which stopping rule the latest iteration meets, if any."""
    if history[-1].change < coupling.tolerance:
        return "coverage"
    if coupling.deaths_tolerance is not None and len(history) > 1:
        before, now = history[-2].deaths, history[-1].deaths
        if abs(now - before) <= coupling.deaths_tolerance * max(abs(before), 1.0):
            return "deaths"
    return None


def total_deaths(people: np.ndarray) -> float:
    return float(people[D, :, -1].sum())


def total_infections(people: np.ndarray) -> float:
    return float((people[S, :, 0] - people[S, :, -1]).sum())


def run(scenario: Scenario) -> Outcome:
    """Plan for a scenario: the coupling its `coupling.mode` asks for."""
    clock = {"epidemic": 0.0, "build": 0.0, "solve": 0.0}
    start = time.perf_counter()
    cfg = scenario.config
    log.info("building the network and the LP")
    net = build_network(scenario)
    lp = AllocationLP(scenario, net)
    clock["build"] = time.perf_counter() - start

    def solve(need, team_need, harm, team_harm) -> Plan:
        t0 = time.perf_counter()
        lp.update(need=need, harm=harm, team_need=team_need, team_harm=team_harm)
        plan = lp.solve()
        clock["solve"] += time.perf_counter() - t0
        return plan

    if scenario.needs is not None:
        need, team_need = _table_needs(scenario)
        harm, team_harm = flat_harm_weights(need, team_need, scenario.commodities, cfg.staff)
        plan = solve(need, team_need, harm, team_harm)
        testing, care = plan_coverage(plan, need, team_need, scenario.commodities, cfg.staff)
        clock["total"] = time.perf_counter() - start
        return Outcome(
            scenario=scenario, network=net, lp=lp, plan=plan, needs=None, need=need,
            team_need=team_need, harm=harm, team_harm=team_harm, testing_coverage=testing,
            care_coverage=care, people_no_aid=None, people_with_plan=None,
            history=[Iteration(float("nan"), plan.objective, 0.0)], converged=True,
            converged_on="one-way", timings_s=clock,
        )  # fmt: skip

    epidemic = EpidemicSetup.from_scenario(scenario)
    shape = (len(scenario.provinces), scenario.n_weeks)

    def simulate(testing, care):
        t0 = time.perf_counter()
        people = epidemic.simulate(testing, care)
        clock["epidemic"] += time.perf_counter() - t0
        return people

    testing, care = np.zeros(shape), np.zeros(shape)
    log.info("epidemic without aid")
    people_no_aid = people = simulate(testing, care)
    history: list[Iteration] = []
    iterations = 1 if cfg.coupling.mode == "one-way" else cfg.coupling.max_iterations
    converged = cfg.coupling.mode == "one-way"
    converged_on = "one-way" if converged else None
    for i in range(iterations):
        log.info("iteration %d: epidemic, harm gradient, LP", i + 1)
        if i > 0:
            people = simulate(testing, care)
        needs = weekly_needs(people, scenario.commodities, cfg.epidemic, cfg.staff, shape[1])
        t0 = time.perf_counter()
        gradient_testing, gradient_care = epidemic.harm_gradient(testing, care, people)
        clock["epidemic"] += time.perf_counter() - t0
        harm, team_harm = harm_weights(
            needs.quantity,
            needs.teams,
            gradient_testing,
            gradient_care,
            scenario.commodities,
            cfg.staff,
        )
        plan = solve(needs.quantity, needs.teams, harm, team_harm)
        new_testing, new_care = plan_coverage(
            plan, needs.quantity, needs.teams, scenario.commodities, cfg.staff
        )
        change = float(max(np.abs(new_testing - testing).max(), np.abs(new_care - care).max()))
        history.append(Iteration(total_deaths(people), plan.objective, change))
        log.info(
            "iteration %d: deaths %.0f, coverage change %.3g", i + 1, history[-1].deaths, change
        )
        if cfg.coupling.mode == "closed-loop":
            converged_on = _converged(history, cfg.coupling)
            if converged_on:
                converged = True
                break
        testing = testing + cfg.coupling.damping * (new_testing - testing)
        care = care + cfg.coupling.damping * (new_care - care)

    # Report what the last plan itself delivers, not the damped blend.
    testing, care = new_testing, new_care
    log.info("epidemic with the plan")
    people_with_plan = simulate(testing, care)
    clock["total"] = time.perf_counter() - start
    return Outcome(
        scenario=scenario, network=net, lp=lp, plan=plan, needs=needs, need=needs.quantity,
        team_need=needs.teams, harm=harm, team_harm=team_harm, testing_coverage=testing,
        care_coverage=care, people_no_aid=people_no_aid, people_with_plan=people_with_plan,
        history=history, converged=converged, converged_on=converged_on, timings_s=clock,
    )  # fmt: skip
