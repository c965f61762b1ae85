"""Replay the closed loop's sequence of LP solves under different HiGHS options.

    python benchmarks/bench_resolves.py [SCENARIO] [--record FILE] [--options JSON ...]

Runs the scenario's closed loop once, recording what HiGHS holds before each stage-1 solve
(costs, column and row bounds; the matrix never changes), then replays that sequence on one
fresh HiGHS instance per option set, warm from each solve to the next as the loop does, and
prints total seconds, simplex iterations and the largest relative difference of each optimum
from the recorded one. Every option set meets the same sequence of LPs, so the comparison is
fair whatever path the loop would take under it. `--record FILE` keeps the recording (pickle) to
replay later with `--replay FILE`. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time

import common  # pins BLAS threads before numpy loads
import highspy
import numpy as np

from optimiser import lp as lp_module
from optimiser.allocation import DUAL_SIMPLEX, AllocationLP
from optimiser.inputs import load_scenario
from optimiser.lp import new_highs
from optimiser.network import build_network
from optimiser.runner import run

CANDIDATES = [
    {"dual_simplex_cost_perturbation_multiplier": 1.0},  # HiGHS's default
    {"dual_simplex_cost_perturbation_multiplier": 0.0},  # lp.RESOLVE_OPTIONS
    {"dual_simplex_cost_perturbation_multiplier": 0.1},
    {"dual_simplex_cost_perturbation_multiplier": 1.0, "simplex_dual_edge_weight_strategy": 1},
    {"dual_simplex_cost_perturbation_multiplier": 1.0, "simplex_scale_strategy": 4},
    {"dual_simplex_cost_perturbation_multiplier": 1.0, "simplex_price_strategy": 0},
]


def record(scenario) -> list[dict]:
    """Run the loop, keeping HiGHS's data before each stage-1 solve and its optimum."""
    kept: list[dict] = []
    solve = lp_module.Solver.solve

    def recording(self, strategy=None):
        held = self.highs.getLp()
        data = {name: np.array(getattr(held, name)) for name in
                ("col_cost_", "col_lower_", "col_upper_", "row_lower_", "row_upper_")}  # fmt: skip
        out = solve(self, strategy)
        if strategy == DUAL_SIMPLEX:
            kept.append({**data, "objective": out[2]})
        return out

    lp_module.Solver.solve = recording  # type: ignore[method-assign]
    try:
        run(scenario)
    finally:
        lp_module.Solver.solve = solve  # type: ignore[method-assign]
    return kept


def replay(scenario, sequence: list[dict], options: dict) -> tuple[float, int, float]:
    """Seconds, simplex iterations and the largest relative change of the optimum."""
    lp = AllocationLP(scenario, build_network(scenario)).lp.highs_lp()
    h = new_highs()
    settings = {"solver": "simplex", "threads": 1, "random_seed": 0,
                "simplex_strategy": DUAL_SIMPLEX, **options}  # fmt: skip
    for name, value in settings.items():
        h.setOptionValue(name, value)
    h.passModel(lp)
    cols, rows = np.arange(lp.num_col_, dtype=np.int32), np.arange(lp.num_row_, dtype=np.int32)
    seconds, iterations, worst = 0.0, 0, 0.0
    for step in sequence:
        h.changeColsCost(cols.size, cols, step["col_cost_"])
        h.changeColsBounds(cols.size, cols, step["col_lower_"], step["col_upper_"])
        h.changeRowsBounds(rows.size, rows, step["row_lower_"], step["row_upper_"])
        start = time.perf_counter()
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kUnknown:
            h.clearSolver()  # as `lp.Solver.solve` does
            h.run()
        seconds += time.perf_counter() - start
        info = h.getInfo()
        iterations += info.simplex_iteration_count
        change = abs(info.objective_function_value - step["objective"])
        worst = max(worst, change / max(1.0, abs(step["objective"])))
    return seconds, iterations, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(common.ROOT / "inputs" / "korea-2020"))
    parser.add_argument("--record", help="keep the recorded sequence in this file")
    parser.add_argument("--replay", help="replay a sequence recorded earlier instead of running")
    parser.add_argument("--options", action="append", type=json.loads,
                        help="HiGHS options as a JSON object (repeatable)")  # fmt: skip
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    if args.replay:
        with open(args.replay, "rb") as f:
            sequence = pickle.load(f)
    else:
        sequence = record(scenario)
        if args.record:
            with open(args.record, "wb") as f:
                pickle.dump(sequence, f)
    print(f"{len(sequence)} stage-1 solves of {scenario.config.name}, replayed warm")
    print(f"  {'seconds':>8} {'iterations':>11} {'max rel change':>15}  options")
    for options in args.options or CANDIDATES:
        seconds, iterations, worst = replay(scenario, sequence, options)
        print(f"  {seconds:8.2f} {iterations:11,} {worst:15.1e}  {json.dumps(options)}")


if __name__ == "__main__":
    main()
