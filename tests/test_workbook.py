"""`aidopt export --xlsx`: a workbook that opens, agrees with the CSV views, and never turns text
into a formula."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from conftest import commodity, run_aidopt, tiny_scenario


def sheet_frame(ws) -> pd.DataFrame:
    rows = list(ws.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


@pytest.fixture(scope="module")
def workbook(one_way_result, tmp_path_factory):
    path = tmp_path_factory.mktemp("xlsx") / "plan.xlsx"
    done = run_aidopt("export", one_way_result, "--xlsx", path)
    assert done.exit_code == 0, done.output
    assert f"wrote {path}" in done.output
    return openpyxl.load_workbook(path)


def test_the_workbook_holds_every_sheet_with_frozen_headers(workbook):
    assert workbook.sheetnames == [
        "What arrives", "README", "Summary", "Shipments", "Deliveries", "Teams",
        "Delivered by province", "Unmet by province",
    ]  # fmt: skip
    for name in workbook.sheetnames[2:6]:
        assert workbook[name].freeze_panes == "A2"
    assert workbook["Delivered by province"].freeze_panes == "D2"
    header = [c.value for c in workbook["Shipments"][1]]
    assert "quantity [units]" in header and "tonnes [t]" in header
    readme = [row[0] for row in workbook["README"].iter_rows(values_only=True)]
    assert {"scenario", "convergence", "key assumptions", "provenance"} <= set(readme)


CSV_PRECISION = 5e-6
"""The CSVs write 6 significant digits (half a unit in the 6th digit is at most 5e-6 of a value);
the workbook keeps every digit, so totals agree to that share."""


def test_its_totals_equal_the_csvs(workbook, one_way_result):
    shipments = sheet_frame(workbook["Shipments"])
    csv = pd.read_csv(one_way_result / "shipments.csv")
    assert len(shipments) == len(csv)
    assert shipments["quantity [units]"].sum() == pytest.approx(
        csv["quantity"].sum(), rel=CSV_PRECISION
    )
    assert shipments["tonnes [t]"].sum() == pytest.approx(csv["tonnes"].sum(), rel=CSV_PRECISION)
    deliveries = sheet_frame(workbook["Deliveries"])
    csv = pd.read_csv(one_way_result / "deliveries.csv")
    for column in ("delivered", "needed", "unmet"):
        assert deliveries[f"{column} [units]"].sum() == pytest.approx(
            csv[column].sum(), rel=CSV_PRECISION
        )
    teams = sheet_frame(workbook["Teams"])
    csv = pd.read_csv(one_way_result / "staff.csv")
    assert teams["teams present [teams]"].sum() == pytest.approx(
        csv["teams_present"].sum(), rel=CSV_PRECISION
    )
    # The pivot holds the same deliveries, laid out by week.
    pivot = sheet_frame(workbook["Delivered by province"])
    goods = pivot[pivot["item"] != "ROK medical teams"]
    assert goods["total [units]"].sum() == pytest.approx(
        deliveries["delivered [units]"].sum(), rel=1e-6
    )
    summary = json.loads((one_way_result / "summary.json").read_text())
    values = dict(sheet_frame(workbook["Summary"])[["item", "value"]].values)
    assert values["deaths with the plan"] == pytest.approx(summary["deaths_with_plan"])
    assert values["deaths averted"] == pytest.approx(
        summary["deaths_no_aid"] - summary["deaths_with_plan"]
    )


def test_rounded_up_columns_are_whole_and_cover_the_plan(workbook):
    shipments = sheet_frame(workbook["Shipments"])
    quantity = shipments["quantity [units]"].to_numpy(float)
    whole = shipments["quantity rounded up [whole units]"].to_numpy(float)
    assert np.array_equal(whole, np.round(whole))
    assert (whole >= quantity - 1e-6).all() and (whole < quantity + 1).all()


def test_text_that_looks_like_a_formula_stays_text(tmp_path):
    folder = tiny_scenario(
        tmp_path / "tiny",
        commodities=[commodity("kit", name="=1+1", unit="@pack")],
        horizon_weeks=2,
    )
    out = tmp_path / "out"
    assert run_aidopt("run", folder, "--out", out).exit_code == 0
    done = run_aidopt("export", out, "--xlsx")
    assert done.exit_code == 0, done.output
    path = out / "plan.xlsx"
    book = openpyxl.load_workbook(path)
    tricky = ("=1+1", "@pack")
    cells = [c for ws in book for row in ws.iter_rows() for c in row if c.value in tricky]
    assert {c.value for c in cells} == {"=1+1", "@pack"}
    assert all(c.data_type == "s" for c in cells)
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets and not any(b"<f>" in z.read(n) for n in sheets)


def test_export_of_a_folder_that_is_no_result_exits_2(tmp_path):
    done = run_aidopt("export", tmp_path, "--xlsx")
    assert done.exit_code == 2
    assert f"{tmp_path}: not an aidopt result (no plan.nc or summary.json)" in done.output
    assert list(tmp_path.iterdir()) == []


def test_export_writes_into_the_result_folder_by_default(one_way_result):
    done = run_aidopt("export", one_way_result)
    assert done.exit_code == 0, done.output
    assert (one_way_result / "plan.xlsx").is_file()
    hidden = [p.name for p in Path(one_way_result).iterdir() if p.name.startswith(".")]
    assert hidden == [".aidopt-result.json"]  # the marker, which now lists the workbook too
    marker = json.loads((Path(one_way_result) / ".aidopt-result.json").read_text())
    assert "plan.xlsx" in marker["files"]


def test_the_first_sheet_says_what_arrives_where_and_its_totals_equal_the_csv(
    workbook, one_way_result
):
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    end = next(i for i, row in enumerate(rows) if all(v is None for v in row))
    first = pd.DataFrame(rows[1:end], columns=rows[0])  # the table, before the blocks below
    csv = pd.read_csv(one_way_result / "deliveries.csv")
    assert first["total [units]"].astype(float).sum() == pytest.approx(
        csv["delivered"].sum(), rel=CSV_PRECISION
    )
    months = [c for c in first.columns if str(c).endswith(" [units]") and str(c)[:2] == "20"]
    assert months and np.allclose(first[months].astype(float).sum(axis=1),
                                  first["total [units]"].astype(float))  # fmt: skip
    # Names, not ids: provinces and items as a planner reads them.
    assert "Pyongyang" in set(first["province"]) and "pyongyang" not in set(first["province"])
    assert "Medical mask" in set(first["item"])
    texts = {c for row in workbook.worksheets[0].iter_rows(values_only=True) for c in row}
    assert "What limits the plan" in texts


def test_every_sheet_names_provinces_and_items_and_dates_its_weeks(workbook):
    for name in ("Shipments", "Deliveries", "Teams"):
        frame = sheet_frame(workbook[name])
        assert "week" not in frame.columns and "week starting" in frame.columns
        if "province" in frame:
            assert "pyongyang" not in set(frame["province"])
        if "item" in frame:
            assert "medical_mask" not in set(frame["item"])
    rates = [r for r in workbook["Summary"].iter_rows(min_row=2) if str(r[0].value).startswith(
        "fill rate")]  # fmt: skip
    assert rates and all(r[1].number_format == "0.0%" for r in rates if r[1].value is not None)


def test_rules_of_thumb_are_shown_when_the_result_has_them(one_way_result, tmp_path):
    from optimiser import report, views, workbook

    copy = tmp_path / "with-rules"
    import shutil

    shutil.copytree(one_way_result, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["rules_of_thumb"] = {
        "window": "horizon", "best_rule": "per-capita",
        "rules": [{"rule": "per-capita", "description": "by population", "deaths": 1234.0,
                   "deaths_averted": 56.0, "spending_usd": 7.0e6}],
        "plan_deaths": 1000.0, "plan_averts_more_than_best_rule": 234.0,
    }  # fmt: skip
    (copy / "summary.json").write_text(json.dumps(summary))
    result = views.read_result(copy)
    page = report.build_html(result)
    assert "The plan beside rules of thumb" in page and "by population" in page
    book = workbook.build_workbook(result)
    texts = {c for row in book.worksheets[0].iter_rows(values_only=True) for c in row}
    assert "The plan beside rules of thumb" in texts and "by population" in texts
    # A result without them (an older run's) says nothing of rules.
    bare = tmp_path / "without-rules"
    shutil.copytree(one_way_result, bare)
    summary.pop("rules_of_thumb")
    (bare / "summary.json").write_text(json.dumps(summary))
    plain = report.build_html(views.read_result(bare))
    assert "rules of thumb" not in plain
    texts = {c for row in workbook.build_workbook(views.read_result(bare))
             .worksheets[0].iter_rows(values_only=True) for c in row}  # fmt: skip
    assert "The plan beside rules of thumb" not in texts
