"""Robust plans against the nominal plan, and what they cost to compute.

For a shipped scenario: plan nominally and robustly (`objective.robustness` expected or cvar,
over the uncertainty block's draws), then meet both plans with fresh draws drawn with another
seed (`aidopt evaluate --draws`) and with the seed infections doubled. Prints the side-by-side
table, and the wall time and peak memory of each run and their ratio.

    python benchmarks/bench_robust.py                     # korea-2020, cvar, 100 + 200 draws
    python benchmarks/bench_robust.py dprk-2022 --robustness expected --plan-draws 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def aidopt(*args: str) -> tuple[float, float]:
    """Run `aidopt ARGS` in a child process: (wall seconds, its peak resident memory in MB)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}  # fmt: skip
    start = time.perf_counter()
    # A fresh interpreter per command, so ru_maxrss of the children is this command's alone.
    code = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
            "sys.exit(rc)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, "aidopt", *args, "-q"], env=env,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"aidopt {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    peak_kb = float(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kb / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default="korea-2020")
    parser.add_argument("--robustness", default="cvar", choices=["expected", "cvar"])
    parser.add_argument("--plan-draws", type=int, default=100)
    parser.add_argument("--test-draws", type=int, default=200)
    parser.add_argument("--test-seed", type=int, default=2)
    parser.add_argument("--out", type=Path, help="keep the results here [a temporary folder]")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-robust-"))
    nominal, robust = root / "nominal", root / args.robustness
    t_nom, m_nom = aidopt("run", args.scenario, "--out", str(nominal), "--allow-unconverged")
    t_rob, m_rob = aidopt("run", args.scenario, "--out", str(robust), "--allow-unconverged",
                          "--set", f"objective.robustness={args.robustness}",
                          "--set", f"uncertainty.draws={args.plan_draws}")  # fmt: skip
    rows = {}
    for name, folder in (("nominal", nominal), (args.robustness, robust)):
        fresh, doubled = root / f"{name}-fresh", root / f"{name}-doubled"
        aidopt("evaluate", str(folder), "--draws", str(args.test_draws), "--seed",
               str(args.test_seed), "--out", str(fresh))  # fmt: skip
        aidopt("evaluate", str(folder), "--set", "epidemic.initial_infections_factor=2",
               "--out", str(doubled))  # fmt: skip
        run = json.loads((folder / "summary.json").read_text())
        test = json.loads((fresh / "summary.json").read_text())["uncertainty"]
        twice = json.loads((doubled / "summary.json").read_text())
        rows[name] = {
            "p50": test["deaths_with_plan"]["p50"], "p90": test["deaths_with_plan"]["p90"],
            "no_aid_p90": test["deaths_no_aid"]["p90"],
            "spending": run["spending_usd"]["total"],
            "as_planned": run["deaths_with_plan"], "doubled": twice["deaths_with_plan"],
            "converged": run["coupling"]["converged"], "iterations": run["coupling"]["iterations"],
        }  # fmt: skip
    print(f"{args.scenario}: {args.robustness} over {args.plan_draws} draws against nominal, "
          f"met by {args.test_draws} fresh draws (seed {args.test_seed}); results in {root}")
    print(f"{'plan':<9} {'median':>10} {'p90':>10} {'spending USD':>14} {'as planned':>11} "
          f"{'seed x2':>10} {'x2/planned':>10} {'loop':>12}")  # fmt: skip
    for name, r in rows.items():
        loop = f"{r['iterations']} it{'' if r['converged'] else ' (n.c.)'}"
        print(f"{name:<9} {r['p50']:>10,.0f} {r['p90']:>10,.0f} {r['spending']:>14,.0f} "
              f"{r['as_planned']:>11,.0f} {r['doubled']:>10,.0f} "
              f"{r['doubled'] / r['as_planned']:>10.3f} {loop:>12}")  # fmt: skip
    a, b = rows["nominal"], rows[args.robustness]
    print(f"robust / nominal: median {b['p50'] / a['p50']:.3f}, p90 {b['p90'] / a['p90']:.3f}; "
          f"p90 without aid {a['no_aid_p90']:,.0f}")  # fmt: skip
    print(f"90th percentile on the same {args.test_draws} fresh draws: {args.robustness} plan "
          f"{b['p90']:,.0f}, nominal plan {a['p90']:,.0f} (the robust plan's "
          f"{(a['p90'] - b['p90']) / a['p90']:.1%} lower); what aid can move there: "
          f"{a['no_aid_p90'] - a['p90']:,.0f} "
          f"deaths ({(a['no_aid_p90'] - a['p90']) / a['no_aid_p90']:.1%} of the p90 without aid)"
          )  # fmt: skip
    print(f"time: nominal {t_nom:.1f} s, {args.robustness} {t_rob:.1f} s (ratio "
          f"{t_rob / t_nom:.1f}); peak memory {m_nom:.0f} MB, {m_rob:.0f} MB (ratio "
          f"{m_rob / m_nom:.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
