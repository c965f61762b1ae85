"""The allocation LP on cases small enough to solve by hand, and its sanction masks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import arc, commodity, tiny_scenario

from optimiser.allocation import AllocationLP
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.network import build_network

COST_WEIGHT = 1e-6  # 1 / usd_per_death_averted in tiny scenarios


class Solved:
    """A plan read the way these cases state it: unmet need, objective in deaths, duals."""

    def __init__(self, plan, need, team_need):
        self.plan, self.need, self.team_need = plan, need, team_need

    def __getattr__(self, name):
        return getattr(self.plan, name)

    @property
    def unmet(self):
        return self.need - self.plan.used

    @property
    def team_unmet(self):
        return self.team_need * (1.0 - self.plan.team_fill)

    @property
    def objective(self):
        return self.plan.harm + self.plan.spent * COST_WEIGHT

    @property
    def capacity_dual(self):
        return -self.plan.capacity_value

    @property
    def quota_dual(self):
        return -self.plan.quota_value


class Rerun:
    """The LP of a tiny case, re-solved the way these cases state it."""

    def __init__(self, model, need, team_need):
        self.model, self.need, self.team_need = model, need, team_need

    def __getattr__(self, name):
        return getattr(self.model, name)

    def update(self, **values):
        if "need" in values:
            self.need = values["need"]
        self.model.update(**values)

    def solve(self):
        return Solved(self.model.solve(), self.need, self.team_need)


def solve(folder, need, harm, team_need=None, team_harm=None):
    """Planner's needs (units) and deaths per unit short: the LP without an epidemic."""
    scenario = load_scenario(folder)
    net = build_network(scenario)
    lp = AllocationLP(scenario, net, epidemic=False)
    n_p, n_w = need.shape[1:]
    team_need = np.zeros((n_p, n_w)) if team_need is None else team_need
    team_harm = np.zeros((n_p, n_w)) if team_harm is None else team_harm
    lp.update(
        need=need,
        team_need=team_need,
        harm={
            "use": -harm,
            "team_fill": -team_harm * team_need,
            "offset": float((harm * need).sum() + (team_harm * team_need).sum()),
        },
    )
    rerun = Rerun(lp, need, team_need)
    return scenario, net, rerun, Solved(lp.solve(), need, team_need)


def test_two_depots_two_provinces_known_optimum(tmp_path):
    """Depot a has 80 kits, b has 50; x needs 80 (2 deaths per kit short), y needs 80 (1).
    Only a reaches x, over a road that carries 60 kits (0.06 t) a week; both reach y.
    By hand: a sends 60 to x (capacity) and its other 20 to y; b sends 50 to y.
    Unmet: x 20, y 10; objective 2*20 + 1*10 = 50 deaths, plus 130 kits x 0.001 t x $10/t.
    One more tonne of capacity moves 1000 kits from y to x: worth 2 - 1 = 1 death per kit."""
    folder = tiny_scenario(
        tmp_path / "s",
        supply=[
            dict(depot="a", commodity="kit", units_per_week=80, source="t"),
            dict(depot="b", commodity="kit", units_per_week=50, source="t"),
        ],
        arcs=[
            arc("a-x", "a", "x", capacity_t_per_week=0.06),
            arc("a-y", "a", "y"),
            arc("b-y", "b", "y"),
        ],
    )
    need = np.array([[[80.0], [80.0]]])
    harm = np.array([[[2.0], [1.0]]])
    scenario, net, lp, plan = solve(folder, need, harm)
    arcs = net.arc_ids
    assert plan.shipments[0, arcs.index("a-x"), 0] == pytest.approx(60)
    assert plan.shipments[0, arcs.index("a-y"), 0] == pytest.approx(20)
    assert plan.shipments[0, arcs.index("b-y"), 0] == pytest.approx(50)
    np.testing.assert_allclose(plan.unmet[0, :, 0], [20, 10], atol=1e-7)
    assert plan.objective == pytest.approx(50 + 130 * 0.001 * 10 * COST_WEIGHT, rel=1e-9)
    # Dual of a minimisation's <= row: objective change per extra tonne (negative: it helps).
    assert plan.capacity_dual[arcs.index("a-x"), 0] == pytest.approx(-1000.0, rel=1e-6)
    assert plan.capacity_dual[arcs.index("b-y"), 0] == pytest.approx(0.0, abs=1e-9)


