"""The allocation LP in a canonical form from either path, and the seam with Pyomo's internals.

`array_form` reads what HiGHS holds for the array LP (`optimiser.allocation`); `standard_form`
compiles the Pyomo model (`optimiser.lp_pyomo`) with Pyomo's linear standard form compiler. Both
put rows and columns in order by (family, index labels), so that the tests can compare matrix,
bounds and costs entry by entry. `solve` solves the Pyomo model by HiGHS through
`pyomo.contrib.solver`, and `write_lp` writes it in LP format.

The compiler, the contrib HiGHS interface and the LP writer are Pyomo internals: these functions
were checked against the versions in PYOMO_CHECKED (pyproject.toml pins that range) and fail with
a message naming them, not a KeyError, if those interfaces change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyomo
import pyomo.environ as pe
import scipy.sparse as sp

from models.seir import AID
from optimiser.lp import RESOLVE_OPTIONS

if TYPE_CHECKING:  # annotations only: allocation opens the Pyomo backend, which reads this
    from optimiser.allocation import AllocationLP

PYOMO_CHECKED = ("6.10.0", "6.10.1")
"""Pyomo versions whose standard form compiler and contrib HiGHS interface this module was
checked against (pyproject.toml pins the same range)."""


class PyomoInterfaceError(RuntimeError):
    """Pyomo's interfaces differ from those this module was checked against."""


def _interface_error(what: str, exc: Exception) -> PyomoInterfaceError:
    return PyomoInterfaceError(
        f"{what} failed with Pyomo {pyomo.version.version} ({type(exc).__name__}: {exc}); "
        f"optimiser/lp_forms.py was checked against Pyomo {', '.join(PYOMO_CHECKED)}: install "
        f"one of those (pip install 'pyomo>=6.10,<6.11')"
    )


@dataclass(frozen=True)
class Canonical:
    """An LP in a canonical order: columns and rows sorted by (family, index labels)."""

    columns: list[tuple]
    rows: list[tuple]
    matrix: sp.csr_matrix
    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray


def _key(name: str, index) -> tuple:
    if index is None:
        return (name,)
    return (name, *(index if isinstance(index, tuple) else (index,)))


def _sorted(keys: list[tuple]) -> np.ndarray:
    """Positions that sort `keys` (labels compared as strings, weeks as numbers)."""
    return np.array(
        sorted(
            range(len(keys)),
            key=lambda i: tuple(
                (0, v, "") if isinstance(v, int) else (1, 0, str(v)) for v in keys[i]
            ),
        ),
        dtype=int,
    )


def canonical(columns: list[tuple], rows: list[tuple], matrix, cost, col_lower, col_upper,
              row_lower, row_upper) -> Canonical:  # fmt: skip
    """Sort an LP's rows and columns by their keys; explicit zeros are dropped, and so are rows
    that restrict nothing: no finite bound, or no entry and bounds around zero."""
    a = sp.csr_matrix(matrix)
    a.eliminate_zeros()
    free = ~(np.isfinite(row_lower) | np.isfinite(row_upper))
    empty = (np.diff(a.indptr) == 0) & (row_lower <= 0) & (row_upper >= 0)
    keep_rows = np.flatnonzero(~(free | empty))
    rows = [rows[i] for i in keep_rows]
    a, row_lower, row_upper = a[keep_rows], row_lower[keep_rows], row_upper[keep_rows]
    r, c = _sorted(rows), _sorted(columns)
    return Canonical([columns[i] for i in c], [rows[i] for i in r], a[r][:, c].tocsr(),
                     np.asarray(cost)[c], np.asarray(col_lower)[c], np.asarray(col_upper)[c],
                     np.asarray(row_lower)[r], np.asarray(row_upper)[r])  # fmt: skip


def standard_form(model: pe.ConcreteModel) -> Canonical:
    """The model compiled by Pyomo's linear standard form compiler (mixed form: each row keeps
    its sense), in canonical order; variables that appear nowhere are empty columns."""
    variables = list(model.component_data_objects(pe.Var, descend_into=True))
    try:
        from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

        form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
        a, rhs, entries, used = sp.csr_matrix(form.A), np.asarray(form.rhs), form.rows, form.columns
        c = sp.csr_matrix(form.c).toarray().ravel()
        row_keys = [_key(e.constraint.parent_component().name, e.constraint.index())
                    for e in entries]  # fmt: skip
        senses = [int(e.bound_type) for e in entries]
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise _interface_error("Pyomo's linear standard form compiler", exc) from exc
    col_keys = [_key(v.parent_component().name, v.index()) for v in variables]
    position = {id(v): i for i, v in enumerate(variables)}
    cols = np.array([position[id(v)] for v in used], dtype=int)
    # Mixed form gives one matrix row per bound: 0 '==', 1 '<=', -1 '>='; merge a range's two.
    unique: dict[tuple, int] = {}
    lower: list[float] = []
    upper: list[float] = []
    pick: list[int] = []
    for i, (key, sense) in enumerate(zip(row_keys, senses, strict=True)):
        if key not in unique:
            unique[key] = len(pick)
            pick.append(i)
            lower.append(-np.inf)
            upper.append(np.inf)
        j = unique[key]
        if sense >= 0:
            upper[j] = rhs[i]
        if sense <= 0:
            lower[j] = rhs[i]
    full = sp.csr_matrix((a[pick].tocoo().data, (a[pick].tocoo().row, cols[a[pick].tocoo().col])),
                         shape=(len(pick), len(variables)))  # fmt: skip
    cost = np.zeros(len(variables))
    cost[cols] = c
    bounds = np.array([(-np.inf if v.lb is None else v.lb, np.inf if v.ub is None else v.ub)
                       for v in variables], dtype=float).reshape(-1, 2)  # fmt: skip
    return canonical(col_keys, list(unique), full, cost, bounds[:, 0], bounds[:, 1],
                     np.array(lower), np.array(upper))  # fmt: skip


