"""Nothing overwritten, nothing unnamed (issue 21): one writer that checks every digest before it
replaces a file and never replaces a result's own files; one reader that bounds, types and names
every file aidopt reads back (results, sweep stores, warm starts); every valid parameter runs.

One test per case of the issue, named for the behaviour, then a corpus of hostile variants of the
files each command reads back. Refusals are cheap (they come before any computing), so most cases
run in this process; the ones about memory and time run in their own process and are measured."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
import zarr
from conftest import DEFAULT_SCENARIO, run_aidopt, tiny_scenario
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_safety import cli, run_measured, set_table, tree, with_mobility
from threadpoolctl import threadpool_limits

from models.seir import reproduction_number
from optimiser import output_folder, views
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.output_folder import MARKER
from optimiser.schema import Epidemic

MAX_SECONDS, MAX_MB = 30, 2000
"""The acceptance's bounds on one hostile case: time and peak memory."""


def refused(result, *parts: str) -> str:
    """Assert a named refusal: exit 2, no traceback or internal error, every part in it."""
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    for part in parts:
        assert part in result.output, result.output
    return result.output


@pytest.fixture
def result(one_way_result, tmp_path) -> Path:
    """A copy of a real result folder (marker and all) the test may damage."""
    copy = tmp_path / "res"
    shutil.copytree(one_way_result, copy)
    for extra in ("report.html", "plan.xlsx"):  # another test's, if the session wrote them
        (copy / extra).unlink(missing_ok=True)
    return copy


# --- one writer: digests checked, a result's own files never replaced -----------------------------


def test_a_report_the_user_edited_is_kept_and_the_report_refused(result):
    page = result / "report.html"
    views.write_file(page, lambda p: p.write_text("<p>aidopt's page</p>"))  # as report does
    page.write_text(page.read_text() + "<p>my notes</p>")
    before = tree(result)
    refused(cli("report", str(result), "--no-pdf"),
            f"{page}: exists and was changed since aidopt wrote it")  # fmt: skip
    assert tree(result) == before


def test_a_file_aidopt_added_to_a_result_and_nobody_changed_is_written_again(result):
    page = result / "report.html"
    for text in ("first", "second"):
        views.write_file(page, lambda p, text=text: p.write_text(text))
    assert page.read_text() == "second"
    marker = json.loads((result / MARKER).read_text())
    assert marker["files"]["report.html"]["added_by"] == "export"
    assert "added_by" not in marker["files"]["plan.nc"]  # the run's own file
    assert output_folder.foreign_files(result) == ([], [])  # the folder is still replaceable


@pytest.mark.parametrize("command, name", [
    (["report", "RES", "--no-pdf", "--out", "RES/plan.nc"], "plan.nc"),
    (["export", "RES", "--xlsx", "RES/summary.json"], "summary.json"),
    (["export", "RES", "--xlsx", "RES/shipments.csv"], "shipments.csv"),
    (["report", "RES", "--no-pdf", "--out", f"RES/{MARKER}"], MARKER),
    (["compare", "RES", "RES", "--out", "RES/deliveries.csv"], "deliveries.csv"),
])  # fmt: skip
def test_an_output_that_is_one_of_the_results_own_files_is_refused(command, name, result):
    before = tree(result)
    marker = (result / MARKER).read_bytes()
    args = [a.replace("RES", str(result)) for a in command]
    refused(cli(*args), f"{result / name}: ")
    assert tree(result) == before
    assert (result / MARKER).read_bytes() == marker


def test_an_output_that_is_a_scenario_file_is_refused(result, default_copy):
    before = tree(default_copy)
    refused(cli("report", str(result), "--no-pdf", "--out", str(default_copy / "scenario.yaml")),
            "scenario.yaml: exists and aidopt did not write it")  # fmt: skip
    refused(cli("lp", str(default_copy), str(default_copy / "arcs.csv")), "arcs.csv: exists")
    assert tree(default_copy) == before