def test_resolve_after_a_need_change_equals_a_fresh_build(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s",
        horizon_weeks=4,
        arcs=[arc("a-x", "a", "x", capacity_t_per_week=0.05, transit_weeks=1),
              arc("b-y", "b", "y", capacity_t_per_week=0.07), arc("a-y", "a", "y")],
    )  # fmt: skip
    rng = np.random.default_rng(3)
    need1, need2 = rng.uniform(20, 150, (2, 1, 2, 4))
    harm = rng.uniform(0.5, 2.0, (1, 2, 4))
    _, _, lp, first = solve(folder, need1, harm)
    lp.update(need=need2)
    lp.update(harm={"use": -harm, "offset": float((harm * need2).sum())})
    resolved = lp.solve()
    _, _, _, fresh = solve(folder, need2, harm)
    assert resolved.objective != pytest.approx(first.objective, rel=1e-3)
    assert resolved.objective == pytest.approx(fresh.objective, rel=1e-9)
    np.testing.assert_allclose(resolved.unmet.sum(), fresh.unmet.sum(), rtol=1e-9)


def test_resolve_after_a_capacity_change_equals_a_fresh_build(tmp_path):
    arcs = [arc("a-x", "a", "x", capacity_t_per_week=0.05), arc("b-y", "b", "y"),
            arc("a-y", "a", "y", capacity_t_per_week=0.02)]  # fmt: skip
    need = np.full((1, 2, 2), 90.0)
    harm = np.array([[[2.0, 1.5], [1.0, 0.5]]])
    _, net, lp, before = solve(tiny_scenario(tmp_path / "s", horizon_weeks=2, arcs=arcs),
                               need, harm)  # fmt: skip
    capacity = np.array([[a["capacity_t_per_week"]] * 2 for a in arcs], dtype=float)
    capacity[0] = 0.08
    lp.update(capacity_t_per_week=capacity)
    resolved = lp.solve()
    arcs[0]["capacity_t_per_week"] = 0.08
    _, _, _, fresh = solve(tiny_scenario(tmp_path / "t", horizon_weeks=2, arcs=arcs), need, harm)
    assert resolved.objective < before.objective
    assert resolved.objective == pytest.approx(fresh.objective, rel=1e-9)
    np.testing.assert_allclose(resolved.unmet, fresh.unmet, atol=1e-9)


def test_transit_delays_arrivals_exactly(tmp_path):
    """Two weeks in transit: nothing arrives in weeks 0-1, and nothing may leave in weeks
    2-3 because it would arrive after the horizon."""
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",), horizon_weeks=4,
        arcs=[arc("a-x", "a", "x", transit_weeks=2)],
    )  # fmt: skip
    need = np.full((1, 1, 4), 10.0)
    _, net, lp, plan = solve(folder, need, np.ones((1, 1, 4)))
    np.testing.assert_allclose(plan.unmet[0, 0], [10, 10, 0, 0], atol=1e-9)
    assert net.allowed[0, 0].tolist() == [True, True, False, False]
    assert set(lp.lp.columns["ship"].index[:, 2]) == {0, 1}
    np.testing.assert_allclose(plan.shipments[0, 0], [10, 10, 0, 0], atol=1e-9)


def test_rok_approval_lead_time_opens_the_route_late(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",), horizon_weeks=3,
        arcs=[arc("a-x", "a", "x")], approvals={"a-x": 2},
    )  # fmt: skip
    _, net, _, plan = solve(folder, np.full((1, 1, 3), 5.0), np.ones((1, 1, 3)))
    assert net.allowed[0, 0].tolist() == [False, False, True]
    np.testing.assert_allclose(plan.unmet[0, 0], [5, 5, 0], atol=1e-9)


