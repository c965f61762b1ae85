"""Plans met by drawn epidemics, and plans made against them: the nominal plan met by every
draw, or, with a robust `objective.robustness`, the closed loop run on the stacked draws from
the nominal plan, with both plans side by side (`runner.run` with draws comes here).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from models.seir import D
from optimiser.allocation import Plan
from optimiser.coupling import Ensemble, Loop, Outcome, Point, Risk, Search, outcome_of, search
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import Scenario
from optimiser.uncertainty import Draws, ensemble, final_states

log = logging.getLogger(__name__)


def over_draws(loop: Loop, nominal: Search, draws: Draws, rules=()) -> Outcome:
    """The nominal plan met by each draw; with a robust objective, the plan searched for over
    the draws (starting from the nominal one) and both plans side by side. Each rule of thumb
    (`optimiser.rules`) is met by the same draws."""
    objective = loop.cfg.objective
    log.info("%d drawn epidemics", draws.count)
    t0 = time.perf_counter()
    drawn = ensemble(loop.scenario, draws)
    loop.clock["draws"] = time.perf_counter() - t0
    by_rule = {r.id: final(loop, drawn, r.point.aid)[:, D].sum(axis=1) for r in rules or ()}
    if objective.robustness == "nominal":
        zero = np.zeros_like(nominal.current.aid)
        outcome = outcome_of(loop, nominal, loop, nominal)
        with_plan = final(loop, drawn, nominal.current.aid)
        outcome.ensemble = Ensemble(draws, final(loop, drawn, zero), with_plan, "nominal")
        outcome.rule_deaths_by_draw = by_rule
        return outcome
    robust_loop = Loop(loop.scenario, drawn, Risk(objective.robustness, objective.cvar_share))
    robust = search(robust_loop, start=nominal)
    for name, seconds in robust_loop.clock.items():
        loop.clock[name] += seconds
    # The headline figures stay those of the scenario's own epidemic, now under the robust plan.
    evaluated = loop.point(robust.current.aid, robust.plan)
    met = Search(robust.plan, evaluated, nominal.no_aid, robust.gradient, [], None)
    outcome = outcome_of(robust_loop, robust, loop, met)
    # The robust search started at the nominal plan: its first point is that plan on the draws.
    start = robust_loop.first
    assert start is not None
    outcome.ensemble = Ensemble(
        draws, robust.no_aid.final, robust.current.final, objective.robustness,
        comparison={"nominal": side(loop.scenario, start, nominal.plan),
                    "robust": side(loop.scenario, robust.current, robust.plan)},
    )  # fmt: skip
    outcome.rule_deaths_by_draw = by_rule
    outcome.plan_deaths = evaluated.deaths
    return outcome


def final(loop: Loop, drawn: EpidemicSetup, aid: np.ndarray) -> np.ndarray:
    """(B, state, P) on the outlook's last day of every draw under weekly aid."""
    t0 = time.perf_counter()
    final = final_states(drawn, aid)
    loop.clock["epidemic"] += time.perf_counter() - t0
    return final


def side(scenario: Scenario, at: Point, plan: Plan) -> dict:
    """One plan's figures over the draws, for the side-by-side table."""
    from optimiser.uncertainty import percentiles

    mass_t = np.array([c.mass_kg_per_unit for c in scenario.commodities]) / 1000.0
    return {
        "deaths": percentiles(at.deaths_by_draw),
        "deaths_mean": float(at.deaths_by_draw.mean()),
        "spending_usd": plan.spent,
        "tonnes": float((plan.procured.sum(axis=(1, 2)) * mass_t).sum()),
    }
