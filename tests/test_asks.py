"""`aidopt asks`: candidate asks from a scenario's rules, the warm start they are re-solved from,
and the table of deaths averted.

The runs use both shipped scenarios cut to a 6-week horizon and a 16-week outlook (`SHORT`):
every ask of each is re-solved, as the command does it, in about a minute on two cores. That
is still a fair check of the rules that matter here: the asks, the warm start, the band and the
ranks do not depend on the horizon's length, and the short horizons still bind (routes open in
weeks 1-6, the air route and the exemption carry goods), so some asks have large effects and
others none.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import DEFAULT_SCENARIO, ROOT, run_aidopt

from optimiser import asks as asks_module
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.network import build_network, route_windows

DPRK_2022 = ROOT / "inputs" / "dprk-2022"
SHORT = ["--set", "horizon_weeks=6", "--set", "epidemic.outlook_weeks=16",
         "--set", "epidemic.after_horizon.aid=stop"]
"""Aid stops at the horizon here: held past it (the default), korea-2020's short base plan still
gains 15 deaths a step after 40 (9 would stop it), so the loop runs out of iterations; the
stopping test is issue 18 item 4's, not these tests' subject."""
GENERATORS = "generators-for-isolation-wards"
DRAWS = ["--draws", "6", "--seed", "7"]


def arc(scn, arc_id):
    return next(a for a in scn.arcs if a.id == arc_id)


# --- candidate asks ---------------------------------------------------------------------------


def test_every_rule_of_the_default_scenario_gets_its_asks_with_unique_ids():
    scn = load_scenario(DEFAULT_SCENARIO)
    asks = asks_module.generate(scn, binding=["incheon-pyongyang-air"])
    ids = [a.id for a in asks]
    assert len(ids) == len(set(ids))
    rok_dprk = ["dorasan-kaesong-rail", "dorasan-kaesong-road", "goseong-kumgang-road",
                "incheon-nampo-sea", "sokcho-wonsan-sea", "busan-rajin-sea",
                "incheon-pyongyang-air"]  # fmt: skip
    expected = {
        f"exemption-drop:{GENERATORS}", f"exemption-sooner:{GENERATORS}",
        f"exemption-quota-x2:{GENERATORS}", "hs-lift:85:generator",
        *(f"route-close:{a}" for a in rok_dprk), *(f"route-sooner:{a}" for a in rok_dprk),
        *(f"capacity-x1.5:{a}" for a in rok_dprk), "capacity-x2:incheon-pyongyang-air",
        "crossing-open:dandong", "crossing-open:hunchun", "crossing-open:all", "teams-x1.5",
        "lift:unscr-2397", "lift:may-24",
    }  # fmt: skip
    assert expected <= set(ids)
    # the China crossings are shut all horizon long (closed from 22 Jan 2020): no capacity ask
    assert not [i for i in ids if i.startswith("capacity") and "sinuiju" in i]
    # the exemption is valid to the horizon already: extending it could change nothing
    assert f"exemption-longer:{GENERATORS}" not in ids
    by_id = {a.id: a for a in asks}
    assert by_id[f"exemption-drop:{GENERATORS}"].direction == "tighten"
    assert by_id["route-close:incheon-nampo-sea"].direction == "tighten"
    assert {a.direction for a in asks if a.kind not in ("exemption-drop", "route-close")} == {
        "relax"
    }


def test_each_ask_changes_the_rule_it_names():
    scn = load_scenario(DEFAULT_SCENARIO)
    by_id = {a.id: a for a in asks_module.generate(scn, binding=["incheon-pyongyang-air"])}

    def changed(ask_id):
        return load_scenario(DEFAULT_SCENARIO, asks_module.overrides_of([by_id[ask_id]], scn))

    k, a_air = scn.commodity_ids.index("generator"), scn.arcs.index(arc(scn, "incheon-nampo-sea"))
    assert build_network(scn).barred[k, a_air]
    assert not build_network(changed("hs-lift:85:generator")).barred[k].any()
    assert not build_network(changed("lift:unscr-2397")).barred.any()
    assert changed(f"exemption-drop:{GENERATORS}").config.exemptions_requested == ()
    sooner = changed(f"exemption-sooner:{GENERATORS}").sanctions.exemptions[0]
    assert (sooner.approval_lead_weeks, sooner.validity_weeks) == (0, 27)  # same last week
    assert changed(f"exemption-quota-x2:{GENERATORS}").sanctions.exemptions[0].quota_t == 80
    routes = changed("route-close:incheon-nampo-sea").sanctions.rok_route_approvals.routes
    assert "incheon-nampo-sea" not in routes and len(routes) == 6
    assert changed("route-sooner:busan-rajin-sea").sanctions.rok_route_approvals.routes[
        "busan-rajin-sea"] == 2  # fmt: skip
    assert set(changed("lift:may-24").sanctions.rok_route_approvals.routes.values()) == {0}
    assert arc(changed("capacity-x2:incheon-pyongyang-air"),
               "incheon-pyongyang-air").capacity_t_per_week == 40  # fmt: skip
    assert arc(changed("capacity-x1.5:incheon-nampo-sea"),
               "incheon-nampo-sea").capacity_t_per_week == 21000  # fmt: skip
    assert changed("teams-x1.5").config.staff.teams_per_week == 15
    opened = changed("crossing-open:all")
    windows = route_windows(opened)
    for arc_id in ("dandong-sinuiju-rail", "dandong-sinuiju-road", "hunchun-rason-road"):
        assert windows[opened.arcs.index(arc(opened, arc_id))].all()
    assert not route_windows(changed("crossing-open:hunchun"))[
        scn.arcs.index(arc(scn, "dandong-sinuiju-rail"))].any()  # fmt: skip


def test_an_unrequested_exemption_is_asked_for_and_requests_combine():
    scn = load_scenario(DEFAULT_SCENARIO, ["exemptions_requested=[]"])
    asks = asks_module.generate(scn)
    request = next(a for a in asks if a.id == f"exemption-request:{GENERATORS}")
    assert request.direction == "relax"
    assert asks_module.overrides_of([request], scn) == [f"exemptions_requested=[{GENERATORS}]"]
    assert not [a for a in asks if a.kind == "exemption-drop"]
    lift = next(a for a in asks if a.id == "hs-lift:85:generator")
    both = asks_module.overrides_of([request, lift], scn)
    assert both == [f"exemptions_requested=[{GENERATORS}]",
                    "sanctions.unscr_2397.lifted_for=[generator]"]  # fmt: skip
    assert not asks_module.conflict(lift, [request])
    by_id = {a.id: a for a in asks_module.generate(scn, ["incheon-pyongyang-air"])}
    assert asks_module.conflict(by_id["capacity-x2:incheon-pyongyang-air"],
                                [by_id["capacity-x1.5:incheon-pyongyang-air"]])  # fmt: skip
    assert asks_module.conflict(by_id["route-sooner:busan-rajin-sea"], [by_id["lift:may-24"]])


def test_lifted_for_carves_a_commodity_out_of_the_ban_and_names_unknown_ones():
    scn = load_scenario(DEFAULT_SCENARIO, ["sanctions.unscr_2397.lifted_for=[generator]",
                                           "exemptions_requested=[]"])  # fmt: skip
    net = build_network(scn)
    generator = scn.commodity_ids.index("generator")
    assert not net.barred[generator].any() and not net.barred.any()
    assert net.allowed[generator].any()  # it crosses with no exemption at all
    with pytest.raises(ScenarioError) as err:
        load_scenario(DEFAULT_SCENARIO, ["sanctions.unscr_2397.lifted_for=[generatr]"])
    assert ("unscr_2397.lifted_for: 'generatr' is not a known commodity (did you mean "
            "'generator'?)") in str(err.value)  # fmt: skip


# --- the warm start ---------------------------------------------------------------------------


def _plan_file(path, provinces, weeks, levers=("tests", "isolation", "hospital", "care"),
               value=1.0):  # fmt: skip
    aid = np.full((len(levers), len(provinces), weeks), value)
    xr.Dataset({"aid": (("lever", "province", "week"), aid)},
               coords={"lever": list(levers), "province": provinces,
                       "week": np.arange(weeks)}).to_netcdf(path)  # fmt: skip
    return path


def test_a_warm_start_that_does_not_fit_is_named_with_its_field_and_value(tmp_path):
    scn = load_scenario(DEFAULT_SCENARIO)
    field = "scenario.yaml, coupling.warm_start"
    fit = "does not fit this scenario: it has"
    cases = {
        tmp_path / "missing.nc": "does not exist (relative paths start at the working folder",
        tmp_path: "is not a file",
        tmp_path / "text.nc": "is not a plan.nc aidopt wrote",
        _plan_file(tmp_path / "weeks.nc", scn.province_ids, 5):
            f"{fit} 5 weeks where the scenario's horizon has 26",
        _plan_file(tmp_path / "provinces.nc", ["x", "y"], 26):
            f"{fit} provinces x, y where the scenario has pyongyang",
        _plan_file(tmp_path / "levers.nc", scn.province_ids, 26, ("tests",)):
            f"{fit} levers tests where the model has tests, isolation, hospital, care",
    }  # fmt: skip
    (tmp_path / "text.nc").write_text("not a netCDF file\n")
    for path, problem in cases.items():
        with pytest.raises(ScenarioError) as err:
            load_scenario(DEFAULT_SCENARIO, [f"coupling.warm_start={path}"])
        assert f"{field}: '{path}' {problem}" in str(err.value)
    fits = _plan_file(tmp_path / "fits.nc", scn.province_ids, 26)
    warm = load_scenario(DEFAULT_SCENARIO, [f"coupling.warm_start={fits}"])
    assert warm.warm_start is not None and (warm.warm_start.aid == 1).all()
    _plan_file(fits, scn.province_ids, 26, value=2.0)  # the same path, another plan
    again = load_scenario(DEFAULT_SCENARIO, [f"coupling.warm_start={fits}"])
    assert again.inputs_sha256 != warm.inputs_sha256  # the plan's content is an input


# --- the command ------------------------------------------------------------------------------


def test_draws_without_an_uncertainty_block_exit_2_before_anything_runs(tmp_path):
    out = tmp_path / "asks"
    result = run_aidopt("asks", DPRK_2022, "--set", "uncertainty=null", *DRAWS, "--out", out)
    assert result.exit_code == 2
    assert (f"{DPRK_2022 / 'scenario.yaml'}: --draws and --seed draw from an 'uncertainty' "
            f"block, and the scenario has none") in result.output  # fmt: skip
    assert not out.exists()


def test_the_share_of_draws_in_the_top_three_counts_each_draw_once():
    from optimiser.asks_run import OverDraws
    from optimiser.uncertainty import Draws

    averted = np.array([[5.0, 1.0], [4.0, 9.0], [3.0, 8.0], [2.0, 7.0], [np.nan, np.nan],
                        [9.0, 9.0], [0.0, 0.0]])  # fmt: skip
    relax = np.array([True, True, True, True, True, False, True])
    draws = Draws(("epidemic.r0",), np.zeros((2, 1)), ((), ()), seed=0)
    share = OverDraws(draws, np.zeros(2), averted).top_share(relax)
    # draw 0: asks 0, 1, 2; draw 1: asks 1, 2, 3; a run with no answer ranks nowhere, and a
    # refusal (the last row, whatever it averts) is no ask to rank
    np.testing.assert_array_equal(share[:4], [0.5, 1.0, 1.0, 0.5])
    assert np.isnan(share[4]) and np.isnan(share[5])
    # an ask that averts nothing is in no top, though it ties above nothing
    assert share[6] == 0.0
    only_one = OverDraws(draws, np.zeros(2), np.array([[3.0, -1.0], [0.0, 0.0]]))
    np.testing.assert_array_equal(only_one.top_share(np.array([True, True])), [0.5, 0.0])


def test_an_only_pattern_that_matches_nothing_exits_2_naming_the_asks(tmp_path):
    out = tmp_path / "out"
    result = run_aidopt("asks", DEFAULT_SCENARIO, "--only", "rout-close:*", "--out", out)
    assert result.exit_code == 2
    assert "--only 'rout-close:*' matches no ask (did you mean" in result.output
    assert "route-close:incheon-nampo-sea" in result.output  # the asks there are
    assert "kinds: capacity-x1.5, capacity-x2, crossing-open" in result.output
    assert not out.exists()


def _replay(row: pd.Series, scenario, out) -> float:
    result = run_aidopt(
        "run",
        scenario,
        "--out",
        out,
        "-q",
        *(x for s in json.loads(row["overrides"]) for x in ("--set", s)),
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())["deaths_with_plan"]


@pytest.fixture(scope="module")
def dprk_asks(tmp_path_factory):
    """Every ask of dprk-2022 (short), its exemption not requested."""
    out = tmp_path_factory.mktemp("asks") / "dprk"
    result = run_aidopt("asks", DPRK_2022, *SHORT, "--set", "exemptions_requested=[]",
                        "--workers", "2", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def dprk_greedy(tmp_path_factory):
    """Two greedy steps over five asks of dprk-2022 (short), each plan met by 6 drawn
    epidemics."""
    out = tmp_path_factory.mktemp("asks") / "greedy"
    result = run_aidopt("asks", DPRK_2022, *SHORT, "--set", "exemptions_requested=[]",
                        "--only", "lift:*,teams-*,exemption-*", "--only", "crossing-open:all",
                        "--greedy", "2", "--workers", "2", *DRAWS, "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def korea_asks(tmp_path_factory):
    out = tmp_path_factory.mktemp("asks") / "korea"
    result = run_aidopt("asks", DEFAULT_SCENARIO, *SHORT, "--workers", "2", "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


def _table(out) -> tuple[pd.DataFrame, dict]:
    return pd.read_csv(out / "asks.csv"), json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("which", ["dprk_asks", "korea_asks"])
def test_no_relaxation_raises_deaths_beyond_the_band(which, request):
    """From the base plan, which a relaxation keeps feasible, the loop only takes steps that
    lower deaths + spending / usd_per_death: so a relaxation ends no worse than the reference
    by more than the loop's own band, and what it saves in spending."""
    df, summary = _table(request.getfixturevalue(which)[0])
    usd_per_death = load_scenario(DPRK_2022).config.objective.usd_per_death_averted
    loop = max(summary["band"]["loop"], summary["band"]["paths"])  # the asks' own evidence aside
    assert len(df) == summary["asks"] + 1 and df["ask"].is_unique
    relax = df[df["direction"] == "relax"]
    assert len(relax) >= 15 and relax["converged"].all()
    saved = (-relax["spending_change_usd"]).clip(lower=0) / usd_per_death
    assert (relax["deaths_with_plan"] <= df.loc[0, "deaths_with_plan"] + loop + saved).all()
    # the band: the largest of the loop's and of any difference of the wrong sign
    wrong = pd.concat(
        [-relax["deaths_averted"], df.loc[df["direction"] == "tighten", "deaths_averted"]]
    ).clip(lower=0)
    band = summary["band_deaths"]
    assert band == pytest.approx(max(loop, wrong.max()))
    # measurable exactly where the difference reaches the band; ranked by deaths averted
    measurable = df["effect"] == "measurable"
    assert (measurable == (df["deaths_averted"].abs() >= band)).iloc[1:].all()
    assert df.loc[measurable, "rank"].tolist() == list(range(1, measurable.sum() + 1))
    assert df.loc[measurable, "deaths_averted"].is_monotonic_decreasing
    assert df.loc[~measurable, "rank"].isna().all()
    assert measurable.sum() >= 2 and (df["effect"] == "no measurable effect").sum() >= 2


