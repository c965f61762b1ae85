"""The coupling: known optima without an epidemic, the closed loop's guarantees, and the epidemic
set-up of a scenario."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DEFAULT_SCENARIO, ROOT, tiny_scenario, write_csv

from models.seir import AID, D
from optimiser.cli import main
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.runner import run

DANTZIG = ROOT / "inputs" / "dantzig-transport"


@pytest.mark.parametrize("usd_per_death", ["1e3", "1e6", "1e9"])
def test_dantzigs_transport_problem_at_any_price_of_a_life(usd_per_death, tmp_path):
    """Two plants (Seattle 350, San Diego 600 cases), three markets (New York 325, Chicago 300,
    Topeka 275), 90 USD per case per thousand miles: 153.675 thousand USD (Dantzig 1963)."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(DANTZIG),
            "--out",
            str(out),
            "--set",
            f"objective.usd_per_death_averted={usd_per_death}",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["spending_usd"]["transport"] == pytest.approx(153_675.0, rel=1e-6)
    assert summary["fill_rate"]["case"] == pytest.approx(1.0)


def test_planners_own_needs_skip_the_epidemic(tmp_path):
    folder = tiny_scenario(tmp_path / "s", horizon_weeks=2)
    rows = [dict(week=0, province="x", commodity="kit", quantity=120),
            dict(week=1, province="x", commodity="kit", quantity=30)]  # fmt: skip
    write_csv(folder / "needs.csv", rows)
    text = (folder / "scenario.yaml").read_text()
    (folder / "scenario.yaml").write_text(
        text.replace("sanctions.yaml", "sanctions.yaml\n  needs: needs.csv")
    )
    supply = [dict(depot="a", commodity="kit", units_per_week=100, source="t"),
              dict(depot="b", commodity="kit", units_per_week=0, source="t")]  # fmt: skip
    write_csv(folder / "supply.csv", supply)
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


@pytest.fixture(scope="module")
def short_default():
    """The default scenario over 8 weeks, followed 30."""
    return load_scenario(DEFAULT_SCENARIO, ["horizon_weeks=8", "epidemic.outlook_weeks=30"])


def test_the_harm_gradient_agrees_with_finite_differences(short_default):
    """Deaths averted per unit of each capacity, from the adjoint, against central differences
    of whole runs, under a plan's aid."""
    epi = EpidemicSetup.from_scenario(short_default)
    rng = np.random.default_rng(4)
    n_p = len(short_default.provinces)
    loads = epi.loads(epi.simulate()[0])
    aid = rng.uniform(0.0, 0.5, (len(AID), n_p, 8)) * loads
    _, gradient = epi.harm_gradient(aid)
    adjoint, central = [], []
    for c, p, w in [(c, p, w) for c in range(len(AID)) for p, w in ((0, 2), (2, 5), (4, 7))]:
        h = max(1e-3 * loads[c, p, w], 1e-3)
        up, down = aid.copy(), aid.copy()
        up[c, p, w] += h
        down[c, p, w] -= min(h, aid[c, p, w])
        dh = up[c, p, w] - down[c, p, w]
        deaths = [epi.simulate(a, rtol=1e-10)[0, D, :, -1].sum() for a in (up, down)]
        central.append((deaths[1] - deaths[0]) / dh)
        adjoint.append(gradient[0, c, p, w])
    adjoint, central = np.array(adjoint), np.array(central)
    assert np.linalg.norm(adjoint - central) / np.linalg.norm(central) < 1e-3


def test_the_closed_loop_only_keeps_plans_that_lower_the_merit(short_default):
    assert short_default.config.coupling.mode == "closed-loop"
    outcome = run(short_default)
    assert outcome.converged
    accepted = [h for h in outcome.history if h.accepted]
    merits = [h.deaths + h.spending_usd / 1e6 for h in accepted]
    assert all(b < a for a, b in zip(merits, merits[1:], strict=False))
    for h in accepted:
        assert h.actual > 0.1 * h.predicted
    # The plan reported is the last one kept, and its deaths are the epidemic's under it.
    assert outcome.people_with_plan[D, :, -1].sum() == pytest.approx(accepted[-1].deaths)


def test_zero_test_kits_give_zero_testing(short_default, tmp_path):
    folder = tmp_path / "s"
    shutil.copytree(DEFAULT_SCENARIO, folder)
    supply = (folder / "supply.csv").read_text().splitlines()
    (folder / "supply.csv").write_text(
        "\n".join(line for line in supply if ",pcr_test," not in line) + "\n"
    )
    overrides = ["horizon_weeks=8", "epidemic.outlook_weeks=30", "coupling.mode=one-way"]
    without = run(load_scenario(folder, overrides))
    with_kits = run(load_scenario(DEFAULT_SCENARIO, overrides))
    np.testing.assert_array_equal(without.aid[AID.index("tests")], 0.0)
    assert with_kits.aid[AID.index("tests")].sum() > 0
    deaths = [o.people_with_plan[D, :, -1].sum() for o in (without, with_kits)]
    assert deaths[0] >= deaths[1]
