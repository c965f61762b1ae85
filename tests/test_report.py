"""`aidopt report`: one page that opens without a network, in a real browser, and says what the
result holds."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import matplotlib.image
import pytest
import xarray as xr
from browser import Browser, find_browser
from conftest import ROOT, run_aidopt

from optimiser import figures, report, views

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium or Chrome installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def page(one_way_result, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = run_aidopt("report", one_way_result, "--out", out, "--no-pdf")
    assert done.exit_code == 0, done.output
    return out


def test_the_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    # Every src/href is inline data; no stylesheet, font or image is fetched.
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text)
    assert links and all(link.startswith("data:") for link in links)
    assert not re.search(r"url\(|@import|https?://", text.split("<body>")[0])


def test_the_page_states_the_headline_convergence_and_assumptions(page, one_way_result):
    text = page.read_text(encoding="utf-8")
    summary = json.loads((one_way_result / "summary.json").read_text())
    assert f"{summary['deaths_no_aid']:,.0f}" in text
    assert f"{summary['deaths_with_plan']:,.0f}" in text
    assert "one-way coupling" in text
    assert "Key assumptions" in text and "linear program" in text
    assert "Natural Earth 1:10m Cultural Vectors" in text and "public domain" in text
    for route in ("incheon-nampo-sea", "dandong-sinuiju-rail"):
        assert route in text
    assert "closed: no flow allowed" in text


def test_an_uncertainty_range_is_shown_when_the_summary_has_one(one_way_result, tmp_path):
    copy = tmp_path / "with-range"
    shutil.copytree(one_way_result, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["uncertainty"] = {
        "label": "90% interval",
        "deaths_with_plan": [12.0, 4321.0],
        "deaths_no_aid": {"low": 20000.0, "high": 30000.0},
    }
    (copy / "summary.json").write_text(json.dumps(summary))
    text = report.build_html(views.read_result(copy))
    assert "90% interval: 12 to 4,321" in text
    assert "90% interval: 20,000 to 30,000" in text


def test_the_heat_map_has_a_panel_per_lever_whatever_the_levers(one_way_result):
    ds = views.read_result(one_way_result).ds
    three = xr.concat(
        [ds["coverage"], ds["coverage"].isel(lever=[0]).assign_coords(lever=["another"])],
        dim="lever",
    )
    on_lever = [v for v in ds.data_vars if "lever" in ds[v].dims]
    fig = figures.coverage_heatmap(
        ds.drop_vars([*on_lever, "lever", "lever_unit"]).assign(coverage=three)
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [*ds["lever"].values.tolist(), "another"]


def test_every_province_boundary_is_given_to_the_province_whose_centre_it_holds():
    import pandas as pd

    found = figures._load_province_outlines()
    assert found is not None and "public domain" in found[1] and "Admin 1" in found[1]
    units = found[0]
    table = pd.read_csv(ROOT / "inputs" / "korea-2020" / "provinces.csv")
    centres = {r.id: (r.longitude, r.latitude) for r in table.itertuples()}
    names = dict(zip(table["id"], table["name"], strict=True))
    owner = figures.match_provinces(units, centres, names)
    # Natural Earth's 11 named units, each to one province; Nampo and Kaesong lie inside South
    # Pyongan's and North Hwanghae's and are left to discs.
    assert len(owner) == 11 and len(set(owner.values())) == 11
    assert set(centres) - set(owner.values()) == {"nampo", "kaesong"}
    by_name = {units[i]["name"]: p for i, p in owner.items()}
    assert by_name["P'yŏngan-namdo"] == "south_pyongan"
    assert by_name["Hwanghae-bukto"] == "north_hwanghae"
    assert by_name["Rasŏn"] == "rason"


def test_the_map_fills_the_provinces_and_names_the_boundaries_source(one_way_result):
    fig, note = figures.flow_map(views.read_result(one_way_result).ds)
    assert "Province boundaries: Natural Earth 1:10m Cultural Vectors, Admin 1" in note
    assert "Nampo, Kaesong are drawn as discs" in note
    filled = [p for p in fig.axes[0].patches if p.get_zorder() == 0.5]
    assert len(filled) >= 11  # one polygon per unit at least (two provinces hold islands)


def test_without_outlines_the_map_says_it_is_a_schematic(one_way_result, monkeypatch, tmp_path):
    monkeypatch.setattr(figures, "OUTLINES", tmp_path / "absent.json")
    monkeypatch.setattr(figures, "OUTLINES_10M", tmp_path / "absent-10m.json")
    _, note = figures.flow_map(views.read_result(one_way_result).ds)
    assert note.startswith("Schematic: nodes at their latitude and longitude")


def screenshot_is_blank(png: bytes) -> bool:
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    not_white = (pixels < 0.9).any(axis=-1).mean()
    return bool(not_white < 0.02 or pixels.std() < 0.05)


@needs_browser
def test_the_page_opens_in_chromium_offline_without_errors(page):
    with Browser(BROWSER) as browser:
        visit = browser.visit(page)
    assert visit.console_errors == []
    assert visit.requests[0] == page.resolve().as_uri()
    assert all(url.startswith(("file:", "data:")) for url in visit.requests), visit.requests
    assert not screenshot_is_blank(visit.screenshot_png)


@needs_browser
def test_the_browser_check_would_see_errors_requests_and_blank_pages(tmp_path):
    """The control for the test above: a page that breaks each rule is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><body><img src="http://aidopt.invalid/x.png">'
        "<script>console.error('broken'); undefined_function();</script></body></html>"
    )
    with Browser(BROWSER) as browser:
        visit = browser.visit(bad)
    assert any(url.startswith("http://aidopt.invalid") for url in visit.requests)
    assert any("broken" in e for e in visit.console_errors)
    assert any("undefined_function" in e for e in visit.console_errors)
    assert screenshot_is_blank(visit.screenshot_png)