@pytest.mark.slow
def test_the_reference_starts_from_the_base_plan_and_only_improves_it(dprk_asks):
    """The reference is the base re-solved from its own plan: it can only take steps that lower
    deaths + spending / usd_per_death, so it ends no worse than the base; how far it moves is
    the loop's path alone, and part of the band."""
    df, summary = _table(dprk_asks[0])
    reference, base = summary["reference"], summary["base"]
    config = load_scenario(DPRK_2022).config
    base_summary = json.loads((dprk_asks[0] / "base" / "summary.json").read_text())
    usd = config.objective.usd_per_death_averted
    merit_base = base["deaths_with_plan"] + base_summary["spending_usd"]["total"] / usd
    merit_reference = reference["deaths_with_plan"] + df.loc[0, "spending_usd"] / usd
    assert merit_reference <= merit_base + 1e-6 * merit_base
    assert summary["band"]["loop"] == pytest.approx(
        config.coupling.tolerance * reference["deaths_with_plan"] + 0.5
    )
    assert summary["band"]["paths"] == pytest.approx(
        abs(reference["deaths_with_plan"] - base["deaths_with_plan"])
    )
    assert df.loc[0, "ask"] == "base" and df.loc[0, "deaths_averted"] == 0
    assert json.loads(df.loc[0, "overrides"])[-1].startswith("coupling.warm_start=")