def solve(model: pe.ConcreteModel, options: dict | None = None) -> float:
    """The model's optimum from HiGHS through `pyomo.contrib.solver`'s HiGHS interface, with the
    array LP's options and `options`. At HiGHS's default tolerances (1e-7) the optimum of the
    default scenario's first LP moves by up to 4e-9 relative with the order of rows and columns
    alone; with 1e-10 tolerances by 5e-12 (measured), which is how the tests compare paths."""
    try:
        from pyomo.contrib.solver.common.results import TerminationCondition
        from pyomo.contrib.solver.solvers.highs import Highs

        settings = {"threads": 1, "random_seed": 0, **RESOLVE_OPTIONS, **(options or {})}
        results = Highs().solve(model, solver_options=settings)
        status = results.termination_condition
        objective = results.incumbent_objective
    except (ImportError, AttributeError, TypeError) as exc:
        raise _interface_error("pyomo.contrib.solver's HiGHS interface", exc) from exc
    if status != TerminationCondition.convergenceCriteriaSatisfied or objective is None:
        raise RuntimeError(f"HiGHS through Pyomo did not find an optimal plan: {status}")
    return float(objective)


def write_lp(model: pe.ConcreteModel, path: str) -> None:
    """The model in CPLEX LP format, its variables and rows named by family and index."""
    try:
        model.write(path, format="lp", io_options={"symbolic_solver_labels": True})
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise _interface_error("Pyomo's LP writer", exc) from exc


def family_keys(lp: AllocationLP) -> tuple[list[tuple], list[tuple]]:
    """Each array column's and row's key, (family, *index labels), in the arrays' order: the
    names the Pyomo model gives the same variable or constraint."""
    scn, net = lp.scenario, lp.net
    names = {"commodity": list(scn.commodity_ids), "arc": list(net.arc_ids),
             "node": list(scn.node_ids), "province": list(scn.province_ids),
             "exemption": list(net.exemption_ids), "capacity": list(AID), "week": None,
             "budget": None}  # fmt: skip
    k, a, n, p, e, w = "commodity", "arc", "node", "province", "exemption", "week"
    positions = {
        "ship": (k, a, w), "procure": (k, n, w), "stock": (k, n, w), "use": (k, p, w),
        "aid": ("capacity", p, w), "beds": (p, w), "exempt_ship": (e, k, a, w),
        "team_ship": (a, w), "dispatch": (n, w), "deploy": (p, w), "team_fill": (p, w),
        "stock_balance": (k, n, w), "equipment_in_use": (k, n, w), "care_beds": (p, w),
        "lab_capacity": (p, w), "route_capacity": (a, w), "exemption_split": (k, a, w),
        "sanction_quota": (e,), "budget_cap": (), "team_dispatch": (w,), "team_balance": (n, w),
        "team_cover": (p, w),
    }  # fmt: skip

    def keys(families) -> list[tuple]:
        out: list[tuple] = [()] * sum(f.size for f in families.values())
        for name, fam in families.items():
            labels = [names[pos] for pos in positions[name]]
            for i, index in zip(fam.ids, fam.index.tolist(), strict=True):
                out[i] = (name, *(int(v) if lab is None else lab[v]
                                  for v, lab in zip(index, labels, strict=False)))  # fmt: skip
        return out

    return keys(lp.lp.columns), keys(lp.lp.rows)


def array_form(lp: AllocationLP) -> Canonical:
    """What HiGHS holds for the array LP now (costs as last solved), in canonical order."""
    col_keys, row_keys = family_keys(lp)
    held = lp.solver.highs.getLp()
    m = held.a_matrix_
    matrix = sp.csc_matrix((np.asarray(m.value_), np.asarray(m.index_), np.asarray(m.start_)),
                           shape=(held.num_row_, held.num_col_))  # fmt: skip
    return canonical(col_keys, row_keys, matrix, np.asarray(held.col_cost_),
                     np.asarray(held.col_lower_), np.asarray(held.col_upper_),
                     np.asarray(held.row_lower_), np.asarray(held.row_upper_))  # fmt: skip
