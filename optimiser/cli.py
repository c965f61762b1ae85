"""Command line: `aidopt run`, `evaluate`, `validate`, `lp`, `calibrate`, `init`, `export`,
`report`, `compare`.

Each command's work lives in its own module; this file only registers them.

Exit status: 0 success, 2 invalid input (nothing written), 1 the solver failed, a file could
not be written, or an internal error, 3 the closed loop did not converge (the result is
written, marked `converged: false`).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import click

from optimiser import scenarios
from optimiser.allocation import SolverError
from optimiser.cli_helpers import (
    INVALID_INPUT,
    MAX_PROBLEM_CHARS,
    NOT_CONVERGED,
    SOLVER_FAILED,
    claim_output,
    fail,
    load_or_fail,
    scenario_folder,
    written,
)
from optimiser.console import Commands, reporting, verbosity_of, verbosity_options
from optimiser.exports import write_outputs
from optimiser.inputs import ScenarioError
from optimiser.output_folder import OutputError, check_writable
from optimiser.reading import ReadError, clip

log = logging.getLogger(__name__)


overrides_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a scenario.yaml field, e.g. --set epidemic.r0=2.5, or every field of a "
    "YAML file with --set @FILE (repeatable)",
)


class _Guarded(Commands):
    """The last guard: an unexpected exception becomes one line and exit status 1. Output
    folders clean up on the way out, so nothing partial is left."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (OutputError, ReadError) as exc:  # a file a command cannot write or read back
            fail([str(exc)], exc.status)
        except BrokenPipeError:  # the reader went away (`aidopt run | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
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


@main.command(short_help="Plan for a scenario (a folder or a shipped name)")
@click.argument("scenario", required=False)
@click.option(
    "--out", type=click.Path(path_type=Path), help="output folder [results/<scenario folder>/]"
)
@click.option(
    "--allow-unconverged",
    is_flag=True,
    help="exit 0 even when the closed loop stops at its iteration limit (for batch use)",
)
@click.option("--draws", type=click.IntRange(2, 10_000), metavar="N",
              help="also meet the plan with N epidemics drawn from the scenario's uncertainty "
              "block [a robust objective: the block's draws]")  # fmt: skip
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), metavar="S",
              help="seed of the draws [the uncertainty block's]")  # fmt: skip
@click.option("--whole-units", is_flag=True,
              help="also round the plan to whole lots, vehicles and teams (a MIP) and meet it "
              "with the epidemic")  # fmt: skip
@overrides_option
@verbosity_options
def run(
    scenario: str | None,
    out: Path | None,
    allow_unconverged: bool,
    draws: int | None,
    seed: int | None,
    whole_units: bool,
    overrides: tuple[str, ...],
    quiet: bool,
    verbose: int,
) -> None:
    """Plan for SCENARIO (a scenario folder, or a shipped scenario's name: korea-2020, the
    default, or dprk-2022) and write the plan and its summary."""
    from optimiser.results import summary_of
    from optimiser.runner import draws_for, not_converged, plan

    folder = scenario_folder(scenario)
    scn = load_or_fail(folder, overrides)
    try:
        drawn = draws_for(scn, draws, seed)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
    out = out or Path("results") / folder.resolve().name
    with claim_output(out, "run", (folder,)) as output, reporting(verbosity_of(quiet, verbose)):
        try:
            ds = plan(scn, drawn, whole_units=whole_units)
        except SolverError as exc:
            fail([str(exc)], SOLVER_FAILED)
        except ScenarioError as exc:  # a draw that makes an invalid scenario
            fail(exc.problems, INVALID_INPUT)
        log.info("writing %s", out)
        files = written(lambda: write_outputs(ds, output))
    summary = summary_of(ds)
    if not quiet:
        click.echo(format_summary(summary, out, files, ds))
    reason = not_converged(summary)
    if reason is not None:
        hint = ("Tighten coupling.tolerance or coupling.stall_steps" if "starts ended" in reason
                else "Raise coupling.max_iterations")  # fmt: skip
        click.echo(f"error: {reason}; it is written. {hint}, or pass --allow-unconverged.",
                   err=True)  # fmt: skip
        if not allow_unconverged:
            sys.exit(NOT_CONVERGED)