@needs_browser
def test_a_pdf_is_printed_beside_the_page(one_way_result, tmp_path):
    out = tmp_path / "r.html"
    done = run_aidopt("report", one_way_result, "--out", out)
    assert done.exit_code == 0, done.output
    pdf = out.with_suffix(".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    assert f"wrote {out} {pdf}" in done.output


def test_without_a_browser_the_pdf_is_skipped_with_a_message(one_way_result, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "find_browser", lambda: None)
    out = tmp_path / "r.html"
    done = run_aidopt("report", one_way_result, "--out", out)
    assert done.exit_code == 0, done.output
    assert "PDF skipped: no Chromium or Chrome found" in done.output
    assert out.is_file() and not out.with_suffix(".pdf").exists()


def test_a_result_without_an_epidemic_still_reports(one_way_result, tmp_path):
    """Needs from a table: no curves, and the headline says deaths were not computed."""
    copy = tmp_path / "no-epidemic"
    shutil.copytree(one_way_result, copy)
    ds = xr.open_dataset(copy / "plan.nc").load()
    ds = ds.drop_vars(["people_no_aid", "people_with_plan"])
    (copy / "plan.nc").unlink()
    ds.to_netcdf(copy / "plan.nc")
    summary = json.loads((copy / "summary.json").read_text())
    for key in ("deaths_no_aid", "deaths_with_plan", "infections_no_aid", "infections_with_plan"):
        summary[key] = None
    summary["epidemic"] = "not computed: needs come from needs.csv"
    (copy / "summary.json").write_text(json.dumps(summary))
    text = report.build_html(views.read_result(copy))
    assert "not computed: needs come from needs.csv" in text
    assert "epidemic curves" not in text
    assert "Where the goods go" in text


def test_a_result_from_before_node_coordinates_reports_without_a_map(one_way_result, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(one_way_result, copy)
    ds = xr.open_dataset(copy / "plan.nc").load()
    (copy / "plan.nc").unlink()
    on_lever = [v for v in ds.data_vars if "lever" in ds[v].dims]
    old = ds.drop_vars(["latitude", "longitude", *on_lever, "lever", "lever_unit"])
    old = old.assign(testing_coverage=ds["coverage"].isel(lever=0, drop=True),
                     care_coverage=ds["coverage"].isel(lever=-1, drop=True))  # fmt: skip
    old.to_netcdf(copy / "plan.nc")
    text = report.build_html(views.read_result(copy))
    assert "No map: this result has no node coordinates" in text
    assert "coverage heat map" in text  # from the older testing_/care_coverage variables


def test_the_readme_shows_the_report_in_a_small_picture():
    assert "](docs/report.png)" in (ROOT / "README.md").read_text(encoding="utf-8")
    picture = ROOT / "docs" / "report.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size < 500_000


def test_a_page_aidopt_wrote_is_written_again_a_users_file_is_not(one_way_result, tmp_path):
    out = tmp_path / "mine.html"
    for _ in range(2):
        done = run_aidopt("report", one_way_result, "--out", out, "--no-pdf")
        assert done.exit_code == 0, done.output
    theirs = tmp_path / "theirs.html"
    theirs.write_text("<p>the user's own page</p>")
    refused = run_aidopt("report", one_way_result, "--out", theirs, "--no-pdf")
    assert refused.exit_code == 2  # a named error, not an internal one
    assert f"{theirs}: exists and aidopt did not write it; choose another file" in refused.output
    assert "internal error" not in refused.output
    assert theirs.read_text() == "<p>the user's own page</p>"
