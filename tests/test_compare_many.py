"""`aidopt compare A B C ...`: several results side by side, each under its own label; and a
copy made by `aidopt init` carries its folder's name."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import yaml
from conftest import run_aidopt


def test_three_results_side_by_side_each_under_its_own_label(one_way_result, tmp_path):
    copies = []
    for name, scale in (("half", 0.5), ("double", 2.0)):
        copy = tmp_path / name
        shutil.copytree(one_way_result, copy)
        summary = json.loads((copy / "summary.json").read_text())
        summary["spending_usd"]["total"] *= scale
        (copy / "summary.json").write_text(json.dumps(summary))
        copies.append(copy)
    out = tmp_path / "three.csv"
    done = run_aidopt("compare", one_way_result, *copies, "--out", out)
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out).set_index("item")
    # All three are scenario korea-2020: the labels fall back to the folders' names.
    assert list(table.columns) == ["korea-2020", "half", "double"]
    base = json.loads((one_way_result / "summary.json").read_text())
    spent = base["spending_usd"]["total"]
    assert table.loc["spending_usd.total"].tolist() == [spent, 0.5 * spent, 2.0 * spent]
    averted = base["deaths_no_aid"] - base["deaths_with_plan"]
    assert table.loc["deaths_averted"].tolist() == [averted] * 3
    svg = out.with_suffix(".svg")
    assert svg.read_text().startswith("<?xml") and f"wrote {out} {svg}" in done.output
    assert "fill_rate.pcr_test" in done.output and "%" in done.output


def test_compare_needs_two_results(one_way_result):
    done = run_aidopt("compare", one_way_result)
    assert done.exit_code == 2
    assert "compare needs two results or more; got 1" in done.output


def test_an_init_copy_is_named_after_its_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = run_aidopt("init", "my-plan")
    assert done.exit_code == 0, done.output
    config = yaml.safe_load((tmp_path / "my-plan" / "scenario.yaml").read_text())
    assert config["name"] == "my-plan"
    # The rest of the file, comments included, is the shipped scenario's.
    text = (tmp_path / "my-plan" / "scenario.yaml").read_text()
    assert "# korea-2020: talks restart in spring 2020" in text
    checked = run_aidopt("validate", tmp_path / "my-plan")
    assert checked.exit_code == 0 and checked.output.startswith("my-plan: valid")