def test_an_output_in_a_folder_that_cannot_be_written_is_refused_before_writing(result, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who may write anywhere (root)")
        refused(cli("export", str(result), "--xlsx", str(locked / "plan.xlsx")),
                "cannot write in")  # fmt: skip
    finally:
        locked.chmod(0o700)


def test_an_output_under_a_file_is_refused(result, tmp_path):
    (tmp_path / "afile").write_text("x")
    refused(cli("export", str(result), "--xlsx", str(tmp_path / "afile" / "plan.xlsx")),
            "is not a folder")  # fmt: skip


# --- one reader: results ----------------------------------------------------------------------


def damage_summary(text: str):
    return lambda res: (res / "summary.json").write_text(text)


def damage_plan(data: bytes | None = None, link: str | None = None, folder: bool = False):
    def damage(res: Path) -> None:
        plan = res / "plan.nc"
        if link is not None:
            plan.unlink()
            plan.symlink_to(link)
        elif folder:
            plan.unlink()
            plan.mkdir()
        else:
            plan.write_bytes(data if data is not None else plan.read_bytes()[:50_000])

    return damage


def sparse(name: str, size: int):
    def damage(res: Path) -> None:
        with open(res / name, "r+b") as f:
            f.truncate(size)

    return damage


def edit_summary(edit):
    def damage(res: Path) -> None:
        summary = json.loads((res / "summary.json").read_text())
        edit(summary)
        (res / "summary.json").write_text(json.dumps(summary))

    return damage


DAMAGED_RESULTS = {
    "summary a list": (damage_summary("[1, 2]"), "summary.json: holds a list"),
    "summary null": (damage_summary("null"), "summary.json: holds null"),
    "summary empty": (damage_summary(""), "summary.json: not valid JSON"),
    "summary garbage": (damage_summary("{'a': 1"), "summary.json: not valid JSON"),
    "summary NaN": (damage_summary('{"scenario": NaN}'), "NaN is not a number JSON allows"),
    "summary Latin-1": (lambda r: (r / "summary.json").write_bytes(b'{"s": "\xe9"}'),
                        "summary.json: cannot be read as UTF-8"),
    "summary deep": (damage_summary("[" * 100_000 + "]" * 100_000), "summary.json: not valid"),
    "summary 3 GB": (sparse("summary.json", 3 * 2**30), "bytes; at most 16,777,216 are read"),
    "summary wrong field type": (edit_summary(lambda s: s.update(scenario=3)),
                                 "scenario (a number)"),
    "summary fields of the wrong type": (
        edit_summary(lambda s: s["spending_usd"].update(total=[1])), "spending_usd.total (a list"),
    "summary a number as text": (edit_summary(lambda s: s["fill_rate"].update(pcr_test="1")),
                                 "fill_rate.pcr_test (text)"),
    "summary missing fields": (damage_summary('{"scenario": "x", "coupling": {}}'),
                               "summary.json: has no spending_usd, fill_rate, timings_s, lp"),
    "plan.nc empty": (damage_plan(b""), "plan.nc: not a NetCDF file"),
    "plan.nc garbage": (damage_plan(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 40),
                        "plan.nc: cannot be read as NetCDF"),
    "plan.nc text": (damage_plan(b"hello"), "plan.nc: not a NetCDF file"),
    "plan.nc truncated": (damage_plan(), "plan.nc: cannot be read as NetCDF"),
    "plan.nc a folder": (damage_plan(folder=True), "plan.nc: is a folder, not a regular file"),
    "plan.nc /dev/zero": (damage_plan(link="/dev/zero"), "plan.nc: is a device"),
    "plan.nc a dangling link": (damage_plan(link="nowhere.nc"), "plan.nc: file not found"),
    "plan.nc 3 GB": (sparse("plan.nc", 3 * 2**30), "bytes; at most 536,870,912 are read"),
    "no plan.nc": (lambda r: (r / "plan.nc").unlink(), "not an aidopt result (no plan.nc)"),
}  # fmt: skip


@pytest.mark.parametrize("command", ["report", "export", "evaluate", "compare"])
@pytest.mark.parametrize("case", list(DAMAGED_RESULTS))
def test_a_damaged_result_is_a_named_refusal_in_every_reader(case, command, result, tmp_path):
    damage, message = DAMAGED_RESULTS[case]
    damage(result)
    before = tree(tmp_path)
    args = {
        "report": ["report", str(result), "--no-pdf"],
        "export": ["export", str(result)],
        "evaluate": ["evaluate", str(result), "--out", str(tmp_path / "ev")],
        "compare": ["compare", str(result), str(result), "--out", str(tmp_path / "c.csv")],
    }
    refused(cli(*args[command]), message)  # fmt: skip
    assert tree(tmp_path) == before


def test_a_summary_that_is_a_list_in_a_warm_start_is_refused(one_way_result, tmp_path):
    plan = tmp_path / "warm.nc"
    ds = xr.load_dataset(one_way_result / "plan.nc")
    ds.attrs["summary_json"] = "[]"
    ds.to_netcdf(plan)
    refused(cli("validate", str(DEFAULT_SCENARIO), "--set", f"coupling.warm_start={plan}"),
            "coupling.warm_start", "attribute summary_json holds a list")  # fmt: skip


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "is not a plan.nc aidopt wrote (not a NetCDF file"),
    (lambda p: p.mkdir(), "is not a file"),
    (lambda p: p.symlink_to("/dev/zero"), "is not a file"),
    (lambda p: p.write_text("garbage"), "is not a plan.nc aidopt wrote (not a NetCDF file"),
])  # fmt: skip
def test_a_warm_start_that_is_not_a_plan_is_a_named_refusal(make, message, tmp_path):
    plan = tmp_path / "warm.nc"
    make(plan)
    refused(cli("validate", str(DEFAULT_SCENARIO), "--set", f"coupling.warm_start={plan}"),
            "coupling.warm_start", message)  # fmt: skip


