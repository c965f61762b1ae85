"""`aidopt run --whole-units`: the continuous plan in whole lots, vehicles and teams (a MIP),
met by the epidemic again; the continuous plan beside it is unchanged."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xarray as xr
from conftest import DEFAULT_SCENARIO, run_aidopt


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "korea-2020"
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "--set", "coupling.mode=one-way",
                      "--whole-units")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "whole units (Optimal)" in done.output
    return out


def load(folder):
    with xr.open_dataset(folder / "plan.nc") as ds:
        return ds.load()


@pytest.mark.slow
def test_every_team_vehicle_and_lot_is_whole(whole):
    ds = load(whole)
    for name in ("vehicles", "team_deployed_whole", "team_shipments_whole"):
        values = ds[name].values
        assert np.array_equal(values, np.round(values)), name
    lots = ds["shipments_whole"] / ds["lot_units"]
    assert np.allclose(lots, np.round(lots), atol=1e-9)
    # No row under a lot: a row is empty or carries at least one whole lot.
    shipped = ds["shipments_whole"].values
    lot = ds["lot_units"].values[:, None, None]
    assert ((shipped == 0) | (shipped >= lot - 1e-9)).all()
    # Whole vehicles carry the tonnes of each route-week, with less than one vehicle to spare.
    tonnes = (ds["shipments_whole"] * ds["mass_kg_per_unit"] / 1000.0).sum("commodity")
    room = ds["vehicles"] * ds["vehicle_t"]
    assert (room >= tonnes - 1e-6).all()
    assert ((room - tonnes) < ds["vehicle_t"] + 1e-6).all()


@pytest.mark.slow
def test_rounded_totals_exceed_continuous_by_at_most_a_lot_per_route_week_used(whole):
    ds = load(whole)
    continuous = ds["shipments"].sum(("arc", "week"))
    rounded = ds["shipments_whole"].sum(("arc", "week"))
    used = (ds["shipments_whole"] > 0).sum(("arc", "week"))
    excess = rounded - continuous
    assert (excess <= ds["lot_units"] * used + 1e-6).all()
    assert (excess >= -1e-6).all()  # nothing short: no route was too full to round up


@pytest.mark.slow
def test_rounded_deaths_are_reported_beside_continuous_and_the_plan_is_unchanged(
    whole, one_way_result
):
    summary = json.loads((whole / "summary.json").read_text())
    block = summary["whole_units"]
    assert set(block["deaths_with_plan"]) == {"horizon", "outlook"}
    for window, deaths in block["deaths_with_plan"].items():
        continuous = summary["by_window"]["deaths_with_plan"][window]
        assert block["deaths_with_continuous_plan"][window] == continuous
        # Rounding keeps the capacities: within 0.1 % of the continuous plan's deaths.
        assert deaths == pytest.approx(continuous, rel=1e-3)
    assert block["teams_deployed"] == pytest.approx(block["teams_deployed_continuous"], abs=5)
    # The continuous plan is the one `aidopt run` writes without the stage.
    plain = json.loads((one_way_result / "summary.json").read_text())
    assert plain["deaths_with_plan"] == summary["deaths_with_plan"]
    assert "whole_units" not in plain
    np.testing.assert_array_equal(load(one_way_result)["shipments"], load(whole)["shipments"])


@pytest.mark.slow
def test_the_workbooks_rounded_columns_come_from_the_whole_units_plan(whole, tmp_path):
    path = tmp_path / "plan.xlsx"
    assert run_aidopt("export", whole, "--xlsx", path).exit_code == 0
    rows = list(openpyxl.load_workbook(path)["Shipments"].iter_rows(values_only=True))
    sheet = pd.DataFrame(rows[1:], columns=rows[0])
    ds = load(whole)
    goods = sheet[sheet["item"] != "ROK medical teams"]
    total = goods["quantity rounded up [whole units]"].astype(float).sum()
    # Every row the continuous plan ships is one the whole-units plan ships (in lots).
    assert total == pytest.approx(float(ds["shipments_whole"].sum()), rel=1e-9)
