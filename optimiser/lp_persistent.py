"""`solver.backend: pyomo`: the allocation LP as its Pyomo model (`optimiser.lp_pyomo`), built once
and re-solved in place.

`PyomoSolver` offers `optimiser.lp.Solver`'s interface to `AllocationLP`, so the closed loop,
the polish and every update run unchanged on either backend. The model is the one
`optimiser.lp_pyomo` writes from the scenario (never from the arrays' matrix); on it:

* the objective is sum_j cost_j x_j with one mutable `Param` per column, so stage 1's and stage
  2's costs, and each iteration's harm, change in place (only the costs that changed are set);
* column bounds are the variables' own (`setlb`, `setub`), rows whose bounds `update` changes
  (route capacities, quotas, budget, team dispatch, laboratories) hold mutable `Param` bounds;
* `highs` is solved through `pyomo.contrib.solver`'s persistent HiGHS interface, which passes
  only the changed bounds and costs to the HiGHS instance it keeps, so each re-solve starts from
  the last basis as the arrays' does; any other name goes through Pyomo's `SolverFactory`
  (CBC, GLPK, CPLEX, Gurobi where installed and licensed), which translates the model at every
  solve.

Columns and rows are matched with the arrays' by family and index labels (`lp_forms.family_keys`),
so plans, duals and objective read back in the arrays' order. Matrix coefficients stay as
built: the planner's team needs (needs.csv) and the CVaR rows, which change coefficients, are
left to the arrays (the schema says so before a run starts).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyomo.environ as pe

from optimiser.lp import INF, RESOLVE_OPTIONS, SolverError

MUTABLE_ROWS = ("route_capacity", "sanction_quota", "budget_cap", "team_dispatch", "lab_capacity")
"""Row families whose bounds `AllocationLP.update` changes; their bounds are Pyomo parameters."""
AUTO_UPDATES = {
    "check_for_new_or_removed_constraints": False, "check_for_new_or_removed_vars": False,
    "check_for_new_or_removed_params": False, "check_for_new_objective": False,
    "update_constraints": False, "update_named_expressions": False, "update_objective": False,
    "update_vars": True, "update_parameters": True,
}  # fmt: skip
"""What the persistent interface looks for before each solve: the model's rows, variables and
objective never change after it is built, only bounds and parameters do, so the rest of its
scan over every component is skipped."""
PERSISTENT = ("highs",)
"""Solver names re-solved in place through `pyomo.contrib.solver`'s persistent interface."""


class NoBasis:
    """Stands in for the HiGHS instance where the solver is not HiGHS: no basis to carry."""

    def getBasis(self):  # noqa: N802 - highspy's name
        return None

    def setBasis(self, basis) -> None:  # noqa: N802
        del basis


def installed_solvers(names=("highs", "cbc", "glpk", "cplex", "gurobi", "xpress", "scip")) -> list:
    """The LP solvers among `names` that Pyomo finds on this machine."""
    found = []
    for name in names:
        try:
            if pe.SolverFactory(name).available(exception_flag=False):
                found.append(name)
        except Exception:  # noqa: BLE001 - a plugin that cannot even be asked is not installed
            continue
    return found


NO_BOUND = 1e30
"""A row bound HiGHS reads as none (it takes any bound past 1e20 as infinite). Pyomo's
interface makes a bound a parameter only if it is finite when the row is passed, and keeps an
infinite one as a constant: the rows of MUTABLE_ROWS hold this instead, so that they stay
changeable (a laboratory row is unbounded until the needs are known)."""


def _finite(bound: float) -> float:
    return float(np.clip(bound, -NO_BOUND, NO_BOUND))


def _component(model: pe.ConcreteModel, key: tuple):
    """The Pyomo variable or constraint named by an array family key (name, *labels), or None
    where the Pyomo model has no such row (a row the arrays hold empty)."""
    block = getattr(model, key[0], None)
    if block is None:
        return None
    if not block.is_indexed():
        return block
    index = key[1:] if len(key) > 2 else key[1]
    return block[index] if index in block else None


