"""A sweep's runs: the design's points in the unit hypercube (SALib for sobol, morris and latin;
a full factorial for grid; none for a CSV of runs), mapped through each parameter's
distribution to values, and written as `--set` overrides.

Every distribution maps a unit value u by its quantile function, so SALib's designs and its
analyses stay in [0, 1] and the inputs are independent as Sobol' indices assume: uniform
lo + u (hi - lo); log-uniform exp of that in log space; triangular and normal by scipy's ppf
(normal cut at its 0.1 % and 99.9 % quantiles, so Morris and grid levels at 0 and 1 stay
finite); a list of n values picks value floor(u n).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from optimiser.inputs import ScenarioError
from optimiser.reading import clip, csv_rows, read_text
from optimiser.sweep_spec import MAX_RUNS, Parameter, SweepFile

log = logging.getLogger(__name__)

MAX_BASE_CORRELATION = 0.3
"""Largest correlation between a sobol design's base samples taken without a warning."""
NORMAL_TAIL = 1e-3
"""A normal parameter's unit value is held within [NORMAL_TAIL, 1 - NORMAL_TAIL] (+-3.09 sd)."""


@dataclass(frozen=True)
class Runs:
    """The runs of a sweep: one column per parameter (its `--set` path)."""

    names: list[str]
    values: list[np.ndarray]
    """per parameter, (runs,): float64, or object (text) where the values are not numbers"""
    texts: list[list[str]]
    """per parameter and run, the `--set` value text ('' leaves the input as it is)"""
    unit: np.ndarray | None
    """(runs, parameters) in [0, 1]: the design SALib made, None for a CSV of runs"""

    @property
    def count(self) -> int:
        return len(self.texts[0]) if self.texts else 0

    def overrides(self, run: int) -> list[str]:
        return [f"{n}={t[run]}" for n, t in zip(self.names, self.texts, strict=True) if t[run]]


def run_count(sweep: SweepFile) -> int:
    """How many runs the design makes (a CSV: its rows), without making them."""
    d, n = len(sweep.parameters), sweep.design.samples or 0
    method = sweep.design.method
    if method == "sobol":
        return n * (2 * d + 2 if sweep.design.second_order else d + 2)
    if method == "morris":
        return n * (d + 1)
    if method == "latin":
        return n
    if method == "grid":
        return math.prod(_grid_levels(p, n) for p in sweep.parameters.values())
    return -1


def make_runs(sweep: SweepFile, where: str, cwd: Path | None = None) -> Runs:
    """The sweep's runs; `where` names the sweep file in messages."""
    if sweep.design.method == "csv":
        return _csv_runs(Path(cwd or Path.cwd()) / str(sweep.design.file), where)
    count = run_count(sweep)
    if count > MAX_RUNS:
        raise ScenarioError([f"{where}: design makes {count:,} runs; at most {MAX_RUNS:,}"])
    unit = unit_design(sweep, where)
    names = list(sweep.parameters)
    values, texts = [], []
    for j, (name, parameter) in enumerate(sweep.parameters.items()):
        v, t = parameter_values(parameter, unit[:, j])
        values.append(v)
        texts.append(t)
        log.debug("parameter %s: %s", name, parameter.kind)
    return Runs(names, values, texts, unit)


def unit_design(sweep: SweepFile, where: str) -> np.ndarray:
    """(runs, parameters) in [0, 1] from SALib (or a full factorial for grid)."""
    from SALib.sample import latin, morris, sobol

    design, d = sweep.design, len(sweep.parameters)
    problem = {"num_vars": d, "names": list(sweep.parameters), "bounds": [[0.0, 1.0]] * d}
    n = int(design.samples or 0)
    if design.method == "grid":
        axes = [_grid_axis(p, n) for p in sweep.parameters.values()]
        mesh = np.meshgrid(*axes, indexing="ij")  # the last parameter varies fastest
        return np.stack([m.ravel() for m in mesh], axis=1)
    if design.method == "sobol":
        if n & (n - 1):
            log.warning("%s: sobol samples %d is not a power of 2; Sobol' sequences balance "
                        "best at 2^k (%d or %d)", where, n, 2 ** (n.bit_length() - 1),
                        2 ** n.bit_length())  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the same advice, said above
            unit = sobol.sample(problem, n, calc_second_order=design.second_order,
                                seed=design.seed)  # fmt: skip
        _check_independent(unit, n, list(sweep.parameters), where)
        return unit
    if design.method == "morris":
        return morris.sample(problem, n, num_levels=design.levels, seed=design.seed)
    return latin.sample(problem, n, seed=design.seed)


