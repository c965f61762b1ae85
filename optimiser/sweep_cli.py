"""The `aidopt sweep` commands: `run` (the default: `aidopt sweep SWEEP.yaml`), `collect` and
`analyse`. The work lives in `optimiser.sweep`, `optimiser.sweep_shards` and
`optimiser.sweep_analysis`."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import click

from optimiser.cli_helpers import fail
from optimiser.console import Commands, reporting, verbosity_of, verbosity_options
from optimiser.inputs import ScenarioError
from optimiser.output_folder import OutputError, prepare_live_output

INVALID_INPUT, FAILED, INTERRUPTED = 2, 1, 130


class SweepCommands(Commands):
    """`aidopt sweep SWEEP.yaml ...` is `aidopt sweep run SWEEP.yaml ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepCommands, short_help="Run a scenario over a design of inputs")
def sweep() -> None:
    """Run a scenario over a design of inputs (aidopt sweep SWEEP.yaml), merge the shards of a
    job array (aidopt sweep collect DIR), and rank the inputs by their effect
    (aidopt sweep analyse DIR)."""


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if match is None or not 0 <= int(match[1]) < int(match[2]):
        raise click.BadParameter(f"{text!r}: give I/N with 0 <= I < N, e.g. 0/8 "
                                 f"(as $SLURM_ARRAY_TASK_ID/8)", param_hint="--shard")  # fmt: skip
    return int(match[1]), int(match[2])


@sweep.command("run", short_help="Run a sweep file (the default command)")
@click.argument("sweep_file", metavar="SWEEP.yaml", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="output folder [results/<sweep file name>/]")  # fmt: skip
@click.option("--samples", type=click.IntRange(1, 10**6), help="the design's N, replacing "
              "design.samples (sobol: runs = N(2D+2))")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 100_000),
              help="worker processes [one per core; slurm: slurm.cores]")  # fmt: skip
@click.option("--scheduler", default="local", show_default=True,
              help="local, dask-local, tcp://HOST:PORT (a Dask scheduler) or slurm "
              "(Dask workers as SLURM jobs)")  # fmt: skip
@click.option("--resume", is_flag=True, help="complete the unfinished sweep in --out")
@click.option("--shard", metavar="I/N", help="run shard I of N only, into OUT/shard-I-of-N")
@click.option("--slurm-script", is_flag=True, help="print an sbatch job-array script, run "
              "nothing")  # fmt: skip
@click.option("--shards", type=click.IntRange(1, 100_000),
              help="array tasks for --slurm-script [slurm.shards, or 10]")  # fmt: skip
@click.option("--queue", help="SLURM partition [slurm.queue]")
@click.option("--cores", type=click.IntRange(1, 1024), help="cores per SLURM job [slurm.cores]")
@click.option("--memory-mb", type=click.IntRange(100, 10**8), help="memory per SLURM job "
              "[slurm.memory_mb]")  # fmt: skip
@click.option("--walltime", help="per SLURM job, [D-]HH:MM:SS [slurm.walltime]")
@click.option(
    "--prologue",
    multiple=True,
    metavar="LINE",
    help="shell line before aidopt in each SLURM job (repeatable) [slurm.prologue]",
)
@verbosity_options
def run(sweep_file, out, samples, workers, scheduler, resume, shard, slurm_script, shards,
        queue, cores, memory_mb, walltime, prologue, quiet, verbose):  # fmt: skip
    """Run every run of SWEEP.yaml (its scenario, parameters, design and outputs) into
    OUT/sweep.zarr, as they finish; with --resume, only the runs still pending there."""
    from optimiser import sweep_exec, sweep_shards
    from optimiser.sweep import SweepStopped, read_plan, run_sweep, runs_written, shard_folder

    where = _shard(shard)
    if scheduler not in ("local", "dask-local", "slurm") and not scheduler.startswith("tcp://"):
        raise click.BadParameter(f"{scheduler!r}: local, dask-local, tcp://HOST:PORT or slurm",
                                 param_hint="--scheduler")  # fmt: skip
    try:
        with reporting(verbosity_of(quiet, verbose)):
            plan = read_plan(sweep_file, samples)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
    given = {"queue": queue, "cores": cores, "memory_mb": memory_mb, "walltime": walltime,
             "prologue": tuple(prologue) or None, "shards": shards}  # fmt: skip
    try:
        slurm = plan.sweep.slurm.model_validate(
            {**plan.sweep.slurm.model_dump(), **{k: v for k, v in given.items() if v}}
        )
    except ValueError as exc:
        fail([f"SLURM options: {' '.join(str(exc).split())}"], INVALID_INPUT)
    out = out or Path("results") / sweep_file.stem
    if slurm_script:
        n = min(slurm.shards or sweep_shards.DEFAULT_SHARDS, plan.runs.count)
        click.echo(sweep_shards.job_array_script(sweep_file, out, n, slurm, Path.cwd(), samples,
                                                 plan.runs.count), nl=False)  # fmt: skip
        return
    if where is not None:
        out = shard_folder(out, *where)
    default = slurm.cores if scheduler == "slurm" else sweep_exec.default_workers()
    how = sweep_exec.How(scheduler, workers or default, slurm)
    inputs = [sweep_file, plan.folder]
    if plan.sweep.design.file:
        inputs.append(Path(plan.sweep.design.file))
    try:
        output, state = prepare_live_output(out, "sweep", inputs, resume)
    except OutputError as exc:
        fail([str(exc)], exc.status)
    started = time.perf_counter()
    with output, reporting(verbosity_of(quiet, verbose)):
        try:
            progress = run_sweep(plan, output, state, where, how, quiet)
        except SweepStopped as exc:
            if state == "new":
                output.discard_in_place()
            fail([str(exc)], INVALID_INPUT)
        except ScenarioError as exc:
            fail(exc.problems, INVALID_INPUT)
        except sweep_exec.SchedulerError as exc:
            if state == "new" and not runs_written(output):
                output.discard_in_place()  # nothing ran: leave nothing behind
                fail([str(exc)], FAILED)
            fail([f"{exc}; the runs finished so far are kept in {out}/sweep.zarr: add "
                   f"--resume to go on"], FAILED)  # fmt: skip
        except KeyboardInterrupt:
            click.echo(f"\nstopped; the runs finished so far are in {out}/sweep.zarr: "
                       f"add --resume to complete the sweep", err=True)  # fmt: skip
            sys.exit(INTERRUPTED)
    if not quiet:
        click.echo(_footer(progress, out, time.perf_counter() - started))


def _footer(progress, out: Path, seconds: float) -> str:
    c = progress.counts
    lines = [f"  {progress.done:,} of {progress.total:,} runs in {out}/sweep.zarr: this time "
             f"{c['ok']} ok, {c['failed']} failed, {c['not-converged']} not converged, in "
             f"{seconds:.1f} s"]  # fmt: skip
    if progress.first_failure is not None:
        f = progress.first_failure
        lines.append(f"  first failure, run {f.run}: {f.message}")
    if progress.done == progress.total:
        lines.append(f"  next: aidopt sweep analyse {out}")
    else:
        lines.append(f"  {progress.total - progress.done:,} runs pending: add --resume")
    return "\n".join(lines)


@sweep.command(short_help="Merge the shards of a job array")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="the merged sweep [DIR/merged]")
@verbosity_options
def collect(folder: Path, out: Path | None, quiet: bool, verbose: int) -> None:
    """Merge DIR/shard-I-of-N (written by --shard I/N) into one sweep folder, once every
    run is in."""
    from optimiser.sweep_shards import collect as merge_shards

    with reporting(verbosity_of(quiet, verbose)):
        try:
            target, runs, counts = merge_shards(folder, out)
        except ScenarioError as exc:
            fail(exc.problems, INVALID_INPUT)
        except OutputError as exc:
            fail([str(exc)], exc.status)
    if not quiet:
        shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        click.echo(f"collected {runs:,} runs ({shown}) into {target}/sweep.zarr")
        click.echo(f"  next: aidopt sweep analyse {target}")


@sweep.command(short_help="Rank the inputs by their effect on each output")
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path),
              help="a folder for the CSV and plots [DIR itself]")  # fmt: skip
@click.option("--include-not-converged", is_flag=True,
              help="also use runs whose closed loop did not converge")  # fmt: skip
@verbosity_options
def analyse(folder: Path, out: Path | None, include_not_converged: bool, quiet: bool,
            verbose: int) -> None:  # fmt: skip
    """Sobol' first-order and total indices (sobol designs), Morris mu* and sigma (morris), or
    partial rank correlations (other designs) of every scalar output, with 95 % intervals:
    indices.csv and indices.png, tornado.png, scatter.png."""
    from optimiser.sweep_analysis import AnalysisError, analyse_folder

    with reporting(verbosity_of(quiet, verbose)):
        try:
            table, files = analyse_folder(folder, out, include_not_converged)
        except AnalysisError as exc:
            fail([str(exc)], INVALID_INPUT)
        except OutputError as exc:
            fail([str(exc)], exc.status)
    if not quiet:
        click.echo(table)
        click.echo(f"wrote {' '.join(str(f) for f in files)}")
