"""The command line as people meet it: suggestions for slips, `--set KEY VALUE`, shipped
scenarios by name from any folder, `init`, progress on a terminal only, -q and -v."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from conftest import DEFAULT_SCENARIO, ROOT, run_aidopt, tiny_scenario

from optimiser.suggest import did_you_mean, suggest


def test_suggest_finds_the_close_name_and_nothing_when_none_is_close():
    arcs = ["dorasan-kaesong-rail", "dorasan-kaesong-road", "incheon-nampo-sea"]
    assert suggest("dorasan-kaesong-rai", arcs)[0] == "dorasan-kaesong-rail"
    assert suggest("Incheon-Nampo-Sea", arcs) == ["incheon-nampo-sea"]
    assert suggest("atlantis", arcs) == []
    assert did_you_mean("atlantis", arcs) == ""
    assert did_you_mean("run", ["run", "report"]) == " (did you mean 'run'?)"


def edit_csv(path: Path, row: int, column: str, value: str) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[row, column] = value
    table.to_csv(path, index=False)


def test_a_misspelt_id_gets_the_close_one_not_every_id(default_copy):
    edit_csv(default_copy / "arcs.csv", 3, "to", "nampoo")
    done = run_aidopt("validate", default_copy)
    assert done.exit_code == 2
    assert "column 'to': 'nampoo' is not a known node (did you mean 'nampo'?)" in done.output
    assert "hunchun" not in done.output  # the 19 node ids are not all listed


def test_an_id_with_nothing_close_still_lists_what_is_valid(default_copy):
    text = (default_copy / "scenario.yaml").read_text()
    text = text.replace("origins: [paju, sokcho, incheon]", "origins: [paju, seoul]")
    (default_copy / "scenario.yaml").write_text(text)
    done = run_aidopt("validate", default_copy)
    assert done.exit_code == 2
    assert "'seoul' is not a known depot; valid: busan, incheon, paju, sokcho" in done.output


def test_a_misspelt_key_in_scenario_yaml_is_suggested(default_copy):
    text = (default_copy / "scenario.yaml").read_text()
    (default_copy / "scenario.yaml").write_text(text.replace("horizon_weeks:", "horizon_week:"))
    done = run_aidopt("validate", default_copy)
    assert done.exit_code == 2
    assert "unknown key 'horizon_week' (did you mean 'horizon_weeks'?)" in done.output


def test_an_unknown_command_is_suggested():
    done = run_aidopt("reprot", "results/x")
    assert done.exit_code == 2
    assert "no command 'reprot' (did you mean 'report'" in done.output


def test_set_with_a_space_shows_the_key_value_form(tmp_path):
    out = tmp_path / "out"
    done = run_aidopt("run", "--out", out, "--set", "epidemic.r0", "2.5")
    assert done.exit_code == 2
    assert "'--set epidemic.r0 2.5': write the setting as KEY=VALUE" in done.output
    assert "--set epidemic.r0=2.5" in done.output
    assert not out.exists()


def test_a_misspelt_scenario_name_is_suggested(tmp_path):
    done = run_aidopt("validate", "dprk-2202")
    assert done.exit_code == 2
    assert "dprk-2202: no such folder, nor a shipped scenario (did you mean 'dprk-2022'?)" in (
        done.output
    )


def test_shipped_scenarios_run_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = run_aidopt("run", "dprk-2022", "--set", "coupling.mode=one-way")
    assert done.exit_code == 0, done.output
    assert (tmp_path / "results" / "dprk-2022" / "summary.json").is_file()
    assert "next: aidopt report results/dprk-2022" in done.output
    assert "top entry routes (tonnes over the horizon): " in done.output
    assert "most unmet need (mean share of need unmet): " in done.output


def test_init_copies_a_scenario_to_edit_and_refuses_a_full_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = run_aidopt("init", "mine", "--from", "dprk-2022")
    assert done.exit_code == 0, done.output
    shipped = DEFAULT_SCENARIO.parent / "dprk-2022"
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == sorted(
        p.name for p in shipped.iterdir()
    )
    assert (tmp_path / "mine" / "arcs.csv").read_bytes() == (shipped / "arcs.csv").read_bytes()
    assert run_aidopt("validate", "mine").exit_code == 0
    again = run_aidopt("init", "mine")
    assert again.exit_code == 2
    assert "mine: exists and is not an empty folder" in again.output


def aidopt_process(*args: str, **kwargs) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return dict(args=[sys.executable, "-m", "optimiser", *args], env=env, cwd=ROOT, **kwargs)


def test_progress_shows_on_a_terminal_only(tmp_path):
    folder = tiny_scenario(tmp_path / "tiny", horizon_weeks=3)
    # On a terminal: each step rewrites one line of stderr.
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        **aidopt_process("run", str(folder), "--out", str(tmp_path / "a")),
        stdout=subprocess.DEVNULL, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process ends
            break
        if not chunk:
            break
        seen += chunk
    process.wait(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    assert b"\r\x1b[K" in seen
    for step in (b"epidemic without aid", b"iteration 1: deaths", b"writing"):
        assert step in seen
    # Off a terminal: nothing on stderr; the summary still on stdout.
    done = subprocess.run(
        **aidopt_process("run", str(folder), "--out", str(tmp_path / "b")),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""
    assert "next: aidopt report" in done.stdout


def test_verbose_logs_each_step_and_quiet_prints_nothing(tmp_path):
    folder = tiny_scenario(tmp_path / "tiny", horizon_weeks=3)
    loud = run_aidopt("run", folder, "--out", tmp_path / "a", "-v")
    assert loud.exit_code == 0
    assert "INFO optimiser.coupling: iteration 1: deaths" in loud.output
    quiet = run_aidopt("run", folder, "--out", tmp_path / "b", "-q")
    assert quiet.exit_code == 0 and quiet.output == ""
    assert (tmp_path / "b" / "summary.json").is_file()