@pytest.mark.slow
def test_an_unrequested_exemption_gets_a_row_and_a_value(dprk_asks):
    df, _ = _table(dprk_asks[0])
    row = df[df["ask"] == f"exemption-request:{GENERATORS}"].iloc[0]
    assert row["direction"] == "relax" and row["converged"]
    assert math.isfinite(row["deaths_averted"]) and row["effect"] != "failed"
    assert json.loads(row["overrides"])[-1] == f"exemptions_requested=[{GENERATORS}]"


@pytest.mark.slow
def test_three_rows_replay_with_aidopt_run(dprk_asks, korea_asks, tmp_path):
    """A relaxation with a large effect, one with none, and a refusal: each row's overrides
    given to `aidopt run` give its deaths again."""
    dprk, _ = _table(dprk_asks[0])
    korea, _ = _table(korea_asks[0])
    quiet = dprk.loc[dprk["effect"] == "no measurable effect", "ask"].iloc[0]
    rows = [(dprk, "lift:may-24", DPRK_2022), (dprk, quiet, DPRK_2022),
            (korea, "route-close:incheon-pyongyang-air", DEFAULT_SCENARIO)]  # fmt: skip
    for i, (df, ask, scenario) in enumerate(rows):
        row = df[df["ask"] == ask].iloc[0]
        again = _replay(row, scenario, tmp_path / f"replay-{i}")
        assert again == pytest.approx(row["deaths_with_plan"], rel=1e-6), ask
    assert rows[0][0].set_index("ask").loc["lift:may-24", "effect"] == "measurable"