@pytest.mark.slow
def test_a_huge_warm_start_is_refused_by_its_size_unread(tmp_path):
    plan = tmp_path / "huge.nc"
    with open(plan, "wb") as f:
        f.truncate(int(2.5 * 2**30))  # sparse: only the size may be looked at
    status, output, seconds, peak_mb = run_measured(
        ["validate", str(DEFAULT_SCENARIO), "--set", f"coupling.warm_start={plan}"], cwd=tmp_path
    )
    assert status == 2, output
    assert "2,684,354,560 bytes; at most 536,870,912 are read" in output
    assert seconds < MAX_SECONDS and peak_mb < 300


# --- one reader: sweep stores -----------------------------------------------------------------


SWEEP = {
    "scenario": str(DEFAULT_SCENARIO),
    "set": ["coupling.mode=one-way", "horizon_weeks=3", "epidemic.outlook_weeks=6"],
    "design": {"method": "latin", "samples": 8, "seed": 1},
    "parameters": {"epidemic.r0": {"uniform": [1.6, 3.0]},
                   "staff.teams_per_week": {"uniform": [0, 20]}},
    "outputs": ["deaths_with_plan", "spending_usd.total", "unmet[province]"],
}  # fmt: skip


@pytest.fixture(scope="module")
def sweep_done(tmp_path_factory) -> Path:
    """A small complete sweep (8 one-way runs of 3 weeks) and its sweep file, beside it."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "sweep.yaml").write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    done = run_aidopt("sweep", folder / "sweep.yaml", "--out", folder / "out", "--workers", "1",
                      "-q")  # fmt: skip
    assert done.exit_code == 0, done.output
    return folder


@pytest.fixture
def sweep_copy(sweep_done, tmp_path) -> Path:
    shutil.copy(sweep_done / "sweep.yaml", tmp_path / "sweep.yaml")
    shutil.copytree(sweep_done / "out", tmp_path / "out")
    return tmp_path / "out"


def unfinished(out: Path) -> None:
    """Mark a sweep folder as a killed sweep leaves it: still writing, no digests."""
    marker = json.loads((out / MARKER).read_text())
    marker.update(state="writing", files={n: None for n in marker["files"]})
    (out / MARKER).write_text(json.dumps(marker))


def first_chunk(store: Path, name: str) -> Path:
    files = sorted((store / name).rglob("*"))
    return next(p for p in files if p.is_file() and p.name != "zarr.json")


def garbage_metadata(store: Path) -> None:
    (store / "zarr.json").write_text("garbage{")


def no_status(store: Path) -> None:
    shutil.rmtree(store / "status")


def truncated_chunk(store: Path) -> None:
    chunk = first_chunk(store, "deaths_with_plan")
    chunk.write_bytes(chunk.read_bytes()[:5])


def no_sweep_json(store: Path) -> None:
    meta = json.loads((store / "zarr.json").read_text())
    del meta["attributes"]["sweep_json"]
    (store / "zarr.json").write_text(json.dumps(meta))


def array_metadata_a_list(store: Path) -> None:
    (store / "status" / "zarr.json").write_text("[]")


def wrong_run_count(store: Path) -> None:
    zarr.open_group(store, mode="r+").create_array(
        "spending_usd.total2", shape=(5,), dtype="f8", dimension_names=["run"]
    )


DAMAGED_STORES = {
    "garbage zarr.json": (garbage_metadata, "the store's metadata (zarr.json) cannot be read"),
    "status deleted": (no_status, "has no 'status' array"),
    "truncated chunk": (truncated_chunk, "variable 'deaths_with_plan' cannot be read"),
    "no sweep_json": (no_sweep_json, "attribute(s) sweep_json missing"),
    "array metadata a list": (array_metadata_a_list, "the metadata of array 'status' "
                              "(zarr.json) holds a list"),
    "a parameter deleted": (lambda s: shutil.rmtree(s / "epidemic.r0"),
                            "has no array for the parameter(s) epidemic.r0"),
    "an array of another run count": (wrong_run_count, "has shape (5,) where the store has 8"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DAMAGED_STORES))
def test_a_damaged_store_is_a_named_refusal_in_sweep_analyse(case, sweep_copy):
    damage, message = DAMAGED_STORES[case]
    damage(sweep_copy / "sweep.zarr")
    before = tree(sweep_copy)
    refused(cli("sweep", "analyse", str(sweep_copy)), f"{sweep_copy / 'sweep.zarr'}", message)
    assert tree(sweep_copy) == before


@pytest.mark.parametrize("case", list(DAMAGED_STORES))
def test_a_damaged_store_is_a_named_refusal_in_sweep_resume(case, sweep_copy):
    damage, message = DAMAGED_STORES[case]
    unfinished(sweep_copy)
    damage(sweep_copy / "sweep.zarr")
    before = tree(sweep_copy)
    refused(cli("sweep", str(sweep_copy.parent / "sweep.yaml"), "--out", str(sweep_copy),
                "--resume", "-q"), message)  # fmt: skip
    assert tree(sweep_copy) == before


@pytest.mark.parametrize("case", ["truncated chunk", "status deleted", "garbage zarr.json"])
def test_a_damaged_shard_is_a_named_refusal_in_sweep_collect(case, sweep_copy, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    shard = shards / "shard-0-of-1"
    sweep_copy.rename(shard)
    damage, message = DAMAGED_STORES[case]
    damage(shard / "sweep.zarr")
    before = tree(shards)
    refused(cli("sweep", "collect", str(shards)), message)
    assert tree(shards) == before


def test_a_shard_that_is_whole_is_collected(sweep_copy, tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    sweep_copy.rename(shards / "shard-0-of-1")
    done = cli("sweep", "collect", str(shards), "-q")
    assert done.exit_code == 0, done.output
    merged = xr.open_zarr(shards / "merged" / "sweep.zarr", consolidated=False)
    assert list(merged["status"].values) == ["ok"] * 8


def test_an_indices_csv_the_user_edited_is_kept_and_analyse_refused(sweep_copy):
    assert cli("sweep", "analyse", str(sweep_copy), "-q").exit_code == 0
    assert cli("sweep", "analyse", str(sweep_copy), "-q").exit_code == 0  # its own: rewritten
    table = sweep_copy / "indices.csv"
    table.write_text(table.read_text() + "my,own,row\n")
    before = tree(sweep_copy)
    refused(cli("sweep", "analyse", str(sweep_copy), "-q"),
            f"{table}: exists and was changed since aidopt wrote it")  # fmt: skip
    assert tree(sweep_copy) == before  # nor any of the other three files


def add_huge_unwritten_array(store: Path, dims: list[str]) -> None:
    """A 2.9 GB array declared in the store's metadata, its chunks never written."""
    shape = (8, 45_000_000) if len(dims) == 2 else (362_500_000,)
    zarr.open_group(store, mode="r+").create_array(
        "huge", shape=shape, chunks=(8, 1_000_000) if len(dims) == 2 else (1_000_000,),
        dtype="f8", dimension_names=dims)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command, dims, message", [
    (["sweep", "collect", "SHARDS"], ["run", "x"], "at most 268,435,456 are read at once"),
    (["sweep", "analyse", "STORE"], ["run"], "has shape (362500000,) where the store has 8"),
])  # fmt: skip
def test_a_store_declaring_a_huge_array_is_refused_unread(command, dims, message, sweep_copy,
                                                          tmp_path):  # fmt: skip
    shards = tmp_path / "shards"
    shards.mkdir()
    shard = shards / "shard-0-of-1"
    sweep_copy.rename(shard)
    add_huge_unwritten_array(shard / "sweep.zarr", dims)
    args = [a.replace("SHARDS", str(shards)).replace("STORE", str(shard)) for a in command]
    status, output, seconds, peak_mb = run_measured(args, cwd=tmp_path)
    assert status == 2, output
    assert message in output
    assert seconds < MAX_SECONDS and peak_mb < MAX_MB


