"""The page a colleague can act on: deaths averted and spending first, what arrives where, what
limits the plan (and that relaxing it does what the page says), in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, find_browser
from conftest import DEFAULT_SCENARIO, ROOT, run_aidopt

from optimiser import figures, views
from optimiser.limits import WORDS

BROWSER = find_browser()
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium or Chrome installed (apt-get install chromium)"
)

READ_PAGE = """JSON.stringify({
  cards: [...document.querySelectorAll('.card.answer')].map(c => c.innerText),
  arrives: [...document.querySelectorAll('#arrives tr')].map(
      r => [...r.querySelectorAll('th,td')].map(c => c.innerText)),
  limits: [...document.querySelectorAll('#limits tr')].map(
      r => [...r.querySelectorAll('th,td')].map(c => c.innerText)),
  headings: [...document.querySelectorAll('h2')].map(h => h.innerText),
})"""


@pytest.fixture(scope="module")
def dprk_result(tmp_path_factory) -> Path:
    """The 2022 scenario, one-way (one LP): enough to read its page."""
    out = tmp_path_factory.mktemp("dprk") / "dprk-2022"
    done = run_aidopt("run", ROOT / "inputs" / "dprk-2022", "--out", out,
                      "--set", "coupling.mode=one-way")  # fmt: skip
    assert done.exit_code == 0, done.output
    return out


def number(text: str) -> float:
    return float(text.replace(",", "").strip())


def read_page(result: Path, tmp_path: Path) -> dict:
    page = tmp_path / "report.html"
    done = run_aidopt("report", result, "--out", page, "--no-pdf")
    assert done.exit_code == 0, done.output
    with Browser(BROWSER) as browser:
        visit = browser.visit(page, expression=READ_PAGE)
    assert visit.console_errors == []
    return json.loads(visit.value)


def check_answer(result: Path, tmp_path: Path) -> None:
    seen = read_page(result, tmp_path)
    summary = json.loads((result / "summary.json").read_text())
    # Deaths averted in every counted window, then spending, before anything else.
    for window, averted in summary["deaths_averted"].items():
        card = next(c for c in seen["cards"] if f"({window})" in c)
        assert figures.count(averted) in card
    assert any(f"{summary['spending_usd']['total'] / 1e6:,.1f} M USD" in c for c in seen["cards"])
    assert seen["headings"][:2] == ["What arrives where", "What limits the plan"]
    # The province x item table: its total row is deliveries.csv's `delivered`, item by item.
    header, *rows = seen["arrives"]
    total = dict(zip(header, rows[-1], strict=True))
    assert total["province"] == "total"
    csv = pd.read_csv(result / "deliveries.csv")
    ds = views.read_result(result).ds
    names, units = (
        views.commodity_names(ds),
        dict(zip(ds["commodity"].values.tolist(), ds["unit"].values.tolist(), strict=True)),
    )
    delivered = csv.groupby("commodity")["delivered"].sum()
    checked = 0
    for item, units_total in delivered.items():
        if units_total <= 0:
            continue
        shown = number(total[f"{names[item]} [{units[item]}]"])
        # The page rounds: whole units from 1,000, three significant digits below.
        assert shown == pytest.approx(units_total, rel=5e-3, abs=0.5 + 1e-5 * units_total)
        checked += 1
    assert checked >= 5
    # Every province's row sums to its deliveries too (the CSV's 6 digits against the page's).
    by_province = csv.groupby("province")["delivered"].sum()
    province_names = views.province_names(ds)
    for row in rows[:-1]:
        cells = dict(zip(header, row, strict=True))
        pid = next(p for p, n in province_names.items() if n == cells["province"])
        goods = sum(number(v) for k, v in cells.items() if k not in ("province", "all goods [t]"))
        assert goods == pytest.approx(by_province.get(pid, 0.0), rel=5e-3, abs=1.0)


@needs_browser
def test_the_default_page_answers_first_and_its_table_is_the_deliveries(one_way_result,
                                                                        tmp_path):  # fmt: skip
    check_answer(one_way_result, tmp_path)


@needs_browser
@pytest.mark.slow
def test_the_2022_page_answers_first_and_its_table_is_the_deliveries(dprk_result, tmp_path):
    check_answer(dprk_result, tmp_path)


def test_province_titles_give_plan_nc_deaths_at_the_date_they_name(one_way_result):
    ds = views.read_result(one_way_result).ds
    fig = figures.epidemic_curves(ds)
    names = views.province_names(ds)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == ds.sizes["province"]
    dates = pd.to_datetime(ds["date"].values)
    for title in titles:
        name, words = title.split("\n")
        found = re.fullmatch(r"deaths to (\d\d \w\w\w \d{4}): ([\d,.]+) -> ([\d,.]+)", words)
        assert found, words
        day = int(np.flatnonzero(dates == pd.Timestamp(found[1]))[0])
        province = next(p for p, n in names.items() if n == name)
        for variable, shown in (("people_no_aid", found[2]), ("people_with_plan", found[3])):
            deaths = float(ds[variable].sel(compartment="D", province=province).isel(day=day))
            assert number(shown) == pytest.approx(deaths, abs=0.5)
    figures.plt.close(fig)


def test_a_short_outbreak_is_drawn_on_a_linear_axis_and_a_long_one_on_a_log_axis():
    from matplotlib.figure import Figure  # noqa: F401  (figures sets the backend)

    days = np.arange(700)
    short = np.exp(-0.5 * ((days - 60) / 10.0) ** 2)[None, :] * 1e5
    first, last = figures.active_days(short)
    assert last - first <= figures.SHORT_OUTBREAK_DAYS
    long = (1e5 / (1 + days))[None, :]
    first, last = figures.active_days(long)
    assert last - first > figures.SHORT_OUTBREAK_DAYS


def test_weeks_without_load_are_grey_not_served(one_way_result):
    ds = views.read_result(one_way_result).ds
    load = ds["load"].copy()
    load[dict(lever=0, week=slice(0, 3))] = 0.0  # three weeks that put no load on tests
    fig = figures.coverage_heatmap(ds.assign(load=load))
    image = fig.axes[0].get_images()[0]
    shown = np.ma.getmaskarray(image.get_array())
    no_load = load.isel(lever=0).transpose("province", "week").values <= 0
    assert no_load.any() and np.array_equal(shown, no_load)
    assert image.get_cmap().get_bad()[:3] == pytest.approx((0.784, 0.784, 0.784), abs=0.01)
    figures.plt.close(fig)


def test_every_item_names_what_limits_it(one_way_result):
    summary = json.loads((one_way_result / "summary.json").read_text())
    items = summary["limits"]["items"]
    assert set(summary["fill_rate"]) <= set(items)
    for item, entry in items.items():
        assert entry["limit"] in WORDS, item
        assert entry["words"] == WORDS[entry["limit"]]
    top = summary["limits"]["most_valuable"]
    assert len(top) == 3 and all(r["set"] for r in top)
    assert [r["deaths_if_doubled"] for r in top] == sorted(
        (r["deaths_if_doubled"] for r in top), reverse=True)  # fmt: skip


def fill_after(one_way_result: Path, tmp_path: Path, setting: str) -> dict[str, float]:
    out = tmp_path / re.sub(r"[^a-z0-9]+", "-", setting.lower())
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "--set", "coupling.mode=one-way",
                      "--set", setting, "-q")  # fmt: skip
    assert done.exit_code == 0, done.output
    return json.loads((out / "summary.json").read_text())["fill_rate"]


@pytest.mark.slow
def test_relaxing_the_worst_items_limit_raises_its_fill_and_a_slack_one_does_not(
    one_way_result, tmp_path
):
    summary = json.loads((one_way_result / "summary.json").read_text())
    fill = {k: v for k, v in summary["fill_rate"].items() if v is not None}
    worst = min(fill, key=fill.get)
    entry = summary["limits"]["items"][worst]
    assert entry["set"] and entry["not_binding"], entry
    raised = fill_after(one_way_result, tmp_path, entry["set"])
    assert raised[worst] > fill[worst] * 1.05
    slack = fill_after(one_way_result, tmp_path, entry["not_binding"][0])
    assert slack[worst] == pytest.approx(fill[worst], rel=1e-6, abs=1e-9)


def test_sea_routes_go_around_the_coast_and_land_routes_stay_straight(one_way_result):
    found = figures._load_outlines()
    assert found is not None and "public domain" in found[1]
    on_land = figures._land(found[0])
    # Busan to Rason by sea: around the east coast, never across the peninsula.
    busan, rason = (129.040, 35.104), (130.384, 42.344)
    lane = figures.sea_lane(on_land, busan, rason)
    assert len(lane) > 2
    inner = lane[1:-1]
    for a, b in zip(inner[:-1], inner[1:], strict=True):
        assert not figures._crosses_land(on_land, tuple(a), tuple(b))
    # Pyongyang lies on land; the Yellow Sea west of Nampo does not.
    assert on_land(np.array([[125.763, 39.039]]))[0]
    assert not on_land(np.array([[124.5, 38.2]]))[0]
    fig, note = figures.flow_map(views.read_result(one_way_result).ds)
    assert "Sea routes are drawn through points at sea" in note
    figures.plt.close(fig)
