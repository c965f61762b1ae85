"""Command line: `aidopt run`, `aidopt validate`, `aidopt calibrate`.

Exit status: 0 success, 2 invalid input (nothing written), 1 the solver failed, a file could
not be written, or an internal error, 3 the closed loop did not converge (the result is
written, marked `converged: false`).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from optimiser.allocation import SolverError
from optimiser.exports import write_outputs
from optimiser.inputs import Scenario, ScenarioError, load_scenario
from optimiser.output_folder import OutputError, prepare_output
from optimiser.reading import clip

DEFAULT_SCENARIO = Path("inputs/korea-2020")
INVALID_INPUT, SOLVER_FAILED, NOT_CONVERGED = 2, 1, 3
MAX_PROBLEMS_SHOWN, MAX_PROBLEM_CHARS, MAX_REPORT_CHARS = 50, 1000, 8000
"""Bounds on an error report, whatever the input: problems listed, characters in each, and
characters in all."""


def _fail(problems: list[str], status: int) -> None:
    click.echo(f"error: {len(problems)} problem(s):" if len(problems) > 1 else "error:", err=True)
    lines: list[str] = []
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        line = f"  {clip(problem, MAX_PROBLEM_CHARS)}"
        if lines and sum(map(len, lines)) + len(line) > MAX_REPORT_CHARS:
            break
        lines.append(line)
    for line in lines:
        click.echo(line, err=True)
    if len(problems) > len(lines):
        click.echo(f"  ... and {len(problems) - len(lines)} more problem(s)", err=True)
    sys.exit(status)


def _load(scenario: Path, overrides: tuple[str, ...]) -> Scenario:
    try:
        return load_scenario(scenario, overrides)
    except ScenarioError as exc:
        _fail(exc.problems, INVALID_INPUT)
        raise  # unreachable: _fail exits


overrides_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a scenario.yaml field, e.g. --set epidemic.r0=2.5, or every field of a "
    "YAML file with --set @FILE (repeatable)",
)


class _Guarded(click.Group):
    """The last guard: an unexpected exception becomes one line and exit status 1. Output
    folders clean up on the way out, so nothing partial is left."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # the guard is for what nothing else caught
            if ctx.params.get("debug"):
                traceback.print_exc()
            text = clip(" ".join(str(exc).split()), MAX_PROBLEM_CHARS)
            click.echo(
                f"internal error: {type(exc).__name__}: {text} (aidopt --debug ... shows where)",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aidopt")
@click.option("--debug", is_flag=True, help="show the traceback of an internal error")
def main(debug: bool) -> None:
    """Plan ROK quarantine supplies and medical teams for the DPRK's provinces."""


@main.command()
@click.argument(
    "scenario", type=click.Path(path_type=Path), default=DEFAULT_SCENARIO, required=False
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="output folder [results/<scenario folder>/]"
)
@click.option(
    "--allow-unconverged",
    is_flag=True,
    help="exit 0 even when the closed loop stops at its iteration limit (for batch use)",
)
@overrides_option
def run(
    scenario: Path, out: Path | None, allow_unconverged: bool, overrides: tuple[str, ...]
) -> None:
    """Plan for SCENARIO (a scenario folder) and write the plan and its summary."""
    from optimiser.coupling import run as run_coupling
    from optimiser.results import summary_of, to_dataset

    scn = _load(scenario, overrides)
    out = out or Path("results") / scenario.resolve().name
    with _claim(out, "run", (scenario,)) as output:
        try:
            outcome = run_coupling(scn)
        except SolverError as exc:
            _fail([str(exc)], SOLVER_FAILED)
        ds = to_dataset(outcome)
        files = _written(lambda: write_outputs(ds, output))
    summary = summary_of(ds)
    click.echo(format_summary(summary, out, files))
    if not summary["coupling"]["converged"]:
        click.echo(
            f"error: the closed loop did not converge in {summary['coupling']['iterations']} "
            f"iterations (deaths over the last ones: "
            f"{summary['coupling']['deaths_range_last_iterations']}); the plan is written but is "
            f"not an answer. Raise coupling.max_iterations, or pass --allow-unconverged.",
            err=True,
        )
        if not allow_unconverged:
            sys.exit(NOT_CONVERGED)


def _claim(out: Path, command: str, inputs: tuple[Path, ...]):
    """The output folder, checked and locked before anything is computed (or exit 2)."""
    try:
        return prepare_output(out, command, inputs)
    except OutputError as exc:
        _fail([str(exc)], exc.status)
        raise  # unreachable: _fail exits


def _written(write):
    """Run a write step; a file that cannot be written is one line and exit status 1."""
    try:
        return write()
    except OutputError as exc:
        _fail([str(exc)], exc.status)


def format_summary(summary: dict, out: Path, files: list[Path]) -> str:
    lines = []
    coupling = summary["coupling"]
    state = (
        f"converged ({coupling['converged_on']})" if coupling["converged"] else "did NOT converge"
    )
    lines.append(
        f"{summary['scenario']}: {coupling['mode']} coupling {state} after "
        f"{coupling['iterations']} iteration(s)"
    )
    if summary["deaths_no_aid"] is not None:
        w = summary["by_window"]
        for label, key, when in (("deaths", "deaths", "horizon"), ("deaths", "deaths", "outlook"),
                                 ("infections", "infections", "outlook")):  # fmt: skip
            date = summary[f"{when}_date"]
            lines.append(
                f"  {label} by {date} ({when}): {w[f'{key}_no_aid'][when]:>13,.0f} without aid "
                f"-> {w[f'{key}_with_plan'][when]:,.0f} with the plan"
            )
        r = summary["reproduction_number"]
        lines.append(
            "  reproduction number without aid "
            + ", ".join(f"{v:.2f} ({k.replace('_', ' ')})" for k, v in r["no_aid"].items())
            + "; with full aid "
            + ", ".join(f"{v:.2f}" for v in r["full_aid"].values())
        )
    else:
        lines.append(f"  deaths: {summary['epidemic']}")
    reach = summary["fill_rate_reachable"]
    fills = ", ".join(
        f"{k} {v:.0%}" + (f" ({reach[k]:.0%})" if reach.get(k) is not None else "")
        for k, v in summary["fill_rate"].items()
        if v is not None
    )
    lines.append(f"  fill rate (in brackets: of the need it could reach in time): {fills}")
    spent = summary["spending_usd"]
    lines.append(
        f"  spending: {spent['total']:,.0f} USD (procurement {spent['procurement']:,.0f}, "
        f"transport {spent['transport']:,.0f}, teams {spent['teams']:,.0f})"
    )
    t = summary["timings_s"]
    lines.append(
        f"  time: epidemic {t['epidemic']:.2f} s, gradient {t['gradient']:.2f} s, LP build "
        f"{t['build']:.2f} s, solves {t['solve']:.2f} s, total {t['total']:.2f} s "
        f"({summary['lp']['columns']} columns x {summary['lp']['rows']} rows)"
    )
    lines.append(f"  wrote {out}/: {' '.join(f.name for f in files)}")
    return "\n".join(lines)


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@overrides_option
def validate(scenario: Path, overrides: tuple[str, ...]) -> None:
    """Check SCENARIO's inputs and print their sizes, or every problem found."""
    from optimiser.network import build_network

    scn = _load(scenario, overrides)
    net = build_network(scn)
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
        f"  shipment variables: {int(net.allowed.sum())} of {net.allowed.size} "
        f"(commodity x arc x week) allowed by sanctions, windows and reachability"
    )
    needs = f"{len(scn.needs)} rows of {cfg.tables.needs}" if scn.needs else "the SEIR model"
    click.echo(f"  needs from: {needs}")