@pytest.mark.slow
def test_a_refusal_that_puts_the_base_plan_out_of_reach_still_converges(korea_asks):
    df, summary = _table(korea_asks[0])
    row = df[df["ask"] == "route-close:incheon-pyongyang-air"].iloc[0]
    assert row["direction"] == "tighten" and row["converged"]
    assert row["deaths_averted"] < -summary["band_deaths"]
    with xr.open_dataset(korea_asks[0] / "base" / "plan.nc") as base:  # the plan flew
        assert float(base["shipments_t"].sel(arc="incheon-pyongyang-air").sum()) > 1.0


@pytest.mark.slow
def test_the_greedy_list_takes_the_best_ask_first_and_replays(dprk_greedy, tmp_path):
    out, printed = dprk_greedy
    df, summary = _table(out)
    greedy = pd.read_csv(out / "greedy.csv")
    best = df[(df["direction"] == "relax") & df["rank"].notna()].iloc[0]
    assert greedy.loc[0, "ask"] == best["ask"]
    assert greedy.loc[0, "deaths_averted"] == pytest.approx(best["deaths_averted"])
    assert summary["asks"] == 5 and greedy.loc[1, "candidates"] <= 4
    assert 1 <= len(greedy) <= 2 and greedy["cumulative_deaths_averted"].is_monotonic_increasing
    assert (greedy["deaths_averted"] >= summary["band_deaths"]).all()
    last = greedy.iloc[-1]
    assert set(json.loads(best["overrides"])) <= set(json.loads(last["overrides"]))
    assert _replay(last, DPRK_2022, tmp_path / "g") == pytest.approx(
        last["deaths_with_plan"], rel=1e-6)  # fmt: skip
    assert "The list to carry" in printed and "Ask first" in printed


