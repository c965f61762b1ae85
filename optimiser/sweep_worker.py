"""One run of a sweep, as a worker process does it: `run_one(task)` loads the scenario with the
run's overrides, plans it (`optimiser.runner`), and keeps the outputs the sweep file names. A
run that fails is a result with its status and message, never an exception.

This module imports nothing numeric at the top, so a worker can pin its BLAS threads
(`pin_threads`) before numpy loads.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from optimiser.reading import clip, listing
from optimiser.suggest import did_you_mean
from optimiser.sweep_spec import OutputSpec

THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)  # fmt: skip
"""Thread counts of the numeric libraries; a worker sets each to 1: on a shared machine more
threads are slower, and sums would differ with the thread count."""
MAX_MESSAGE_CHARS = 2000


class OutputSpecError(ValueError):
    """An output the sweep file names that no run can have: a sweep-file error."""


@dataclass(frozen=True)
class Task:
    run: int
    folder: str
    overrides: tuple[str, ...]
    outputs: tuple[str | OutputSpec, ...]


@dataclass
class RunResult:
    run: int
    status: str  # ok, failed, not-converged
    message: str = ""
    scalars: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, tuple[tuple[str, ...], dict[str, list], Any]] = field(default_factory=dict)
    """name -> (dimensions, labels per dimension, values)"""
    wall_s: float = float("nan")
    cpu_s: float = float("nan")
    timings_s: dict[str, float] = field(default_factory=dict)
    """the run's own steps: epidemic, gradient, build, solve"""
    worker: str = ""
    inputs_sha256: str = ""
    output_error: str | None = None
    """set when an output cannot be read from any run: the sweep stops"""


def pin_threads() -> None:
    """One thread for BLAS and OpenMP in this process (a worker's initializer)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def run_one(task: Task) -> RunResult:
    """Plan one run and keep its outputs; every failure is recorded, not raised."""
    from optimiser.results import summary_of
    from optimiser.runner import attempt

    wall, cpu = time.perf_counter(), time.process_time()
    result = RunResult(task.run, "failed", worker=f"{socket.gethostname()}:{os.getpid()}")
    try:
        tried = attempt(task.folder, task.overrides)
        result.status, result.message = tried.status, tried.message
        if tried.dataset is not None:
            summary = summary_of(tried.dataset)
            result.inputs_sha256 = summary["provenance"]["inputs_sha256"]
            result.timings_s = {k: float(v) for k, v in summary["timings_s"].items()}
            try:
                for spec in task.outputs:
                    if isinstance(spec, OutputSpec):
                        result.arrays[spec.label] = array_output(tried.dataset, spec)
                    else:
                        result.scalars[spec] = summary_output(summary, spec)
            except OutputSpecError as exc:
                result.output_error = str(exc)
    except Exception as exc:  # one run's internal error must not end a sweep of thousands
        result.status = "failed"
        result.message = f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"
    result.message = clip(result.message, MAX_MESSAGE_CHARS)
    result.wall_s = time.perf_counter() - wall
    result.cpu_s = time.process_time() - cpu
    return result


def summary_output(summary: dict, path: str) -> float:
    """A number of summary.json by dotted path (null is NaN, true/false 1/0)."""
    node: Any = summary
    parts = path.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            valid = list(node) if isinstance(node, dict) else []
            where = ".".join(parts[:depth]) or "the top level"
            raise OutputSpecError(
                f"outputs: '{clip(path)}': summary.json has no field "
                f"'{clip('.'.join(parts[: depth + 1]))}'{did_you_mean(part, valid)}; valid under "
                f"{where}: {listing(valid) or 'none (it is a number)'}"
            )
        node = node[part]
    if node is None:
        return float("nan")
    if isinstance(node, bool | int | float):
        return float(node)
    if isinstance(node, dict):
        raise OutputSpecError(f"outputs: '{clip(path)}' is a group of fields; name one of "
                              f"{listing(f'{path}.{k}' for k in node)}")  # fmt: skip
    raise OutputSpecError(f"outputs: '{clip(path)}' is {type(node).__name__}, not a number")


def array_output(ds: Any, spec: OutputSpec) -> tuple[tuple[str, ...], dict[str, list], Any]:
    """A variable of plan.nc, labels picked, reduced over the dimensions not kept."""
    import numpy as np

    name = f"outputs: '{clip(spec.label)}'"
    if spec.variable not in ds.data_vars:
        valid = sorted(str(v) for v in ds.data_vars)
        raise OutputSpecError(
            f"{name}: plan.nc has no variable '{clip(spec.variable)}'"
            f"{did_you_mean(spec.variable, valid)}; valid: {listing(valid, 60)}"
        )
    da = ds[spec.variable]
    for dim, label in spec.select.items():
        if dim not in da.dims:
            raise OutputSpecError(f"{name}: {spec.variable} has no dimension '{clip(dim)}'; "
                                  f"it has {listing(map(str, da.dims))}")  # fmt: skip
        known = [str(x) for x in da[dim].values]
        if str(label) not in known:
            raise OutputSpecError(
                f"{name}: {dim} has no label {clip(str(label))!r}"
                f"{did_you_mean(str(label), known)}; valid: {listing(known)}"
            )
        da = da.isel({dim: known.index(str(label))})
    missing = [d for d in spec.keep if d not in da.dims]
    if missing:
        has = listing(map(str, da.dims))
        raise OutputSpecError(f"{name}: {spec.variable} has no dimension {listing(missing)}; "
                              f"it has {has}")  # fmt: skip
    others = [d for d in da.dims if d not in spec.keep]
    if others:
        da = getattr(da, spec.reduce)(others)
    da = da.transpose(*spec.keep)
    labels = {d: [x.item() if hasattr(x, "item") else x for x in da[d].values] for d in spec.keep}
    return spec.keep, labels, np.asarray(da.values, dtype=float)