def test_an_array_output_of_unwritten_chunks_is_not_read_by_analyse(sweep_copy):
    """analyse reads one value per run: a 2.9 GB array output is left unread, not refused."""
    add_huge_unwritten_array(sweep_copy / "sweep.zarr", ["run", "x"])
    done = cli("sweep", "analyse", str(sweep_copy), "--out", str(sweep_copy.parent / "a"), "-q")
    assert done.exit_code == 0, done.output


# --- accepted when it should not be -------------------------------------------------------------


@pytest.mark.parametrize("only", ["", " ", ",", " , "])
def test_asks_only_with_no_pattern_is_refused(only, tmp_path):
    refused(cli("asks", str(DEFAULT_SCENARIO), "--only", only, "--out", str(tmp_path / "a")),
            "names no ask")  # fmt: skip
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("setting", [
    "sanctions.exemptions.generators-for-isolation-wards.commodities=[unobtainium]",
    "sanctions.exemptions.*.commodities=[generator, unobtainium]",
])  # fmt: skip
def test_an_exemption_of_a_commodity_that_does_not_exist_is_refused(setting):
    for command in ("validate", "asks"):
        refused(cli(command, str(DEFAULT_SCENARIO), "--set", setting),
                "'unobtainium' is not a known commodity; valid: exam_gloves, face_shield, "
                "generator")  # fmt: skip


