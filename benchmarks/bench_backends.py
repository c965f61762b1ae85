"""The closed loop on the arrays and on `solver.backend: pyomo`, side by side (issue 22).

    python benchmarks/bench_backends.py [SCENARIO] [--repeats N] [--set KEY=VALUE ...]

Runs `runner.run` on each backend in turn, N times, in one process (so both meet the same
load), and prints per backend the medians of: LP build (for Pyomo: the model, its mutable
parameters and the persistent interface's instance), time in stage-1 and stage-2 solves
(updates included), HiGHS's own run time, the whole run and its CPU time (which the machine's
other jobs move less than the wall clock); then Pyomo / arrays ratios, and
whether the plans agree (largest difference of aid, relative to the largest aid; deaths and
spending). Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import common  # pins BLAS threads before numpy loads
import numpy as np
from common import machine_load

from optimiser.inputs import load_scenario
from optimiser.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(common.ROOT / "inputs" / "korea-2020"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="a scenario override")
    args = parser.parse_args()
    figures: dict[str, dict[str, list[float]]] = {"arrays": {}, "pyomo": {}}
    outcomes = {}
    print(f"({machine_load()})", flush=True)
    for _ in range(args.repeats):
        for backend in figures:
            scenario = load_scenario(args.scenario, [f"solver.backend={backend}", *args.set])
            start, cpu = time.perf_counter(), time.process_time()
            outcome = run(scenario)
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
            solver = outcome.lp.solver
            highs = getattr(solver, "run_seconds", None)
            if highs is None:
                highs = solver.highs.getRunTime()
            for name, value in (("build", outcome.timings_s["build"]),
                                ("solve", outcome.timings_s["solve"]), ("HiGHS run", highs),
                                ("whole run", total), ("CPU time", cpu)):  # fmt: skip
                figures[backend].setdefault(name, []).append(value)
            outcomes[backend] = outcome
            print(f"  {backend}: {total:.1f} s, {len(outcome.history)} iterations", flush=True)
    print(f"medians of {args.repeats}, s ({machine_load()})")
    print(f"  {'':<12}{'arrays':>10}{'pyomo':>10}{'ratio':>8}")
    for name in figures["arrays"]:
        a, p = (statistics.median(figures[b][name]) for b in ("arrays", "pyomo"))
        print(f"  {name:<12}{a:>10.2f}{p:>10.2f}{p / a:>8.2f}")
    a, p = outcomes["arrays"], outcomes["pyomo"]
    scale = float(np.abs(a.aid).max())
    print(f"plans: largest aid difference {np.abs(a.aid - p.aid).max() / scale:.2e} of the "
          f"largest aid; deaths {a.history[-1].deaths:.3f} / {p.history[-1].deaths:.3f}; "
          f"spending {a.plan.spent:.2f} / {p.plan.spent:.2f} USD; iterations "
          f"{len(a.history)} / {len(p.history)}")  # fmt: skip


if __name__ == "__main__":
    main()