def format_summary(summary: dict, out: Path, files: list[Path], ds=None) -> str:
    from optimiser import views

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
        if "counted_window" in summary:
            c = summary["counted_window"]
            lines.append(f"  counted: deaths to {c['end_date']} ({c['name']}, {c['weeks']} weeks); "
                         f"{c['after_horizon_rule']}; vaccine: {c['vaccination']}")  # fmt: skip
            if c.get("after_horizon_cost_usd"):
                held_musd = c["after_horizon_cost_usd"] / 1e6
                lines.append(f"  held after the horizon: about {held_musd:,.0f} M USD more, "
                             f"not in the plan's spending")  # fmt: skip
        averted = summary.get("deaths_averted") or {}
        lines.append("  deaths averted: " + ", ".join(
            f"{v:,.0f} by {summary.get(f'{k}_date', k)} ({k})" for k, v in averted.items()))
        r = summary["reproduction_number"]
        lines.append(
            "  reproduction number without aid "
            + ", ".join(f"{v:.2f} ({k.replace('_', ' ')})" for k, v in r["no_aid"].items())
            + "; with full aid "
            + ", ".join(f"{v:.2f}" for v in r["full_aid"].values())
        )
    else:
        lines.append(f"  deaths: {summary['epidemic']}")
    lines += format_rules(summary)
    if "uncertainty" in summary:
        lines += format_uncertainty(summary["uncertainty"])
    reach = summary["fill_rate_reachable"]
    fills = ", ".join(
        f"{k} {v:.0%}" + (f" ({reach[k]:.0%})" if reach.get(k) is not None else "")
        for k, v in summary["fill_rate"].items()
        if v is not None
    )
    lines.append(f"  fill rate (in brackets: of the need it could reach in time): {fills}")
    worst = (summary.get("limits") or {}).get("most_valuable") or []
    if worst:
        relax = "; ".join(
            f"{r['kind']} {r['subject']} {r['deaths_if_doubled']:,.0f} (--set {r['set']})"
            for r in worst
        )
        lines.append(f"  limits worth relaxing most (deaths if doubled, first order): {relax}")
    whole = summary.get("whole_units")
    if whole:
        lines.append(
            "  whole units ({}): deaths {} with the rounded plan against {} continuous; {:,.0f} "
            "vehicles, {:,.0f} teams (continuous {:,.1f})".format(
                whole["status"],
                ", ".join(f"{v:,.0f} ({k})" for k, v in whole["deaths_with_plan"].items()),
                ", ".join(f"{v:,.0f}" for v in whole["deaths_with_continuous_plan"].values()),
                whole["vehicles"], whole["teams_deployed"], whole["teams_deployed_continuous"],
            )
        )
    spent = summary["spending_usd"]
    lines.append(
        f"  spending: {spent['total']:,.0f} USD (procurement {spent['procurement']:,.0f}, "
        f"transport {spent['transport']:,.0f}, teams {spent['teams']:,.0f})"
    )
    if ds is not None:
        routes = views.entry_tonnes(ds)
        top = routes[routes > 0.5].head(3)
        used = ", ".join(f"{arc} {views.fmt(t)} t" for arc, t in top.items())
        lines.append(f"  top entry routes (tonnes over the horizon): {used or 'none'}")
        short = ", ".join(
            f"{p} {share:.0%} (worst: {item} {worst:.0%})"
            for p, share, item, worst in views.most_unmet(ds, 3)
        )
        lines.append(f"  most unmet need (mean share of need unmet): {short or 'none'}")
    t = summary["timings_s"]
    lines.append(
        f"  time: epidemic {t['epidemic']:.2f} s, gradient {t['gradient']:.2f} s, LP build "
        f"{t['build']:.2f} s, solves {t['solve']:.2f} s, total {t['total']:.2f} s "
        f"({summary['lp']['columns']} columns x {summary['lp']['rows']} rows)"
    )
    lines.append(f"  wrote {out}/: {' '.join(f.name for f in files)}")
    lines.append(f"  next: aidopt report {out}   (or: aidopt export {out} --xlsx)")
    return "\n".join(lines)


