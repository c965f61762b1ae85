"""The sweep file (`SWEEP.yaml`): which scenario, which inputs vary and how, the design, the
outputs to keep, and where to run. Frozen pydantic models like `optimiser.schema`; read and
checked by `read_sweep`, which raises `ScenarioError` naming the file, the key and the value.

    scenario: inputs/korea-2020            # a folder (relative: from the working folder) or a
                                           # shipped scenario's name
    set: [coupling.mode=one-way]           # fixed --set overrides for every run
    design: {method: latin, samples: 16, seed: 1}
    parameters:                            # any --set path -> a distribution
      epidemic.r0: {uniform: [1.5, 3.5]}
      supply.*.units_per_week: {uniform: [0.5, 1.5], scale: true}   # written as *FACTOR
      coupling.mode: [one-way, closed-loop]                       # a list of values
    outputs: [deaths_no_aid, deaths_with_plan, "unmet[province]"]
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from optimiser.inputs import ScenarioError, _validate
from optimiser.reading import read_yaml
from optimiser.schema import Distribution as Parameter
from optimiser.schema import F, Frozen

MAX_RUNS = 1_000_000
"""Most runs one sweep may hold."""
METHODS = ("sobol", "morris", "latin", "grid", "csv")
REDUCTIONS = ("sum", "mean", "max", "min")
ARRAY_OUTPUT = re.compile(r"^(?P<variable>[A-Za-z_][A-Za-z0-9_]*)\[(?P<keep>[A-Za-z_, ]*)\]$")
"""`VARIABLE[dim, ...]`: a variable of plan.nc summed over every dimension not named."""
DEFAULT_OUTPUTS = ("deaths_no_aid", "deaths_with_plan", "spending_usd.total")


class Design(Frozen):
    method: Literal["sobol", "morris", "latin", "grid", "csv"] = F(
        "-",
        "sobol: Saltelli's scheme for Sobol' indices, N(2D+2) runs (N(D+2) without second "
        "order); morris: N trajectories of D+1 runs; latin: N runs; grid: N levels per "
        "parameter, N^D runs (lists: each value); csv: one run per row of `file`",
    )
    samples: int | None = F("-", "the design's base count N as SALib defines it", default=None,
                            ge=1, le=MAX_RUNS)  # fmt: skip
    seed: int = F("-", "seed of the design's random numbers", default=0, ge=0, le=2**32 - 1)
    second_order: bool = F("-", "sobol: also the runs for second-order indices", default=True)
    levels: int = F("-", "morris: levels of the grid the trajectories move on", default=4,
                    ge=2, le=100)  # fmt: skip
    file: str | None = F("file", "csv: runs, one per row, a column per --set path (relative: "
                         "from the working folder); an empty cell leaves that input as it is",
                         default=None)  # fmt: skip

    @model_validator(mode="after")
    def _samples_or_file(self) -> Design:
        if self.method == "csv" and self.file is None:
            raise ValueError("method csv needs file: the CSV of runs")
        if self.method != "csv" and self.samples is None:
            raise ValueError(f"method {self.method} needs samples")
        if self.method != "csv" and self.file is not None:
            raise ValueError(f"file is for method csv, not {self.method}")
        return self


class OutputSpec(Frozen):
    """An array of plan.nc kept per run: `variable` summed (or reduced) over every dimension
    not in `keep`, after `select` picks labels."""

    name: str | None = F("-", "the name in sweep.zarr [VARIABLE[KEEP]]", default=None)
    variable: str = F("-", "a variable of plan.nc, e.g. unmet, route_capacity_value")
    keep: tuple[str, ...] = F("-", "dimensions kept, e.g. [province]", default=())
    select: dict[str, str | int] = F("-", "labels picked first, e.g. {compartment: D}",
                                     default={})  # fmt: skip
    reduce: Literal["sum", "mean", "max", "min"] = F("-", "how the other dimensions are "
                                                     "reduced", default="sum")  # fmt: skip

    @property
    def label(self) -> str:
        return self.name or f"{self.variable}[{','.join(self.keep)}]"


class Slurm(Frozen):
    """Where SLURM runs the work: Dask workers as jobs (`--scheduler slurm`) or a job array
    (`--slurm-script`)."""

    queue: str | None = F("-", "partition (sbatch --partition)", default=None)
    account: str | None = F("-", "account to charge (sbatch --account)", default=None)
    cores: int = F("cores", "per job or array task; one worker process each", default=1, ge=1,
                   le=1024)  # fmt: skip
    memory_mb: int = F("MB", "per job or array task", default=2000, ge=100, le=10**8)
    walltime: str = Field(default="01:00:00", pattern=r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$",
                          description="per job or array task, [D-]HH:MM:SS")  # fmt: skip
    prologue: tuple[str, ...] = F("-", "shell lines run before aidopt (module load, source "
                                  "a venv)", default=())  # fmt: skip
    directives: tuple[str, ...] = F("-", "more sbatch options, e.g. --qos=short", default=())
    shards: int | None = F("tasks", "job array tasks [10, at most one per run]", default=None,
                           ge=1, le=100_000)  # fmt: skip
    scheduler_host: str = F("-", "address the Dask scheduler listens on; the compute nodes "
                            "must reach it (a login node's address on a real cluster)",
                            default="127.0.0.1")  # fmt: skip
    start_timeout_s: float = F("s", "longest wait for the first SLURM worker", default=600,
                               gt=0, le=10**6)  # fmt: skip


class SweepFile(Frozen):
    scenario: str = F("-", "a scenario folder (relative: from the working folder) or the "
                      "name of a shipped scenario")  # fmt: skip
    set: tuple[str, ...] = F("-", "fixed --set overrides, KEY=VALUE, applied to every run",
                             default=())  # fmt: skip
    design: Design
    parameters: dict[str, Parameter] = F("-", "--set path -> distribution", default={})
    outputs: tuple[str | OutputSpec, ...] = F(
        "-", "a summary.json field by dotted path (by_window.deaths_no_aid.horizon), or "
        "VARIABLE[DIM, ...] of plan.nc summed over the other dimensions, or a mapping "
        "{variable, keep, select, reduce, name}", default=DEFAULT_OUTPUTS, min_length=1,
    )  # fmt: skip
    slurm: Slurm = Field(default_factory=Slurm)

    @field_validator("parameters", mode="before")
    @classmethod
    def _lists_are_values(cls, value: object) -> object:
        """`path: [a, b, c]` is short for `path: {values: [a, b, c]}`."""
        if isinstance(value, dict):
            return {k: {"values": v} if isinstance(v, list) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SweepFile:
        fixed = {s.partition("=")[0].strip() for s in self.set}
        both = sorted(fixed & set(self.parameters))
        if both:
            raise ValueError(f"set fixes what parameters vary: {', '.join(both)}")
        for item in self.set:
            if "=" not in item:
                raise ValueError(f"set: {item!r} is not KEY=VALUE, e.g. coupling.mode=one-way")
        if self.design.method != "csv" and not self.parameters:
            raise ValueError(f"method {self.design.method} needs parameters to vary")
        if self.design.method == "csv" and self.parameters:
            raise ValueError("method csv takes its parameters from the CSV's header; leave "
                             "parameters out")  # fmt: skip
        names = [output_name(o) for o in self.outputs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"outputs: {', '.join(repeated)} named more than once")
        for o in self.outputs:
            if isinstance(o, str) and "[" in o and not ARRAY_OUTPUT.match(o):
                raise ValueError(f"outputs: {o!r} is not VARIABLE[DIM, ...], e.g. unmet[province]")
        return self

    def output_specs(self) -> list[str | OutputSpec]:
        """Outputs with `VARIABLE[DIM, ...]` strings read as array specs."""
        return [parse_output(o) for o in self.outputs]


def parse_output(output: str | OutputSpec) -> str | OutputSpec:
    """A summary path stays a string; `VARIABLE[DIM, ...]` becomes an OutputSpec."""
    if isinstance(output, OutputSpec):
        return output
    match = ARRAY_OUTPUT.match(output)
    if match is None:
        return output
    keep = tuple(d.strip() for d in match["keep"].split(",") if d.strip())
    return OutputSpec(name=output, variable=match["variable"], keep=keep)


def output_name(output: str | OutputSpec) -> str:
    return output.label if isinstance(output, OutputSpec) else output


def read_sweep(path: Path, samples: int | None = None) -> SweepFile:
    """The sweep file, validated; `samples` (from --samples) replaces design.samples."""
    problems: list[str] = []
    raw = read_yaml(path, problems)
    if raw is None:
        raise ScenarioError(problems)
    if samples is not None:
        design = raw.get("design")
        if isinstance(design, dict):
            raw["design"] = {**design, "samples": samples}
    sweep = _validate(SweepFile, raw, str(path), problems)
    if sweep is None:
        raise ScenarioError(problems)
    return sweep