def _set_instance_in_order(opt, model: pe.ConcreteModel, columns: list) -> None:
    """`opt.set_instance(model)` with HiGHS's columns in the arrays' order. The interface adds
    a variable where a constraint first names it, and in that order HiGHS took 2.2 times the
    arrays' simplex time on the default scenario's one-way LP (measured); in the arrays' order
    it sees the same LP. This replays `pyomo.contrib.solver.solvers.highs.Highs.set_instance`
    (Pyomo 6.10) with `add_variables` first; where those internals differ it falls back to
    `set_instance` as it is, which gives the same optimum in Pyomo's order."""
    import highspy
    from pyomo.common.tee import TeeStream, capture_output

    try:
        with capture_output(TeeStream(*opt._active_config.tee), capture_fd=True):
            opt._reinit()
            opt._model = model
            opt._solver_model = highspy.Highs()
            opt._solver_model.setOptionValue("output_flag", False)
            opt.add_variables(columns)
            opt.add_block(model)
    except (AttributeError, TypeError):  # Pyomo moved its internals: the public path
        opt.set_instance(model)


class PyomoSolver:
    """The Pyomo model of an `AllocationLP`, re-solved in place; `lp.Solver`'s interface."""

    def __init__(self, alp, name: str = "highs", method: str = "simplex",
                 time_limit_s: float | None = None, resolves: bool = True):  # fmt: skip
        from optimiser.lp_forms import family_keys
        from optimiser.lp_pyomo import LPData, build_model

        start = time.perf_counter()
        if name not in PERSISTENT:  # before the model is built: a missing solver fails fast
            self._legacy(name)
        self.name, self.method = name, "simplex" if method == "auto" else method
        self.cold_iterations: int | None = None  # the arrays' `auto` bookkeeping, unused here
        self.warm = True
        lp, n_p = alp.lp, len(alp.scenario.provinces)
        # Laboratory rows exist for every province-week, their bound set by update (the arrays
        # hold them too, at +inf until the needs are known).
        data = LPData(harm={}, lab_tests_per_week=np.zeros(n_p) if alp.epidemic else None)
        m = self.model = build_model(alp.scenario, alp.net, data, alp.epidemic)
        m.stage1.deactivate()
        col_keys, row_keys = family_keys(alp)
        self.columns = [_component(m, key) for key in col_keys]
        missing = [key for key, v in zip(col_keys, self.columns, strict=True) if v is None]
        if missing:
            raise SolverError(f"the Pyomo model lacks the arrays' columns {missing[:3]}")
        self.rows = [_component(m, key) for key in row_keys]
        self.cost = np.concatenate(lp.cost)
        self.lower, self.upper = np.concatenate(lp.col_lower), np.concatenate(lp.col_upper)
        m.column_cost = pe.Param(range(lp.n_cols), mutable=True, initialize=dict(enumerate(
            self.cost.tolist())))  # fmt: skip
        self._cost_params = [m.column_cost[j] for j in range(lp.n_cols)]
        m.in_place = pe.Objective(
            expr=pe.quicksum(m.column_cost[j] * v for j, v in enumerate(self.columns)),
            sense=pe.minimize,
        )
        self._mutable_rows(alp, np.concatenate(lp.row_lower), np.concatenate(lp.row_upper))
        self.options: dict[str, Any] = {"solver": self.method, "threads": 1, "random_seed": 0,
                                        "output_flag": False,
                                        **(RESOLVE_OPTIONS if resolves else {})}  # fmt: skip
        if time_limit_s is not None:
            self.options["time_limit"] = float(time_limit_s)
        self._open(name)
        self.highs_seconds = 0.0
        self.run_seconds = 0.0
        """HiGHS's own run time, without Pyomo's updates around it"""
        self.build_s = time.perf_counter() - start

    def _mutable_rows(self, alp, lower: np.ndarray, upper: np.ndarray) -> None:
        """Give the rows of MUTABLE_ROWS parameter bounds, set from the arrays' bounds."""
        families = [alp.lp.rows[f].ids for f in MUTABLE_ROWS if f in alp.lp.rows]
        ids = [int(i) for i in np.concatenate(families) if self.rows[i] is not None]
        self.mutable = set(ids)
        m = self.model
        m.row_lower = pe.Param(ids, mutable=True, initialize={i: _finite(lower[i]) for i in ids})
        m.row_upper = pe.Param(ids, mutable=True, initialize={i: _finite(upper[i]) for i in ids})
        for i in ids:
            con = self.rows[i]
            con.set_value((m.row_lower[i], con.body, m.row_upper[i]))

    def _open(self, name: str) -> None:
        if name in PERSISTENT:
            from pyomo.contrib.solver.solvers.highs import Highs

            self.opt, self.persistent = Highs(), True
            if not self.opt.available():
                raise SolverError("solver.pyomo_solver highs: highspy is not installed")
            _set_instance_in_order(self.opt, self.model, self.columns)
            self.aligned = self._aligned()
            return
        self.opt, self.persistent, self.aligned = self._legacy(name), False, False
        self.model.dual = pe.Suffix(direction=pe.Suffix.IMPORT)

    def _aligned(self) -> bool:
        """Whether HiGHS holds the columns and rows in the arrays' order, so that its solution
        reads back as it is, without a Pyomo component map over every variable (measured: that
        map was a third of Pyomo's time per re-solve)."""
        try:
            col_of = self.opt._pyomo_var_to_solver_var_map
            row_of = self.opt._pyomo_con_to_solver_con_map
        except AttributeError:
            return False
        columns = all(col_of.get(id(v)) == j for j, v in enumerate(self.columns))
        return columns and all(c is not None and row_of.get(c) == i
                               for i, c in enumerate(self.rows))  # fmt: skip

    @staticmethod
    def _legacy(name: str):
        """Pyomo's SolverFactory solver `name`; an input error naming those installed if Pyomo
        cannot use it here."""
        opt = pe.SolverFactory(name)
        try:
            available = bool(opt.available(exception_flag=False))
        except Exception:  # noqa: BLE001 - a licence check that raises means not usable here
            available = False
        if not available:
            from optimiser.inputs import ScenarioError

            found = ", ".join(installed_solvers()) or "none"
            raise ScenarioError([
                f"scenario.yaml: solver.pyomo_solver {name!r}: Pyomo cannot use this solver "
                f"here (not installed, not licensed or not a solver name); installed: {found}"
            ])  # fmt: skip
        return opt

    @property
    def highs(self):
        """The HiGHS instance the persistent interface keeps (its basis carries stage 1 to the
        polish, as on the arrays), or a stand-in without a basis for other solvers."""
        if not self.persistent:
            return NoBasis()
        instance = getattr(self.opt, "_solver_model", None)
        if instance is None:  # not yet solved: nothing to carry
            return NoBasis()
        return instance

    # --- lp.Solver's interface -------------------------------------------------------------

    def set_costs(self, cols: np.ndarray, values: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        values = np.broadcast_to(np.asarray(values, dtype=float), cols.shape)
        changed = values != self.cost[cols]
        param = self._cost_params
        for j, v in zip(cols[changed].tolist(), values[changed].tolist(), strict=True):
            param[j].set_value(v)
        self.cost[cols] = values

    def set_col_bounds(self, cols: np.ndarray, lower, upper) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        lower = np.broadcast_to(np.asarray(lower, dtype=float), cols.shape)
        upper = np.broadcast_to(np.asarray(upper, dtype=float), cols.shape)
        changed = (lower != self.lower[cols]) | (upper != self.upper[cols])
        for j, lo, up in zip(cols[changed].tolist(), lower[changed].tolist(),
                             upper[changed].tolist(), strict=True):  # fmt: skip
            v = self.columns[j]
            v.setlb(None if lo == -INF else lo)
            v.setub(None if up == INF else up)
        self.lower[cols], self.upper[cols] = lower, upper

    def col_bounds(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.lower[cols].copy(), self.upper[cols].copy()

    def set_row_bounds(self, rows: np.ndarray, lower, upper) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        lower = np.broadcast_to(np.asarray(lower, dtype=float), rows.shape)
        upper = np.broadcast_to(np.asarray(upper, dtype=float), rows.shape)
        m = self.model
        for i, lo, up in zip(rows.tolist(), lower.tolist(), upper.tolist(), strict=True):
            if i not in self.mutable:
                if self.rows[i] is None:  # an empty row: nothing to bound
                    continue
                raise SolverError(
                    f"solver.backend pyomo: row {i} is not one whose bounds the "
                    f"Pyomo model holds as parameters ({', '.join(MUTABLE_ROWS)})"
                )
            m.row_lower[i], m.row_upper[i] = _finite(lo), _finite(up)

    def set_coefficients(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        raise SolverError(
            "solver.backend pyomo keeps the matrix as built: team needs from "
            "needs.csv and CVaR rows change coefficients; use solver.backend arrays"
        )

    def solve(self, strategy: int | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """Primal values and row duals in the arrays' order, and the objective; raises
        SolverError unless optimal."""
        start = time.perf_counter()
        options = dict(self.options)
        if strategy is not None and self.method == "simplex":
            options["simplex_strategy"] = strategy
        x, dual, objective = (self._solve_persistent if self.persistent else self._solve_legacy)(
            options)  # fmt: skip
        self.highs_seconds += time.perf_counter() - start
        return x, dual, objective

    def _solve_persistent(self, options: dict) -> tuple[np.ndarray, np.ndarray, float]:
        from pyomo.contrib.solver.common.results import TerminationCondition

        results = self.opt.solve(self.model, solver_options=options, load_solutions=False,
                                 raise_exception_on_nonoptimal_result=False,
                                 auto_updates=AUTO_UPDATES)  # fmt: skip
        self.run_seconds = float(results.timing_info.highs_time)  # HiGHS sums its runs
        status = results.termination_condition
        if status != TerminationCondition.convergenceCriteriaSatisfied:
            hint = " (raise solver.time_limit_s)" if "time" in str(status).lower() else ""
            raise SolverError(f"HiGHS through Pyomo did not find an optimal plan: {status}{hint}")
        if self.aligned:
            solution = self.opt._solver_model.getSolution()
            return (np.array(solution.col_value), np.array(solution.row_dual),
                    float(results.incumbent_objective))  # fmt: skip
        loader = results.solution_loader
        primal = loader.get_vars(self.columns)
        x = np.fromiter((primal[v] for v in self.columns), float, len(self.columns))
        present = [c for c in self.rows if c is not None]
        duals = loader.get_duals(present)
        dual = np.fromiter((0.0 if c is None else duals[c] for c in self.rows), float,
                           len(self.rows))  # fmt: skip
        return x, dual, float(results.incumbent_objective)

    def _solve_legacy(self, options: dict) -> tuple[np.ndarray, np.ndarray, float]:
        if hasattr(self.opt, "set_instance"):  # a legacy persistent interface
            self.opt.set_instance(self.model)
        # Legacy solvers take their own option names; HiGHS's mean nothing to them.
        limit = {"timelimit": options["time_limit"]} if "time_limit" in options else {}
        results = self.opt.solve(self.model, load_solutions=False, options=limit)
        status = results.solver.termination_condition
        if status != pe.TerminationCondition.optimal:
            raise SolverError(f"{self.name} through Pyomo did not find an optimal plan: {status}")
        self.model.solutions.load_from(results)
        x = np.array([v.value or 0.0 for v in self.columns])
        dual = np.array([0.0 if c is None else self.model.dual.get(c, 0.0) for c in self.rows])
        return x, dual, float(pe.value(self.model.in_place))