def test_unrequested_route_is_never_used(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",), arcs=[arc("a-x", "a", "x")],
        approvals={},
    )  # fmt: skip
    _, net, lp, plan = solve(folder, np.full((1, 1, 1), 5.0), np.ones((1, 1, 1)))
    assert not net.allowed.any()
    assert lp.lp.columns["ship"].size == 0
    assert plan.unmet[0, 0, 0] == pytest.approx(5.0)


GENERATOR = dict(hs_code="850211", mass_kg_per_unit=100.0, durable="true")
EXEMPTION = {
    "id": "gen", "commodities": ["gen"], "request_week": 0, "approval_lead_weeks": 1,
    "validity_weeks": 2, "quota_t": 0.5, "source": "test",
}  # fmt: skip


def sanctioned_scenario(folder, requested):
    return tiny_scenario(
        folder, provinces=("x",), depots=("a",), horizon_weeks=4,
        commodities=[commodity("kit"), commodity("gen", **GENERATOR)],
        arcs=[arc("a-x", "a", "x")], exemptions=[EXEMPTION], requested=requested,
    )  # fmt: skip


def test_a_sanctioned_commodity_has_no_variable_on_a_barred_arc(tmp_path):
    folder = sanctioned_scenario(tmp_path / "s", requested=[])
    need = np.full((2, 1, 4), 3.0)
    _, net, lp, plan = solve(folder, need, np.ones((2, 1, 4)))
    gen = 1
    assert net.barred[gen, 0] and not net.barred[0, 0]
    assert not net.allowed[gen].any()
    assert gen not in lp.lp.columns["ship"].index[:, 0]
    assert plan.shipments[gen].sum() == 0.0
    np.testing.assert_allclose(plan.unmet[gen], need[gen])
    np.testing.assert_allclose(plan.unmet[0], 0.0, atol=1e-9)


def test_an_exemption_opens_its_window_and_caps_tonnes_at_the_quota(tmp_path):
    folder = sanctioned_scenario(tmp_path / "s", requested=["gen"])
    need = np.full((2, 1, 4), 8.0)
    _, net, lp, plan = solve(folder, need, np.ones((2, 1, 4)))
    gen = 1
    # Requested in week 0, approved after a week, valid two weeks: departures in weeks 1-2.
    assert net.allowed[gen, 0].tolist() == [False, True, True, False]
    tonnes = plan.shipments[gen].sum() * 0.1
    assert tonnes == pytest.approx(0.5, rel=1e-9)  # the quota binds: 8 in use need 0.8 t
    # Durable: all 5 cross in week 1 and stay in use through week 3, after the window shut.
    np.testing.assert_allclose(plan.shipments[gen, 0], [0, 5, 0, 0], atol=1e-9)
    np.testing.assert_allclose(plan.unmet[gen, 0], [8, 3, 3, 3], atol=1e-9)
    # At the margin one more unit (0.1 t) of quota is in use in weeks 1-3 and averts 1 death
    # per unit-week: 3 deaths per 0.1 t, a dual of -30 per tonne.
    assert plan.quota_dual[0] == pytest.approx(-30.0, rel=1e-6)


def test_route_capacity_is_shared_by_all_commodities(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",),
        commodities=[commodity("kit"), commodity("mask", mass_kg_per_unit=2.0)],
        arcs=[arc("a-x", "a", "x", capacity_t_per_week=0.1)],
    )  # fmt: skip
    need = np.full((2, 1, 1), 100.0)
    _, _, _, plan = solve(folder, need, np.array([[[1.0]], [[3.0]]]))
    tonnes = plan.shipments[0, 0, 0] * 0.001 + plan.shipments[1, 0, 0] * 0.002
    assert tonnes == pytest.approx(0.1, rel=1e-9)
    # Masks avert 3 per unit at 2 kg (1.5 per kg), kits 1 at 1 kg: masks first, 50 of them.
    assert plan.shipments[1, 0, 0] == pytest.approx(50.0)
    assert plan.shipments[0, 0, 0] == pytest.approx(0.0, abs=1e-9)


