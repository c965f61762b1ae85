"""Time the default scenario's steps and set them against HiGHS alone on the same LP.

    python benchmarks/bench_default.py [SCENARIO] [--repeats N] [--draws N]

Prints medians over N repeats (wall-clock seconds) of: the LP's build (network masks and
arrays) plus its first stage-1 solve, HiGHS alone on that LP read cold from MPS, a warm re-solve
(the loop's second step, from the first step's basis), one SEIR integration over the outlook, one
adjoint gradient along it, and draws of the SEIR model stacked in one integration against one
integration each; then the ratios. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import common  # pins BLAS threads before numpy loads
import numpy as np
from common import highs_alone, machine_load, timed

from models.seir import AID, Model
from optimiser.coupling import Loop
from optimiser.inputs import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(common.ROOT / "inputs" / "korea-2020"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--draws", type=int, default=8, help="SEIR draws to stack")
    args = parser.parse_args()
    n = args.repeats

    scenario = load_scenario(args.scenario)
    loop = Loop(scenario)
    zero = np.zeros((len(AID), loop.n_p, loop.n_w))
    t_seir, no_aid = timed(lambda: loop.point(zero), n)
    t_gradient, gradient = timed(lambda: loop.gradient(no_aid), n)
    labs = loop.needs_of(no_aid.people).lab_capacity
    radius = scenario.config.coupling.trust_region

    def build_and_first_solve():
        fresh = Loop(scenario)
        fresh.lp.update(lab_tests_per_week=labs)
        return fresh, fresh.solve(no_aid, gradient, radius)

    t_build, _ = timed(lambda: Loop(scenario), n)
    t_first, (loop, plan) = timed(build_and_first_solve, n)
    t_alone, alone_objective = highs_alone(loop.lp.solver.highs, loop.lp.method, n)
    first_iterations = loop.lp.solver.highs.getInfo().simplex_iteration_count

    trial = loop.point(plan.aid, plan)
    trial_gradient = loop.gradient(trial)
    # HiGHS keeps more than the basis between solves (its edge weights), so each re-solve is
    # timed on a fresh LP after its own first solve, as in the loop.
    resolves, highs_resolves = [], []
    for _ in range(n):
        fresh, _ = build_and_first_solve()
        before = fresh.lp.solver.highs_seconds
        start = time.perf_counter()
        fresh.solve(trial, trial_gradient, radius)
        resolves.append(time.perf_counter() - start)
        highs_resolves.append(fresh.lp.solver.highs_seconds - before)
    t_resolve, highs_resolve = statistics.median(resolves), statistics.median(highs_resolves)
    re_iterations = fresh.lp.solver.highs.getInfo().simplex_iteration_count

    epi = loop.epidemic
    draws = args.draws
    r0s = np.linspace(0.9, 1.1, draws) * float(np.asarray(epi.params.r0).ravel()[0])
    stacked_params = dataclasses.replace(epi.params, r0=r0s)
    contact = epi.contact_for(epi.n_days)

    def stacked():
        model = Model.build(stacked_params, epi.population, epi.mixing, draws)
        return model.integrate(epi.initial_exposed, epi.n_days, contact)

    def one_by_one():
        for r0 in r0s:
            model = Model.build(dataclasses.replace(epi.params, r0=r0), epi.population,
                                epi.mixing, 1)  # fmt: skip
            model.integrate(epi.initial_exposed, epi.n_days, contact)

    t_stacked, _ = timed(stacked, max(1, n // 2))
    t_single, _ = timed(one_by_one, 1)

    n_p, days = loop.n_p, epi.n_days
    size = f"{loop.lp.n_columns:,} columns x {loop.lp.n_rows:,} rows"
    print(f"scenario {scenario.config.name}: {size}, HiGHS {loop.lp.method}; medians of {n}, s")
    print(f"  ({machine_load()})")
    rows = [
        ("LP build (network masks + arrays)", t_build),
        ("build + first stage-1 solve", t_first),
        (f"  first solve's simplex iterations: {first_iterations}", None),
        ("HiGHS alone, same LP from MPS (cold)", t_alone),
        ("warm re-solve (loop step 2: update + solve + read)", t_resolve),
        ("  of which HiGHS", highs_resolve),
        (f"  re-solve's simplex iterations: {re_iterations}", None),
        (f"SEIR run ({n_p} units x {days} days)", t_seir),
        ("adjoint gradient along it", t_gradient),
        (f"{draws} SEIR draws stacked in one integration", t_stacked),
        (f"{draws} SEIR draws, one integration each", t_single),
    ]
    for label, seconds in rows:
        print(f"  {label:<56}" + ("" if seconds is None else f" {seconds:8.3f}"))
    print("ratios")
    print(f"  (build + first solve) / HiGHS alone         {t_first / t_alone:6.2f}")
    print(f"  re-solve / HiGHS alone (cold)               {t_resolve / t_alone:6.2f}")
    print(f"  re-solve / its own HiGHS time               {t_resolve / highs_resolve:6.2f}")
    print(f"  adjoint gradient / SEIR run                 {t_gradient / t_seir:6.2f}")
    print(f"  {draws} draws one by one / stacked             {t_single / t_stacked:6.2f}")
    print(f"  (first solve's optimum {plan.harm:.6g} deaths linearised; HiGHS alone "
          f"{alone_objective:.9g} scaled)")  # fmt: skip


if __name__ == "__main__":
    main()
