"""The array LP against the same LP written algebraically in Pyomo: the same optimum, and the same
matrix, bounds and costs once rows and columns are put in order by family and index."""

from __future__ import annotations

import highspy
import numpy as np
import pytest
from conftest import DEFAULT_SCENARIO, ROOT, arc, commodity, run_aidopt, tiny_scenario, write_csv

from models.seir import AID
from optimiser import lp_forms
from optimiser.allocation import AllocationLP
from optimiser.inputs import load_scenario
from optimiser.lp_export import first_lp
from optimiser.lp_forms import array_form, solve, standard_form
from optimiser.lp_pyomo import LPData, build_model
from optimiser.network import build_network

DANTZIG = ROOT / "inputs" / "dantzig-transport"
TIGHT = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
"""At HiGHS's default tolerances the optimum moves by up to 4e-9 relative with the order of rows
and columns alone; both paths are solved to these (see `lp_forms.solve`)."""


def array_lp(scenario, net, data: LPData) -> tuple[AllocationLP, float]:
    """The array LP with `data`, solved (stage 1); its optimum as HiGHS reports it."""
    lp = AllocationLP(scenario, net)
    for name, value in TIGHT.items():
        lp.solver.highs.setOptionValue(name, value)
    lp.update(harm=data.harm, need=data.need, team_need=data.team_need)
    if data.aid_bounds is not None:
        lp.update(aid_bounds=data.aid_bounds, lab_tests_per_week=data.lab_tests_per_week)
    lp.solve(polish=False)
    return lp, float(lp.solver.highs.getInfo().objective_function_value)


def assert_same_lp(scenario, net, data: LPData) -> None:
    lp, optimum = array_lp(scenario, net, data)
    model = build_model(scenario, net, data)
    assert solve(model, TIGHT) == pytest.approx(optimum, rel=1e-9, abs=1e-9)
    ours, theirs = array_form(lp), standard_form(model)
    assert ours.columns == theirs.columns
    assert ours.rows == theirs.rows
    assert (ours.matrix != theirs.matrix).nnz == 0
    for bound in ("col_lower", "col_upper", "row_lower", "row_upper"):
        np.testing.assert_array_equal(getattr(ours, bound), getattr(theirs, bound), err_msg=bound)
    np.testing.assert_allclose(ours.cost, theirs.cost, rtol=1e-12, atol=1e-15)


def test_the_default_scenarios_first_lp_is_the_same_in_pyomo():
    scenario = load_scenario(DEFAULT_SCENARIO)
    net, data = first_lp(scenario)
    assert_same_lp(scenario, net, data)


ANALYSER = dict(hs_code="902780", mass_kg_per_unit=50.0, durable="true",
                adds_lab_tests_per_week=200)  # fmt: skip
GENERATOR = dict(hs_code="850211", mass_kg_per_unit=100.0, durable="true")
EXEMPTION = {
    "id": "gen", "commodities": ["gen"], "request_week": 0, "approval_lead_weeks": 1,
    "validity_weeks": 2, "quota_t": 0.5, "source": "test",
}  # fmt: skip


def every_family(folder, **changes):
    """Two provinces behind a crossing, a consumable, a care item that sanctions bar (and an
    exemption), a laboratory analyser, routes with transit time, teams and a budget."""
    crossing = dict(id="far", name="far", country="CHN", latitude=40, longitude=124, source="t")
    return tiny_scenario(
        folder, horizon_weeks=4, crossings=[crossing],
        commodities=[commodity("kit", adds_lab_tests_per_week=0),
                     commodity("gen", **GENERATOR, adds_lab_tests_per_week=0),
                     commodity("lab", **ANALYSER)],
        consumption=[dict(commodity="kit", driver="test", rate=1, source="t"),
                     dict(commodity="kit", driver="isolated_patient_day", rate=2, source="t"),
                     dict(commodity="gen", driver="hospital_bed", rate=0.5, source="t"),
                     dict(commodity="lab", driver="hospital_bed", rate=0, source="t")],
        arcs=[arc("a-far", "a", "far", transit_weeks=1), arc("far-x", "far", "x"),
              arc("b-y", "b", "y", capacity_t_per_week=0.2), arc("x-y", "x", "y"),
              arc("far-y", "far", "y", transit_weeks=1, personnel="false")],
        approvals={"b-y": 1}, exemptions=[EXEMPTION], requested=["gen"],
        staff={"teams_per_week": 2, "staff_per_team": 10, "patients_per_team": 10,
               "deployment_weeks": 2, "origins": ["a", "b"], "cost_usd_per_team_week": 1000.0},
        **changes,
    )  # fmt: skip


