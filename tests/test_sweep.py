"""`aidopt sweep`: designs, runs that match `aidopt run`, a killed sweep resumed, schedulers (a
local pool, Dask, SLURM through dask-jobqueue and as a job array), and the analysis.

Runs are one-way over 6 weeks with a 12-week outlook (about half a second each) so the whole
file stays within a couple of minutes on 2 cores; the SLURM tests skip, saying why, where
`sbatch` is absent (`.ci/slurm.sh` starts a single-node SLURM)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import DEFAULT_SCENARIO, ROOT, run_aidopt

from optimiser.sweep_design import make_runs, parameter_values, run_count
from optimiser.sweep_spec import Parameter, SweepFile

SHORT = ["coupling.mode=one-way", "horizon_weeks=6", "epidemic.outlook_weeks=12"]
OUTPUTS = [
    "deaths_no_aid", "deaths_with_plan", "infections_with_plan", "spending_usd.total",
    "fill_rate.pcr_test", "by_window.deaths_with_plan.horizon", "unmet[province]",
    "route_capacity_value[arc]",
    {"name": "deaths_by_province", "variable": "people_with_plan", "select": {"compartment": "D"},
     "keep": ["province"], "reduce": "max"},
]  # fmt: skip
PER_RUN = {"wall_s", "cpu_s", "epidemic_s", "gradient_s", "build_s", "solve_s", "worker",
           "finished_utc"}  # fmt: skip
"""Variables that differ between two computations of the same run (when, where, how long)."""


def sweep_file(folder: Path, name: str = "sweep.yaml", **changes) -> Path:
    spec = {
        "scenario": str(DEFAULT_SCENARIO),
        "set": SHORT,
        "design": {"method": "latin", "samples": 8, "seed": 3},
        "parameters": {"epidemic.r0": {"uniform": [1.6, 3.0]},
                       "staff.teams_per_week": {"uniform": [0, 20]}},
        "outputs": OUTPUTS,
    }  # fmt: skip
    spec.update(changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def store(folder: Path) -> xr.Dataset:
    return xr.open_zarr(folder / "sweep.zarr", consolidated=False).load()


def assert_same_runs(a: xr.Dataset, b: xr.Dataset) -> None:
    """Every value of every run identical, bit for bit (NaN equal to NaN)."""
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        if name not in PER_RUN:
            assert a[name].equals(b[name]), name
    for key in ("sweep_json", "inputs_sha256", "runs_sha256"):
        assert a.attrs[key] == b.attrs[key]


def aidopt(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command in its own process, as a user (or a SLURM job) runs it."""
    return subprocess.run([sys.executable, "-m", "optimiser", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> xr.Dataset:
    """The standard sweep (8 runs) in this process, one run after another."""
    folder = tmp_path_factory.mktemp("reference")
    done = run_aidopt("sweep", sweep_file(folder), "--out", folder / "out", "--workers", "1")
    assert done.exit_code == 0, done.output
    return store(folder / "out")


# --- designs -----------------------------------------------------------------------------------


def design(method: str, samples: int, **extra) -> SweepFile:
    parameters = {"a": {"uniform": [0, 1]}, "b": {"uniform": [0, 1]}, "c": {"uniform": [0, 1]}}
    return SweepFile.model_validate(
        {
            "scenario": "x",
            "design": {"method": method, "samples": samples, **extra},
            "parameters": parameters,
        }
    )


@pytest.mark.parametrize("method, extra, runs", [
    ("sobol", {}, 8 * (2 * 3 + 2)), ("sobol", {"second_order": False}, 8 * (3 + 2)),
    ("morris", {}, 8 * (3 + 1)), ("latin", {}, 8), ("grid", {}, 8**3),
])  # fmt: skip
def test_designs_make_the_runs_salib_defines(method, extra, runs):
    sweep = design(method, 8, **extra)
    made = make_runs(sweep, "s.yaml")
    assert run_count(sweep) == made.count == runs
    assert made.unit is not None and made.unit.shape == (runs, 3)
    assert 0 <= made.unit.min() and made.unit.max() <= 1
    again = make_runs(sweep, "s.yaml")  # the seed fixes the design
    assert np.array_equal(made.unit, again.unit)


def test_a_sobol_design_too_small_to_trust_is_warned_about(caplog):
    """At N = 2 Saltelli's estimates are noise; at N = 64 nothing is said."""
    with caplog.at_level("WARNING", logger="optimiser.sweep_design"):
        make_runs(design("sobol", 2), "s.yaml")
    assert "s.yaml: with N = 2 Saltelli's estimates are noise" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="optimiser.sweep_design"):
        make_runs(design("sobol", 64), "s.yaml")
    assert caplog.text == ""


def test_a_grid_spans_the_bounds_and_every_value_of_a_list():
    sweep = SweepFile.model_validate(
        {
            "scenario": "x",
            "design": {"method": "grid", "samples": 3},
            "parameters": {"r": {"uniform": [1, 3]}, "mode": ["one-way", "closed-loop"]},
        }
    )
    runs = make_runs(sweep, "s.yaml")
    assert runs.count == 6
    assert sorted(set(runs.values[0])) == [1.0, 2.0, 3.0]
    assert runs.overrides(0) == ["r=1.0", "mode=one-way"]
    assert runs.overrides(5) == ["r=3.0", "mode=closed-loop"]


def test_distributions_map_the_unit_design_by_their_quantiles():
    u = np.array([0.0, 0.5, 1.0])

    def at(**spec) -> np.ndarray:
        return parameter_values(Parameter.model_validate(spec), u)[0]

    assert list(at(uniform=[2, 4])) == [2, 3, 4]
    assert at(**{"log-uniform": [1, 100]}) == pytest.approx([1, 10, 100])
    assert at(triangular=[0, 0, 2])[1] == pytest.approx(2 - np.sqrt(2))  # median of (0, 0, 2)
    normal = at(normal=[5, 2])
    assert normal[1] == 5 and np.isfinite(normal).all()
    assert normal[2] == pytest.approx(5 + 2 * 3.090, abs=1e-3)  # held at the 99.9 % quantile
    assert list(at(uniform=[0, 9], integer=True)) == [0, 4, 9]  # 4.5 rounds to even
    values, texts = parameter_values(Parameter(uniform=(0.5, 1.5), scale=True), u)
    assert texts == ["*0.5", "*1.0", "*1.5"]
    values, texts = parameter_values(Parameter(values=([], ["gen"], ["gen", "x"])), u)
    assert texts == ["[]", "[gen]", "[gen, x]"]


def test_samples_on_the_command_line_replace_the_files(tmp_path):
    path = sweep_file(tmp_path, design={"method": "sobol", "samples": 4, "seed": 1})
    done = run_aidopt("sweep", path, "--samples", "2", "--slurm-script", "--shards", "3")
    assert done.exit_code == 0, done.output
    assert "12 runs in 3 shard(s)" in done.output  # N(2D+2) = 2 x 6
    assert "#SBATCH --array=0-2" in done.output
    assert '--shard "$SLURM_ARRAY_TASK_ID/3"' in done.output and "--samples 2" in done.output


@pytest.mark.parametrize("changes, message", [
    ({"parameters": {"epidemic.r00": {"uniform": [1, 2]}}},
     "parameters: epidemic.r00: --set epidemic.r00: scenario.yaml has no field 'epidemic.r00' "
     "(did you mean 'r0'"),
    ({"parameters": {"epidemic.r0": {"uniform": [3, 2]}}},
     "the low bound must be below the high one"),
    ({"parameters": {"epidemic.r0": {"uniform": [1, 2], "normal": [1, 1]}}},
     "give exactly one of uniform, log-uniform, normal, triangular or values"),
    ({"parameters": {"epidemic.r0": {"unifrom": [1, 2]}}}, "unknown key 'parameters.epidemic.r0"),
    ({"set": ["epidemic.r0=2"]}, "set fixes what parameters vary: epidemic.r0"),
    ({"outputs": ["unmet[province"]}, "'unmet[province' is not VARIABLE[DIM, ...]"),
    ({"design": {"method": "latin"}}, "method latin needs samples"),
    ({"scenario": "korea-2021"}, "no such folder, nor a shipped scenario (did you mean"),
])  # fmt: skip
def test_a_sweep_file_with_mistakes_is_refused_before_any_run(tmp_path, changes, message):
    done = run_aidopt("sweep", sweep_file(tmp_path, **changes), "--out", tmp_path / "out")
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())
    assert not (tmp_path / "out").exists()