def format_rules(summary: dict) -> list[str]:
    """The rules of thumb beside the plan, and the closed loop's starts."""
    lines = []
    rules = summary.get("rules_of_thumb")
    if rules:
        shown = ", ".join(f"{r['rule']} {r['deaths']:,.0f}" for r in rules["rules"])
        more, share = rules["plan_averts_more_than_best_rule"], \
            rules["plan_averts_more_than_best_rule_share"]  # fmt: skip
        lines.append(f"  rules of thumb, deaths by the {rules['window']}'s end: {shown}")
        lines.append(f"  the plan averts {more:,.0f} more deaths than the best rule of thumb "
                     f"({rules['best_rule']}), {share:.0%} more than that rule averts")  # fmt: skip
    coupling = summary["coupling"]
    if len(coupling.get("starts") or ()) > 1:
        ends = ", ".join(f"{s['start']} {s['deaths']:,.0f}" for s in coupling["starts"])
        verdict = "agree" if coupling["starts_agree"] else "DISAGREE"
        lines.append(f"  closed loop from {len(coupling['starts'])} starts ({ends}): spread "
                     f"{coupling['starts_spread_deaths']:,.0f} deaths, band "
                     f"{coupling['band_deaths']:,.0f}: they {verdict}")  # fmt: skip
    return lines


def format_uncertainty(u: dict) -> list[str]:
    """The ensemble's lines of the printed summary: median and 5-95 % range, and for a robust
    plan the nominal plan beside it on the same draws."""

    def spread(p: dict) -> str:
        return f"{p['p50']:>11,.0f} ({p['p5']:,.0f}-{p['p95']:,.0f})"

    lines = [f"  over {u['draws']} drawn epidemics (seed {u['seed']}; median, 5-95 % range):"]
    for key, label in (("deaths_no_aid", "deaths without aid"),
                       ("deaths_with_plan", "deaths with the plan"),
                       ("deaths_averted", "deaths averted")):  # fmt: skip
        lines.append(f"    {label:<21} {spread(u[key])}")
    if "comparison" in u:
        lines.append(f"  {u['robustness']} plan against the nominal plan on the same draws:")
        lines.append(f"    {'plan':<9} {'median deaths':>14} {'p90 deaths':>12} "
                     f"{'spending USD':>14} {'tonnes':>9}")  # fmt: skip
        for name, c in u["comparison"].items():
            lines.append(f"    {name:<9} {c['deaths']['p50']:>14,.0f} {c['deaths']['p90']:>12,.0f} "
                         f"{c['spending_usd']:>14,.0f} {c['tonnes']:>9,.1f}")  # fmt: skip
    return lines


@main.command(short_help="Meet a written plan with another epidemic, or many")
@click.argument("results", type=click.Path(path_type=Path))
@click.argument("scenario", required=False)
@click.option("--draws", type=click.IntRange(2, 10_000), metavar="N",
              help="also over N epidemics drawn from the scenario's uncertainty block")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), metavar="S",
              help="seed of the draws [the uncertainty block's]")
@click.option("--out", type=click.Path(path_type=Path),
              help="output folder [RESULTS-evaluate/ beside RESULTS]")
@overrides_option
@verbosity_options
def evaluate(results: Path, scenario: str | None, draws: int | None, seed: int | None,
             out: Path | None, overrides: tuple[str, ...], quiet: bool, verbose: int) -> None:
    """Meet the plan in RESULTS, its aid as it is, with SCENARIO's epidemic (default: the one
    the plan was made for, with the run's own --set) changed by --set, and with --draws, with
    many: deaths, coverage and fill rates, nothing re-optimised."""  # fmt: skip
    import json

    from optimiser.evaluate import evaluate as evaluate_plan
    from optimiser.evaluate import scenario_of
    from optimiser.results import plain
    from optimiser.views import reading_result

    result = _result(results)
    folder = scenario_folder(scenario) if scenario else None
    try:
        with reading_result(result):
            scn = scenario_of(result, folder, overrides)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
    out = out or results.resolve().parent / f"{results.resolve().name}-evaluate"
    with claim_output(out, "evaluate", (scn.folder, results)) as output, \
            reporting(verbosity_of(quiet, verbose)):  # fmt: skip
        try:
            with reading_result(result):
                summary = evaluate_plan(result, scn, draws, seed)
        except ScenarioError as exc:
            fail(exc.problems, INVALID_INPUT)
        text = json.dumps(plain(summary), indent=2, allow_nan=False) + "\n"
        written(lambda: output.write({"summary.json": lambda path: path.write_text(text)}))
    if not quiet:
        click.echo(format_evaluation(summary, out))


