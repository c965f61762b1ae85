"""A linear program assembled as arrays and held by one HiGHS instance.

The allocation LP (`optimiser/allocation.py`) is written as named families of variables and
rows over integer index sets, each row family by one function. This module keeps their offsets,
assembles the sparse matrix in one go and hands it to highspy, then changes bounds, costs and
coefficients in place so that every re-solve starts from the last basis. The same families
build a Pyomo model (`optimiser/lp_pyomo.py`), which the tests compare with this one.

Measured on the default scenario: assembling here and passing to HiGHS takes a small fraction
of HiGHS's own solve, where building the same LP in Pyomo and translating it took about four
times the solve (see the README's performance section).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

INF = highspy.kHighsInf
DUAL_SIMPLEX, PRIMAL_SIMPLEX = 1, 4
"""HiGHS's simplex_strategy values."""
RESOLVE_OPTIONS = {"dual_simplex_cost_perturbation_multiplier": 0.0}
"""HiGHS options for the closed loop's sequence of warm re-solves. Replaying the 30 stage-1
solves of the default run (`benchmarks/bench_resolves.py`): without cost perturbation the dual
simplex method took 125,029 iterations where HiGHS's default (multiplier 1) took 217,011
(0.1: 174,049; 0.01: 121,495), each optimum within 1e-8 of the default's. The other options tried
(edge weights, scaling, pricing) did no better; see the README's performance section.
An LP solved once (one-way, or a planner's needs) keeps HiGHS's default, which solved the
default scenario's one-way LP in 22,419 iterations against 27,585 without perturbation. The
option is set once, when the model is passed: set to 1 for each cold solve and 0 for each warm
one, the default closed loop took 280,299 iterations in all, not 95,215."""


class SolverError(RuntimeError):
    """HiGHS did not return an optimal plan."""


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (its constructor prints a banner on the C-level stdout)."""
    sys.stdout.flush()
    with contextlib.ExitStack() as stack:
        try:
            saved = os.dup(1)
        except OSError:  # no file descriptor 1: nothing to silence
            return highspy.Highs()
        stack.callback(os.close, saved)
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            stack.callback(os.dup2, saved, 1)
            highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


@dataclass
class Family:
    """A block of variables or rows: `index` (n, d) integer tuples, `offset` of the first."""

    name: str
    index: np.ndarray
    offset: int
    shape: tuple[int, ...]
    """the dense shape the index tuples live in"""

    @property
    def size(self) -> int:
        return len(self.index)

    @property
    def ids(self) -> np.ndarray:
        """Global column or row ids of the family, in index order."""
        return self.offset + np.arange(self.size)

    def lookup(self) -> np.ndarray:
        """Dense array over `shape`: the global id at each index tuple, -1 where none."""
        out = np.full(self.shape, -1, dtype=np.int64)
        if self.size:
            out[tuple(self.index.T)] = self.ids
        return out

    def dense(self, values: np.ndarray) -> np.ndarray:
        """Scatter the family's values (in index order) into a dense array of zeros."""
        out = np.zeros(self.shape)
        if self.size:
            out[tuple(self.index.T)] = values[self.ids]
        return out


