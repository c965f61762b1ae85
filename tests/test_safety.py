"""Hostile and careless use: output folders that never lose data, contained and bounded inputs,
numbers the solver can take, and no tracebacks. One test per symptom of issue 6."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import DEFAULT_SCENARIO, ROOT, tiny_scenario, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimiser.runner
from optimiser import output_folder
from optimiser.cli import main
from optimiser.inputs import ScenarioError, load_scenario
from optimiser.output_folder import MARKER, OutputError, prepare_output, write_atomically

DPRK_2022 = ROOT / "inputs" / "dprk-2022"
MAX_OUTPUT_BYTES, MAX_RSS_MB = 10_000, 300


def cli(*args: str, catch: bool = False):
    return CliRunner().invoke(main, list(args), catch_exceptions=catch)


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


MEASURED = (
    "import atexit, sys; from optimiser.cli import main; atexit.register(lambda: print("
    "'peak-rss-kB', open('/proc/self/status').read().split('VmHWM:')[1].split()[0], "
    "file=sys.stderr)); main(sys.argv[1:])"
)
"""`aidopt ARGS` that reports its peak resident memory at exit (its own: a child's ru_maxrss
on Linux starts from its parent's)."""


def run_measured(args: list[str], cwd: Path, timeout_s: float = 120):
    """`aidopt ARGS` in its own process: (status, output, seconds, peak RSS in MB). The timeout
    only catches a hang; the time is printed, not judged."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout_s, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    output, _, peak = (done.stdout + done.stderr).rpartition("peak-rss-kB ")
    peak_mb = int(peak) / 1024
    print(f"{' '.join(args[:2])}: exit {done.returncode}, {seconds:.2f} s, {peak_mb:.0f} MB, "
          f"{len(output)} bytes of output")  # fmt: skip
    return done.returncode, output, seconds, peak_mb


def set_key(folder: Path, file: str, row: int, column: str, value: str) -> None:
    path = folder / file
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rows[row][column] = value
    write_csv(path, rows)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return tiny_scenario(tmp_path / "tiny")


def install(out: Path, tag: str) -> None:
    """A small complete result, as any command writes one."""
    write_atomically(
        out, {"a.txt": lambda p: p.write_text(tag), "b.txt": lambda p: p.write_text(tag * 2)}, "t"
    )


def whole_result(out: Path) -> str:
    """The tag of the one complete result at `out`, checked against its marker."""
    marker = json.loads((out / MARKER).read_text())
    assert marker["state"] == "complete"
    assert sorted(os.listdir(out)) == sorted([MARKER, *marker["files"]])
    assert output_folder.foreign_files(out) == ([], [])
    tag = (out / "a.txt").read_text()
    assert (out / "b.txt").read_text() == tag * 2
    return tag


# --- data loss -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["summary.json", "fit.json"])
def test_a_folder_of_the_users_files_is_never_replaced(name, tiny, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text("{}")
    (out / "thesis.tex").write_text("precious")
    before = tree(out)
    result = cli("run", str(tiny), "--out", str(out))
    assert result.exit_code == 2
    assert f"holds files that are not an aidopt result ({name}, thesis.tex)" in result.output
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "tiny"]


def test_a_result_the_user_changed_or_added_to_is_not_replaced(tiny, tmp_path):
    out = tmp_path / "out"
    assert cli("run", str(tiny), "--out", str(out)).exit_code == 0
    with (out / "shipments.csv").open("a") as f:
        f.write("my note\n")
    (out / "notes.txt").write_text("mine")
    result = cli("run", str(tiny), "--out", str(out))
    assert result.exit_code == 2
    assert ("holds files that are not an aidopt result (notes.txt) and files changed since "
            "aidopt wrote them (shipments.csv)") in result.output  # fmt: skip
    assert (out / "shipments.csv").read_text().endswith("my note\n")


def test_an_earlier_result_is_replaced_whole(tiny, tmp_path):
    out = tmp_path / "out"
    assert cli("run", str(tiny), "--out", str(out)).exit_code == 0
    first = json.loads((out / MARKER).read_text())
    result = cli("run", str(tiny), "--out", str(out), "--set", "horizon_weeks=2")
    assert result.exit_code == 0, result.output
    marker = json.loads((out / MARKER).read_text())
    assert marker["command"] == "run" and marker["version"] == first["version"]
    assert set(marker["files"]) == {p.name for p in out.iterdir()} - {MARKER}
    assert marker["files"]["staff.csv"] != first["files"]["staff.csv"]  # two weeks now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


@pytest.mark.parametrize("out", [".", "..", "/", "HOME", "SCENARIO", "SCENARIO/.."])
def test_protected_folders_are_refused(out, tiny, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    out = out.replace("HOME", str(tmp_path / "home")).replace("SCENARIO", str(tiny))
    before = tree(tmp_path)
    result = cli("run", str(tiny), "--out", out)
    assert result.exit_code == 2
    assert result.output.startswith(f"error:\n  --out {out!r}: is ")  # quoted: '.' reads as a value
    assert "Traceback" not in result.output
    assert tree(tmp_path) == before


def test_a_parent_that_is_a_file_is_refused_before_computing(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(optimiser.runner, "run", lambda *a: pytest.fail("computed"))
    (tmp_path / "report.pdf").write_text("x")
    result = cli("run", str(tiny), "--out", str(tmp_path / "report.pdf" / "out"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'report.pdf'} is not a folder" in result.output
    result = cli("run", str(tiny), "--out", str(tmp_path / "report.pdf"))
    assert result.exit_code == 2
    assert "exists and is not a folder" in result.output
    assert (tmp_path / "report.pdf").read_text() == "x"


def test_a_parent_the_user_cannot_write_is_refused_before_computing(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(optimiser.runner, "run", lambda *a: pytest.fail("computed"))
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere, except in an immutable folder
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode:
            pytest.skip("running as root without chattr: no folder is unwritable")
    else:
        locked.chmod(0o555)
    try:
        result = cli("run", str(tiny), "--out", str(locked / "sub" / "out"))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        locked.chmod(0o755)
    assert result.exit_code == 2
    assert f"--out {locked / 'sub' / 'out'}: cannot write in {locked} (permission denied)" \
        in result.output  # fmt: skip
    assert os.listdir(locked) == []


def test_two_writers_one_wins_whole_the_other_is_told(tiny, tmp_path):
    out = tmp_path / "out"
    with prepare_output(out, "run") as first:
        result = cli("run", str(tiny), "--out", str(out))
        assert result.exit_code == 2
        assert f"another aidopt (pid {os.getpid()}) is writing this folder" in result.output
        first.write({"a.txt": lambda p: p.write_text("first"),
                     "b.txt": lambda p: p.write_text("firstfirst")})  # fmt: skip
    assert whole_result(out) == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


def test_disk_full_is_one_line_naming_the_file_and_keeps_the_earlier_result(tiny, tmp_path):
    out = tmp_path / "out"
    assert cli("run", str(tiny), "--out", str(out)).exit_code == 0
    before = tree(out)
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000)); "
        "from optimiser.cli import main; "
        f"main(['run', {str(tiny)!r}, '--out', {str(out)!r}])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 1
    # The library's own words depend on where in plan.nc the limit falls (an attribute, a
    # chunk): the line names the file, says it is NetCDF's refusal and that nothing changed.
    assert re.fullmatch(
        rf"error:\n  {re.escape(str(out))}/plan.nc: cannot be written \(NetCDF: [^)\n]+\); "
        rf"nothing was changed at {re.escape(str(out))}\n", done.stderr), done.stderr
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


STEPS = ["locked", "staged", "wrote a.txt", "wrote b.txt", "complete", "retired", "installed"]
WRITER = (
    "import sys; from optimiser.output_folder import write_atomically; "
    "write_atomically(sys.argv[1], {'a.txt': lambda p: p.write_text('new'), "
    "'b.txt': lambda p: p.write_text('newnew')}, 't')"
)


KILLS = [
    pytest.param(step, exchange, id=f"{step}-{'exchange' if exchange else 'two-renames'}")
    for step in STEPS
    for exchange in (True, False)
    if exchange is False or step != "retired"  # only two renames retire the result first
]


@pytest.mark.parametrize("step, exchange", KILLS)
def test_a_run_killed_at_any_step_leaves_one_whole_result(step, exchange, tmp_path):
    out = tmp_path / "out"
    install(out, "old")
    env = {**os.environ, "AIDOPT_TEST_PAUSE_AT": step}
    if not exchange:
        env["AIDOPT_TEST_NO_EXCHANGE"] = "1"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stderr=subprocess.PIPE,
                            env=env, cwd=ROOT, text=True)  # fmt: skip
    assert proc.stderr is not None
    assert proc.stderr.readline() == f"paused at {step}\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    prepare_output(out, "t").close()  # the next start-up
    assert whole_result(out) == ("new" if step == "installed" else "old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_writer_in_another_process_holds_the_folder_until_it_ends(tiny, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stderr=subprocess.PIPE,
                            env={**os.environ, "AIDOPT_TEST_PAUSE_AT": "complete"}, cwd=ROOT,
                            text=True)  # fmt: skip
    assert proc.stderr is not None
    assert proc.stderr.readline() == "paused at complete\n"
    result = cli("run", str(tiny), "--out", str(out))
    assert result.exit_code == 2
    assert f"another aidopt (pid {proc.pid}) is writing this folder" in result.output
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert cli("run", str(tiny), "--out", str(out)).exit_code == 0
    assert json.loads((out / MARKER).read_text())["command"] == "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


@pytest.mark.slow
def test_aidopt_run_killed_while_installing_keeps_the_earlier_result(tiny, tmp_path):
    out = tmp_path / "out"
    assert cli("run", str(tiny), "--out", str(out)).exit_code == 0
    before = tree(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "optimiser", "run", str(tiny), "--out", str(out),
         "--set", "horizon_weeks=2"],
        stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "AIDOPT_TEST_PAUSE_AT": "complete", "AIDOPT_TEST_NO_EXCHANGE": "1"},
    )  # fmt: skip
    assert proc.stderr is not None
    assert proc.stderr.readline() == "paused at complete\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert len(list(tmp_path.glob(".out.partial-*"))) == 1
    assert cli("run", str(tiny), "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]
    assert tree(out).keys() == before.keys()


def test_an_earlier_result_left_aside_by_an_older_aidopt_is_brought_back(tmp_path):
    """Before the marker, a kill between two renames left the result in .NAME.old-*/previous."""
    aside = tmp_path / ".out.old-abc123" / "previous"
    aside.mkdir(parents=True)
    (aside / "summary.json").write_text('{"earlier": true}')
    with pytest.raises(OutputError, match=r"holds files that are not an aidopt result \(summary"):
        prepare_output(tmp_path / "out", "run")  # back, but with no marker it is kept as is
    assert (tmp_path / "out" / "summary.json").read_text() == '{"earlier": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_start_up_clears_only_what_aidopt_wrote(tmp_path):
    install(tmp_path / "out", "now")
    stale = tmp_path / ".out.partial-x1"
    stale.mkdir()
    (stale / "a.txt").write_text("half")
    (stale / MARKER).write_text(json.dumps(
        {"written_by": "aidopt", "state": "writing", "files": {"a.txt": None, "../b": None}}
    ))  # fmt: skip
    mine = tmp_path / ".out.old-x2"
    mine.mkdir()
    (mine / "a.txt").write_text("aidopt")
    (mine / "thesis.tex").write_text("the user's")
    (mine / MARKER).write_text(json.dumps(
        {"written_by": "aidopt", "state": "complete", "files": {"a.txt": {}}}
    ))  # fmt: skip
    (tmp_path / "b").write_text("a marker may not reach outside its folder")
    with prepare_output(tmp_path / "out", "run"):
        pass
    # the stale partial's marker names '../b', so it is not aidopt's: nothing of it is deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".out.old-x2", ".out.partial-x1", "b", "out"
    ]  # fmt: skip
    assert sorted(os.listdir(stale)) == [MARKER, "a.txt"]
    assert sorted(os.listdir(mine)) == ["thesis.tex"]
    assert (tmp_path / "b").exists()
    assert whole_result(tmp_path / "out") == "now"


# --- escapes and leaks ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["../outside.csv", "ABSOLUTE", "link.csv", "--set"])
def test_a_table_outside_the_scenario_folder_is_refused_unread(where, default_copy, tmp_path):
    secret = tmp_path / "outside.csv"
    secret.write_text("id,name\nSECRET-FIRST-LINE,x\n")
    (default_copy / "link.csv").symlink_to(secret)
    path = str(secret) if where == "ABSOLUTE" else where
    args = ["--set", f"tables.depots={secret}"] if where == "--set" else []
    if where != "--set":
        text = (default_copy / "scenario.yaml").read_text()
        (default_copy / "scenario.yaml").write_text(
            text.replace("depots: depots.csv", f"depots: {path}")
        )
    result = cli("validate", str(default_copy), *args)
    assert result.exit_code == 2
    assert "lies outside the scenario folder" in result.output
    assert "SECRET" not in result.output


def test_a_file_that_is_not_a_table_is_not_quoted(default_copy):
    (default_copy / "depots.csv").write_text("root:x:0:0:root:/root:/bin/bash\nSECRET\n")
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert "depots.csv: its first line names none of the columns id, name" in result.output
    assert "root:x" not in result.output and "SECRET" not in result.output


def test_yaml_errors_do_not_quote_the_file(default_copy, tmp_path):
    secret = tmp_path / "notes.yaml"
    secret.write_text("SECRET: [unclosed\n")
    result = cli("validate", str(default_copy), "--set", f"@{secret}")
    assert result.exit_code == 2
    assert "not valid YAML: line 2, column 1" in result.output
    assert "SECRET" not in result.output


def write_alias_bomb(folder: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    with (folder / "scenario.yaml").open("a") as f:
        f.write("\n" + "\n".join(lines) + "\n")


def write_fifo(folder: Path) -> None:
    os.mkfifo(folder / "depots.csv.fifo")
    set_table(folder, "depots", "depots.csv.fifo")


def write_device_link(folder: Path) -> None:
    (folder / "zero.csv").symlink_to("/dev/zero")
    set_table(folder, "depots", "zero.csv")


def write_huge_csv(folder: Path) -> None:
    with (folder / "depots.csv").open("r+b") as f:
        f.truncate(200_000_000)  # sparse: the size alone must refuse it


def write_many_rows(folder: Path) -> None:
    with (folder / "supply.csv").open("a") as f:
        f.writelines(f"incheon,pcr_test,{i},1,s\n" for i in range(40_000))


def write_many_bad_rows(folder: Path) -> None:
    with (folder / "arcs.csv").open("a") as f:
        f.writelines(f"a{i},paju,kaesong,road,1,lots,1,0,true,,,,s\n" for i in range(25_000))


def write_many_unknown_nodes(folder: Path) -> None:
    with (folder / "arcs.csv").open("a") as f:
        f.writelines(f"a{i},paju,nowhere{i},road,1,1,1,0,true,,,,s\n" for i in range(25_000))


def write_deep_yaml(folder: Path) -> None:
    with (folder / "scenario.yaml").open("a") as f:
        f.write("deep: " + "[" * 200_000 + "]" * 200_000 + "\n")


def set_table(folder: Path, name: str, file: str) -> None:
    text = (folder / "scenario.yaml").read_text()
    (folder / "scenario.yaml").write_text(text.replace(f"{name}: {name}.csv", f"{name}: {file}"))


BOUNDED = {
    "YAML alias bomb": (write_alias_bomb, "not valid YAML: line 4, column 1: expands to more "
                        "than 100,000 values"),
    "FIFO": (write_fifo, "depots.csv.fifo: is a FIFO (named pipe), not a regular file"),
    "/dev/zero": (write_device_link, "zero.csv: lies outside the scenario folder"),
    "200 MB CSV": (write_huge_csv, "depots.csv: 200,000,000 bytes; at most 4,194,304 are read"),
    "40,000 rows": (write_many_rows, "supply.csv: more than 29,9"),
    "25,000 bad rows": (write_many_bad_rows, "error: 101 problem(s):"),  # 100 a file, + a note
    "25,000 unknown nodes": (write_many_unknown_nodes, "error: 25001 problem(s):"),
    "deeply nested YAML": (write_deep_yaml, "not valid YAML: nested too deeply"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BOUNDED))
def test_hostile_inputs_stay_bounded(case, default_copy):
    """Acceptance: exit 2, a named message under 10 kB, under 300 MB, nothing written."""
    make, message = BOUNDED[case]
    make(default_copy)
    before = tree(default_copy.parent)
    status, output, _, rss_mb = run_measured(["validate", str(default_copy)], cwd=ROOT)
    assert status == 2, output
    assert message in output
    assert len(output.encode()) < MAX_OUTPUT_BYTES
    assert "Traceback" not in output
    assert rss_mb < MAX_RSS_MB
    assert tree(default_copy.parent) == before


def test_lists_of_valid_names_and_problems_are_capped(default_copy):
    ids = [f"node{i:03d}" for i in range(60)]
    with (default_copy / "crossings.csv").open("a") as f:
        f.writelines(f"{n},{n},CHN,40,124,s\n" for n in ids)
    set_key(default_copy, "arcs.csv", 0, "to", "atlantis")
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    line = next(x for x in result.output.splitlines() if "'atlantis' is not a known node" in x)
    assert line.endswith(" and 59 more")
    assert len(line) < 600


def test_long_values_are_clipped_in_messages(default_copy):
    result = cli("validate", str(default_copy), "--set", "name=" + "X" * 5000)
    assert result.exit_code == 2
    assert "'XXXXX" in result.output and "X" * 100 not in result.output
    set_key(default_copy, "provinces.csv", 0, "population", "9" * 5000)
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert "'population': '99999" in result.output and "9" * 100 not in result.output


# --- silently wrong or crashing ------------------------------------------------------------------


def with_mobility(folder: Path, edit) -> None:
    ids = [p.id for p in load_scenario(folder).provinces]
    rows = [[p, *("1" if p == q else "0" for q in ids)] for p in ids]
    edit(rows)
    with (folder / "mobility.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["from", *ids], *rows])
    text = (folder / "scenario.yaml").read_text()
    (folder / "scenario.yaml").write_text(
        text.replace("  sanctions: sanctions.yaml", "  sanctions: sanctions.yaml\n"
                     "  mobility: mobility.csv")
    )  # fmt: skip


def test_nan_in_the_mobility_matrix_is_refused(default_copy):
    with_mobility(default_copy, lambda rows: rows[2].__setitem__(1, "nan"))
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert ("mobility.csv, line 4 (north_pyongan), column 'pyongyang': 'nan' is invalid; "
            "valid: a share from 0 to 1") in result.output  # fmt: skip


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows[4].append("0"), "line 6 (chagang): 14 shares; expected one per province"),
    (lambda rows: rows[4].pop(), "line 6 (chagang): 12 shares; expected one per province"),
])  # fmt: skip
def test_a_mobility_row_with_a_cell_too_many_or_few_is_refused(change, message, default_copy):
    with_mobility(default_copy, change)
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("file, row, column, value, message", [
    ("supply.csv", 0, "units_per_week", "1e308",
     "'units_per_week': '1e308' is invalid: Input should be less than or equal to 1000000000000; "
     "expected available at the depot each week [units/week]; at most 1e12"),
    ("arcs.csv", 0, "capacity_t_per_week", "1e20", "'capacity_t_per_week': '1e20' is invalid"),
    ("provinces.csv", 0, "population", "1e30", "'population': '1e30' is invalid"),
])  # fmt: skip
def test_numbers_the_solver_would_read_as_infinite_are_refused(
    file, row, column, value, message, default_copy
):
    set_key(default_copy, file, row, column, value)
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("setting", [
    "objective.usd_per_death_averted=1e-320", "objective.usd_per_death_averted=0.5",
])  # fmt: skip
def test_a_death_cannot_be_worth_less_than_a_dollar(setting, default_copy):
    result = cli("validate", str(default_copy), "--set", setting)
    assert result.exit_code == 2
    assert "Input should be greater than or equal to 1; expected spending weighs as one death " \
           "per this many dollars [USD/death]; at least 1" in result.output  # fmt: skip


def test_routes_with_huge_lead_times_are_refused(default_copy):
    text = (default_copy / "sanctions.yaml").read_text()
    (default_copy / "sanctions.yaml").write_text(
        text.replace("dorasan-kaesong-road: 1", "dorasan-kaesong-road: 1000000000000000000000000")
    )
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert "rok_route_approvals.routes.dorasan-kaesong-road': 1000000000000000000000000 is " \
           "invalid: Input should be less than or equal to 10000" in result.output  # fmt: skip


def test_a_repeated_csv_column_is_refused(default_copy):
    path = default_copy / "depots.csv"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("longitude", "latitude")
    path.write_text("\n".join(lines) + "\n")
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert "depots.csv: column(s) latitude appear more than once in the header" in result.output


@pytest.mark.parametrize("file, addition, message", [
    ("scenario.yaml", "\nhorizon_weeks: 4\n", "key 'horizon_weeks' repeats line 7"),
    ("sanctions.yaml", "\nexemptions: []\n", "key 'exemptions' repeats line"),
])  # fmt: skip
def test_a_repeated_yaml_key_is_refused(file, addition, message, default_copy):
    with (default_copy / file).open("a") as f:
        f.write(addition)
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert f"{file}: not valid YAML: line " in result.output
    assert message in result.output


def test_python_tags_in_yaml_are_refused(default_copy, tmp_path):
    flag = tmp_path / "ran"
    with (default_copy / "scenario.yaml").open("a") as f:
        f.write(f"\nx: !!python/object/apply:os.system ['touch {flag}']\n")
    result = cli("validate", str(default_copy))
    assert result.exit_code == 2
    assert "could not determine a constructor for the tag" in result.output
    assert not flag.exists()


def test_a_unicode_line_separator_stays_in_its_cell(default_copy):
    set_key(default_copy, "depots.csv", 3, "name", "Busan\u2028port")
    assert ",Busan\u2028port," in (default_copy / "depots.csv").read_text(encoding="utf-8")
    scenario = load_scenario(default_copy)
    assert [d.name for d in scenario.depots][-1] == "Busan\u2028port"
    assert [d.id for d in scenario.depots] == ["incheon", "paju", "sokcho", "busan"]


def test_a_quoted_line_break_stays_in_its_cell(default_copy):
    set_key(default_copy, "depots.csv", 3, "name", "Busan\nport")
    assert ',"Busan\nport",' in (default_copy / "depots.csv").read_text()
    assert load_scenario(default_copy).depots[-1].name == "Busan\nport"


OBSERVED_BAD = {
    "new_cases of 1e308": ("2022-05-12,national,1e308,1", "line 2, column 'new_cases': '1e308' "
                           "is invalid; valid: a whole number >= 0, at most the population of "
                           "national (25,531,989)"),
    "a short row": ("2022-05-12,national", "line 2: 2 cells; expected 4, one per column"),
    "a row too long": ("2022-05-12,national,5,1,x", "line 2: 5 cells; expected 4"),
    "days of a superscript two": ("2022-05-12,national,5,\u00b2", "line 2, column 'days': '\u00b2' "
                                  "is invalid; valid: a whole number from 1 to 1095"),
    "days of 10^30": ("2022-05-12,national,5," + "1" + "0" * 30, "column 'days': "
                      "'1000000000000000000000000000000' is invalid"),
    "a repeated column": (None, "column(s) new_cases appear more than once in the header"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(OBSERVED_BAD))
def test_bad_observed_rows_are_refused_and_nothing_is_written(case, tmp_path):
    row, message = OBSERVED_BAD[case]
    path = tmp_path / "observed.csv"
    header = "date,region,new_cases,new_cases" if row is None else "date,region,new_cases,days"
    path.write_text(f"{header}\n{row or '2022-05-12,national,5,5'}\n2022-05-13,national,7,1\n",
                    encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    result = cli("calibrate", str(DPRK_2022), "--observed", str(path), "--out", str(out))
    assert result.exit_code == 2
    assert message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["observed.csv"]


# --- the last guard ------------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_leaves_nothing(tiny, tmp_path, monkeypatch):
    from optimiser import exports

    def broken(ds, path):
        raise KeyError("something nobody foresaw")

    monkeypatch.setitem(exports.WRITERS, "staff.csv", broken)
    out = tmp_path / "results" / "out"
    result = cli("run", str(tiny), "--out", str(out))
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "internal error: KeyError: 'something nobody foresaw' (aidopt --debug ... shows where)"
    )
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]
    result = cli("--debug", "run", str(tiny), "--out", str(out))
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.output
    assert "in broken" in result.output


# --- random damage to the shipped tables ---------------------------------------------------

NASTY = [
    "", " ", "nan", "NaN", "inf", "-inf", "-1", "0", "1e308", "1e-320", "1e20", "\u00b2",
    "1" + "0" * 30, "\u2028", '"', ",", "\r\n", "\x00", "../../etc/passwd", "/dev/zero",
    "x" * 10_000, "2020-02-30", "9999-12-31", "0001-01-01", "true", "[1, 2]", "{a: 1}", "*a",
    "&a x", "!!python/object:os.system", "- - -", "\ufeff", "\u00e9",
]  # fmt: skip
TABLES = sorted(p.name for p in DEFAULT_SCENARIO.iterdir())
ORIGINAL = {name: (DEFAULT_SCENARIO / name).read_bytes() for name in TABLES}


def mutate(data: bytes, name: str, kind: str, draw) -> bytes:
    """One random change to a file: raw bytes, one cell (or YAML value), or whole rows."""
    if kind == "bytes":
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 8))
        return data[:at] + draw(st.binary(max_size=8)) + data[at + cut :]
    text = data.decode("utf-8", "surrogateescape")  # earlier damage may have broken UTF-8
    if name.endswith(".yaml"):
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        key, sep, _ = lines[i].partition(": ")
        value = draw(st.sampled_from(NASTY) | st.text(max_size=20))
        lines[i] = key + sep + value if sep else lines[i] + draw(st.sampled_from(NASTY))
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    r = draw(st.integers(0, len(rows) - 1))
    if kind == "cells":
        c = draw(st.integers(0, len(rows[r]) - 1))
        rows[r][c] = draw(st.sampled_from(NASTY) | st.text(max_size=20))
    elif kind == "rows":
        action = draw(st.sampled_from(["repeat", "drop", "short", "long", "many"]))
        if action == "repeat":
            rows.insert(r, list(rows[r]))
        elif action == "drop":
            del rows[r]
        elif action == "short":
            rows[r] = rows[r][:-1]
        elif action == "long":
            rows[r] = [*rows[r], "extra"]
        else:
            rows += [list(rows[-1])] * draw(st.integers(1, 3000))
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8", "surrogateescape")


@pytest.mark.slow
def test_random_damage_to_the_tables_is_reported_never_crashes():
    """`aidopt validate` on damaged copies of the shipped scenario: exit 0 or 2, no traceback,
    a bounded report, and no runaway time or memory (catches hangs and bombs, not slowness)."""
    import tracemalloc

    examples = int(os.environ.get("AIDOPT_FUZZ_EXAMPLES", "150"))  # more for a longer hunt

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(st.data())
    def check(data):
        files = dict(ORIGINAL)
        for _ in range(data.draw(st.integers(1, 3))):
            name = data.draw(st.sampled_from(TABLES))
            kind = data.draw(st.sampled_from(["bytes", "cells", "rows"]))
            files[name] = mutate(files[name], name, kind, data.draw)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "korea-2020"
            folder.mkdir()
            for name, content in files.items():
                (folder / name).write_bytes(content)
            before = tree(Path(tmp))
            tracemalloc.start()
            start = time.perf_counter()
            result = cli("validate", str(folder), catch=True)
            seconds = time.perf_counter() - start
            peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            assert tree(Path(tmp)) == before
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        assert len(result.output.encode()) < MAX_OUTPUT_BYTES
        assert seconds < 60 and peak_mb < 200, (seconds, peak_mb)

    check()


def test_hostile_yaml_in_a_set_file_is_bounded_too(default_copy, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(yaml.safe_dump({"name": "x"}) + "\n".join(
        [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10) if i else 'x'}]" for i in range(10)]
    ) + "\n")  # fmt: skip
    result = cli("validate", str(default_copy), "--set", f"@{bomb}")
    assert result.exit_code == 2
    assert "expands to more than 100,000 values" in result.output


def test_scenario_errors_are_collected_not_raised_one_by_one(default_copy):
    set_key(default_copy, "supply.csv", 0, "units_per_week", "nan")
    set_key(default_copy, "arcs.csv", 0, "cost_per_t", "1e300")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(default_copy)
    assert len(caught.value.problems) == 2
