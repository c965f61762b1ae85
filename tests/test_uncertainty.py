"""Ensembles, robust plans and stress tests: the draws, their stacked integration, the CVaR
rows of the LP, and `aidopt run --draws` / `aidopt evaluate` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DEFAULT_SCENARIO, run_aidopt

from models.seir import AID, D
from optimiser.allocation import AllocationLP
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.network import build_network
from optimiser.schema import Uncertainty
from optimiser.uncertainty import cvar, draw, ensemble, percentiles

SHORT = ["horizon_weeks=6", "epidemic.outlook_weeks=26"]
"""The default scenario planned over 6 weeks and followed for 26: small enough for a test."""
BLOCK = ("uncertainty={draws: 4, seed: 3, parameters: {epidemic.r0: {uniform: [1.8, 2.6]}, "
         "epidemic.initial_infections_factor: {log-uniform: [0.5, 2.0]}}}")  # fmt: skip


def test_draws_are_a_latin_hypercube_of_set_overrides():
    block = Uncertainty(parameters={"epidemic.r0": {"uniform": [1.0, 3.0]},
                                    "epidemic.initial_infections_factor":
                                        {"log-uniform": [0.5, 2.0]}})  # fmt: skip
    drawn = draw(block, 10, 7)
    # One draw in each tenth of each range: a Latin hypercube.
    r0_slices = np.floor((drawn.values[:, 0] - 1.0) / 0.2).astype(int)
    seed_slices = np.floor(np.log(drawn.values[:, 1] / 0.5) / (np.log(4.0) / 10)).astype(int)
    assert sorted(r0_slices) == list(range(10))
    assert sorted(seed_slices) == list(range(10))
    r0, factor = drawn.values[3].tolist()
    assert drawn.overrides[3] == (f"epidemic.r0={r0!r}",
                                  f"epidemic.initial_infections_factor={factor!r}")
    assert np.array_equal(draw(block, 10, 7).values, drawn.values)  # the seed fixes them
    assert not np.array_equal(draw(block, 10, 8).values, drawn.values)


def test_stacked_draws_equal_draws_run_one_by_one():
    """One integration of every draw gives each draw's epidemic as a run of its own would,
    within 1e-6 relative (the two share no steps)."""
    scenario = load_scenario(DEFAULT_SCENARIO, SHORT)
    drawn = draw(scenario.config.uncertainty, 4, 5)
    stacked = ensemble(scenario, drawn)
    aid = np.zeros((len(AID), 13, 6))
    aid[0], aid[1], aid[3] = 2000.0, 500.0, 20.0
    together = stacked.simulate(aid)
    assert together.shape[0] == 4
    for b, overrides in enumerate(drawn.overrides):
        alone = EpidemicSetup.from_scenario(load_scenario(DEFAULT_SCENARIO, [*SHORT, *overrides]))
        one = alone.simulate(aid)[0]
        assert np.abs(together[b] - one).max() <= 1e-6 * np.abs(one).max()
        assert together[b, D, :, -1].sum() == pytest.approx(one[D, :, -1].sum(), rel=1e-6)
    # The draws differ: the block is not ignored.
    assert np.ptp(together[:, D, :, -1].sum(axis=1)) > 1000


@pytest.mark.parametrize("share", [0.1, 0.25, 0.3, 1.0])
def test_cvar_is_the_least_of_its_linear_programme(share):
    """cvar(v, s) = min over t of t + sum(max(v - t, 0)) / (s B): the function is convex and
    piecewise linear in t with its kinks at the values, so its least is at one of them."""
    values = np.random.default_rng(1).gamma(2.0, 1000.0, size=20)
    by_t = [t + np.maximum(values - t, 0).sum() / (share * values.size) for t in values]
    assert cvar(values, share) == pytest.approx(min(by_t), rel=1e-12)
    if share * values.size == int(share * values.size):
        worst = np.sort(values)[::-1][: int(share * values.size)]
        assert cvar(values, share) == pytest.approx(worst.mean(), rel=1e-12)
    assert cvar(values, 1.0) == pytest.approx(values.mean(), rel=1e-12)


def test_the_lp_cvar_rows_give_the_cvar_of_the_draws():
    """With the aid held where it was linearised, the LP's harm is exactly the CVaR of the
    draws' deaths; away from it, each draw moves by its own gradient."""
    scenario = load_scenario(DEFAULT_SCENARIO, [*SHORT, "objective.cvar_share=0.25"])
    lp = AllocationLP(scenario, build_network(scenario), cvar_draws=8)
    rng = np.random.default_rng(4)
    deaths = rng.uniform(1e4, 5e4, 8)
    gradient = rng.uniform(0.0, 1e-3, (8, len(AID), 13, 6))
    at = np.zeros((len(AID), 13, 6))
    lp.update(cvar=(gradient, deaths, at), aid_bounds=(at, at))
    assert lp.solve(polish=False).harm == pytest.approx(cvar(deaths, 0.25), rel=1e-9)
    # Now the plan may send tests to one province in week 0 only, up to 1000 a week.
    upper = at.copy()
    upper[0, 0, 0] = 1000.0
    lp.update(cvar=(gradient, deaths, at), aid_bounds=(at, upper))
    plan = lp.solve(polish=False)
    moved = deaths - gradient[:, 0, 0, 0] * plan.aid[0, 0, 0]
    assert plan.harm == pytest.approx(cvar(moved, 0.25), rel=1e-9)


