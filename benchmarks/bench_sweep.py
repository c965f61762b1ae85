"""CPU time per run: a sweep against separate `aidopt run` processes and against the floor.

    python benchmarks/bench_sweep.py [--runs 8] [--workers 2] [--set KEY=VALUE ...]

The same R runs (a Latin hypercube over epidemic.r0 and staff.teams_per_week on the default
scenario, one-way unless --set says otherwise) are computed three ways:

- separate: one `aidopt run` process per run, one after another (imports, scenario, LP and
  files each time);
- sweep: `aidopt sweep` with a local pool of --workers processes (imports once per worker,
  results into sweep.zarr);
- floor: `optimiser.runner.run` alone (the epidemic and the LP work of a run) in this
  process, warmed up by one run first.

CPU time is user + system time of every process involved (children are counted once they are
reaped). Prints the per-run figures, the ratios sweep / separate and sweep / floor, and the
wall time a 1,000-run Sobol' sweep would take on 2 cores at the sweep's CPU per run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "inputs" / "korea-2020"
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sweep_spec(runs: int, fixed: list[str]) -> dict:
    return {
        "scenario": str(SCENARIO),
        "set": fixed,
        "design": {"method": "latin", "samples": runs, "seed": 11},
        "parameters": {"epidemic.r0": {"uniform": [1.8, 2.6]},
                       "staff.teams_per_week": {"uniform": [5, 15]}},
        "outputs": ["deaths_no_aid", "deaths_with_plan", "spending_usd.total"],
    }  # fmt: skip


def aidopt(*args: str) -> tuple[float, float]:
    """Run the command in a child process: (wall s, CPU s of it and its children)."""
    cpu, wall = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "optimiser", *args], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - wall, children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", dest="fixed", action="append", default=None,
                        help="fixed overrides [coupling.mode=one-way]")  # fmt: skip
    args = parser.parse_args()
    fixed = args.fixed or ["coupling.mode=one-way"]
    from optimiser.sweep import read_plan

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "bench.yaml"
        path.write_text(yaml.safe_dump(sweep_spec(args.runs, fixed)))
        plan = read_plan(path)
        overrides = [plan.fixed + plan.runs.overrides(r) for r in range(plan.runs.count)]

        sweep_wall, sweep_cpu = aidopt("sweep", str(path), "--out", str(folder / "sweep"),
                                       "--workers", str(args.workers), "-q")  # fmt: skip
        separate_wall, separate_cpu = 0.0, 0.0
        for r, sets in enumerate(overrides):
            wall, cpu = aidopt("run", str(SCENARIO), "--out", str(folder / f"run-{r}"), "-q",
                               *[a for s in sets for a in ("--set", s)])  # fmt: skip
            separate_wall, separate_cpu = separate_wall + wall, separate_cpu + cpu
        floor_cpu = floor(overrides)
        from optimiser.sweep_store import open_dataset

        ds = open_dataset(folder / "sweep" / "sweep.zarr").load()
        in_workers = float(ds["cpu_s"].mean())
        statuses = sorted(set(ds["status"].values.astype(object)))

    n = len(overrides)
    per = {"separate": separate_cpu / n, "sweep": sweep_cpu / n, "floor": floor_cpu / n}
    print(f"{n} runs ({', '.join(fixed)}; statuses: {', '.join(statuses)}), "
          f"{args.workers} sweep workers")  # fmt: skip
    print(f"  CPU s per run: separate `aidopt run` {per['separate']:.2f}, sweep "
          f"{per['sweep']:.2f} (in the workers' runs alone {in_workers:.2f}), floor "
          f"{per['floor']:.2f}")  # fmt: skip
    print(f"  wall s: separate {separate_wall:.1f} (one after another), sweep {sweep_wall:.1f}")
    print(f"  sweep / separate {per['sweep'] / per['separate']:.2f}, sweep / floor "
          f"{per['sweep'] / per['floor']:.2f}")  # fmt: skip
    print(f"  1,000-run Sobol' sweep on 2 cores at the sweep's CPU per run: "
          f"{1000 * per['sweep'] / 2 / 60:.0f} min")  # fmt: skip


def floor(overrides: list[list[str]]) -> float:
    """CPU s of `runner.run` alone for every run, in this process after one warm-up run."""
    from optimiser.inputs import load_scenario
    from optimiser.runner import run

    scenarios = [load_scenario(SCENARIO, sets) for sets in overrides]
    run(scenarios[0])
    start = own_cpu()
    for scenario in scenarios:
        run(scenario)
    return own_cpu() - start


if __name__ == "__main__":
    main()