def _check_independent(unit: np.ndarray, n: int, names: list[str], where: str) -> None:
    """Saltelli's estimators assume the design's two base samples A and B independent; at
    small N a Sobol' sequence can correlate them (N = 16, D = 5: r = 0.86 for the first
    parameter), which biases every index low. Say so; below N = 4 there is no telling, and
    the indices are noise whatever the correlation."""
    if n < 4:
        log.warning("%s: with N = %d Saltelli's estimates are noise (a correlation of the base "
                    "samples cannot even be measured); take N = 64 or more", where, n)
        return
    groups = unit.reshape(n, -1, len(names))
    a, b = groups[:, 0, :], groups[:, -1, :]
    r = [abs(float(np.corrcoef(a[:, j], b[:, j])[0, 1])) for j in range(len(names))]
    worst = int(np.argmax(r))
    if r[worst] > MAX_BASE_CORRELATION:
        log.warning("%s: with N = %d the design's two base samples are correlated for %s "
                    "(r = %.2f), which biases Saltelli's estimates; take N = 64 or more", where,
                    n, names[worst], r[worst])  # fmt: skip


def _grid_levels(parameter: Parameter, samples: int) -> int:
    return len(parameter.values) if parameter.values is not None else samples


def _grid_axis(parameter: Parameter, samples: int) -> np.ndarray:
    """Unit positions of a parameter's grid levels: the bounds and evenly between for bounded
    distributions; equal-probability midpoints for a normal one and for a list's values."""
    k = _grid_levels(parameter, samples)
    if k == 1:
        return np.array([0.5])
    if parameter.values is not None or parameter.normal is not None:
        return (np.arange(k) + 0.5) / k
    return np.linspace(0.0, 1.0, k)


def parameter_values(parameter: Parameter, u: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Values of one parameter at unit positions `u`, and their `--set` texts."""
    from scipy import stats

    if parameter.values is not None:
        choices = list(parameter.values)
        index = np.minimum((u * len(choices)).astype(int), len(choices) - 1)
        picked = [choices[i] for i in index]
        texts = [yaml_text(v) for v in picked]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in choices):
            return np.array(picked, dtype=float), texts
        return np.array(texts, dtype=object), texts
    if parameter.uniform is not None:
        lo, hi = parameter.uniform
        x = lo + u * (hi - lo)
    elif parameter.log_uniform is not None:
        lo, hi = np.log(parameter.log_uniform)
        x = np.exp(lo + u * (hi - lo))
    elif parameter.triangular is not None:
        lo, mode, hi = parameter.triangular
        x = stats.triang.ppf(u, (mode - lo) / (hi - lo), loc=lo, scale=hi - lo)
    else:
        assert parameter.normal is not None
        mean, sd = parameter.normal
        x = stats.norm.ppf(np.clip(u, NORMAL_TAIL, 1 - NORMAL_TAIL), mean, sd)
    x = np.asarray(x, dtype=float)
    if parameter.integer:
        x = np.round(x)
        texts = [str(int(v)) for v in x]
    else:
        texts = [repr(float(v)) for v in x]
    if parameter.scale:
        texts = [f"*{t}" for t in texts]
    return x, texts


def yaml_text(value: object) -> str:
    """A value as `--set` reads it back (YAML flow style)."""
    if isinstance(value, float):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("...").strip()


def _csv_runs(path: Path, where: str) -> Runs:
    problems: list[str] = []
    text = read_text(path, problems)
    table = csv_rows(path, text, problems, MAX_RUNS) if text is not None else None
    if table is None:
        raise ScenarioError([f"{where}: design.file: {p}" for p in problems])
    header, rows = table
    names = [h.strip() for h in header]
    if not rows or not names or any(not n or "=" in n for n in names):
        raise ScenarioError([f"{where}: design.file {path}: needs a header of --set paths "
                             f"(e.g. epidemic.r0) and a row per run"])  # fmt: skip
    for line, cells in enumerate(rows, start=2):
        if len(cells) != len(names):
            raise ScenarioError([f"{path}, line {line}: {len(cells)} cells for "
                                 f"{len(names)} columns"])  # fmt: skip
    values, texts = [], []
    for j in range(len(names)):
        column = [row[j].strip() for row in rows]
        texts.append(column)
        try:
            values.append(np.array([float(c) if c else np.nan for c in column]))
        except ValueError:
            values.append(np.array(column, dtype=object))
    log.debug("%s: %d runs from %s", where, len(rows), clip(str(path)))
    return Runs(names, values, texts, None)