@pytest.mark.slow
def test_the_base_run_is_written_and_its_summary_gains_the_top_rows(dprk_asks):
    out, printed = dprk_asks
    df, summary = _table(out)
    marker = json.loads((out / ".aidopt-result.json").read_text())
    assert set(marker["files"]) == {"asks.csv", "summary.json", "base"}
    base = json.loads((out / "base" / "summary.json").read_text())
    assert base["deaths_with_plan"] == summary["base"]["deaths_with_plan"]
    top = base["asks"]["top"]
    assert top == summary["top"] and [t["rank"] for t in top] == list(range(1, len(top) + 1))
    assert top[0]["ask"] == df.loc[1, "ask"] and top[0]["words"] in printed
    # every row replays from the base plan where it now lies
    warm = f"coupling.warm_start={(out / 'base' / 'plan.nc').resolve()}"
    assert all(warm in json.loads(o) for o in df["overrides"])


@pytest.mark.slow
def test_every_plan_met_by_the_draws_as_aidopt_run_meets_it(dprk_greedy, tmp_path):
    """The draws' columns against separate runs: the reference's and the best ask's overrides
    given to `aidopt run --draws` meet the same epidemics, and their deaths per draw differ by
    what the row reports."""
    out, printed = dprk_greedy
    df, summary = _table(out)
    assert summary["draws"]["count"] == 6 and summary["draws"]["seed"] == 7
    usable = df.iloc[1:][df["converged"].iloc[1:]]
    assert (usable["deaths_averted_p05"] <= usable["deaths_averted_p50"]).all()
    assert (usable["deaths_averted_p50"] <= usable["deaths_averted_p95"]).all()
    # each draw puts at most three relaxations in its top three; refusals are not ranked
    relax = usable[usable["direction"] == "relax"]
    assert relax["top3_probability"].between(0, 1).all()
    assert relax["top3_probability"].sum() <= 3 + 1e-9
    assert usable.loc[usable["direction"] == "tighten", "top3_probability"].isna().all()

    def by_draw(row, folder):
        sets = [x for s in json.loads(row["overrides"]) for x in ("--set", s)]
        result = run_aidopt("run", DPRK_2022, "--out", folder, "-q", *DRAWS, *sets)
        assert result.exit_code == 0, result.output
        with xr.open_dataset(folder / "plan.nc") as ds:
            return ds["deaths_with_plan_by_draw"].sum("province").values

    best = df[df["rank"] == 1].iloc[0]
    averted = by_draw(df.iloc[0], tmp_path / "reference") - by_draw(best, tmp_path / "best")
    np.testing.assert_allclose(
        np.percentile(averted, [5, 50, 95]),
        best[["deaths_averted_p05", "deaths_averted_p50", "deaths_averted_p95"]].astype(float),
        rtol=1e-6,
    )
    # an ask is in a draw's top three only where it averts deaths there
    if best["direction"] == "relax":
        assert 0 < best["top3_probability"] <= (averted > 0).mean()
    assert "over the drawn epidemics median" in printed