def format_evaluation(s: dict, out: Path) -> str:
    lines = [
        f"{s['plan']} met by {s['scenario']}" + (f" with --set {' '.join(s['overrides'])}"
                                                 if s["overrides"] else ""),
        f"  deaths by {s['outlook_date']}: {s['deaths_no_aid']:,.0f} without aid -> "
        f"{s['deaths_with_plan']:,.0f} with the plan ({s['deaths_averted']:,.0f} averted; as "
        f"planned: {s['deaths_with_plan_as_planned'] or 0:,.0f})",
        "  share of each load the plan serves: "
        + ", ".join(f"{k} {v:.0%}" for k, v in s["coverage"].items()),
    ]  # fmt: skip
    if "uncertainty" in s:
        lines += format_uncertainty({**s["uncertainty"], "robustness": "nominal"})
    lines.append(f"  wrote {out}/summary.json")
    return "\n".join(lines)


@main.command(short_help="Check a scenario and print its sizes")
@click.argument("scenario")
@overrides_option
def validate(scenario: str, overrides: tuple[str, ...]) -> None:
    """Check SCENARIO's inputs (a folder or a shipped scenario's name) and print their sizes,
    or every problem found."""
    from optimiser.network import build_network

    scn = load_or_fail(scenario_folder(scenario), overrides)
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


@main.command(short_help="Write the first LP of a run in LP format")
@click.argument("scenario")
@click.argument("file", type=click.Path(path_type=Path))
@overrides_option
def lp(scenario: str, file: Path, overrides: tuple[str, ...]) -> None:
    """Write the first LP `aidopt run SCENARIO` solves to FILE in CPLEX LP format, built through
    Pyomo with the scenario's names, for reading or for another solver."""
    from optimiser.lp_export import write_first_lp

    scn = load_or_fail(scenario_folder(scenario), overrides)
    check_writable(_file(file, file))  # before the LP is built
    try:
        written = write_first_lp(scn, _file(file, file))
    except OutputError as exc:
        fail([str(exc)], exc.status)
    click.echo(f"wrote {written}")


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
@click.argument("scenario")
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
    default=None,
    help="days to forecast: from --until, scoring exactly those days, or past the last "
    "observed date [0; 14 with --rolling]",
)
@click.option(
    "--rolling",
    is_flag=True,
    help="fit to each of calibration.rolling_origins and score its --forecast-days forecast "
    "beside a log-linear trend's and a persistence forecast's",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="output folder [results/<name>-calibration/]"
)
@overrides_option
def calibrate(
    scenario, observed, fit_names, per_province, until, forecast_days, rolling, out, overrides
):
    """Fit SCENARIO's epidemic model to reported cases in OBSERVED."""
    from optimiser.calibrate import Calibrator, read_observed
    from optimiser.calibration_outputs import write_calibration

    folder = scenario_folder(scenario)
    scn = load_or_fail(folder, overrides)
    out = out or Path("results") / f"{folder.resolve().name}-calibration-{observed.stem}"
    if rolling:
        _calibrate_rolling(scenario, scn, observed, fit_names, until, forecast_days, out)
        return
    forecast_days = forecast_days or 0
    try:
        obs = read_observed(observed, scn)
        per = _names(per_province, "--per-province", allow_none=True)
        fit = _names(fit_names, "--fit", allow_none=False)
        if per is None:
            fitted = fit or scn.config.calibration.fit
            per = () if obs.national else tuple(f for f in ("seed", "reporting") if f in fitted)
        cal = Calibrator(scn, obs, fit, per, until and until.date(), forecast_days)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
    with claim_output(out, "calibrate", (scenario, observed)) as output:
        result = cal.fit()
        files = written(lambda: write_calibration(result, cal, output))
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
            f"({h['total_error_pct']:+.1f}%), 95% [{h['forecast_total_95'][0]:,.0f}, "
            f"{h['forecast_total_95'][1]:,.0f}]"
        )
    click.echo(f"  wrote {out}/: {' '.join(f.name for f in files)}")


