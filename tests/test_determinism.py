"""The same inputs give the same plan whatever the machine: thread counts and hash seeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _run(out: Path, threads: int, hash_seed: str) -> None:
    env = {**os.environ, **dict.fromkeys(THREADS, str(threads)), "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-m", "optimiser", "run", "dprk-2022", "--out",
                           str(out), "-q"], env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_one_thread_and_four_write_identical_plans(tmp_path):
    """dprk-2022 run twice, with 1 and with 4 BLAS/OpenMP threads and different hash seeds:
    byte-identical CSVs and identical plan.nc data. The loop pins BLAS to one thread itself
    (threadpoolctl), so the environment cannot change its sums."""
    one, four = tmp_path / "one", tmp_path / "four"
    _run(one, 1, "0")
    _run(four, 4, "12345")
    csvs = sorted(p.name for p in one.glob("*.csv"))
    assert csvs == ["deliveries.csv", "shipments.csv", "staff.csv"]
    for name in csvs:
        assert (one / name).read_bytes() == (four / name).read_bytes(), name
    with xr.open_dataset(one / "plan.nc") as a, xr.open_dataset(four / "plan.nc") as b:
        xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())
