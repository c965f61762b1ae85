"""What the benchmarks share: one BLAS thread, medians of repeated timings, HiGHS alone on an LP
written to MPS, and the loop's first two stage-1 solves.

Import this module before numpy: it pins the BLAS and OpenMP threads to one, as the loop does
(`optimiser.runner.run`), so that timings on a shared 2-core machine mean something.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import highspy  # noqa: E402

from optimiser.lp import new_highs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
"""The repository, whose shipped scenarios the benchmarks run by default."""


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall-clock seconds of `repeats` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def highs_alone(highs: highspy.Highs, method: str, repeats: int,
                time_limit_s: float = 600.0) -> tuple[float, float]:  # fmt: skip
    """HiGHS's own run time (median) on the LP `highs` holds now, written to MPS and read back
    into a fresh instance, cold; and the optimum it finds (nan past the time limit)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "plan.mps")
        highs.writeModel(path)
        times, objective = [], float("nan")
        for _ in range(repeats):
            h = new_highs()
            for name, value in (("solver", method), ("threads", 1), ("random_seed", 0),
                                ("time_limit", time_limit_s)):  # fmt: skip
                h.setOptionValue(name, value)
            h.readModel(path)
            h.run()
            times.append(h.getRunTime())
            optimal = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
            objective = h.getInfo().objective_function_value if optimal else float("nan")
        return statistics.median(times), objective


def machine_load() -> str:
    """The machine's load while measuring: timings on a shared machine mean little without it."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"
