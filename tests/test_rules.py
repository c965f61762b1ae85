"""Rules of thumb beside the plan, and a search that is not an accident of its start.

The rules' LP is checked on a two-province scenario whose answer is known on paper; the
shipped scenarios' closed-loop plans must beat every rule of thumb and the same-supply splits
of their own lever totals by more than the convergence band."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import xarray as xr
from conftest import DEFAULT_SCENARIO, ROOT, run_aidopt, tiny_scenario, write_csv

from models.seir import AID, CARE, HOSPITAL, ISOLATION, TESTS
from optimiser.coupling import Loop
from optimiser.inputs import load_scenario
from optimiser.rules import RULES, lever_needs, rules_of_thumb, split_totals

DPRK = ROOT / "inputs" / "dprk-2022"


@pytest.fixture(scope="module")
def two_provinces(tmp_path_factory):
    """Provinces of 1 and 3 million, goods free and unlimited, 4 GeneXpert modules each (100
    tests a week), four weeks: only the laboratories and the need bind."""
    folder = tiny_scenario(tmp_path_factory.mktemp("rules") / "s", horizon_weeks=4)
    with (folder / "provinces.csv").open() as f:
        rows = list(csv.DictReader(f))
    rows[1]["population"] = 3_000_000
    write_csv(folder / "provinces.csv", rows)
    loop = Loop(load_scenario(folder))
    no_aid = loop.point(np.zeros((len(AID), loop.n_p, loop.n_w)))
    loop.lp.update(lab_tests_per_week=loop.needs_of(no_aid.people).lab_capacity)
    rules = {r.id: r for r in rules_of_thumb(loop, no_aid)}
    return loop, no_aid, lever_needs(loop, no_aid), rules


def test_population_rule_shares_each_lever_pro_rata_up_to_the_need(two_provinces):
    _, _, need, rules = two_provinces
    aid = rules["population"].plan.aid
    national = need.sum(axis=1)
    for c in (ISOLATION, HOSPITAL, CARE):  # nothing binds: the whole national need, 1 : 3
        np.testing.assert_allclose(aid[c], np.outer([0.25, 0.75], 1) * national[c], rtol=1e-6)
    # Tests: the larger province's 100 a week of laboratory capacity caps the weekly total at
    # 100 / 0.75, a third of it to the smaller province, though its own labs could run more.
    np.testing.assert_allclose(aid[TESTS], [[100 / 3] * 4, [100.0] * 4], rtol=1e-6)


def test_esft_and_worst_hit_rules_fill_each_province_to_its_need(two_provinces):
    _, _, need, rules = two_provinces
    esft, worst = rules["esft_need"].plan.aid, rules["worst_hit_first"].plan.aid
    for c in (ISOLATION, HOSPITAL, CARE):
        np.testing.assert_allclose(esft[c], need[c], rtol=1e-6)
        np.testing.assert_allclose(worst[c], need[c], rtol=1e-6)
    # Worst hit first is not held to shares: each province tests up to its own laboratories.
    np.testing.assert_allclose(worst[TESTS], 100.0, rtol=1e-6)
    share = need[TESTS, 0] / need[TESTS].sum(axis=0)
    np.testing.assert_allclose(esft[TESTS, 0], 100.0 * share / (1 - share), rtol=1e-6)


def test_rules_leave_the_loops_lp_as_they_found_it(two_provinces):
    """After the rules, HiGHS holds the loop's LP again, and it values spending as before."""
    loop, _, _, _ = two_provinces
    highs = loop.lp.solver.highs
    assert (highs.getNumRow(), highs.getNumCol()) == (loop.lp.n_rows, loop.lp.n_columns)
    assert loop.lp.usd_per_death == loop.usd_per_death


def test_split_totals_keep_the_weekly_totals():
    aid = np.arange(24, dtype=float).reshape(2, 3, 4)
    split = split_totals(aid, np.array([1.0, 2.0, 1.0]))
    np.testing.assert_allclose(split.sum(axis=1), aid.sum(axis=1))
    np.testing.assert_allclose(split[:, 1], aid.sum(axis=1) / 2)


@pytest.fixture(scope="module")
def dprk_multi_start(tmp_path_factory):
    """dprk-2022 planned from no aid and from each rule of thumb."""
    out = tmp_path_factory.mktemp("dprk") / "dprk-2022"
    done = run_aidopt("run", DPRK, "--out", out, "--set", "coupling.multi_start=true", "-q")
    return out, done


