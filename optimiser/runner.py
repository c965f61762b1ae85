"""One run of a scenario, shared by `aidopt run` and `aidopt sweep`: the coupling its
configuration asks for, labelled as one Dataset, and the run's status.

    scenario = load_scenario(folder, overrides)   # ScenarioError: invalid input
    ds = plan(scenario)                           # SolverError: HiGHS failed
    summary = summary_of(ds)                      # summary.json, as a dict
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from optimiser.inputs import Scenario, ScenarioError, load_scenario
from optimiser.lp import SolverError
from optimiser.uncertainty import Draws

if TYPE_CHECKING:
    from optimiser.coupling import Outcome

STATUSES = ("ok", "failed", "not-converged")
"""How a run ended: planned; stopped by invalid input or the solver; or planned, but the closed
loop reached its iteration limit (the plan is not an answer)."""


def plan(scenario: Scenario, draws: Draws | None = None, whole_units: bool = False
         ) -> xr.Dataset:  # fmt: skip
    """The plan for a scenario as one labelled Dataset, met by `draws` too where given (for a
    robust objective, the uncertainty block's own draws where none are given, so that a sweep's
    or an ask's run plans as `aidopt run` does); with `whole_units`, the whole-unit plan beside
    it (`optimiser.whole_units`); raises SolverError if HiGHS fails."""
    from optimiser.results import to_dataset

    outcome = run(scenario, draws if draws is not None else draws_for(scenario, None, None))
    ds = to_dataset(outcome)
    if whole_units and outcome.people_with_plan is None:
        import logging

        logging.getLogger(__name__).warning(
            "--whole-units: skipped, this scenario's needs come from needs.csv (no epidemic to "
            "meet the rounded plan with)")  # fmt: skip
    elif whole_units:
        from optimiser.whole_units import whole_unit_plan

        ds = whole_unit_plan(outcome, ds)
    return ds


def run(scenario: Scenario, draws: Draws | None = None) -> Outcome:
    """Plan for a scenario: the coupling its `coupling.mode` asks for, against its own epidemic
    or, with a robust `objective.robustness`, against the epidemics `draws`; with `draws`, the
    plan is also met by each of them."""
    from threadpoolctl import threadpool_limits

    from optimiser.coupling import Loop, outcome_of, run_needs, searches
    from optimiser.robust import over_draws

    start = time.perf_counter()
    # One thread for BLAS and OpenMP: on a shared machine more are slower, and their sums
    # differ by thread count, which the loop would carry into the plan.
    with threadpool_limits(limits=1):
        loop = Loop(scenario)
        if scenario.needs is not None:
            outcome = run_needs(loop)
        else:
            found, starts, rules = searches(loop)
            if draws is None:
                outcome = outcome_of(loop, found, loop, found)
            else:
                outcome = over_draws(loop, found, draws, rules)
            outcome.rules, outcome.starts = rules, starts
            outcome.no_aid_deaths = found.no_aid.deaths
            if outcome.plan_deaths is None:  # a robust plan sets its own, on this epidemic
                outcome.plan_deaths = found.current.deaths
    outcome.timings_s = {**loop.clock, "total": time.perf_counter() - start}
    return outcome


def draws_for(scenario: Scenario, count: int | None, seed: int | None) -> Draws | None:
    """The draws a run meets: `count` (or, for a robust objective, the uncertainty block's
    number) from the scenario's uncertainty block, or None for a run without draws."""
    from optimiser.uncertainty import draw, fixed_paths

    cfg = scenario.config
    if count is None and seed is None and cfg.objective.robustness == "nominal":
        return None
    if cfg.uncertainty is None:
        removed = [o for o in scenario.overrides if o.split("=", 1)[0].strip() == "uncertainty"]
        why = f" (--set {removed[-1]} removed it)" if removed else ""
        raise ScenarioError([f"{scenario.folder / 'scenario.yaml'}: --draws and --seed draw "
                             f"from an 'uncertainty' block, and the scenario has none{why}"])
    if cfg.epidemic is None:
        raise ScenarioError([f"{scenario.folder / 'scenario.yaml'}: draws need the SEIR model; "
                             "this scenario brings its needs in needs.csv"])  # fmt: skip
    return draw(cfg.uncertainty, count, seed, fixed_paths(scenario.overrides, cfg.uncertainty))


def not_converged(summary: dict) -> str | None:
    """Why a run's plan is not an answer, or None if its loop converged."""
    coupling = summary["coupling"]
    if coupling.get("starts_agree") is False:
        return (
            f"the closed loop's starts ended {coupling['starts_spread_deaths']:,.0f} deaths "
            f"apart, more than the convergence band of {coupling['band_deaths']:,.0f} "
            f"(coupling.tolerance): the plan depends on where the search started and is not "
            f"an answer (coupling.starts in summary.json)"
        )
    if coupling["converged"]:
        return None
    return (
        f"the closed loop did not converge in {coupling['iterations']} iterations (deaths over "
        f"the last ones: {coupling['deaths_range_last_iterations']}); the plan is not an answer"
    )


@dataclass(frozen=True)
class Attempt:
    """A run that may have failed: its status, why, and its plan where it has one."""

    status: str  # one of STATUSES
    message: str
    dataset: xr.Dataset | None


def attempt(folder: str | Path, overrides: Sequence[str]) -> Attempt:
    """Load, plan and judge one run; invalid input and solver failures become its status."""
    try:
        ds = plan(load_scenario(folder, overrides))
    except ScenarioError as exc:
        return Attempt("failed", "; ".join(exc.problems), None)
    except SolverError as exc:
        return Attempt("failed", str(exc), None)
    from optimiser.results import summary_of

    reason = not_converged(summary_of(ds))
    return Attempt("ok" if reason is None else "not-converged", reason or "", ds)
