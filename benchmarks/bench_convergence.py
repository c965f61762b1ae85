"""Does the closed loop converge wherever a planner may point it? A grid over R0 (1.2-4.0),
detection with tests (0.03-0.25 a day) and medical teams a week (0, 10, 20) on the default
scenario, run as one `aidopt sweep` (5 x 5 x 3 = 75 closed-loop runs by default), and the
point R0 3.19, detection 0.174, 5 teams that once reported deaths outside its own iterations.

    python benchmarks/bench_convergence.py [--levels 5] [--workers 2] [--out DIR]

Prints the share of runs that converged, the criterion each stopped on, and every run that did
not converge with its deaths over its last iterations.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
SWEEP = """\
scenario: {scenario}
design: {{method: grid, samples: {levels}}}
parameters:
  epidemic.r0: {{uniform: [1.2, 4.0]}}
  epidemic.detection_max_per_day: {{uniform: [0.03, 0.25]}}
  staff.teams_per_week: [0, 10, 20]
outputs:
  - deaths_with_plan
  - coupling.iterations
  - coupling.converged
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, default=5, help="grid levels of R0 and detection")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, help="keep the sweep here [a temporary folder]")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench-convergence-"))
    root.mkdir(parents=True, exist_ok=True)
    sweep_file = root / "convergence.yaml"
    sweep_file.write_text(SWEEP.format(scenario=ROOT / "inputs" / "korea-2020",
                                       levels=args.levels))  # fmt: skip
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "optimiser", "sweep", str(sweep_file), "--out",
                    str(root / "grid"), "--workers", str(args.workers), "-q"], check=True)
    seconds = time.perf_counter() - start
    ds = xr.open_zarr(root / "grid" / "sweep.zarr", consolidated=False).load()
    status = Counter(str(s) for s in ds["status"].values)
    n = ds.sizes["run"]
    print(f"grid of {n} closed-loop runs ({args.levels} x {args.levels} x 3) in {seconds:.0f} s "
          f"with {args.workers} workers: {status.get('ok', 0)} converged "
          f"({status.get('ok', 0) / n:.0%}), {status.get('not-converged', 0)} not converged, "
          f"{status.get('failed', 0)} failed")  # fmt: skip
    iterations = ds["coupling.iterations"].values
    print(f"iterations: median {float(np.nanmedian(iterations)):.0f}, "
          f"most {int(np.nanmax(iterations))}")
    for r in range(n):
        if str(ds["status"].values[r]) != "ok":
            point = ", ".join(f"{name}={float(ds[str(name)].values[r]):.3g}"
                              for name in ds["parameter"].values)  # fmt: skip
            print(f"  not converged: {point}: {ds['message'].values[r]}")
    point = root / "r0-3.19"
    done = subprocess.run([sys.executable, "-m", "optimiser", "run", "korea-2020", "--out",
                           str(point), "-q", "--allow-unconverged", "--set", "epidemic.r0=3.19",
                           "--set", "epidemic.detection_max_per_day=0.174",
                           "--set", "staff.teams_per_week=5"], check=False)  # fmt: skip
    summary = json.loads((point / "summary.json").read_text())
    c = summary["coupling"]
    low, high = c["deaths_range_last_iterations"]
    inside = low - 0.5 <= summary["deaths_with_plan"] <= high + 0.5
    print(f"R0 3.19, detection 0.174, 5 teams: exit {done.returncode}, converged {c['converged']} "
          f"({c['converged_on']}) after {c['iterations']} iterations; deaths with the plan "
          f"{summary['deaths_with_plan']:,.0f}, last iterations {low:,.0f}-{high:,.0f} "
          f"({'inside' if inside else 'OUTSIDE'})")  # fmt: skip


if __name__ == "__main__":
    main()
