"""Time the default scenario's steps and compare the LP re-solve with HiGHS on its own.

    python benchmarks/bench_default.py [SCENARIO] [--repeats N]

Prints medians over N repeats (wall-clock seconds) and the ratios that matter:
re-solve wall time / HiGHS's own solve time of the same LP read from an MPS file, and the
stacked SEIR integration against one call per parameter set.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import highspy
import numpy as np

from models.seir import SEIRParameters, integrate
from optimiser.allocation import AllocationLP
from optimiser.coupling import harm_weights
from optimiser.demand import drivers_from_trajectory, weekly_needs
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import load_scenario
from optimiser.network import build_network


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def highs_alone(lp: AllocationLP, repeats: int) -> float:
    """HiGHS's own run time on the same LP, written to MPS and read back cold."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "plan.mps")
        lp.model.write(path, io_options={"symbolic_solver_labels": False})
        times = []
        for _ in range(repeats):
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("solver", lp.method)
            h.readModel(path)
            h.run()
            times.append(h.getRunTime())
        return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="inputs/korea-2020")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.repeats

    scenario = load_scenario(args.scenario)
    cfg = scenario.config
    epi = EpidemicSetup.from_scenario(scenario)
    zero = np.zeros((len(scenario.provinces), scenario.n_weeks))
    t_epidemic, people = timed(lambda: epi.simulate(zero, zero), n)
    t_gradient, (g_testing, g_care) = timed(lambda: epi.harm_gradient(zero, zero, people), 3)
    drivers = drivers_from_trajectory(people, scenario.n_weeks, cfg.epidemic)
    needs = weekly_needs(
        drivers,
        scenario.commodities,
        scenario.consumption,
        scenario.provinces,
        cfg.demand,
        cfg.staff,
    )
    harm, team_harm = harm_weights(
        needs.quantity, needs.teams, g_testing, g_care, scenario.commodities, cfg.staff
    )
    net = build_network(scenario)

    def build():
        return AllocationLP(scenario, net)

    def first_solve():
        lp = build()
        lp.update(need=needs.quantity, harm=harm, team_need=needs.teams, team_harm=team_harm)
        return lp, lp.solve()

    t_build, lp = timed(build, n)
    t_first, (lp, plan) = timed(first_solve, n)
    t_first -= t_build  # first_solve builds too
    resolves, highs_resolves = [], []
    for i in range(n):
        scale = 1.0 + 0.05 * (i + 1)
        start = time.perf_counter()
        lp.update(need=needs.quantity * scale, team_need=needs.teams * scale)
        p = lp.solve()
        resolves.append(time.perf_counter() - start)
        highs_resolves.append(p.timings_s["highs"])
    t_resolve = statistics.median(resolves)
    t_highs = highs_alone(lp, n)

    # Stacked SEIR: 100 parameter sets in one call against 100 calls.
    r0s = np.linspace(1.5, 3.0, 100)
    params = SEIRParameters(**{**vars(epi.params), "r0": r0s})
    kwargs = dict(mixing=epi.mixing, contact_factor=epi.contact_factor)
    t_stacked, _ = timed(
        lambda: integrate(params, epi.population, epi.initial_exposed, epi.n_days, **kwargs), 3
    )
    t_loop, _ = timed(
        lambda: [
            integrate(SEIRParameters(**{**vars(epi.params), "r0": r}), epi.population,
                      epi.initial_exposed, epi.n_days, **kwargs)
            for r in r0s
        ],
        1,
    )  # fmt: skip

    print(f"scenario {cfg.name}: {lp.n_columns} columns x {lp.n_rows} rows, HiGHS {lp.method}")
    print(f"medians over {n} repeats, wall-clock seconds")
    rows = [
        ("epidemic (one SEIR run, 13 provinces x 182 days)", t_epidemic),
        ("harm gradient (339 stacked SEIR runs)", t_gradient),
        ("LP build (Pyomo model)", t_build),
        ("first solve (translate to HiGHS + solve + read)", t_first),
        ("re-solve after a need change (update + solve + read)", t_resolve),
        ("  of which HiGHS (warm start)", statistics.median(highs_resolves)),
        ("HiGHS alone, same LP from MPS (cold)", t_highs),
        ("100 SEIR runs stacked in one solve_ivp call", t_stacked),
        ("100 SEIR runs, one call each", t_loop),
    ]
    for label, seconds in rows:
        print(f"  {label:<55} {seconds:8.3f}")
    print("ratios")
    print(f"  re-solve wall / HiGHS alone (cold)          {t_resolve / t_highs:6.2f}")
    print(f"  (build + first solve) / HiGHS alone         {(t_build + t_first) / t_highs:6.2f}")
    print(f"  (build + first solve) / re-solve            {(t_build + t_first) / t_resolve:6.2f}")
    print(f"  100 separate SEIR runs / 100 stacked        {t_loop / t_stacked:6.2f}")


if __name__ == "__main__":
    main()
