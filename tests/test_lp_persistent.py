"""`solver.backend: pyomo`: the Pyomo model, built once and re-solved in place, gives the arrays'
plans; what it cannot hold is refused before a run starts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEFAULT_SCENARIO, ROOT, run_aidopt

from models.seir import AID
from optimiser.coupling import Loop
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.lp_persistent import PyomoSolver, installed_solvers

DPRK = ROOT / "inputs" / "dprk-2022"


def two_steps(loop: Loop, at, gradient, trial, trial_gradient, radius: float):
    """The loop's first two stage-1 solves (the second warm, bounds and costs changed in
    place) and the polish of the second."""
    loop.lp.update(lab_tests_per_week=loop.needs_of(at.people).lab_capacity)
    first = loop.solve(at, gradient, radius)
    second = loop.solve(trial, trial_gradient, radius)
    return first, second, loop.polish(second)


@pytest.mark.slow
@pytest.mark.parametrize("folder", [DEFAULT_SCENARIO, DPRK], ids=["korea-2020", "dprk-2022"])
def test_the_pyomo_backend_gives_the_arrays_plans(folder):
    arrays = Loop(load_scenario(folder))
    pyomo = Loop(load_scenario(folder, ["solver.backend=pyomo"]))
    assert isinstance(pyomo.lp.solver, PyomoSolver)
    radius = arrays.cfg.coupling.trust_region
    at = arrays.point(np.zeros((len(AID), arrays.n_p, arrays.n_w)))
    gradient = arrays.gradient(at)
    arrays.lp.update(lab_tests_per_week=arrays.needs_of(at.people).lab_capacity)
    first = arrays.solve(at, gradient, radius)
    trial = arrays.point(first.aid, first)
    trial_gradient = arrays.gradient(trial)
    second = arrays.solve(trial, trial_gradient, radius)
    ours = (first, second, arrays.polish(second))
    theirs = two_steps(pyomo, at, gradient, trial, trial_gradient, radius)
    for a, b in zip(ours, theirs, strict=True):
        scale = np.abs(a.aid).max()
        assert scale > 0
        assert np.abs(a.aid - b.aid).max() <= 1e-6 * scale
        assert b.harm == pytest.approx(a.harm, rel=1e-6)
        assert b.spent == pytest.approx(a.spent, rel=1e-6)
        np.testing.assert_allclose(b.capacity_value, a.capacity_value, rtol=1e-6, atol=1e-9)


def test_a_solver_pyomo_cannot_use_is_named_with_those_it_can(tmp_path):
    scenario = load_scenario(DEFAULT_SCENARIO, ["solver.backend=pyomo",
                                                "solver.pyomo_solver=no_such_solver"])  # fmt: skip
    with pytest.raises(ScenarioError) as error:
        Loop(scenario)
    assert error.value.problems == [
        "scenario.yaml: solver.pyomo_solver 'no_such_solver': Pyomo cannot use this solver here "
        "(not installed, not licensed or not a solver name); installed: "
        + (", ".join(installed_solvers()) or "none")
    ]
    assert "highs" in installed_solvers()


def test_aidopt_run_with_a_solver_pyomo_cannot_use_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = run_aidopt("run", str(DEFAULT_SCENARIO), "--out", str(out), "--set",
                        "solver.backend=pyomo", "--set", "solver.pyomo_solver=glpk")  # fmt: skip
    assert result.exit_code == 2
    assert "scenario.yaml: solver.pyomo_solver 'glpk': Pyomo cannot use" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_the_pyomo_backend_refuses_what_changes_the_matrix():
    with pytest.raises(ScenarioError, match="solver.backend pyomo keeps the LP's matrix"):
        load_scenario(ROOT / "inputs" / "dantzig-transport", ["solver.backend=pyomo"])