def test_a_robust_objective_needs_an_uncertainty_block():
    with pytest.raises(ScenarioError) as caught:
        load_scenario(DEFAULT_SCENARIO, ["objective.robustness=cvar", "uncertainty=null"])
    assert ("objective.robustness cvar plans against the draws of an 'uncertainty' block, and "
            "there is none") in str(caught.value.problems)  # fmt: skip


def test_an_uncertainty_block_varies_the_epidemic_only():
    with pytest.raises(ScenarioError) as caught:
        load_scenario(DEFAULT_SCENARIO, [
            "uncertainty={parameters: {arcs.*.capacity_t_per_week: {uniform: [0.5, 1]}}}"])
    assert ("parameters: 'arcs.*.capacity_t_per_week': an uncertainty block varies the "
            "epidemic") in str(caught.value.problems)  # fmt: skip
    # drawn epidemics integrate side by side: they share the mixing and the outlook
    for shared in ("epidemic.mobility.distance_exponent", "epidemic.outlook_weeks"):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(DEFAULT_SCENARIO, [
                f"uncertainty={{parameters: {{{shared}: {{uniform: [1, 2]}}}}}}"])
        assert f"parameters: '{shared}': an uncertainty block varies the epidemic" in str(
            caught.value.problems)


def test_a_factor_on_an_input_drawn_as_a_value_is_refused(tmp_path):
    """The draw would replace the factor in every draw: refused, where a value fixes it."""
    block = ("uncertainty={parameters: {provinces.*.initial_infections: "
             "{uniform: [10, 100], integer: true}}}")
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", tmp_path / "r", "--draws", "3",
                      "--set", block, "--set", "provinces.*.initial_infections=*2")  # fmt: skip
    assert done.exit_code == 2
    assert ("--set provinces.*.initial_infections=*2: the uncertainty block draws "
            "provinces.*.initial_infections as a value, which would replace the factor in every "
            "draw") in done.output
    assert not (tmp_path / "r").exists()


def test_a_robust_scenario_plans_robustly_in_a_sweep_as_in_aidopt_run():
    """`runner.attempt` (a sweep's run, an ask's run) plans against the block's draws as
    `aidopt run` does, without being handed them."""
    from optimiser.results import summary_of
    from optimiser.runner import attempt

    block = "uncertainty={draws: 3, seed: 1, parameters: {epidemic.r0: {uniform: [1.8, 2.6]}}}"
    done = attempt(DEFAULT_SCENARIO, [*SHORT, "coupling.mode=one-way", block,
                                      "objective.robustness=cvar", "objective.cvar_share=0.4"])
    assert done.status == "ok", done.message
    assert done.dataset is not None
    uncertainty = summary_of(done.dataset)["uncertainty"]
    assert uncertainty["robustness"] == "cvar" and uncertainty["draws"] == 3
    assert set(uncertainty["comparison"]) == {"nominal", "robust"}


def test_draws_without_a_block_are_refused(tmp_path):
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", tmp_path / "r", "--draws", "5",
                      "--set", "uncertainty=null")  # fmt: skip
    assert done.exit_code == 2
    assert ("--draws and --seed draw from an 'uncertainty' block, and the scenario has none "
            "(--set uncertainty=null removed it)") in done.output
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    """The short default scenario planned one-way and met by four drawn epidemics."""
    out = tmp_path_factory.mktemp("draws") / "run"
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "--draws", "4", "--seed", "9",
                      *[a for s in [*SHORT, "coupling.mode=one-way"] for a in ("--set", s)])
    assert done.exit_code == 0, done.output
    return out