# --- every valid parameter runs ------------------------------------------------------------------


def epidemic_bounds() -> dict[str, tuple[float, float]]:
    """Each number of the epidemic block with the lowest and highest value the schema allows
    (an open bound approached to within 1e-9 of the range)."""
    bounds = {}
    for name, field in Epidemic.model_fields.items():
        if field.annotation is not float:
            continue
        low = high = None
        for m in field.metadata:
            low = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else low
            high = getattr(m, "le", None) if getattr(m, "le", None) is not None else high
            if getattr(m, "gt", None) is not None:
                low = m.gt + 1e-9 * max(1.0, abs(m.gt))
            if getattr(m, "lt", None) is not None:
                high = m.lt - 1e-9 * max(1.0, abs(m.lt))
        if low is not None and high is not None:
            bounds[name] = (float(low), float(high))
    return bounds


BOUNDS = epidemic_bounds()
SHORT = ["coupling.mode=one-way", "horizon_weeks=2", "epidemic.outlook_weeks=2"]


def test_the_property_test_reaches_every_bounded_epidemic_number():
    load_scenario(DEFAULT_SCENARIO, SHORT)  # its base is valid: refusals come from the bounds
    assert {"r0", "latent_days", "presymptomatic_days", "stay_days", "asymptomatic_share",
            "test_turnaround_days", "initial_infections_factor"} <= set(BOUNDS)  # fmt: skip