def _names(text: str | None, option: str, allow_none: bool) -> tuple[str, ...] | None:
    """Comma-separated names; 'none' (where allowed) is the empty list."""
    if text is None:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("none",) and allow_none:
        return ()
    if not names:
        raise ScenarioError([f"{option} {text!r}: give names, e.g. {option} r0,reporting"])
    return names


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option(
    "--observed",
    type=click.Path(path_type=Path),
    required=True,
    help="CSV with date,region,new_cases[,days]; region is a province id or national",
)
@click.option(
    "--fit",
    "fit_names",
    metavar="NAMES",
    help="parameters to fit, comma-separated: r0,reduction,reporting,seed "
    "[scenario's calibration.fit]",
)
@click.option(
    "--per-province",
    metavar="NAMES",
    help="parameters fitted per province (province data only) "
    "[seed,reporting for province data; 'none' to share all]",
)
@click.option(
    "--until",
    "until",
    type=click.DateTime(["%Y-%m-%d"]),
    help="fit only rows up to this date; later rows are a held-out check",
)
@click.option(
    "--forecast-days",
    type=click.IntRange(0, 3650),
    default=0,
    show_default=True,
    help="days to forecast past the last observed date",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="output folder [results/<name>-calibration/]"
)
@overrides_option
def calibrate(scenario, observed, fit_names, per_province, until, forecast_days, out, overrides):
    """Fit SCENARIO's epidemic model to reported cases in OBSERVED."""
    from optimiser.calibrate import Calibrator, read_observed, write_calibration

    scn = _load(scenario, overrides)
    out = out or Path("results") / f"{scenario.resolve().name}-calibration-{observed.stem}"
    try:
        obs = read_observed(observed, scn)
        per = _names(per_province, "--per-province", allow_none=True)
        fit = _names(fit_names, "--fit", allow_none=False)
        if per is None:
            fitted = fit or scn.config.calibration.fit
            per = () if obs.national else tuple(f for f in ("seed", "reporting") if f in fitted)
        cal = Calibrator(scn, obs, fit, per, until and until.date(), forecast_days)
    except ScenarioError as exc:
        _fail(exc.problems, INVALID_INPUT)
    with _claim(out, "calibrate", (scenario, observed)) as output:
        result = cal.fit()
        files = _written(lambda: write_calibration(result, cal, output))
    if not result.converged:
        click.echo(f"WARNING: the fit did not converge ({result.message}); "
                   f"treat its values with care", err=True)  # fmt: skip
    click.echo(
        f"{scn.config.name}: fitted {len(result.parameters)} parameter(s) to "
        f"{result.n_points} points of {observed} in {result.timings_s['total']:.1f} s; "
        f"converged: {result.converged}"
    )
    for p, v, lo, hi, at_bound in zip(
        result.parameters, result.values, result.lower_95, result.upper_95, result.at_bound,
        strict=True,
    ):  # fmt: skip
        edge = "   at its search bound" if at_bound else ""
        click.echo(f"  {p.name:<28} {v:12.4g}   95% [{lo:.4g}, {hi:.4g}]{edge}")
    click.echo(f"  R2 {result.r2:.3f}, RMSE {result.rmse:.2f} (sqrt scale)")
    if result.heldout:
        h = result.heldout
        click.echo(
            f"  held out {h['from']}..{h['to']} ({h['rows']} rows): RMSE "
            f"{h['rmse_sqrt']:.2f} (sqrt scale), total {h['forecast_total']:,.0f} "
            f"forecast vs {h['observed_total']:,.0f} observed "
            f"({h['total_error_pct']:+.1f}%)"
        )
    click.echo(f"  wrote {out}/: {' '.join(f.name for f in files)}")


if __name__ == "__main__":
    main()