def _calibrate_rolling(scenario, scn, observed, fit_names, until, forecast_days, out):
    """`aidopt calibrate --rolling`: one fit per origin, its forecast beside the baselines."""
    from optimiser.calibrate import read_observed
    from optimiser.forecast import rolling, rolling_fit, write_rolling

    origins = scn.config.calibration.rolling_origins
    problems = []
    if until is not None:
        problems.append("--rolling takes its cut-offs from calibration.rolling_origins; "
                        "drop --until")  # fmt: skip
    if not origins:
        problems.append(
            f"{scenario}: scenario.yaml sets no calibration.rolling_origins for --rolling; "
            f"valid: a list of dates, e.g. [2022-05-20, 2022-05-27]"
        )
    try:
        obs = read_observed(observed, scn)
    except ScenarioError as exc:
        problems += exc.problems
    if problems:
        fail(problems, INVALID_INPUT)
    days = 14 if forecast_days is None else forecast_days
    if days < 1:
        fail(["--rolling: --forecast-days must be at least 1"], INVALID_INPUT)
    fit = _names(fit_names, "--fit", allow_none=False)
    try:
        from optimiser.calibrate import Calibrator

        for origin in origins:  # every origin must be fittable before anything is written
            Calibrator(scn, obs, rolling_fit(scn, fit), (), origin, days)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
    with claim_output(out, "calibrate", (scenario, observed)) as output:
        run = rolling(scn, obs, origins, days, fit)
        files = written(lambda: write_rolling(run, obs, scn, output))
    click.echo(f"{scn.config.name}: {days}-day forecasts of {observed} from "
               f"{len(run.table)} origin(s); error of the 14-day total:")  # fmt: skip
    click.echo(f"  {'origin':<11} {'observed':>10} {'model':>10} {'95% interval':>23} "
               f"{'model':>7} {'trend':>7} {'persist':>7}")  # fmt: skip
    for r in run.table.itertuples():
        click.echo(
            f"  {r.origin:<11} {r.observed_total:>10,.0f} {r.model_total:>10,.0f} "
            f"[{r.model_low_95:>9,.0f}, {r.model_high_95:>9,.0f}] {r.model_error_pct:>+6.0f}% "
            f"{r.trend_error_pct:>+6.0f}% {r.persistence_error_pct:>+6.0f}%"
        )
    s = run.summary()
    m = s["median_abs_error_pct"]
    click.echo(f"  median |error|: model {m['model']:.0f}%, trend {m['trend']:.0f}%, "
               f"persistence {m['persistence']:.0f}%; model beats the trend at "
               f"{s['model_beats_trend']} of {len(run.table)}; intervals cover "
               f"{s['intervals_cover']} of {len(run.table)}")  # fmt: skip
    click.echo(f"  wrote {out}/: {' '.join(f.name for f in files)}")


@main.command(short_help="Copy a scenario into a folder to edit")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--from",
    "source",
    default=scenarios.DEFAULT,
    show_default=True,
    help="a shipped scenario's name (korea-2020, dprk-2022) or a scenario folder",
)
def init(folder: Path, source: str) -> None:
    """Copy a scenario into FOLDER (new or empty) to edit."""
    origin = scenario_folder(source)
    try:
        files = scenarios.copy_scenario(origin, folder)
    except (ScenarioError, OutputError) as exc:
        fail(getattr(exc, "problems", [str(exc)]), INVALID_INPUT)
    click.echo(f"copied {origin.name} into {folder}/: {' '.join(f.name for f in files)}")
    click.echo(f"  next: edit {folder / 'scenario.yaml'} and its tables, then: aidopt run {folder}")


def _result(folder: Path):
    from optimiser.views import ResultError, read_result

    try:
        return read_result(folder)
    except ResultError as exc:
        fail([str(exc)], INVALID_INPUT)
        raise  # unreachable: fail exits


def _file(path: Path | None, default: Path) -> Path:
    """The file to write: `path` if given, else `default`; never an existing folder."""
    target = path or default
    if target.is_dir():
        fail([f"{target}: is a folder; give a file name"], INVALID_INPUT)
    return target


