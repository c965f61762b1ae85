"""`aidopt compare A B`: a result against itself is identical; against another run the
differences are exactly the two results' own numbers subtracted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import DEFAULT_SCENARIO, run_aidopt


@pytest.fixture(scope="module")
def r0_3_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("r0-3") / "r0-3"
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out,
                      "--set", "coupling.mode=one-way", "--set", "epidemic.r0=3")  # fmt: skip
    assert done.exit_code == 0, done.output
    return out


def test_a_result_compared_with_itself_is_identical(one_way_result, tmp_path):
    out = tmp_path / "same.csv"
    done = run_aidopt("compare", one_way_result, one_way_result, "--out", out)
    assert done.exit_code == 0, done.output
    assert "identical: no differences in" in done.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["item", "a", "b", "difference"]
    assert (table["difference"] == 0).all()
    items = set(table["item"])
    assert {"deaths_no_aid", "deaths_with_plan", "infections_with_plan",
            "fill_rate.pcr_test", "fill_rate.medical_team", "tonnes.incheon-nampo-sea",
            "unmet.pyongyang.pcr_test", "team_weeks_present.pyongyang"} <= items  # fmt: skip


def test_differences_are_the_summaries_subtracted(one_way_result, r0_3_result, tmp_path):
    out = tmp_path / "r0.csv"
    done = run_aidopt("compare", one_way_result, r0_3_result, "--out", out)
    assert done.exit_code == 0, done.output
    a = json.loads((one_way_result / "summary.json").read_text())
    b = json.loads((r0_3_result / "summary.json").read_text())
    table = pd.read_csv(out).set_index("item")
    for key in ("deaths_no_aid", "deaths_with_plan", "infections_no_aid"):
        assert table.loc[key, "a"] == a[key] and table.loc[key, "b"] == b[key]
        assert table.loc[key, "difference"] == b[key] - a[key]
    assert b["deaths_no_aid"] > a["deaths_no_aid"]  # a faster epidemic kills more
    assert "deaths_no_aid" in done.output and "items differ (difference = B - A)" in done.output
    assert f"+{b['deaths_no_aid'] - a['deaths_no_aid']:,.0f}" in done.output


def test_the_default_csv_goes_beside_b(one_way_result):
    done = run_aidopt("compare", one_way_result, one_way_result)
    assert done.exit_code == 0, done.output
    expected = one_way_result.parent / "compare-korea-2020-vs-korea-2020.csv"
    assert expected.is_file()
    assert f"wrote {expected}" in done.output
    # the same comparison again replaces the file aidopt wrote...
    again = run_aidopt("compare", one_way_result, one_way_result)
    assert again.exit_code == 0, again.output
    # ...but not once somebody has changed it: named, exit 2, the change kept
    expected.write_text(expected.read_text() + "a note of mine\n")
    refused = run_aidopt("compare", one_way_result, one_way_result)
    assert refused.exit_code == 2
    assert (f"{expected}: exists and was changed since aidopt wrote it; choose another file"
            in refused.output)  # fmt: skip
    assert expected.read_text().endswith("a note of mine\n")


def test_comparing_a_folder_that_is_no_result_exits_2(one_way_result, tmp_path):
    done = run_aidopt("compare", one_way_result, tmp_path / "nowhere")
    assert done.exit_code == 2
    assert "nowhere: no such folder" in done.output


def test_spending_is_compared_when_the_summaries_hold_it(one_way_result, tmp_path):
    richer = tmp_path / "with-spending"
    shutil.copytree(one_way_result, richer)
    summary = json.loads((richer / "summary.json").read_text())
    summary["spending_usd"] = {"procurement": 1000.0, "transport": 250.0, "teams": 0.0}
    (richer / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "spending.csv"
    done = run_aidopt("compare", richer, one_way_result, "--out", out)
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out).set_index("item")
    original = json.loads((Path(one_way_result) / "summary.json").read_text())["spending_usd"]
    assert table.loc["spending_usd.transport", "a"] == 250.0
    assert table.loc["spending_usd.transport", "b"] == pytest.approx(original["transport"])
    assert "spending_usd.transport" in done.output and "4 of" in done.output