def test_a_run_with_draws_reports_percentiles_of_its_draws(ensemble_run):
    import xarray as xr

    summary = json.loads((ensemble_run / "summary.json").read_text())
    u = summary["uncertainty"]
    assert u["draws"] == 4 and u["seed"] == 9 and u["robustness"] == "nominal"
    with xr.open_dataset(ensemble_run / "plan.nc") as ds:
        for name in ("deaths_no_aid", "deaths_with_plan", "infections_with_plan"):
            totals = ds[f"{name}_by_draw"].sum("province").values
            assert u[name] == pytest.approx(percentiles(totals), rel=1e-12)
            assert set(u[name]) == {"p5", "p50", "p90", "p95"}
        overrides = str(ds["draw_overrides"].values[2]).split(" ")
        deaths_2 = float(ds["deaths_with_plan_by_draw"].sum("province")[2])
        aid = ds["aid"].transpose("lever", "province", "week").values
    # Any draw replays as a scenario of its own.
    alone = EpidemicSetup.from_scenario(load_scenario(DEFAULT_SCENARIO, [*SHORT, *overrides]))
    assert alone.simulate(aid)[0, D, :, -1].sum() == pytest.approx(deaths_2, rel=1e-6)


def test_evaluate_reproduces_the_plans_own_deaths(ensemble_run, tmp_path):
    summary = json.loads((ensemble_run / "summary.json").read_text())
    done = run_aidopt("evaluate", ensemble_run, "--out", tmp_path / "same")
    assert done.exit_code == 0, done.output
    same = json.loads((tmp_path / "same" / "summary.json").read_text())
    assert same["deaths_with_plan"] == pytest.approx(summary["deaths_with_plan"], rel=1e-6)
    assert same["deaths_no_aid"] == pytest.approx(summary["deaths_no_aid"], rel=1e-6)


def test_evaluate_meets_a_plan_with_another_epidemic_and_with_draws(ensemble_run, tmp_path):
    summary = json.loads((ensemble_run / "summary.json").read_text())
    done = run_aidopt("evaluate", ensemble_run, "--set", "epidemic.r0=3.0", "--draws", "4",
                      "--seed", "9", "--out", tmp_path / "worse")  # fmt: skip
    assert done.exit_code == 0, done.output
    worse = json.loads((tmp_path / "worse" / "summary.json").read_text())
    assert worse["deaths_no_aid"] > 1.2 * summary["deaths_no_aid"]
    assert worse["deaths_with_plan_as_planned"] == summary["deaths_with_plan"]
    # --set fixes r0 in every draw: it is no longer drawn, the others still are.
    assert "epidemic.r0" not in worse["uncertainty"]["parameters"]
    assert "epidemic.fatality_no_care" in worse["uncertainty"]["parameters"]
    assert worse["uncertainty"]["deaths_no_aid"]["p50"] > summary["uncertainty"][
        "deaths_no_aid"]["p50"]
    assert set(worse["fill_rate"]) == set(summary["fill_rate"]) - {"medical_team"}


def test_evaluate_refuses_a_scenario_of_other_provinces(ensemble_run, tmp_path):
    done = run_aidopt("evaluate", ensemble_run, "--set", "horizon_weeks=7",
                      "--out", tmp_path / "other")  # fmt: skip
    assert done.exit_code == 2
    assert "are not the plan's (13 provinces, 6 weeks)" in done.output
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_without_uncertainty_a_robust_plan_is_the_nominal_plan(tmp_path):
    """Draws that are all the scenario itself: the expected and CVaR searches start at the
    nominal optimum and find nothing better to first order."""
    same = "uncertainty={draws: 3, parameters: {epidemic.r0: {values: [2.2]}}}"
    deaths = {}
    # Aid stops at the horizon here: held past it (the default), the last plan week carries the
    # 20 weeks after it, whose linear model overshoots (predicted 800-1000 deaths, 200-400
    # achieved), the radius shrinks, and the nominal loop stops 521 deaths (0.3 %) short of where
    # a fresh radius takes the robust one: the stopping test of issue 18 item 4, not what this
    # test is about.
    for robustness in ("nominal", "expected", "cvar"):
        out = tmp_path / robustness
        done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "--set", same,
                          *[a for s in [*SHORT, "epidemic.after_horizon.aid=stop",
                                        f"objective.robustness={robustness}",
                                        "objective.cvar_share=0.5"] for a in ("--set", s)])
        assert done.exit_code == 0, done.output
        summary = json.loads((out / "summary.json").read_text())
        deaths[robustness] = summary["deaths_with_plan"]
        if robustness != "nominal":
            c = summary["uncertainty"]["comparison"]
            assert c["robust"]["deaths"]["p50"] <= c["nominal"]["deaths"]["p50"] + 1e-6 * (
                c["nominal"]["deaths"]["p50"])
    for robustness in ("expected", "cvar"):
        assert deaths[robustness] == pytest.approx(deaths["nominal"], rel=1e-3)
