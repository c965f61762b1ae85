"""A sweep as a SLURM job array: the sbatch script (`aidopt sweep SWEEP.yaml --slurm-script`),
one shard per array task (`--shard I/N`, into DIR/shard-I-of-N), and `aidopt sweep collect
DIR`, which merges the shards into one store once every run is in.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import numpy as np

from optimiser.inputs import ScenarioError
from optimiser.output_folder import prepare_output
from optimiser.reading import MAX_YAML_BYTES, read_bytes
from optimiser.sweep_spec import Slurm
from optimiser.sweep_store import PENDING, STORE
from optimiser.sweep_worker import THREAD_VARIABLES

DEFAULT_SHARDS = 10
SHARD_NAME = re.compile(r"^shard-(\d+)-of-(\d+)$")
COLLECTED = "merged"
"""`aidopt sweep collect DIR` writes DIR/merged unless --out says otherwise."""


def job_array_script(sweep_file: Path, out: Path, shards: int, slurm: Slurm, cwd: Path,
                     samples: int | None, runs: int) -> str:  # fmt: skip
    """An sbatch script whose array tasks run one shard each; requeued or resubmitted, each
    task resumes its shard."""
    directives = [
        "--job-name=aidopt-sweep",
        f"--array=0-{shards - 1}",
        "--ntasks=1",
        f"--cpus-per-task={slurm.cores}",
        f"--mem={slurm.memory_mb}M",
        f"--time={slurm.walltime}",
        *([f"--partition={slurm.queue}"] if slurm.queue else []),
        *([f"--account={slurm.account}"] if slurm.account else []),
        *slurm.directives,
    ]
    command = [sys.executable, "-m", "optimiser", "sweep", str(sweep_file.resolve()),
               "--out", str(out.resolve()), "--resume", "-q"]  # fmt: skip
    command += ["--samples", str(samples)] if samples is not None else []
    quoted = " ".join(shlex.quote(c) for c in command)
    lines = [
        "#!/bin/bash",
        f"# aidopt sweep {sweep_file.name} as a SLURM job array: {runs:,} runs in {shards} "
        f"shard(s), into {out}/shard-*",
        f"# (a task resubmitted resumes its shard). When every task has ended: "
        f"aidopt sweep collect {out}",
        *(f"#SBATCH {d}" for d in directives),
        "set -euo pipefail",
        "export " + " ".join(f"{n}=1" for n in THREAD_VARIABLES),
        *slurm.prologue,
        f"cd {shlex.quote(str(cwd.resolve()))}",
        f'exec {quoted} --shard "$SLURM_ARRAY_TASK_ID/{shards}" '
        f'--workers "${{SLURM_CPUS_PER_TASK:-1}}"',
    ]
    return "\n".join(lines) + "\n"


def find_shards(folder: Path) -> tuple[list[Path], int]:
    """The shard folders under `folder` and their count N, or ScenarioError."""
    found: dict[int, Path] = {}
    counts = set()
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = SHARD_NAME.match(child.name)
        if match and (child / STORE).is_dir():
            found[int(match[1])] = child
            counts.add(int(match[2]))
    if not found:
        raise ScenarioError(
            [
                f"{folder}: holds no shard-I-of-N folders with a {STORE}; "
                f"aidopt sweep SWEEP.yaml --shard I/N --out {folder} makes them"
            ]
        )
    if len(counts) > 1:
        raise ScenarioError([f"{folder}: holds shards of {len(counts)} different splits "
                             f"(of {', '.join(map(str, sorted(counts)))}); keep one"])  # fmt: skip
    shards = counts.pop()
    missing = sorted(set(range(shards)) - set(found))
    if missing:
        raise ScenarioError([f"{folder}: shard(s) {', '.join(map(str, missing))} of {shards} "
                             f"are missing; run them (the same sbatch script resubmitted "
                             f"runs only what is missing)"])  # fmt: skip
    return [found[i] for i in range(shards)], shards


def collect(folder: Path, out: Path | None) -> tuple[Path, int, dict[str, int]]:
    """Merge the shards under `folder` into one sweep folder; returns it, the run count and
    the count of each status."""
    from optimiser import sweep_store

    stores, shards = find_shards(folder)
    attributes = [sweep_store.attributes(s / STORE) for s in stores]
    keys = ("sweep_json", "inputs_sha256", "runs_sha256")
    problems = [f"{s}: is a shard of another sweep than {stores[0]} (its sweep file, "
                f"scenario or runs differ)"
                for s, a in zip(stores, attributes, strict=True)
                if any(a.get(k) != attributes[0].get(k) for k in keys)]  # fmt: skip
    owners, counts = [], dict[str, int]()
    for i, s in enumerate(stores):
        status = sweep_store.status(s / STORE)
        owned = np.arange(status.size) % shards == i
        owners.append(owned)
        left = int((status[owned] == PENDING).sum())
        if left:
            problems.append(f"{s}: {left:,} of {int(owned.sum()):,} runs still pending; "
                            f"resubmit the job array (each task resumes its shard)")  # fmt: skip
        for value in status[owned]:
            counts[value] = counts.get(value, 0) + 1
    if problems:
        raise ScenarioError(problems)
    merged = sweep_store.merge([s / STORE for s in stores], owners)
    target = out or folder / COLLECTED
    copy_problems: list[str] = []
    sweep_copy = read_bytes(stores[0] / "sweep.yaml", copy_problems, max_bytes=MAX_YAML_BYTES)
    if sweep_copy is None:
        raise ScenarioError(copy_problems)

    def copy_sweep_file(path: Path) -> None:
        path.write_bytes(sweep_copy)

    with prepare_output(target, "sweep", tuple(stores)) as output:
        output.write({"sweep.yaml": copy_sweep_file,
                      STORE: lambda p: sweep_store.write_dataset(merged, p)})  # fmt: skip
    return target, int(merged.sizes["run"]), counts