def test_teams_travel_only_on_personnel_routes_and_stay_their_deployment(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x", "y"), depots=("a",), horizon_weeks=3,
        arcs=[arc("a-x", "a", "x", personnel="true"), arc("a-y", "a", "y", personnel="false")],
        staff={"teams_per_week": 2, "staff_per_team": 10, "patients_per_team": 10,
               "deployment_weeks": 2, "origins": ["a"],
               "cost_usd_per_team_week": 0.0},
    )  # fmt: skip
    need = np.zeros((1, 2, 3))
    team_need = np.array([[3.0, 3.0, 3.0], [1.0, 1.0, 1.0]])
    _, net, _, plan = solve(folder, need, np.zeros((1, 2, 3)), team_need, np.ones((2, 3)))
    assert not net.team_allowed[net.arc_ids.index("a-y")].any()
    # Two teams a week, each staying two weeks: present 2, 4 (capped by need 3), ...
    np.testing.assert_allclose(plan.team_unmet[1], [1, 1, 1], atol=1e-9)
    np.testing.assert_allclose(plan.team_unmet[0], [1, 0, 0], atol=1e-9)
    assert plan.deployed[0].sum() <= 6 + 1e-9


def test_overlapping_exemptions_each_carry_their_own_quota(tmp_path):
    """Two exemptions valid the same weeks: tonnes may go under either, so asking for a
    second, small one never blocks the first (10 generators = 1 t; quotas 0 t and 5 t)."""
    small = {**EXEMPTION, "id": "small", "quota_t": 0.0, "validity_weeks": 3}
    big = {**EXEMPTION, "id": "big", "quota_t": 5.0, "validity_weeks": 3}
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",), horizon_weeks=4,
        commodities=[commodity("kit"),
                     commodity("gen", **GENERATOR)],
        arcs=[arc("a-x", "a", "x")], exemptions=[small, big], requested=["small", "big"],
    )  # fmt: skip
    need = np.full((2, 1, 4), 10.0)
    _, _, _, plan = solve(folder, need, np.ones((2, 1, 4)))
    np.testing.assert_allclose(plan.unmet[1, 0], [10, 0, 0, 0], atol=1e-9)
    assert plan.shipments[1].sum() * 0.1 == pytest.approx(1.0)


def test_a_depot_offering_nothing_is_allowed(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a", "b"), arcs=[arc("a-x", "a", "x")],
        supply=[dict(depot="a", commodity="kit", units_per_week=7, source="t"),
                dict(depot="b", commodity="kit", units_per_week=0, source="t")],
    )  # fmt: skip
    _, _, _, plan = solve(folder, np.full((1, 1, 1), 10.0), np.ones((1, 1, 1)))
    assert plan.unmet[0, 0, 0] == pytest.approx(3.0)


@pytest.mark.parametrize(
    "change",
    [
        {"quota_t": [0.2]},
        {"available": "half"},
        {"teams_per_week": 1.0},
        {"budget_usd": 1.5},
    ],
)
def test_every_update_reaches_the_solver(tmp_path, change):
    """Each kind of data change, made after a first solve, gives the fresh build's answer."""
    staff = {"teams_per_week": 3, "staff_per_team": 10, "patients_per_team": 10,
             "deployment_weeks": 1, "origins": ["a"],
             "cost_usd_per_team_week": 0.0}  # fmt: skip

    def scenario(folder, quota=0.5, units=20, teams=3, budget=50.0):
        return tiny_scenario(
            folder, provinces=("x",), depots=("a",), horizon_weeks=3,
            commodities=[commodity("kit"),
                         commodity("gen", **GENERATOR)],
            supply=[dict(depot="a", commodity=c, units_per_week=units,
                         procurement_usd_per_unit=0.01, source="t") for c in ("kit", "gen")],
            arcs=[arc("a-x", "a", "x")], exemptions=[{**EXEMPTION, "quota_t": quota}],
            requested=["gen"], staff={**staff, "teams_per_week": teams},
            objective={"usd_per_death_averted": 1.0e6, "budget_usd": budget},
        )  # fmt: skip

    need, harm = np.full((2, 1, 3), 15.0), np.ones((2, 1, 3))
    team_need, team_harm = np.full((1, 3), 5.0), np.ones((1, 3))
    _, _, lp, before = solve(scenario(tmp_path / "a"), need, harm, team_need, team_harm)
    fresh_args = {}
    if "quota_t" in change:
        lp.update(quota_t=np.array(change["quota_t"]))
        fresh_args["quota"] = change["quota_t"][0]
    elif "available" in change:
        available = np.zeros((2, 2))
        available[:, 1] = 10.0  # node 1 is depot a
        lp.update(available=available)
        fresh_args["units"] = 10
    elif "teams_per_week" in change:
        lp.update(teams_per_week=change["teams_per_week"])
        fresh_args["teams"] = change["teams_per_week"]
    else:
        lp.update(budget_usd=change["budget_usd"])
        fresh_args["budget"] = change["budget_usd"]
    resolved = lp.solve()
    _, _, _, fresh = solve(scenario(tmp_path / "b", **fresh_args), need, harm, team_need,
                           team_harm)  # fmt: skip
    assert resolved.objective != pytest.approx(before.objective, rel=1e-6)
    assert resolved.objective == pytest.approx(fresh.objective, rel=1e-9)


