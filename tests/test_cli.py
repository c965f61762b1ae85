"""The command line: the default scenario end to end, and bad input that must write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from optimiser import exports
from optimiser.cli import main
from optimiser.output_folder import WriteError, prepare_output, write_atomically

FILES = {"plan.nc", "shipments.csv", "deliveries.csv", "staff.csv", "summary.json"}


@pytest.mark.slow
def test_default_run_writes_every_file(default_run):
    assert {p.name for p in default_run.iterdir()} == FILES | {".aidopt-result.json"}
    assert not [p for p in default_run.parent.iterdir() if p.name.startswith(".")]
    marker = json.loads((default_run / ".aidopt-result.json").read_text())
    assert marker["command"] == "run" and set(marker["files"]) == FILES


@pytest.mark.slow
def test_closed_loop_converges_and_the_plan_saves_lives(default_run):
    summary = json.loads((default_run / "summary.json").read_text())
    assert summary["status"] == "optimal"
    coupling = summary["coupling"]
    assert coupling["mode"] == "closed-loop"
    assert coupling["converged"] is True
    assert coupling["converged_on"] in ("stationary", "stalled", "step")
    low, high = coupling["deaths_range_last_iterations"]
    assert low <= summary["deaths_with_plan"] <= high
    assert summary["deaths_with_plan"] < summary["deaths_no_aid"]
    assert summary["infections_with_plan"] < summary["infections_no_aid"]
    windows = summary["by_window"]
    for key in ("deaths_no_aid", "deaths_with_plan", "infections_no_aid", "infections_with_plan"):
        assert windows[key]["horizon"] <= windows[key]["outlook"]
    r = summary["reproduction_number"]
    assert r["no_aid"]["start"] > r["no_aid"]["after_last_reduction"]
    assert r["full_aid"]["start"] < r["no_aid"]["start"]
    spent = summary["spending_usd"]
    assert spent["total"] == pytest.approx(
        spent["procurement"] + spent["transport"] + spent["teams"]
    )
    assert set(summary["timings_s"]) >= {"epidemic", "gradient", "build", "solve", "total"}
    assert set(summary["provenance"]) >= {
        "aidopt_version", "inputs_sha256", "highs_version", "pyomo_version", "created_utc",
    }  # fmt: skip


@pytest.mark.slow
def test_exports_are_views_of_the_dataset(default_run):
    ds = xr.open_dataset(default_run / "plan.nc")
    shipments = pd.read_csv(default_run / "shipments.csv")
    goods = shipments[shipments["commodity"] != "medical_team"]
    shown = ds["shipments"] > exports.QUANTITY_EPS  # the CSV leaves out thousandths of a unit
    assert goods["quantity"].min() > exports.QUANTITY_EPS
    assert len(goods) == int(shown.sum())
    assert goods["quantity"].sum() == pytest.approx(
        float(ds["shipments"].where(shown).sum()), rel=1e-6
    )
    assert goods["tonnes"].sum() == pytest.approx(
        float(ds["shipments_t"].where(shown).sum()), rel=1e-6
    )
    deliveries = pd.read_csv(default_run / "deliveries.csv")
    np.testing.assert_allclose(
        deliveries["delivered"] + deliveries["unmet"], deliveries["needed"], rtol=1e-5, atol=1e-6
    )
    summary = json.loads((default_run / "summary.json").read_text())
    for commodity, rate in summary["fill_rate"].items():
        if commodity != "medical_team" and rate is not None:  # None: nothing needed
            rows = deliveries[deliveries["commodity"] == commodity]
            assert rows["delivered"].sum() / rows["needed"].sum() == pytest.approx(rate, rel=1e-4)
    staff = pd.read_csv(default_run / "staff.csv")
    assert len(staff) == ds.sizes["province"] * ds.sizes["week"]


@pytest.mark.slow
def test_the_plan_respects_capacity_quota_and_sanctions(default_run):
    ds = xr.open_dataset(default_run / "plan.nc")
    tonnes = ds["shipments_t"].sum("commodity")
    assert bool((tonnes <= ds["capacity_t_per_week"] * (1 + 1e-7) + 1e-9).all())
    # Nothing moves where no variable was allowed, e.g. across the closed China bridges.
    assert float(ds["shipments"].where(ds["flow_allowed"] == 0, 0).sum()) == 0.0
    china = ds["arc_from"].isin(["dandong", "hunchun"])
    assert float(ds["shipments"].sel(arc=china).sum()) == 0.0
    # Generators (HS 8502) cross into the DPRK only under the exemption, within its quota.
    entering = [a for a in ds["arc"].values if str(ds["arc_from"].sel(arc=a).values) in
                ("incheon", "paju", "sokcho", "busan")]  # fmt: skip
    crossed_t = float(ds["shipments_t"].sel(commodity="generator", arc=entering).sum())
    assert 0 < crossed_t <= 40 + 1e-6


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def edit_csv(path: Path, row: int, column: str, value: str) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[row, column] = value
    table.to_csv(path, index=False)


BAD_INPUTS = {
    "negative population": (
        lambda s: edit_csv(s / "provinces.csv", 0, "population", "-5"),
        (),
        "provinces.csv, line 2 (id=pyongyang), 'population': '-5' is invalid: "
        "Input should be greater than 0",
    ),
    "arc to an unknown node": (
        lambda s: edit_csv(s / "arcs.csv", 3, "to", "atlantis"),
        (),
        "arcs.csv, line 5 (id=incheon-nampo-sea), column 'to': 'atlantis' is not a known node",
    ),
    "commodity without a mass": (
        lambda s: edit_csv(s / "commodities.csv", 1, "mass_kg_per_unit", ""),
        (),
        "commodities.csv, line 3 (id=medical_mask): 'mass_kg_per_unit' is missing; "
        "expected shipping mass of one unit [kg/unit]",
    ),
    "unparseable date": (
        lambda s: (s / "scenario.yaml").write_text(
            (s / "scenario.yaml").read_text().replace("2020-04-06", "2020-02-30")
        ),
        (),
        "'start_date': '2020-02-30' is invalid: Input should be a valid date",
    ),
    "override of a field that does not exist": (
        lambda s: None,
        ("--set", "epidemic.r00=2.5"),
        "--set epidemic.r00: scenario.yaml has no field 'epidemic.r00' (did you mean 'r0'?); "
        "valid under epidemic: r0, latent_days",
    ),
    "value of the wrong type": (
        lambda s: None,
        ("--set", "horizon_weeks=ten"),
        "'horizon_weeks': 'ten' is invalid: Input should be a valid integer",
    ),
    "file not in UTF-8": (
        lambda s: (s / "depots.csv").write_bytes(
            (s / "depots.csv").read_text().replace("Paju", "Paj\u00fa").encode("latin-1")
        ),
        (),
        "depots.csv: cannot be read as UTF-8 text",
    ),
    "infinite capacity": (
        lambda s: edit_csv(s / "arcs.csv", 0, "capacity_t_per_week", "inf"),
        (),
        "arcs.csv, line 2 (id=dorasan-kaesong-rail), 'capacity_t_per_week': 'inf' is invalid",
    ),
    "duplicated province id": (
        lambda s: edit_csv(s / "provinces.csv", 1, "id", "pyongyang"),
        (),
        "provinces.csv, line 3: id 'pyongyang' is already used at",
    ),
    "unknown column": (
        lambda s: edit_csv(s / "depots.csv", 0, "colour", "red"),
        (),
        "depots.csv: unknown column 'colour'; valid columns: id, name",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_names_the_problem_and_writes_nothing(case, default_copy, tmp_path):
    break_it, extra, message = BAD_INPUTS[case]
    break_it(default_copy)
    out = tmp_path / "out"
    result = run_cli("run", str(default_copy), "--out", str(out), *extra)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["korea-2020"]


def test_validate_prints_sizes(default_copy):
    result = run_cli("validate", str(default_copy))
    assert result.exit_code == 0, result.output
    assert "13 provinces, population 23,275,627" in result.output
    assert "13 commodities, 4 depots, 2 crossings, 52 arcs" in result.output


def test_validate_lists_every_problem(default_copy):
    edit_csv(default_copy / "provinces.csv", 0, "population", "-5")
    edit_csv(default_copy / "provinces.csv", 2, "latitude", "north")
    result = run_cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert "2 problem(s)" in result.output
    assert "line 4 (id=north_pyongan), 'latitude': 'north' is invalid" in result.output


def test_an_output_folder_of_other_files_is_not_replaced(default_copy, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = run_cli("run", str(default_copy), "--out", str(out))
    assert result.exit_code == 2
    assert "holds files that are not an aidopt result (thesis.tex)" in result.output
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_failed_write_keeps_the_previous_result(tmp_path, monkeypatch):
    """Fault injection: the third file fails; the earlier result must survive untouched."""
    ds = xr.Dataset(attrs={"summary_json": "{}"})
    out = tmp_path / "result"
    write_atomically(out, {"summary.json": lambda p: p.write_text('{"previous": true}')}, "run")
    before = sorted(p.name for p in out.iterdir())

    def disk_full(ds, path):
        raise OSError(28, "No space left on device")

    writers = {name: (lambda ds, path: path.write_text("x")) for name in exports.FILES}
    writers["deliveries.csv"] = disk_full
    monkeypatch.setattr(exports, "WRITERS", writers)
    with prepare_output(out, "run") as output, pytest.raises(WriteError) as caught:
        exports.write_outputs(ds, output)
    assert str(caught.value) == (
        f"{out}/deliveries.csv: cannot be written (No space left on device); nothing was "
        f"changed at {out}"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["result"]
    assert (
        sorted(p.name for p in out.iterdir()) == before == [".aidopt-result.json", "summary.json"]
    )
    assert json.loads((out / "summary.json").read_text()) == {"previous": True}


def test_a_solver_failure_exits_1_and_writes_nothing(default_copy, tmp_path):
    out = tmp_path / "out"
    result = run_cli("run", str(default_copy), "--out", str(out),
                     "--set", "solver.time_limit_s=1e-9")  # fmt: skip
    assert result.exit_code == 1
    assert "HiGHS did not find an optimal plan: Time limit reached" in result.output
    assert not out.exists()


def test_a_loop_stopped_at_its_limit_exits_3_unless_allowed(default_copy, tmp_path):
    short = ["--set", "horizon_weeks=4", "--set", "epidemic.outlook_weeks=20",
             "--set", "coupling.max_iterations=1"]  # fmt: skip
    out = tmp_path / "out"
    result = run_cli("run", str(default_copy), "--out", str(out), *short)
    assert result.exit_code == 3
    assert "did not converge in 1 iterations" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["coupling"]["converged"] is False
    assert summary["status"] == "not converged"
    again = run_cli("run", str(default_copy), "--out", str(out), "--allow-unconverged", *short)
    assert again.exit_code == 0
