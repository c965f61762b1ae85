"""Demand, harm weights and the coupling on small inputs with answers known in advance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DEFAULT_SCENARIO, arc, tiny_scenario, write_csv

from models.seir import D
from optimiser.cli import main
from optimiser.coupling import harm_weights, plan_coverage
from optimiser.epidemic import EpidemicSetup, gravity_mixing
from optimiser.inputs import ScenarioError, load_scenario


@pytest.fixture(scope="module")
def setup():
    scenario = load_scenario(DEFAULT_SCENARIO, ["horizon_weeks=8"])
    return scenario, EpidemicSetup.from_scenario(scenario)


def test_care_gradient_matches_a_finite_difference(setup):
    scenario, epi = setup
    shape = (len(scenario.provinces), scenario.n_weeks)
    testing, care = np.full(shape, 0.3), np.full(shape, 0.4)
    people = epi.simulate(testing, care)
    grad_testing, grad_care = epi.harm_gradient(testing, care, people)
    p, w, step = 0, 5, 1e-3
    bumped = care.copy()
    bumped[p, w] += step
    fd = (people[D, :, -1].sum() - epi.simulate(testing, bumped)[D, :, -1].sum()) / step
    assert grad_care[p, w] == pytest.approx(fd, rel=1e-3)
    bumped = testing.copy()
    bumped[p, w] += 0.02
    tail = epi.tail_weeks
    assert tail == 8
    base = epi.simulate(testing, care, tail)[D, :, -1].sum()
    fd = (base - epi.simulate(bumped, care, tail)[D, :, -1].sum()) / 0.02
    assert grad_testing[p, w] == pytest.approx(fd, rel=1e-3)
    assert (grad_testing >= 0).all() and (grad_care >= 0).all()


def test_harm_weights_turn_a_coverage_gradient_into_deaths_per_unit(setup):
    scenario, _ = setup
    k = scenario.commodity_ids.index("oxygen_concentrator")
    need = np.ones((len(scenario.commodities), 1, 1)) * 200.0
    harm, team_harm = harm_weights(
        need, np.array([[4.0]]), np.array([[10.0]]), np.array([[50.0]]),
        scenario.commodities, scenario.config.staff,
    )  # fmt: skip
    # Oxygen holds 0.3 of the care lever: 200 units give +0.3 coverage, worth 15 deaths.
    assert harm[k, 0, 0] == pytest.approx(0.3 * 50.0 / 200.0)
    assert team_harm[0, 0] == pytest.approx(0.3 * 50.0 / 4.0)


def test_plan_coverage_weights_each_commodity_by_its_share(setup):
    scenario, _ = setup
    from optimiser.allocation import Plan

    n_k = len(scenario.commodities)
    need = np.full((n_k, 1, 1), 10.0)
    unmet = np.zeros((n_k, 1, 1))
    unmet[scenario.commodity_ids.index("pcr_test")] = 10.0  # pcr_test: share 0.6 of testing
    z = np.zeros(1)
    plan = Plan("optimal", 0.0, z, z, z, unmet, z, z, np.full((1, 1), 2.0), z, z, 0.0)
    testing, care = plan_coverage(plan, need, np.full((1, 1), 4.0), scenario.commodities,
                                  scenario.config.staff)  # fmt: skip
    assert testing[0, 0] == pytest.approx(0.4)
    assert care[0, 0] == pytest.approx(1.0 - 0.3 * 0.5)  # half the teams missing


def test_gravity_mixing_is_row_stochastic_and_prefers_near_large_provinces():
    pop = np.array([1e6, 1e6, 4e6])
    lat, lon = np.array([39.0, 39.1, 41.0]), np.array([126.0, 126.0, 126.0])
    m = gravity_mixing(pop, lat, lon, 0.05, 2.0)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(m), 0.95)
    assert m[0, 1] > m[0, 2]  # 11 km away beats 4x the population 220 km away


def test_planners_own_needs_skip_the_epidemic(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x", "y"), depots=("a",), horizon_weeks=2,
        arcs=[arc("a-x", "a", "x"), arc("a-y", "a", "y")],
        supply=[dict(depot="a", commodity="kit", units_per_week=100, source="t")],
    )  # fmt: skip
    write_csv(folder / "needs.csv", [
        dict(week=0, province="x", commodity="kit", quantity=60),
        dict(week=0, province="y", commodity="kit", quantity=60),
        dict(week=1, province="y", commodity="kit", quantity=30),
    ])  # fmt: skip
    text = (folder / "scenario.yaml").read_text()
    (folder / "scenario.yaml").write_text(
        text.replace("sanctions.yaml", "sanctions.yaml\n  needs: needs.csv")
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["deaths_no_aid"] is None and summary["deaths_with_plan"] is None
    assert summary["epidemic"].startswith("not computed")
    # 100 kits in week 0 for 120 needed, 30 needed and met in week 1: (100 + 30) / 150.
    assert summary["fill_rate"]["kit"] == pytest.approx(130 / 150)


def test_planners_needs_refuse_closed_loop(tmp_path):
    folder = tiny_scenario(tmp_path / "s")
    write_csv(folder / "needs.csv", [dict(week=0, province="x", commodity="kit", quantity=1)])
    text = (folder / "scenario.yaml").read_text()
    text = text.replace("sanctions.yaml", "sanctions.yaml\n  needs: needs.csv")
    (folder / "scenario.yaml").write_text(text.replace("mode: one-way", "mode: closed-loop"))
    result = CliRunner().invoke(main, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "'closed-loop' needs the epidemic model" in result.output


def test_a_mobility_matrix_replaces_the_gravity_model(default_copy):
    ids = load_scenario(default_copy).province_ids
    rows = [{"from": p, **{q: float(p == q) for q in ids}} for p in ids]
    write_csv(default_copy / "mobility.csv", rows)
    text = (default_copy / "scenario.yaml").read_text()
    text = text.replace(
        "  sanctions: sanctions.yaml", "  sanctions: sanctions.yaml\n  mobility: mobility.csv"
    )
    (default_copy / "scenario.yaml").write_text(text)
    epi = EpidemicSetup.from_scenario(load_scenario(default_copy))
    np.testing.assert_array_equal(epi.mixing, np.eye(len(ids)))
    rows[1]["pyongyang"] = 0.5
    write_csv(default_copy / "mobility.csv", rows)
    with pytest.raises(ScenarioError, match=r"mobility.csv, line 3 \(south_pyongan\): shares "
                       r"must be >= 0 and add to 1, got sum 1.5"):  # fmt: skip
        load_scenario(default_copy)
