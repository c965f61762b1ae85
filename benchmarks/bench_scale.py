"""How the closed loop grows with weeks, units (synthetic counties) and commodities (issue 9).

    python benchmarks/bench_scale.py [SCENARIO] [--sizes NAME,...] [--steps-timeout S]
                                      [--run-timeout S]

For each size, in a fresh subprocess (so that its peak memory, /proc VmHWM, is its own): LP
columns and rows, build (network masks and arrays), first stage-1 solve, HiGHS alone on that LP
read cold from MPS (dual simplex, and interior point with crossover), a warm re-solve (the
loop's second step), one SEIR run, one adjoint gradient; then, in another subprocess, the whole
closed loop (`runner.run`) and its peak memory. Then growth exponents: log(ratio of a figure) /
log(ratio of the size) from the smallest to the largest of the week and unit series.

Sizes: default (13 units, 13 items, 26 weeks), 52w and 104w (the outlook keeps its 78 weeks past
the horizon), 52u and 208u (provinces split into synthetic counties, `counties.py`), 30k (30
commodities), and 208u30k and 208u56k (build only, past the input cap on LP size; the second
near issue 9's 950,000 columns). Not a test: it
prints figures and the issue's targets beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (pins BLAS threads before numpy loads)

HERE = Path(__file__).resolve().parent
IPM_LIMIT_S = 300.0
SIZES = {  # name: (counties, commodities, horizon weeks, whole run?)
    "default": (None, None, 26, True),
    "52w": (None, None, 52, True),
    "104w": (None, None, 104, True),
    "52u": (52, None, 26, True),
    "208u": (208, None, 26, True),
    "30k": (None, 30, 26, True),
    "208u30k": (208, 30, 26, False),
    "208u56k": (208, 56, 26, False),
}


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report_so_far(out: dict) -> None:
    """One JSON line of the figures so far, so that a size cut short by its timeout keeps them."""
    print(json.dumps({**out, "steps_peak_mb": peak_mb()}), flush=True)


def child_steps(folder: str, weeks: int, build_only: bool) -> dict:
    import numpy as np

    from models.seir import AID
    from optimiser import inputs
    from optimiser.coupling import Loop
    from optimiser.inputs import load_scenario

    inputs.MAX_PLAN_CELLS = 10**8  # 208u30k is past the cap; the benchmark wants its build
    scenario = load_scenario(folder, overrides(weeks))
    start = time.perf_counter()
    loop = Loop(scenario)
    out = {"build_s": time.perf_counter() - start, "columns": loop.lp.n_columns,
           "rows": loop.lp.n_rows, "units": loop.n_p}  # fmt: skip
    report_so_far(out)
    if build_only:
        return {**out, "steps_peak_mb": peak_mb()}
    zero = np.zeros((len(AID), loop.n_p, loop.n_w))
    start = time.perf_counter()
    no_aid = loop.point(zero)
    out["seir_s"] = time.perf_counter() - start
    report_so_far(out)
    start = time.perf_counter()
    gradient = loop.gradient(no_aid)
    out["gradient_s"] = time.perf_counter() - start
    report_so_far(out)
    loop.lp.update(lab_tests_per_week=loop.needs_of(no_aid.people).lab_capacity)
    radius = scenario.config.coupling.trust_region
    start = time.perf_counter()
    plan = loop.solve(no_aid, gradient, radius)
    out["first_solve_s"] = time.perf_counter() - start
    report_so_far(out)
    out["alone_s"], _ = common.highs_alone(loop.lp.solver.highs, loop.lp.method, 1)
    report_so_far(out)
    # The interior point method (with crossover, for a basis to go on from), cold, for `auto`.
    seconds, optimum = common.highs_alone(loop.lp.solver.highs, "ipm", 1, IPM_LIMIT_S)
    out["alone_ipm_s"] = seconds if optimum == optimum else None
    report_so_far(out)
    trial = loop.point(plan.aid, plan)
    trial_gradient = loop.gradient(trial)
    start = time.perf_counter()
    loop.solve(trial, trial_gradient, radius)
    out["resolve_s"] = time.perf_counter() - start
    out["resolve_iterations"] = loop.lp.solver.highs.getInfo().simplex_iteration_count
    return {**out, "steps_peak_mb": peak_mb()}


def child_run(folder: str, weeks: int) -> dict:
    from optimiser.inputs import load_scenario
    from optimiser.runner import run

    scenario = load_scenario(folder, overrides(weeks))
    start = time.perf_counter()
    outcome = run(scenario)
    return {"run_s": time.perf_counter() - start, "iterations": len(outcome.history),
            "converged": outcome.converged, "run_peak_mb": peak_mb(),
            "clock": {k: round(v, 2) for k, v in outcome.timings_s.items()}}  # fmt: skip


def overrides(weeks: int) -> list[str]:
    return [f"horizon_weeks={weeks}", f"epidemic.outlook_weeks={weeks + 78}"]


def in_child(mode: str, folder: Path, weeks: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, str(folder), str(weeks)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        lines = partial.strip().splitlines()
        return {**(json.loads(lines[-1]) if lines else {}), "timeout": timeout}
    except subprocess.CalledProcessError as exc:
        return {"error": exc.stderr.strip().splitlines()[-1] if exc.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(HERE.parent / "inputs/korea-2020"))
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--steps-timeout", type=float, default=1800.0)
    parser.add_argument("--run-timeout", type=float, default=1200.0)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "WEEKS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        mode, folder, weeks = args.child
        result = (child_run(folder, int(weeks)) if mode == "run"
                  else child_steps(folder, int(weeks), mode == "build"))  # fmt: skip
        print(json.dumps(result))
        return
    sys.path.insert(0, str(HERE))
    from counties import synthetic

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes.split(","):
            units, items, weeks, whole = SIZES[name]
            folder = synthetic(Path(args.scenario), Path(tmp) / name, units, items)
            row = in_child("steps" if whole else "build", folder, weeks, args.steps_timeout)
            if "timeout" in row:
                row["steps_timeout"] = row.pop("timeout")
            if whole and "error" not in row:
                run = in_child("run", folder, weeks, args.run_timeout)
                if "timeout" in run:
                    run["run_timeout"] = run.pop("timeout")
                row |= run
            results[name] = row
            print(f"{name}: {json.dumps(row)}", file=sys.stderr, flush=True)
    report(results)


def report(results: dict[str, dict]) -> None:
    head = ("size", "columns", "rows", "build", "1st solve", "HiGHS alone", "IPM alone",
            "re-solve", "SEIR", "gradient", "closed loop", "iter", "peak MB")  # fmt: skip
    print(f"({common.machine_load()} at the end)")
    print(" | ".join(head))
    for name, r in results.items():
        run = (f">{r['run_timeout']:.0f}" if "run_timeout" in r
               else fmt(r.get("run_s"), ".1f"))  # fmt: skip
        peak = max(r.get("steps_peak_mb", 0.0), r.get("run_peak_mb", 0.0))
        print(" | ".join([
            name, fmt(r.get("columns"), ","), fmt(r.get("rows"), ","), fmt(r.get("build_s")),
            fmt(r.get("first_solve_s")), fmt(r.get("alone_s")),
            fmt(r.get("alone_ipm_s")) if "seir_s" not in r or r.get("alone_ipm_s") else
            f">{IPM_LIMIT_S:.0f}", fmt(r.get("resolve_s")),
            fmt(r.get("seir_s")), fmt(r.get("gradient_s")), run, str(r.get("iterations", "-")),
            f"{peak:,.0f}" + ("" if "run_peak_mb" in r else " (steps)"),
        ]))  # fmt: skip
        if "error" in r:
            print(f"  {name} failed: {r['error']}")
        if "steps_timeout" in r:
            print(f"  {name}: steps stopped at {r['steps_timeout']:.0f} s; '-' were not reached")
    print("growth exponents (log ratio of the figure / log ratio of the size):")
    for series, (small, large, ratio) in {"weeks": ("default", "104w", 4.0),
                                          "units": ("default", "208u", 16.0)}.items():  # fmt: skip
        a, b = results.get(small, {}), results.get(large, {})
        parts = []
        for key in ("columns", "build_s", "first_solve_s", "resolve_s", "seir_s", "gradient_s",
                    "run_s", "run_peak_mb"):  # fmt: skip
            if a.get(key) and b.get(key):
                parts.append(f"{key} {math.log(b[key] / a[key]) / math.log(ratio):.2f}")
        print(f"  {series} ({small} -> {large}): " + (", ".join(parts) or "-"))
    d = results.get("default", {})
    if d.get("alone_s"):
        ratio = (d["build_s"] + d["first_solve_s"]) / d["alone_s"]
        print(f"targets: default (build + first solve) / HiGHS alone {ratio:.2f} (at most 2)")
    for name, target in (("104w", "20 s, 1 GB"), ("208u", "120 s, 4 GB")):
        r = results.get(name, {})
        if "run_s" in r:
            print(f"  {name} closed loop {r['run_s']:.1f} s, {r['run_peak_mb']:,.0f} MB "
                  f"(target under {target})")  # fmt: skip
    if "resolve_s" in results.get("208u", {}):
        print(f"  208u warm re-solve {results['208u']['resolve_s']:.2f} s (target under 3 s)")
    big = results.get("208u56k", {})
    if "build_s" in big:
        print(f"  208u56k build {big['build_s']:.1f} s of {big['columns']:,} columns, peak "
              f"{big['steps_peak_mb']:,.0f} MB of the whole process (target 950,000 columns "
              f"under 10 s and 1 GB)")  # fmt: skip


if __name__ == "__main__":
    main()
