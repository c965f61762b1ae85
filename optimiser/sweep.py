"""`aidopt sweep`: run a scenario over a design of inputs, in parallel, into one Zarr store.

    aidopt sweep SWEEP.yaml [--out DIR] [--samples N] [--workers N] [--resume]
                 [--scheduler local|dask-local|tcp://HOST:PORT|slurm] [--shard I/N]
                 [--slurm-script [--shards N]]
    aidopt sweep collect DIR       # merge the shards of a job array
    aidopt sweep analyse DIR       # Sobol', Morris or rank-correlation indices and plots

One run is `aidopt run` with the sweep's fixed `set` and the run's parameter values as `--set`
overrides (`optimiser.runner`); the sweep file's schema is `optimiser.sweep_spec`, its runs
`optimiser.sweep_design`, where they run `optimiser.sweep_exec`, and the store
`optimiser.sweep_store`. The output folder is claimed with
`optimiser.output_folder.prepare_live_output`: it is filled in place and never replaces an
earlier result; an unfinished one is completed with `--resume`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import click

from optimiser import scenarios
from optimiser.inputs import ScenarioError, expand_overrides, load_scenario
from optimiser.output_folder import Output
from optimiser.reading import clip
from optimiser.sweep_design import Runs, make_runs, parameter_values
from optimiser.sweep_spec import SweepFile, output_name, read_sweep
from optimiser.sweep_store import PENDING, STORE
from optimiser.sweep_worker import RunResult, Task

log = logging.getLogger(__name__)
SWEEP_COPY = "sweep.yaml"
"""The sweep file as given, kept beside the store."""
PROBES = 5
"""Values of each parameter tried before the sweep starts."""


@dataclass(frozen=True)
class Plan:
    """A sweep read and checked: everything needed to start or resume it."""

    path: Path
    sweep: SweepFile
    folder: Path
    fixed: list[str]
    runs: Runs
    identity: dict[str, str]

    @property
    def outputs(self) -> list[str]:
        return [output_name(o) for o in self.sweep.output_specs()]

    def tasks(self, selected: list[int]) -> list[Task]:
        specs = tuple(self.sweep.output_specs())
        folder = str(self.folder.resolve())
        return [Task(r, folder, tuple(self.fixed + self.runs.overrides(r)), specs)
                for r in selected]  # fmt: skip

    def describe(self) -> str:
        design, d = self.sweep.design, len(self.runs.names)
        if design.method == "csv":
            return f"{self.runs.count} runs from {design.file} over {d} parameter(s)"
        base = {"sobol": "N", "morris": "trajectories", "latin": "samples",
                "grid": "levels"}[design.method]  # fmt: skip
        return (f"{design.method} design, {base} {design.samples}, {d} parameter(s): "
                f"{self.runs.count:,} runs")  # fmt: skip


def read_plan(path: Path, samples: int | None = None) -> Plan:
    """Read the sweep file, make its runs and check every parameter against the scenario, or
    raise ScenarioError naming the file and what is wrong."""
    where = str(path)
    if not path.is_file():
        guess = " (the commands are: run, collect, analyse)" if path.suffix == "" else ""
        what = "is a folder, not a sweep file" if path.is_dir() else "no such sweep file" \
            if not os.path.lexists(path) else "is not a regular file, so not a sweep file"
        raise ScenarioError([f"{path}: {what}{guess}"])
    sweep = read_sweep(path, samples)
    try:
        folder = scenarios.resolve(sweep.scenario)
    except ScenarioError as exc:  # say which file's which field led there
        raise ScenarioError([f"{where}, field 'scenario': {p}" for p in exc.problems]) from None
    fixed = expand_overrides(list(sweep.set))
    try:
        base = load_scenario(folder, fixed)
    except ScenarioError as exc:
        raise ScenarioError([f"{where}: set: {p}" for p in exc.problems]) from None
    runs = make_runs(sweep, where)
    _check_parameters(sweep, runs, folder, fixed, where)
    texts = "\n".join("\t".join(t[r] for t in runs.texts) for r in range(runs.count))
    identity = {
        "sweep_json": sweep.model_dump_json(by_alias=True, exclude={"slurm"}),
        "inputs_sha256": base.inputs_sha256,
        "runs_sha256": hashlib.sha256(texts.encode()).hexdigest(),
    }
    return Plan(path, sweep, folder, fixed, runs, identity)


def _check_parameters(sweep: SweepFile, runs: Runs, folder: Path, fixed: list[str],
                      where: str) -> None:  # fmt: skip
    """A parameter none of whose probe values loads (a misspelt path, a value of the wrong
    kind) stops the sweep before any run; one that fails only for some values does not: those
    runs are recorded as failed."""
    problems = []
    for j, name in enumerate(runs.names):
        first: list[str] = []
        for text in _probes(sweep, runs, j):
            try:
                load_scenario(folder, [*fixed, f"{name}={text}"])
                break
            except ScenarioError as exc:
                first = first or exc.problems
        else:
            problems += [f"{where}: parameters: {name}: {p}" for p in first]
    if problems:
        raise ScenarioError(problems)


def _probes(sweep: SweepFile, runs: Runs, j: int) -> list[str]:
    """Up to PROBES values of parameter j: the middle of its range and on either side, each of
    a short list, the first cells of a CSV column."""
    import numpy as np

    parameter = sweep.parameters.get(runs.names[j])
    if parameter is None:
        texts = list(dict.fromkeys(t for t in runs.texts[j] if t))
    elif parameter.values is not None:
        texts = [
            parameter_values(parameter, np.array([u]))[1][0]
            for u in (np.arange(len(parameter.values)) + 0.5) / len(parameter.values)
        ]
    else:
        texts = parameter_values(parameter, np.array([0.5, 0.25, 0.75, 0.05, 0.95]))[1]
    return texts[:PROBES]


def shard_folder(out: Path, index: int, shards: int) -> Path:
    width = len(str(shards - 1))
    return out / f"shard-{index:0{width}d}-of-{shards}"


def shard_runs(count: int, shard: tuple[int, int] | None) -> list[int]:
    """The runs one shard owns: every N-th, so each shard gets a share of every region of the
    design (a grid's last runs are not all slow ones)."""
    if shard is None:
        return list(range(count))
    index, shards = shard
    return list(range(index, count, shards))


class Progress:
    """Counts results as they are written and shows a progress line (via logging)."""

    def __init__(self, total: int, done_before: int):
        self.total, self.done = total, done_before
        self.counts = {"ok": 0, "failed": 0, "not-converged": 0}
        self.start, self.this_session = time.perf_counter(), 0
        self.first_failure: RunResult | None = None

    def add(self, result: RunResult) -> None:
        self.done += 1
        self.this_session += 1
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        if result.status == "failed" and self.first_failure is None:
            self.first_failure = result
        log.debug("run %d: %s in %.1f s %s", result.run, result.status, result.wall_s,
                  clip(result.message))  # fmt: skip
        log.info(self.line())

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.this_session / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        bar = "#" * round(20 * self.done / max(self.total, 1))
        return (f"[{bar:<20}] {self.done}/{self.total} runs, {self.counts['failed']} failed, "
                f"{self.counts['not-converged']} not converged, {rate * 60:.1f} runs/min, "
                f"{_duration(left)} left")  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "? "
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min" if hours else f"{m} min {s:02d} s" if m else f"{s} s"


def open_or_create(plan: Plan, output: Output, state: str, shard: tuple[int, int] | None) -> Path:
    """The store of a new sweep, made; or of one being resumed, checked against the plan."""
    from optimiser import sweep_store

    store = output.target / STORE
    shard_text = f"{shard[0]}/{shard[1]}" if shard else ""
    if state == "new":
        output.begin_in_place([SWEEP_COPY, STORE])
        (output.target / SWEEP_COPY).write_bytes(plan.path.read_bytes())
        sweep_store.create(store, plan.runs, _scalar_outputs(plan),
                           {**plan.identity, **_provenance(plan), "shard": shard_text})  # fmt: skip
        return store
    attrs = sweep_store.attributes(store)
    reasons = {
        "sweep_json": "its design, parameters, outputs or fixed set",
        "inputs_sha256": "the scenario's files",
        "runs_sha256": "its runs (the CSV of runs)",
    }
    changed = [why for key, why in reasons.items() if attrs.get(key) != plan.identity[key]]
    if attrs.get("shard", "") != shard_text:
        changed.append(f"the shard ({attrs.get('shard') or 'none'} then, {shard_text or 'none'} "
                       f"now)")  # fmt: skip
    if changed:
        raise ScenarioError([f"{plan.path}: differs from the sweep in {output.given} in "
                             f"{'; '.join(changed)}; a resumed sweep must be the same sweep: "
                             f"choose a new folder"])  # fmt: skip
    removed = sweep_store.remove_partial_chunks(store)
    log.debug("removed %d partial chunk file(s)", removed)
    sweep_store.verify(store)  # a damaged chunk is named now, not met part-way through a run
    return store


def _scalar_outputs(plan: Plan) -> list[str]:
    return [o for o in plan.sweep.output_specs() if isinstance(o, str)]


def _provenance(plan: Plan) -> dict[str, str]:
    import importlib.metadata as md

    from optimiser.lp import new_highs

    h = new_highs()
    versions = {p: md.version(p) for p in ("aidopt", "SALib", "zarr", "xarray", "highspy")}
    return {
        "title": f"aidopt sweep {plan.path.name}",
        "sweep_file": str(plan.path.resolve()),
        "sweep_file_sha256": hashlib.sha256(plan.path.read_bytes()).hexdigest(),
        "scenario_folder": str(plan.folder.resolve()),
        "fixed_set": json.dumps(plan.fixed),
        "design": plan.describe(),
        "versions": json.dumps(
            {**versions, "highs": f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"}
        ),  # fmt: skip
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def runs_written(output: Output) -> bool:
    """Whether the folder's store holds any run that is no longer pending."""
    from optimiser import sweep_store

    store = output.target / STORE
    return store.is_dir() and bool((sweep_store.status(store) != PENDING).any())


class SweepStopped(Exception):
    """An output the sweep file names cannot be read from a run: the sweep file is wrong."""


def run_sweep(plan: Plan, output: Output, state: str, shard: tuple[int, int] | None,
              how, quiet: bool) -> Progress:  # fmt: skip
    """Run every pending run of the plan (of the shard) into the folder's store."""
    from optimiser import sweep_store
    from optimiser.sweep_exec import execute

    store = open_or_create(plan, output, state, shard)
    selected = shard_runs(plan.runs.count, shard)
    status = sweep_store.status(store)
    pending = [r for r in selected if status[r] == PENDING]
    if not quiet:
        of = f" (shard {shard[0]}/{shard[1]}: {len(selected):,} of them)" if shard else ""
        done = len(selected) - len(pending)
        already = f", {done:,} done before" if done else ""
        where = how.label if pending else "nothing left to run"
        click.echo(f"{plan.path}: {plan.describe()}{of}; {len(pending):,} to run{already}; "
                   f"{where}")  # fmt: skip
    progress = Progress(len(selected), len(selected) - len(pending))
    writer = sweep_store.Writer(store)
    stopped: list[str] = []

    def on_result(result: RunResult) -> bool:
        if result.output_error is not None:
            stopped.append(result.output_error)
            return False
        writer.write(result)
        progress.add(result)
        return True

    execute(plan.tasks(pending), how, on_result)
    if stopped:
        raise SweepStopped(f"{plan.path}: {stopped[0]}")
    if all(s != PENDING for s in sweep_store.status(store)[selected]):
        output.finish_in_place()
    return progress