def check_epidemic_at(sets: list[str]) -> bool:
    """The scenario with `sets` is refused by name (False), or its epidemic is set up, its R
    computed (no aid and full aid) and integrated, all finite and no one below zero (True)."""
    try:
        scn = load_scenario(DEFAULT_SCENARIO, [*SHORT, *sets])
    except ScenarioError:
        return False  # a named refusal (fatality_care above fatality_no_care, say)
    setup = EpidemicSetup.from_scenario(scn)
    with threadpool_limits(1):  # as the runs pin BLAS: small inverses are slower on threads
        numbers = [v for by in setup.reproduction_numbers().values() for v in by.values()]
    assert all(np.isfinite(numbers)) and min(numbers) >= 0, (sets, numbers)
    people = setup.simulate()
    assert np.all(np.isfinite(people)), sets
    assert np.all(people > -1e-3 * scn.provinces[0].population), sets
    return True


def test_each_epidemic_number_alone_at_each_bound_runs():
    ran = [check_epidemic_at([f"epidemic.{k}={BOUNDS[k][side]!r}"])
           for k in sorted(BOUNDS) for side in (0, 1)]  # fmt: skip
    assert sum(ran) >= len(ran) - 8  # only the few bounds that break a rule between two fields


@settings(max_examples=30, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.dictionaries(st.sampled_from(sorted(BOUNDS)), st.sampled_from([0, 1]), min_size=1,
                       max_size=6))  # fmt: skip
def test_epidemic_numbers_together_at_their_bounds_give_a_model_or_a_named_refusal(at):
    """Each chosen field at its lower (0) or upper (1) bound (see `check_epidemic_at`)."""
    check_epidemic_at([f"epidemic.{k}={BOUNDS[k][side]!r}" for k, side in at.items()])


def test_presymptomatic_days_zero_gives_the_limit_of_a_short_presymptomatic_stage():
    """At presymptomatic_days = 0 the model skips the stage; R there must be the limit of R as
    the stage shortens (the next-generation matrix was singular there)."""
    scn = load_scenario(DEFAULT_SCENARIO, [*SHORT, "epidemic.presymptomatic_days=0"])
    setup = EpidemicSetup.from_scenario(scn)
    near = dataclasses.replace(setup.params, presymptomatic_days=1e-7)
    for full_aid in (False, True):
        at_zero = reproduction_number(setup.params, setup.population, setup.mixing,
                                      full_aid=full_aid)  # fmt: skip
        limit = reproduction_number(near, setup.population, setup.mixing, full_aid=full_aid)
        assert at_zero == pytest.approx(limit, rel=1e-5)
        assert at_zero > 0


@pytest.mark.slow
def test_aidopt_run_with_presymptomatic_days_zero_runs(tmp_path):
    done = run_aidopt(
        "run",
        DEFAULT_SCENARIO,
        "--out",
        tmp_path / "out",
        "-q",
        "--set",
        "epidemic.presymptomatic_days=0",
        *[f"--set={s}" for s in SHORT],
    )
    assert done.exit_code == 0, done.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["reproduction_number"]["no_aid"]["start"] > 0


# --- messages name the field and the file that led there -----------------------------------------