def _beats_rules(summary: dict) -> None:
    rules = summary["rules_of_thumb"]
    assert [r["rule"] for r in rules["rules"]] == list(RULES)
    band = summary["coupling"]["tolerance"] * rules["plan_deaths"] + 0.5
    assert rules["plan_deaths"] == pytest.approx(summary["deaths_with_plan"], rel=1e-9)
    for rule in rules["rules"]:
        assert rule["deaths"] - rules["plan_deaths"] > band, rule["rule"]
        assert rule["deaths_averted"] == pytest.approx(summary["deaths_no_aid"] - rule["deaths"])
    best = min(rules["rules"], key=lambda r: r["deaths"])
    assert rules["best_rule"] == best["rule"]
    assert rules["plan_averts_more_than_best_rule"] == pytest.approx(
        best["deaths"] - rules["plan_deaths"])


def _beats_own_splits(result, scenario_folder, overrides=(), splits=("population", "load")):
    """The plan against its own weekly lever totals split pro rata to population and to each
    week's load without aid, met by the same epidemic (the splits need not be deliverable, so
    this flatters them)."""
    summary = json.loads((result / "summary.json").read_text())
    loop = Loop(load_scenario(scenario_folder, list(overrides)))
    with xr.open_dataset(result / "plan.nc") as ds:
        aid = ds["aid"].values
    plan = loop.point(aid)
    assert plan.deaths == pytest.approx(summary["deaths_with_plan"], rel=1e-6)
    no_aid = loop.point(np.zeros_like(aid))
    band = summary["coupling"]["tolerance"] * plan.deaths + 0.5
    weights = {"population": loop.epidemic.population.astype(float), "load": no_aid.loads}
    for name in splits:
        split = loop.point(split_totals(aid, weights[name]))
        assert split.deaths - plan.deaths > band, name


@pytest.mark.slow
def test_the_default_plan_beats_every_rule_of_thumb_and_its_own_splits(default_run):
    summary = json.loads((default_run / "summary.json").read_text())
    _beats_rules(summary)
    _beats_own_splits(default_run, DEFAULT_SCENARIO)


@pytest.mark.slow
def test_dprk_plan_beats_every_rule_and_its_splits_and_its_starts_agree(dprk_multi_start):
    out, done = dprk_multi_start
    summary = json.loads((out / "summary.json").read_text())
    coupling = summary["coupling"]
    starts = coupling["starts"]
    assert [s["start"] for s in starts[1:]] != [] and len(starts) == 1 + len(RULES)
    assert {s["start"] for s in starts} == {"no_aid", *RULES}
    ends = [s["deaths"] for s in starts]
    assert starts[0]["deaths"] == min(ends) == pytest.approx(summary["deaths_with_plan"])
    assert coupling["starts_spread_deaths"] == pytest.approx(max(ends) - min(ends))
    if coupling["starts_agree"]:
        assert done.exit_code == 0, done.output
    else:  # the summary says so and the run is not an answer
        assert done.exit_code == 3
        assert "starts ended" in done.output
    _beats_rules(summary)


@pytest.mark.slow
@pytest.mark.parametrize("split", [
    pytest.param("population", marks=pytest.mark.xfail(strict=True, reason=(
        "not met: dprk-2022's plan beats its own lever totals split pro rata to population "
        "by less than the band (29 deaths against 53 on the fit before the refit)"))),
    pytest.param("load", marks=pytest.mark.xfail(strict=True, reason=(
        "not met: dprk-2022's own lever totals split pro rata to the load without aid do as "
        "well as the plan (one death fewer on the fit before the refit)"))),
])  # fmt: skip
def test_dprk_plan_beats_its_own_splits_beyond_the_band(dprk_multi_start, split):
    _beats_own_splits(dprk_multi_start[0], DPRK, ["coupling.multi_start=true"], splits=(split,))


def test_with_draws_each_rule_is_met_by_the_same_draws(tmp_path):
    out = tmp_path / "short"
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "--draws", "3", "-q",
                      "--set", "horizon_weeks=4", "--set", "epidemic.outlook_weeks=12",
                      "--set", "coupling.mode=one-way")  # fmt: skip
    assert done.exit_code == 0, done.output
    summary = json.loads((out / "summary.json").read_text())
    plan = summary["uncertainty"]["deaths_with_plan"]
    for rule in summary["rules_of_thumb"]["rules"]:
        drawn = rule["uncertainty"]["deaths"]
        assert drawn["p5"] <= drawn["p50"] <= drawn["p95"]
        assert drawn["p50"] != pytest.approx(plan["p50"], rel=1e-9)  # its own aid, not the plan's