@pytest.mark.parametrize("budget", [None, 2.0e4])
def test_every_family_of_a_tiny_epidemic_lp_is_the_same_in_pyomo(budget, tmp_path):
    objective = {"usd_per_death_averted": 1.0e6, "budget_usd": budget}
    scenario = load_scenario(every_family(tmp_path / "s", objective=objective))
    net = build_network(scenario)
    rng = np.random.default_rng(9)
    shape = (len(AID), 2, 4)
    data = LPData(harm={"aid": -rng.uniform(0, 1e-3, shape)},
                  aid_bounds=(np.zeros(shape), rng.uniform(0, 50, shape)),
                  lab_tests_per_week=np.array([20.0, np.inf]))  # fmt: skip
    assert_same_lp(scenario, net, data)


def test_a_tiny_lp_of_the_planners_needs_is_the_same_in_pyomo(tmp_path):
    folder = every_family(tmp_path / "s")
    write_csv(folder / "needs.csv", [dict(week=1, province="x", commodity="kit", quantity=5)])
    text = (folder / "scenario.yaml").read_text()
    (folder / "scenario.yaml").write_text(
        text.replace("sanctions.yaml", "sanctions.yaml\n  needs: needs.csv")
    )
    scenario = load_scenario(folder)
    rng = np.random.default_rng(3)
    need, team_need = rng.uniform(0, 30, (3, 2, 4)), rng.uniform(0, 3, (2, 4))
    data = LPData(harm={"use": -rng.uniform(0, 1, (3, 2, 4)), "team_fill": -team_need},
                  need=need, team_need=team_need)  # fmt: skip
    assert_same_lp(scenario, build_network(scenario), data)


def test_dantzigs_transport_problem_is_the_same_in_pyomo():
    scenario = load_scenario(DANTZIG)
    net, data = first_lp(scenario)
    assert_same_lp(scenario, net, data)


def test_aidopt_lp_writes_the_first_lp_and_highs_reads_it(tmp_path):
    out = tmp_path / "first.lp"
    done = run_aidopt("lp", DANTZIG, out)
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert "ship(case_seattle_new_york_0)" in text and "c_e_stock_balance(" in text
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(out)) == highspy.HighsStatus.kOk
    h.run()
    # Dantzig (1963): 153,675 USD of freight meets all 900 cases, each worth a death short in
    # this scenario; stage 1 counts deaths x 1000 (OBJECTIVE_SCALE) at 1e6 USD per death.
    assert h.getInfo().objective_function_value == pytest.approx(
        1e3 * (-900.0 + 153_675.0 / 1e6), rel=1e-9
    )


def test_aidopt_lp_writes_its_own_file_again(tmp_path):
    out = tmp_path / "first.lp"
    for _ in range(2):
        done = run_aidopt("lp", DANTZIG, out)
        assert done.exit_code == 0, done.output
    assert "ship(case_seattle_new_york_0)" in out.read_text()


def test_aidopt_lp_leaves_a_file_it_did_not_write_alone(tmp_path):
    mine = tmp_path / "mine.lp"
    mine.write_text("the user's own notes\n")
    done = run_aidopt("lp", DANTZIG, mine)
    assert done.exit_code == 2
    assert f"{mine}: exists and aidopt did not write it; choose another file" in done.output
    assert mine.read_text() == "the user's own notes\n"


def test_a_changed_pyomo_interface_is_named_with_the_versions_checked(monkeypatch):
    import pyomo.repn.plugins.standard_form as standard

    monkeypatch.delattr(standard, "LinearStandardFormCompiler")
    model = build_model(load_scenario(DANTZIG), *first_lp(load_scenario(DANTZIG)))
    checked = r"checked against Pyomo 6\.10\.0, 6\.10\.1.*pyomo>=6\.10,<6\.11"
    with pytest.raises(lp_forms.PyomoInterfaceError, match=checked):
        standard_form(model)
