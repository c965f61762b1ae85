"""Command line: `aidopt run`, `aidopt validate`, `aidopt calibrate`.

Exit status: 0 success, 2 invalid input (nothing written), 1 the solver failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from optimiser.allocation import SolverError
from optimiser.exports import OutputError, write_outputs
from optimiser.inputs import Scenario, ScenarioError, load_scenario

DEFAULT_SCENARIO = Path("inputs/korea-2020")
INVALID_INPUT, SOLVER_FAILED = 2, 1


def _fail(problems: list[str], status: int) -> None:
    click.echo(f"error: {len(problems)} problem(s):" if len(problems) > 1 else "error:", err=True)
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(status)


def _load(scenario: Path, overrides: tuple[str, ...]) -> Scenario:
    try:
        return load_scenario(scenario, overrides)
    except ScenarioError as exc:
        _fail(exc.problems, INVALID_INPUT)
        raise  # unreachable: _fail exits


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aidopt")
def main() -> None:
    """Plan ROK quarantine supplies and medical teams for the DPRK's provinces."""


@main.command()
@click.argument(
    "scenario", type=click.Path(path_type=Path), default=DEFAULT_SCENARIO, required=False
)
@click.option("--out", type=click.Path(path_type=Path), help="output folder [results/<name>/]")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a scenario.yaml field, e.g. --set epidemic.r0=2.5 (repeatable)",
)
def run(scenario: Path, out: Path | None, overrides: tuple[str, ...]) -> None:
    """Plan for SCENARIO (a scenario folder) and write the plan and its summary."""
    from optimiser.coupling import run as run_coupling
    from optimiser.exports import check_output_folder
    from optimiser.results import summary_of, to_dataset

    scn = _load(scenario, overrides)
    out = out or Path("results") / scn.config.name
    try:
        check_output_folder(out)
    except OutputError as exc:
        _fail([str(exc)], INVALID_INPUT)
    try:
        outcome = run_coupling(scn)
    except SolverError as exc:
        _fail([str(exc)], SOLVER_FAILED)
    ds = to_dataset(outcome)
    files = write_outputs(ds, out)
    click.echo(format_summary(summary_of(ds), out, files))


def format_summary(summary: dict, out: Path, files: list[Path]) -> str:
    lines = []
    coupling = summary["coupling"]
    state = "converged" if coupling["converged"] else "did NOT converge"
    lines.append(
        f"{summary['scenario']}: {summary['status']} plan; {coupling['mode']} coupling {state} "
        f"after {coupling['iterations']} iteration(s)"
    )
    if summary["deaths_no_aid"] is not None:
        lines.append(
            f"  deaths by the horizon:  {summary['deaths_no_aid']:>12,.0f} without aid -> "
            f"{summary['deaths_with_plan']:,.0f} with the plan"
        )
        lines.append(
            f"  infections:             {summary['infections_no_aid']:>12,.0f} without aid -> "
            f"{summary['infections_with_plan']:,.0f} with the plan"
        )
    else:
        lines.append(f"  deaths: {summary['epidemic']}")
    fills = ", ".join(f"{k} {v:.0%}" for k, v in summary["fill_rate"].items() if v is not None)
    lines.append(f"  fill rate: {fills}")
    t = summary["timings_s"]
    lines.append(
        f"  time: epidemic {t['epidemic']:.2f} s, LP build {t['build']:.2f} s, "
        f"solves {t['solve']:.2f} s, total {t['total']:.2f} s "
        f"({summary['lp']['columns']} columns x {summary['lp']['rows']} rows)"
    )
    lines.append(f"  wrote {out}/: {' '.join(f.name for f in files)}")
    return "\n".join(lines)


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a scenario.yaml field (repeatable)",
)
def validate(scenario: Path, overrides: tuple[str, ...]) -> None:
    """Check SCENARIO's inputs and print their sizes, or every problem found."""
    from optimiser.allocation import lp_index
    from optimiser.network import build_network

    scn = _load(scenario, overrides)
    net = build_network(scn)
    ix = lp_index(scn, net)
    cfg = scn.config
    click.echo(f"{cfg.name}: valid ({scn.folder})")
    click.echo(
        f"  {len(scn.provinces)} provinces, population {sum(p.population for p in scn.provinces):,}"
    )
    click.echo(
        f"  {len(scn.commodities)} commodities, {len(scn.depots)} depots, "
        f"{len(scn.crossings)} crossings, {len(scn.arcs)} arcs"
    )
    click.echo(f"  {cfg.horizon_weeks} weeks from {cfg.start_date}, coupling {cfg.coupling.mode}")
    click.echo(f"  exemptions requested: {', '.join(cfg.exemptions_requested) or 'none'}")
    click.echo(
        f"  shipment variables: {len(ix.ship)} of {net.allowed.size} "
        f"(commodity x arc x week) allowed by sanctions, windows and reachability"
    )
    needs = f"{len(scn.needs)} rows of {cfg.tables.needs}" if scn.needs else "the SEIR model"
    click.echo(f"  needs from: {needs}")


if __name__ == "__main__":
    main()