def test_teams_are_not_sent_beyond_the_need_once_they_cost(tmp_path):
    """Free teams could be sent up to the weekly limit with no effect on the objective; at
    $1,000 a team-week (1e-3 deaths at $1M per death) the plan sends exactly the 2 needed."""
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",), horizon_weeks=1,
        arcs=[arc("a-x", "a", "x")],
        staff={"teams_per_week": 5, "staff_per_team": 10, "patients_per_team": 10,
               "deployment_weeks": 1, "origins": ["a"],
               "cost_usd_per_team_week": 1000.0},
    )  # fmt: skip
    _, _, _, plan = solve(folder, np.zeros((1, 1, 1)), np.zeros((1, 1, 1)),
                          np.full((1, 1), 2.0), np.ones((1, 1)))  # fmt: skip
    assert plan.deployed[0, 0] == pytest.approx(2.0)
    assert plan.objective == pytest.approx(2 * 1000 / 1e6)


def test_updating_data_no_row_holds_is_a_no_op(tmp_path):
    folder = tiny_scenario(
        tmp_path / "s", provinces=("x",), depots=("a",), arcs=[arc("a-x", "a", "x")],
        approvals={},
    )  # fmt: skip
    _, _, lp, before = solve(folder, np.full((1, 1, 1), 5.0), np.ones((1, 1, 1)))
    lp.update(capacity_t_per_week=np.ones((1, 1)))  # no route is open: no capacity row
    assert lp.solve().objective == pytest.approx(before.objective)


def test_exemption_ids_must_be_unique(tmp_path):
    with pytest.raises(ScenarioError, match="exemptions: id 'gen' appears 2 times"):
        load_scenario(
            tiny_scenario(tmp_path / "s", exemptions=[EXEMPTION, {**EXEMPTION, "quota_t": 9}])
        )


def test_tests_beyond_the_laboratories_buy_nothing():
    """Issue 14: the LP gives no province-week more tests than its laboratories run (their own
    capacity; no analysers are offered here), and gives more once the laboratories allow it."""
    from conftest import DEFAULT_SCENARIO

    from models.seir import AID
    from optimiser.lp_export import first_lp

    scenario = load_scenario(DEFAULT_SCENARIO, ["supply.*:pcr_analyser.units_per_week=0",
                                                "coupling.mode=one-way"])  # fmt: skip
    net, data = first_lp(scenario)
    assert data.aid_bounds is not None and data.lab_tests_per_week is not None

    def tests_given(labs: np.ndarray) -> np.ndarray:
        lp = AllocationLP(scenario, net)
        lp.update(harm=data.harm, aid_bounds=data.aid_bounds, lab_tests_per_week=labs)
        return lp.solve(polish=False).aid[AID.index("tests")]

    capped = tests_given(np.full(len(scenario.provinces), 50.0))
    assert capped.max() == pytest.approx(50.0, rel=1e-6)  # the laboratories bind
    assert (capped <= 50.0 * (1 + 1e-9)).all()
    assert tests_given(100 * data.lab_tests_per_week).max() > 100.0
