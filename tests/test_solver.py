"""The solver's `auto` method: warm re-solves while they pay, cold ones after, the same optimum."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from optimiser import lp as lp_module
from optimiser.allocation import AllocationLP
from optimiser.inputs import load_scenario
from optimiser.network import build_network

DANTZIG = ROOT / "inputs" / "dantzig-transport"


def solved(need: np.ndarray, method: str = "auto") -> AllocationLP:
    scenario = load_scenario(DANTZIG, [f"solver.method={method}"])
    lp = AllocationLP(scenario, build_network(scenario))
    # A scenario of needs solves once, with HiGHS's defaults; these tests re-solve it as the
    # closed loop re-solves, so with the closed loop's options.
    for name, value in lp_module.RESOLVE_OPTIONS.items():
        lp.solver.highs.setOptionValue(name, value)
    harm = np.full(need.shape, -1.0)
    lp.update(need=need, team_need=np.zeros(need.shape[1:]), harm={"use": harm})
    lp.solve(polish=False)
    return lp


def resolve(lp: AllocationLP, need: np.ndarray) -> float:
    lp.update(need=need)
    lp.solve(polish=False)
    return lp.solver.highs.getInfo().objective_function_value


# Dantzig's markets need 325, 300 and 275 cases; the plants hold 350 and 600.
NEED = np.array([[[325.0], [300.0], [275.0]]])
MORE = np.array([[[425.0], [100.0], [375.0]]])


def fresh_optimum(need: np.ndarray) -> float:
    return solved(need).solver.highs.getInfo().objective_function_value


def test_auto_re_solves_warm_while_it_pays():
    lp = solved(NEED)
    assert lp.solver.auto and lp.method == "simplex"
    assert resolve(lp, MORE) == pytest.approx(fresh_optimum(MORE), rel=1e-12)
    assert lp.solver.warm


def test_auto_goes_cold_once_a_warm_re_solve_passes_its_limit(monkeypatch):
    monkeypatch.setattr(lp_module, "WARM_LIMIT", 0.0)  # one iteration: any real change passes it
    lp = solved(NEED)
    assert resolve(lp, MORE) == pytest.approx(fresh_optimum(MORE), rel=1e-12)
    assert not lp.solver.warm
    assert resolve(lp, NEED) == pytest.approx(fresh_optimum(NEED), rel=1e-12)
    assert (
        lp.solver.highs.getOptionValue("simplex_iteration_limit")[1] == lp_module.highspy.kHighsIInf
    )


def test_simplex_always_re_solves_warm(monkeypatch):
    monkeypatch.setattr(lp_module, "WARM_LIMIT", 0.0)
    lp = solved(NEED, method="simplex")
    assert resolve(lp, MORE) == pytest.approx(fresh_optimum(MORE), rel=1e-12)
    assert not lp.solver.auto and lp.solver.warm