@dataclass
class ArrayLP:
    """Variables, rows and coefficients, collected family by family."""

    columns: dict[str, Family] = field(default_factory=dict)
    rows: dict[str, Family] = field(default_factory=dict)
    cost: list[np.ndarray] = field(default_factory=list)
    col_lower: list[np.ndarray] = field(default_factory=list)
    col_upper: list[np.ndarray] = field(default_factory=list)
    row_lower: list[np.ndarray] = field(default_factory=list)
    row_upper: list[np.ndarray] = field(default_factory=list)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    n_cols: int = 0
    n_rows: int = 0

    def variables(self, name: str, index: np.ndarray, shape: tuple[int, ...],
                  lower=0.0, upper=INF, cost=0.0) -> Family:  # fmt: skip
        index = np.asarray(index, dtype=np.int64).reshape(-1, len(shape))
        fam = Family(name, index, self.n_cols, shape)
        self.columns[name] = fam
        self.n_cols += fam.size
        for target, value in ((self.cost, cost), (self.col_lower, lower), (self.col_upper, upper)):
            target.append(np.broadcast_to(np.asarray(value, dtype=float), (fam.size,)).copy())
        return fam

    def constraints(self, name: str, index: np.ndarray, shape: tuple[int, ...],
                    lower=-INF, upper=INF) -> Family:  # fmt: skip
        index = np.asarray(index, dtype=np.int64).reshape(-1, len(shape))
        fam = Family(name, index, self.n_rows, shape)
        self.rows[name] = fam
        self.n_rows += fam.size
        self.row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (fam.size,)).copy())
        self.row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (fam.size,)).copy())
        return fam

    def add(self, rows: np.ndarray, cols: np.ndarray, values) -> None:
        """Coefficients at (global row, global column); repeated pairs add up."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        values = np.broadcast_to(np.asarray(values, dtype=float), rows.shape)
        keep = (rows >= 0) & (cols >= 0)
        self.entries.append((rows[keep], cols[keep], values[keep]))

    def matrix(self) -> sp.csc_matrix:
        rows, cols, vals = (np.concatenate(parts) if parts else np.zeros(0)
                            for parts in zip(*self.entries, strict=True))  # fmt: skip
        return sp.csc_matrix((vals, (rows, cols)), shape=(self.n_rows, self.n_cols))

    def highs_lp(self) -> highspy.HighsLp:
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, self.n_rows
        lp.col_cost_ = np.concatenate(self.cost)
        lp.col_lower_ = np.concatenate(self.col_lower)
        lp.col_upper_ = np.concatenate(self.col_upper)
        lp.row_lower_ = np.concatenate(self.row_lower) if self.row_lower else np.zeros(0)
        lp.row_upper_ = np.concatenate(self.row_upper) if self.row_upper else np.zeros(0)
        a = self.matrix()
        a.sort_indices()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        return lp


WARM_LIMIT = 1.0
"""`auto`: a warm re-solve may take this many times the simplex iterations of the last cold
solve; past that it stops and the LP is solved cold (presolve, dual simplex), and so is every
later one. Measured: on the default scenario every warm re-solve took at most 14,232 iterations
against 18,702 cold, so nothing changes there; on 52 synthetic counties the loop's second solve
took 141,083 iterations warm (186 s) and 61,298 cold (39 s): the warm basis did not pay."""


class Solver:
    """One HiGHS instance holding the LP; data change in place between solves. The method
    `auto` is the dual simplex method, warm from the last basis while that pays (WARM_LIMIT)."""

    def __init__(self, lp: ArrayLP, method: str = "simplex", time_limit_s: float | None = None,
                 resolves: bool = True):  # fmt: skip
        self.auto = method == "auto"
        self.lp, self.method = lp, "simplex" if self.auto else method
        self.cold_iterations: int | None = None
        """iterations of the last cold stage-1 solve (`auto`)"""
        self.warm = True
        """`auto`: re-solves still start from the last basis"""
        method = self.method
        self.highs = new_highs()
        options: dict[str, Any] = {"solver": method, "threads": 1, "random_seed": 0,
                                   **(RESOLVE_OPTIONS if resolves else {})}  # fmt: skip
        if time_limit_s is not None:
            options["time_limit"] = float(time_limit_s)
        for name, value in options.items():
            self.highs.setOptionValue(name, value)
        status = self.highs.passModel(lp.highs_lp())
        if status != highspy.HighsStatus.kOk:
            raise SolverError(f"HiGHS refused the model: {status}")
        self.cost = np.concatenate(lp.cost)
        self.highs_seconds = 0.0

    def set_costs(self, cols: np.ndarray, values: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            values = np.broadcast_to(np.asarray(values, dtype=float), cols.shape).copy()
            self.cost[cols] = values
            self.highs.changeColsCost(cols.size, cols, values)

    def set_col_bounds(self, cols: np.ndarray, lower, upper) -> None:
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            lower = np.broadcast_to(np.asarray(lower, dtype=float), cols.shape).copy()
            upper = np.broadcast_to(np.asarray(upper, dtype=float), cols.shape).copy()
            self.highs.changeColsBounds(cols.size, cols, lower, upper)

    def col_bounds(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lp = self.highs.getLp()
        return np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]

    def set_row_bounds(self, rows: np.ndarray, lower, upper) -> None:
        rows = np.asarray(rows, dtype=np.int32)
        if rows.size:
            lower = np.broadcast_to(np.asarray(lower, dtype=float), rows.shape).copy()
            upper = np.broadcast_to(np.asarray(upper, dtype=float), rows.shape).copy()
            self.highs.changeRowsBounds(rows.size, rows, lower, upper)  # type: ignore[attr-defined]

    def set_coefficients(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        """Coefficients of existing (row, column) pairs; highspy offers them one at a time
        (about a microsecond each)."""
        change = self.highs.changeCoeff
        for r, c, v in zip(rows.tolist(), cols.tolist(), np.asarray(values, float).tolist(),
                           strict=True):  # fmt: skip
            change(r, c, v)

    def solve(self, strategy: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Primal values, row duals and the objective; raises SolverError unless optimal.
        `strategy` picks the simplex variant when the method is simplex."""
        if strategy is not None and self.method == "simplex":
            self.highs.setOptionValue("simplex_strategy", strategy)
        start = time.perf_counter()
        status = self._run_auto() if self.auto and strategy == DUAL_SIMPLEX else self._run()
        if status == highspy.HighsModelStatus.kUnknown:
            # The warm basis ran into numerical trouble (seen on badly scaled updates): start
            # afresh, with presolve, rather than give up.
            self.highs.clearSolver()
            self.highs.run()
            status = self.highs.getModelStatus()
        self.highs_seconds += time.perf_counter() - start
        if status != highspy.HighsModelStatus.kOptimal:
            text = self.highs.modelStatusToString(status)
            hint = " (raise solver.time_limit_s)" if "time limit" in text.lower() else ""
            raise SolverError(f"HiGHS did not find an optimal plan: {text}{hint}")
        solution = self.highs.getSolution()
        return (np.asarray(solution.col_value), np.asarray(solution.row_dual),
                float(self.highs.getInfo().objective_function_value))  # fmt: skip

    def _run(self) -> highspy.HighsModelStatus:
        self.highs.run()
        return self.highs.getModelStatus()

    def _run_auto(self) -> highspy.HighsModelStatus:
        """A stage-1 solve for `auto`: warm within WARM_LIMIT x the last cold solve's
        iterations, else (and from then on) cold."""
        h = self.highs
        if self.cold_iterations is not None and self.warm:
            limit = max(1, int(WARM_LIMIT * self.cold_iterations))
            h.setOptionValue("simplex_iteration_limit", limit)
            try:
                status = self._run()
            finally:
                h.setOptionValue("simplex_iteration_limit", highspy.kHighsIInf)
            if status != highspy.HighsModelStatus.kIterationLimit:
                return status
            self.warm = False
        if self.cold_iterations is not None:
            h.clearSolver()
        status = self._run()
        self.cold_iterations = h.getInfo().simplex_iteration_count
        return status


# The allocation LP's scale and tie-breaks. They live here, below both of its forms, so that the
# arrays (`optimiser.allocation`) and the Pyomo model (`optimiser.lp_pyomo`) read one value.
OBJECTIVE_SCALE = 1e3
"""Stage 1's objective is deaths x this: it lifts the smallest spending terms (a mask's
freight, 1e-10 deaths) away from HiGHS's dual tolerance; 25 % fewer iterations (measured)."""
HOLDING_USD_PER_T_WEEK = 0.01
"""Tie-break: holding a tonne for a week; far below any real cost, it only orders equals."""
TEAM_TRAVEL_USD_PER_ARC = 0.01
"""Tie-break: a team travelling on an arc."""