def test_a_relative_scenario_is_read_from_the_working_folder(tmp_path, monkeypatch):
    path = sweep_file(tmp_path / "sweeps", scenario="inputs/korea-2020")
    monkeypatch.chdir(ROOT)
    assert run_aidopt("sweep", path, "--slurm-script").exit_code == 0
    monkeypatch.chdir(tmp_path)
    refused = run_aidopt("sweep", path, "--slurm-script")
    assert refused.exit_code == 2 and "inputs/korea-2020: no such folder" in refused.output


# --- runs --------------------------------------------------------------------------------------


def numbers(summary: dict, prefix: str = "") -> dict[str, float]:
    """Every number of a summary by dotted path, leaving out timings and provenance."""
    found = {}
    for key, value in summary.items():
        path = f"{prefix}{key}"
        if key in ("timings_s", "provenance", "history"):
            continue
        if isinstance(value, dict):
            found |= numbers(value, f"{path}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found[path] = float(value)
    return found


@pytest.mark.slow
def test_a_run_picked_from_a_sweep_matches_aidopt_run(tmp_path, reference):
    """Two runs, each against `aidopt run` with the same --set values (relative 1e-9)."""
    for run in (2, 5):
        chosen = reference.sel(run=run)
        sets = [*SHORT] + [f"{p}={float(chosen[p])!r}" for p in reference["parameter"].values]
        out = tmp_path / f"run-{run}"
        done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "-q",
                          *[a for s in sets for a in ("--set", s)])  # fmt: skip
        assert done.exit_code == 0, done.output
        summary = json.loads((out / "summary.json").read_text())
        figures = numbers(summary)
        for name in OUTPUTS:
            if isinstance(name, str) and "[" not in name:
                assert float(chosen[name]) == pytest.approx(figures[name], rel=1e-9), name
        plan = xr.open_dataset(out / "plan.nc")
        assert chosen["unmet[province]"].values == pytest.approx(
            plan["unmet"].sum(("commodity", "week")).values, rel=1e-9
        )
        deaths = plan["people_with_plan"].sel(compartment="D").max("day")
        assert chosen["deaths_by_province"].values == pytest.approx(deaths.values, rel=1e-9)
        assert list(chosen["province"].values) == list(plan["province"].values)
        assert chosen["inputs_sha256"].item() == summary["provenance"]["inputs_sha256"]
        assert chosen["status"].item() == "ok"