def write_alias_bomb_in_sanctions(folder: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    (folder / "sanctions.yaml").write_text("\n".join(lines) + "\n")


def outside_table(folder: Path) -> None:
    (folder.parent / "outside.csv").write_text("id,name\n")
    set_table(folder, "provinces", "../outside.csv")


def huge_table(folder: Path) -> None:
    with (folder / "depots.csv").open("r+b") as f:
        f.truncate(200_000_000)


def ragged_mobility(folder: Path) -> None:
    with_mobility(folder, lambda rows: rows[4].append("0"))


def semicolons(folder: Path) -> None:
    text = (folder / "depots.csv").read_text()
    (folder / "depots.csv").write_text(text.replace(",", ";"))


MESSAGES = {
    "table outside the folder": (outside_table, "outside.csv: lies outside the scenario folder",
                                 "(the file tables.provinces names in "),
    "YAML alias bomb": (write_alias_bomb_in_sanctions, "sanctions.yaml: not valid YAML",
                        "(the file tables.sanctions names in "),
    "oversized file": (huge_table, "depots.csv: 200,000,000 bytes",
                       "(the file tables.depots names in "),
    "ragged mobility row": (ragged_mobility, "line 6 (chagang): 14 shares",
                            "(the file tables.mobility names in "),
    "semicolon-delimited CSV": (semicolons, "its first line 'id;name;latitude;longitude;source' "
                                "separates the columns by ';'", "(the file tables.depots names"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MESSAGES))
def test_a_table_problem_names_the_field_and_the_file_that_led_there(case, default_copy):
    make, *parts = MESSAGES[case]
    make(default_copy)
    before = tree(default_copy)
    output = refused(cli("validate", str(default_copy)), *parts)
    assert f"{default_copy / 'scenario.yaml'})" in output
    assert tree(default_copy) == before


def test_a_scenario_that_is_a_file_says_so(default_copy):
    refused(cli("validate", str(default_copy / "scenario.yaml")),
            "scenario.yaml: is a file, not a scenario folder; give its folder")  # fmt: skip


@pytest.mark.parametrize("scenario, message", [
    ("MISSING", "no such folder, nor a shipped scenario"),
    ("FILE", "is a file, not a scenario folder"),
])  # fmt: skip
def test_a_sweeps_scenario_that_is_missing_or_a_file_names_the_field(scenario, message, tmp_path):
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "sweep.yaml"
    where = {"MISSING": str(tmp_path / "missing"), "FILE": str(tmp_path / "afile")}[scenario]
    path.write_text(yaml.safe_dump({**SWEEP, "scenario": where}))
    refused(cli("sweep", str(path), "--out", str(tmp_path / "out")),
            f"{path}, field 'scenario': {where}: {message}")  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_out_dot_is_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(cli("run", str(DEFAULT_SCENARIO), "--out", "."), "--out '.': is the working folder")


# --- nothing left beside the output after kill -9 ---------------------------------------------


def test_what_a_killed_run_left_beside_its_output_is_cleared_by_the_next_command(tmp_path):
    tiny = tiny_scenario(tmp_path / "tiny")
    results = tmp_path / "results"
    env = {**os.environ, "AIDOPT_TEST_PAUSE_AT": "staged"}
    killed = subprocess.Popen([sys.executable, "-m", "optimiser", "run", str(tiny), "--out",
                               str(results / "a"), "-q"], cwd=tmp_path, env=env,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert killed.stderr.readline().startswith("paused at staged")
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        killed.stderr.close()
    left = sorted(os.listdir(results))
    assert ".a.aidopt-lock" in left and any(n.startswith(".a.partial-") for n in left)
    done = cli("run", str(tiny), "--out", str(results / "b"), "-q")
    assert done.exit_code == 0, done.output
    assert sorted(os.listdir(results)) == ["b"]


# --- more of the corpus: every command's inputs ---------------------------------------------------


def test_init_from_a_folder_that_is_not_a_scenario_is_refused(result, tmp_path):
    refused(cli("init", str(tmp_path / "new"), "--from", str(result)), "holds no scenario.yaml")
    assert not (tmp_path / "new").exists()


def test_init_does_not_copy_a_link_out_of_the_scenario(default_copy, tmp_path):
    (default_copy / "notes.csv").symlink_to("/etc/passwd")
    refused(cli("init", str(tmp_path / "new"), "--from", str(default_copy)),
            "notes.csv: lies outside the scenario folder")  # fmt: skip
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is a folder, not a sweep file"),
    (lambda p: p.symlink_to("/dev/zero"), "is not a regular file, so not a sweep file"),
    (lambda p: p.write_text("[1, 2]"), "expected a mapping of keys to values, got list"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00"), "cannot be read as UTF-8"),
])  # fmt: skip
def test_a_sweep_file_that_is_not_one_is_a_named_refusal(make, message, tmp_path):
    path = tmp_path / "sweep.yaml"
    make(path)
    refused(cli("sweep", str(path), "--out", str(tmp_path / "out")), message)
    assert not (tmp_path / "out").exists()