@main.command(short_help="The plan as an Excel workbook")
@click.argument("results", type=click.Path(path_type=Path))
@click.option(
    "--xlsx",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="an Excel workbook [RESULTS/plan.xlsx]; the default format",
)
@verbosity_options
def export(results: Path, xlsx: str | None, quiet: bool, verbose: int) -> None:
    """Write RESULTS (a folder `aidopt run` wrote) as an Excel workbook."""
    from optimiser.views import reading_result
    from optimiser.workbook import write_workbook

    result = _result(results)
    path = _file(Path(xlsx) if xlsx else None, results / "plan.xlsx")
    check_writable(path)  # before the workbook is built
    with reporting(verbosity_of(quiet, verbose)), reading_result(result):
        log.info("writing %s", path)
        write_workbook(result, path)
    if not quiet:
        click.echo(f"wrote {path}")


@main.command(short_help="The plan as one HTML page (and PDF)")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="the HTML file [RESULTS/report.html]")
@click.option(
    "--pdf/--no-pdf",
    default=True,
    show_default=True,
    help="also print it as PDF beside the HTML, where Chromium or Chrome is installed",
)
@verbosity_options
def report(results: Path, out: Path | None, pdf: bool, quiet: bool, verbose: int) -> None:
    """Write RESULTS as one self-contained HTML page (and PDF): headline, curves, map, routes."""
    from optimiser.report import find_browser, print_pdf, write_html
    from optimiser.views import reading_result

    result = _result(results)
    page = _file(out, results / "report.html")
    browser = find_browser() if pdf else None
    for path in (page, page.with_suffix(".pdf"))[: 1 + (browser is not None)]:
        check_writable(path)  # both before either is written
    with reporting(verbosity_of(quiet, verbose)), reading_result(result):
        write_html(result, page)
        written, note = [page], ""
        if pdf and browser is None:
            note = "PDF skipped: no Chromium or Chrome found (apt-get install chromium)"
        elif browser is not None:
            try:
                written.append(print_pdf(page, page.with_suffix(".pdf"), browser))
            except RuntimeError as exc:
                note = f"PDF skipped: {exc}"
    if note:
        click.echo(note, err=True)
    if not quiet:
        click.echo(f"wrote {' '.join(str(p) for p in written)}")


@main.command(short_help="How results differ (table, CSV and a figure side by side)")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="the CSV file [compare-<A>-vs-<B>.csv, or compare-<A>-and-<n>-more.csv, in the last "
    "result's parent folder]; the figure goes beside it as .svg",
)
def compare(results: tuple[Path, ...], out: Path | None) -> None:
    """Show how RESULTS (two or more folders) differ: for two, B against A item by item; for
    more, side by side. Writes every compared item as CSV and a figure of deaths, deaths
    averted, spending and fill rates beside it."""
    from optimiser import figures
    from optimiser.compare import compare as compare_results
    from optimiser.compare import format_side_by_side, format_table, side_by_side, write_comparison
    from optimiser.views import reading_result

    if len(results) < 2:
        fail([f"compare needs two results or more; got {len(results)}: {results[0]}"],
              INVALID_INPUT)  # fmt: skip
    read = [_result(r) for r in results]
    first, last = results[0].resolve(), results[-1].resolve()
    stem = (f"compare-{first.name}-vs-{last.name}" if len(results) == 2
            else f"compare-{first.name}-and-{len(results) - 1}-more")  # fmt: skip
    path = _file(out, last.parent / f"{stem}.csv")
    picture = _file(None, path.with_suffix(".svg"))
    check_writable(path)  # before anything is compared
    check_writable(picture)
    with reading_result(*read):
        both = side_by_side(read)
        if len(read) == 2:
            table = compare_results(read[0], read[1])
            text = format_table(table, read[0], read[1])
        else:
            table, text = both, format_side_by_side(both, read)
    write_comparison(table, path)
    svg = figures.to_svg(figures.comparison(both))
    views_write(picture, svg)
    click.echo(text)
    click.echo(f"wrote {path} {picture}")


def views_write(path: Path, text: str) -> Path:
    from optimiser.views import write_file

    def write(staged: Path) -> None:
        staged.write_text(text, encoding="utf-8")

    return write_file(path, write, "compare")


from optimiser.sweep_cli import sweep  # noqa: E402  (registered last: it uses this module's helpers)

main.add_command(sweep)

from optimiser.asks_cli import asks  # noqa: E402

main.add_command(asks)

if __name__ == "__main__":
    main()