def test_failed_and_not_converged_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    path = sweep_file(tmp_path, set=["horizon_weeks=6", "epidemic.outlook_weeks=12",
                                     "coupling.max_iterations=1"],
                      design={"method": "grid", "samples": 1},
                      parameters={"epidemic.r0": [2.0, -1.0],
                                  "coupling.mode": ["one-way", "closed-loop"]},
                      outputs=["deaths_with_plan", "coupling.iterations"])  # fmt: skip
    done = run_aidopt("sweep", path, "--out", tmp_path / "out", "--workers", "1")
    assert done.exit_code == 0, done.output
    assert "4 runs; 4 to run" in done.output
    assert "1 ok, 2 failed, 1 not converged" in done.output
    ds = store(tmp_path / "out")
    assert list(ds["status"].values) == ["ok", "not-converged", "failed", "failed"]
    assert "the closed loop did not converge in 1 iterations" in ds["message"].values[1]
    assert "'epidemic.r0': -1.0 is invalid: Input should be greater than 0" in str(
        ds["message"].values[2]
    )
    assert np.isnan(ds["deaths_with_plan"].values[2:]).all()
    assert ds["deaths_with_plan"].values[1] > 0  # a plan that is not an answer is still kept
    analysed = run_aidopt("sweep", "analyse", tmp_path / "out")  # one run ok: nothing to rank
    assert analysed.exit_code == 2 and "no output could be analysed" in analysed.output
    assert not (tmp_path / "out" / "indices.csv").exists()


def test_an_output_no_run_has_stops_the_sweep_and_leaves_nothing(tmp_path):
    path = sweep_file(tmp_path, design={"method": "latin", "samples": 2, "seed": 1},
                      outputs=["deaths_with_plan", "deaths_wiht_plan"])  # fmt: skip
    done = run_aidopt("sweep", path, "--out", tmp_path / "results" / "out", "--workers", "1")
    assert done.exit_code == 2
    assert ("outputs: 'deaths_wiht_plan': summary.json has no field 'deaths_wiht_plan' (did "
            "you mean 'deaths_with_plan'") in " ".join(done.output.split())  # fmt: skip
    assert not (tmp_path / "results").exists()


