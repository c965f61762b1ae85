"""`aidopt sweep analyse` on outputs whose indices are known: the Ishigami function's Sobol'
indices, a linear function's Morris effects, and rank correlations of a monotone one."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from optimiser import sweep_store
from optimiser.sweep_analysis import indices, prcc
from optimiser.sweep_design import make_runs
from optimiser.sweep_spec import SweepFile

PI = float(np.pi)


def synthetic(method: str, samples: int, parameters: dict, output) -> xr.Dataset:
    """A sweep store's contents with every run done and `output(values)` as its output."""
    sweep = SweepFile.model_validate({"scenario": "x", "parameters": parameters,
                                      "design": {"method": method, "samples": samples,
                                                 "seed": 7}, "outputs": ["y"]})  # fmt: skip
    runs = make_runs(sweep, "synthetic.yaml")
    ds = sweep_store.template(runs, ["y"], {"sweep_json": sweep.model_dump_json(by_alias=True)})
    ds["y"][:] = output(*runs.values)
    ds["status"][:] = "ok"
    return ds


def test_sobol_indices_of_the_ishigami_function():
    """y = sin x1 + 7 sin^2 x2 + 0.1 x3^4 sin x1 on [-pi, pi]^3: S1 = 0.314, 0.442, 0 and
    ST = 0.558, 0.442, 0.244 (Ishigami and Homma 1990; Saltelli et al. 2008). The parameters are
    given in an order unlike their names' so a mix-up between columns and names would show."""
    box = {"uniform": [-PI, PI]}
    ds = synthetic("sobol", 1024, {"x2": box, "x1": box, "x3": box},
                   lambda x2, x1, x3: np.sin(x1) + 7 * np.sin(x2) ** 2
                   + 0.1 * x3**4 * np.sin(x1))  # fmt: skip
    table = indices(ds).set_index(["measure", "parameter"])["value"]
    expected = {("S1", "x1"): 0.314, ("S1", "x2"): 0.442, ("S1", "x3"): 0.0,
                ("ST", "x1"): 0.558, ("ST", "x2"): 0.442, ("ST", "x3"): 0.244}  # fmt: skip
    for key, value in expected.items():
        assert table[key] == pytest.approx(value, abs=0.05), key


def test_morris_effects_of_a_linear_function():
    """y = 5 a - 2 c: mu* is the change over each parameter's whole range, sigma 0."""
    ds = synthetic("morris", 10, {"c": {"uniform": [0, 1]}, "a": {"uniform": [0, 1]},
                                  "b": {"uniform": [0, 1]}},
                   lambda c, a, b: 5 * a - 2 * c)  # fmt: skip
    table = indices(ds).set_index(["measure", "parameter"])["value"]
    assert table[("mu_star", "a")] == pytest.approx(5)
    assert table[("mu_star", "c")] == pytest.approx(2)
    assert table[("mu_star", "b")] == pytest.approx(0, abs=1e-12)
    assert table[("sigma", "a")] == pytest.approx(0, abs=1e-9)


def test_rank_correlations_and_failed_runs_left_out():
    rng = np.random.default_rng(3)
    ds = synthetic("latin", 200, {"noise": {"uniform": [0, 1]}, "x": {"uniform": [0, 1]}},
                   lambda noise, x: np.exp(3 * x) + 0.0 * noise)  # fmt: skip
    ds["y"][:] = ds["y"].values + 0.01 * rng.standard_normal(200)
    ds["status"][:5] = "failed"
    ds["y"][:5] = np.nan
    table = indices(ds).set_index("parameter")
    assert table.loc["x", "value"] > 0.99
    assert abs(table.loc["noise", "value"]) < 0.2
    assert (
        table.loc["noise", "low_95"] < table.loc["noise", "value"] < table.loc["noise", "high_95"]
    )
    assert set(table["method"]) == {"prcc"}


def test_prcc_holds_the_other_parameters_out():
    """y = 10 x1 + e: the plain correlation of y with e is weak (x1 drowns it), the partial one,
    x1 held out, is strong."""
    rng = np.random.default_rng(0)
    x1, e = rng.uniform(size=500), rng.uniform(size=500)
    y = 10 * x1 + e
    r = prcc(np.column_stack([x1, e]), y)
    assert r[0] > 0.99 and r[1] > 0.9
    assert abs(np.corrcoef(e, y)[0, 1]) < 0.3
