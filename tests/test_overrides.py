"""`--set` on every table: by row id and column, scale factors, sanctions, and clear errors."""

from __future__ import annotations

import pytest
from conftest import DEFAULT_SCENARIO

from optimiser.inputs import ScenarioError, load_scenario

BASE = load_scenario(DEFAULT_SCENARIO)


def arc(scenario, arc_id):
    return next(a for a in scenario.arcs if a.id == arc_id)


def test_a_cell_of_a_table_by_row_id_and_column():
    s = load_scenario(DEFAULT_SCENARIO, ["arcs.incheon-nampo-sea.capacity_t_per_week=0"])
    assert arc(s, "incheon-nampo-sea").capacity_t_per_week == 0.0
    assert (
        arc(s, "sokcho-wonsan-sea").capacity_t_per_week
        == arc(BASE, "sokcho-wonsan-sea").capacity_t_per_week
    )
    assert s.inputs_sha256 != BASE.inputs_sha256


def test_every_row_scaled_by_a_factor():
    s = load_scenario(DEFAULT_SCENARIO, ["supply.*.units_per_week=*0.5"])
    for before, after in zip(BASE.supply, s.supply, strict=True):
        assert after.units_per_week == pytest.approx(before.units_per_week / 2)
    s = load_scenario(DEFAULT_SCENARIO, ["provinces.*.initial_infections=*2"])
    assert [p.initial_infections for p in s.provinces] == [
        2 * p.initial_infections for p in BASE.provinces
    ]


def test_an_invalid_cell_made_by_a_set_names_the_set():
    with pytest.raises(ScenarioError) as caught:
        load_scenario(DEFAULT_SCENARIO, ["provinces.*.initial_infections=*-1"])
    problems = caught.value.problems
    provinces = DEFAULT_SCENARIO / "provinces.csv"
    assert any(p.startswith(f"{provinces}, line 2 (id=pyongyang), 'initial_infections'")
               for p in problems)  # fmt: skip
    assert problems[-1] == f"{provinces}: read with --set provinces.*.initial_infections=*-1"


def test_pairs_name_supply_and_consumption_rows_with_either_half_open():
    s = load_scenario(DEFAULT_SCENARIO, ["supply.*:pcr_test.units_per_week=7"])
    assert {r.units_per_week for r in s.supply if r.commodity == "pcr_test"} == {7.0}
    assert [r.units_per_week for r in s.supply if r.commodity != "pcr_test"] == [
        r.units_per_week for r in BASE.supply if r.commodity != "pcr_test"
    ]
    s = load_scenario(DEFAULT_SCENARIO, ["consumption.medical_mask:inpatient_hcw_day.rate=*3"])
    rate = {(r.commodity, r.driver): r.rate for r in s.consumption}
    assert rate[("medical_mask", "inpatient_hcw_day")] == 12.0


def test_sanctions_exemptions_routes_and_requests():
    s = load_scenario(
        DEFAULT_SCENARIO,
        [
            "sanctions.exemptions.generators-for-isolation-wards.quota_t=80",
            "sanctions.rok_route_approvals.routes.incheon-nampo-sea=null",
            "sanctions.unscr_2397.hs_chapters=[84, 85]",
            "exemptions_requested=[]",
        ],
    )
    assert s.sanctions.exemptions[0].quota_t == 80.0
    assert "incheon-nampo-sea" not in s.sanctions.rok_route_approvals.routes
    assert s.sanctions.unscr_2397.hs_chapters == (84, 85)
    assert s.config.exemptions_requested == ()


@pytest.mark.parametrize(
    "assignment, message",
    [
        (
            "arcs.incheon-nampo-saa.capacity_t_per_week=0",
            "arcs.csv has no row 'incheon-nampo-saa' (did you mean 'incheon-nampo-sea'",
        ),
        ("arcs.incheon-nampo-sea.colour=red", "arcs.csv has no column 'colour'; valid: from, to"),
        ("supply.incheon.units_per_week=1", "a row of supply is named DEPOT:COMMODITY"),
        ("arcs.capacity_t_per_week=1", "a table cell is TABLE.ROW.COLUMN=VALUE"),
        (
            "sanctions.exemptions.nothing.quota_t=1",
            "sanctions.yaml has no exemption 'nothing'; valid: generators-for-isolation-wards",
        ),
        ("arcs.incheon-nampo-sea.mode=*2", "'*2' scales a number, and 'sea' or the factor is not"),
        (
            "arcs.incheon-nampo-sea.capacity_t_per_week=-5",
            "(id=incheon-nampo-sea), 'capacity_t_per_week': '-5' is invalid",
        ),
    ],
)
def test_a_set_that_names_no_cell_is_refused_saying_what_would(assignment, message):
    with pytest.raises(ScenarioError) as err:
        load_scenario(DEFAULT_SCENARIO, [assignment])
    assert message in str(err.value)