def test_output_folders_are_new_or_a_sweep_to_resume(tmp_path):
    path = sweep_file(tmp_path, design={"method": "latin", "samples": 1, "seed": 1})
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    done = run_aidopt("sweep", path, "--out", out)
    assert done.exit_code == 2 and "notes.txt" in done.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    out = tmp_path / "sweep"
    assert run_aidopt("sweep", path, "--out", out, "-q").exit_code == 0
    again = run_aidopt("sweep", path, "--out", out)
    assert again.exit_code == 2 and "holds a complete aidopt sweep; choose a new folder" in (
        " ".join(again.output.split())
    )
    resumed = run_aidopt("sweep", path, "--out", out, "--resume")
    assert resumed.exit_code == 0 and "0 to run, 1 done before; nothing left to run" in (
        resumed.output
    )
    changed = sweep_file(tmp_path, "other.yaml", design={"method": "latin", "samples": 1,
                                                         "seed": 2})  # fmt: skip
    refused = run_aidopt("sweep", changed, "--out", out, "--resume")
    assert refused.exit_code == 2
    assert "differs from the sweep in" in refused.output and "its runs" in refused.output
    # A complete sweep is an aidopt result like any other: `aidopt run` may replace it, whole.
    replaced = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "-q", *[
        a for s in SHORT for a in ("--set", s)])  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert "sweep.zarr" not in {p.name for p in out.iterdir()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_default_shows_how_many_runs_and_quiet_shows_nothing(tmp_path):
    path = sweep_file(tmp_path, design={"method": "latin", "samples": 1, "seed": 1})
    quiet = run_aidopt("sweep", path, "--out", tmp_path / "q", "-q")
    assert quiet.exit_code == 0 and quiet.output == ""
    verbose = run_aidopt("sweep", path, "--out", tmp_path / "v", "-v")
    assert "latin design, samples 1, 2 parameter(s): 1 runs; 1 to run" in verbose.output
    assert "[####################] 1/1 runs, 0 failed, 0 not converged" in verbose.output


# --- killed and resumed; schedulers ------------------------------------------------------------


def statuses(folder: Path) -> list[str]:
    import zarr

    try:
        return [str(s) for s in zarr.open_array(folder / "sweep.zarr" / "status", mode="r")[:]]
    except (FileNotFoundError, ValueError, KeyError):
        return []


@pytest.mark.slow
def test_a_sweep_killed_part_way_and_resumed_holds_every_run_once(tmp_path, reference):
    path, out = sweep_file(tmp_path), tmp_path / "out"
    sweep = subprocess.Popen([sys.executable, "-m", "optimiser", "sweep", str(path), "--out",
                              str(out), "--workers", "2", "-q"], cwd=tmp_path,
                             start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while sum(s != "pending" for s in statuses(out)) < 2 and time.monotonic() < deadline:
        assert sweep.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its workers, mid-run
    sweep.wait()
    before = store(out)
    done_before = before["status"].values != "pending"
    assert 2 <= done_before.sum() < 8
    resumed = run_aidopt("sweep", path, "--out", out, "--resume", "--workers", "2")
    assert resumed.exit_code == 0, resumed.output
    assert f"{8 - done_before.sum()} to run, {done_before.sum()} done before" in resumed.output
    after = store(out)
    assert list(after["run"].values) == list(range(8))
    assert set(after["status"].values) == {"ok"}
    # the runs done before the kill were not run again: same worker, same finishing time
    for name in ("worker", "finished_utc"):
        assert list(after[name].values[done_before]) == list(before[name].values[done_before])
    assert_same_runs(after, reference)
    marker = json.loads((out / ".aidopt-result.json").read_text())
    assert marker["state"] == "complete" and set(marker["files"]) == {"sweep.yaml", "sweep.zarr"}
    assert not list((out / "sweep.zarr").rglob("*.partial"))


@pytest.mark.slow
def test_a_dask_local_cluster_sweep_matches_one_in_process(tmp_path, reference):
    done = aidopt("sweep", sweep_file(tmp_path), "--out", "out", "--scheduler", "dask-local",
                  "--workers", "2", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "a Dask LocalCluster of 2 workers" in done.stdout
    assert_same_runs(store(tmp_path / "out"), reference)


def slurm_missing() -> str | None:
    if shutil.which("sbatch") is None:
        return "no sbatch here (.ci/slurm.sh starts a single-node SLURM)"
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if state.returncode != 0 or not {"idle", "mix"} & set(state.stdout.split()):
        return f"sbatch is here but no SLURM node is free ({state.stdout.strip() or state.stderr})"
    return None


needs_slurm = pytest.mark.skipif(slurm_missing() is not None, reason=str(slurm_missing()))


@pytest.mark.slow
@needs_slurm
def test_a_sweep_on_slurm_through_dask_jobqueue(tmp_path, reference):
    done = aidopt("sweep", sweep_file(tmp_path), "--out", "out", "--scheduler", "slurm",
                  "--workers", "2", "--memory-mb", "1500", "--walltime", "00:10:00",
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Dask on SLURM: 2 workers in 2 job(s) of 1 core(s)" in done.stdout
    assert_same_runs(store(tmp_path / "out"), reference)
    assert list(tmp_path.glob("slurm-*.out"))  # the jobs ran under SLURM


@pytest.mark.slow
@needs_slurm
def test_a_sweep_as_a_slurm_job_array_then_collected(tmp_path, reference):
    path = sweep_file(tmp_path)
    script = aidopt("sweep", path, "--out", "arr", "--slurm-script", "--shards", "2",
                    "--memory-mb", "1500", cwd=tmp_path)  # fmt: skip
    assert script.returncode == 0, script.stderr
    (tmp_path / "sweep.sbatch").write_text(script.stdout)
    submitted = subprocess.run(["sbatch", "--wait", "sweep.sbatch"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=600)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr + "".join(
        p.read_text() for p in tmp_path.glob("slurm-*.out")
    )
    collected = aidopt("sweep", "collect", "arr", cwd=tmp_path)
    assert collected.returncode == 0, collected.stderr
    assert "collected 8 runs (8 ok)" in collected.stdout
    assert_same_runs(store(tmp_path / "arr" / "merged"), reference)


@pytest.mark.slow
def test_shards_run_apart_and_collect_refuses_until_every_run_is_in(tmp_path, reference):
    path = sweep_file(tmp_path)
    first = run_aidopt("sweep", path, "--out", tmp_path / "arr", "--shard", "0/3", "-q",
                       "--workers", "1")  # fmt: skip
    assert first.exit_code == 0, first.output
    assert [p.name for p in (tmp_path / "arr").iterdir()] == ["shard-0-of-3"]
    refused = run_aidopt("sweep", "collect", tmp_path / "arr")
    assert refused.exit_code == 2 and "shard(s) 1, 2 of 3 are missing" in refused.output
    for shard in ("1/3", "2/3"):
        assert run_aidopt("sweep", path, "--out", tmp_path / "arr", "--shard", shard, "-q",
                          "--workers", "1").exit_code == 0  # fmt: skip
    collected = run_aidopt("sweep", "collect", tmp_path / "arr")
    assert collected.exit_code == 0, collected.output
    merged = store(tmp_path / "arr" / "merged")
    assert_same_runs(merged, reference)
    assert list(store(tmp_path / "arr" / "shard-1-of-3")["status"].values) == [
        "ok" if r % 3 == 1 else "pending" for r in range(8)
    ]


# --- analysis ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_sobol_gives_a_parameter_that_cannot_matter_no_total_index(tmp_path):
    """The solver's time limit between two values far above any solve time changes nothing."""
    path = sweep_file(tmp_path, design={"method": "sobol", "samples": 8, "seed": 5},
                      parameters={"epidemic.r0": {"uniform": [1.8, 2.6]},
                                  "solver.time_limit_s": {"uniform": [1000, 2000]}},
                      outputs=["deaths_with_plan", "spending_usd.total"])  # fmt: skip
    done = run_aidopt("sweep", path, "--out", tmp_path / "out")
    assert done.exit_code == 0, done.output
    assert "48 runs" in done.output  # N(2D+2) = 8 x 6
    analysed = run_aidopt("sweep", "analyse", tmp_path / "out")
    assert analysed.exit_code == 0, analysed.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "indices.csv")
    total = table[table["measure"] == "ST"].set_index(["output", "parameter"])["value"]
    for output in ("deaths_with_plan", "spending_usd.total"):
        assert abs(total[(output, "solver.time_limit_s")]) < 0.05
        assert total[(output, "epidemic.r0")] > 0.5
    marker = json.loads((tmp_path / "out" / ".aidopt-result.json").read_text())
    assert {"indices.csv", "indices.png", "tornado.png", "scatter.png"} <= set(marker["files"])
