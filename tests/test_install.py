"""After `pip install .` into a fresh virtual environment, aidopt works from an empty folder:
the shipped scenarios come with the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

LEFT_BEHIND = shutil.ignore_patterns(
    ".venv", ".git", "results", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


@pytest.mark.slow
def test_aidopt_runs_and_reports_from_an_empty_folder_after_pip_install(tmp_path):
    # Install from a copy, so the build leaves nothing in the working tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=LEFT_BEHIND)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    shutil.rmtree(source)  # the installed package must not need it

    empty = tmp_path / "anywhere"
    empty.mkdir()
    aidopt = str(venv / "bin" / "aidopt")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)

    def call(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [aidopt, *args], cwd=empty, env=env, capture_output=True, text=True, check=False
        )

    done = call("run")
    assert done.returncode == 0, done.stderr
    assert (empty / "results" / "korea-2020" / "summary.json").is_file()
    assert "next: aidopt report results/korea-2020" in done.stdout
    done = call("report", "results/korea-2020", "--no-pdf")
    assert done.returncode == 0, done.stderr
    page = empty / "results" / "korea-2020" / "report.html"
    assert page.stat().st_size > 50_000
    done = call("run", "dprk-2022", "--set", "coupling.mode=one-way")
    assert done.returncode == 0, done.stderr
    assert (empty / "results" / "dprk-2022" / "plan.nc").is_file()
    done = call("init", "mine", "--from", "dprk-2022")
    assert done.returncode == 0, done.stderr
    assert (empty / "mine" / "observed-national.csv").is_file()
    assert sorted(p.name for p in empty.iterdir()) == ["mine", "results"]
