"""`aidopt asks`: the value in lives of every sanction a negotiator could ask to relax.

    aidopt asks [SCENARIO] [--set KEY=VALUE ...] [--only PATTERN ...] [--workers N]
                [--greedy K] [--draws N] [--seed S] [--out DIR] [-q | -v]

Steps: plan the scenario as `aidopt run` does (the base, written to OUT/base/); make the
candidate asks from its rules (`optimiser.asks`); re-solve the reference and every ask from the
base plan (`optimiser.asks_run`); rank them (`optimiser.asks_table`); with `--greedy K`, build
the best sequence of K asks; with `--draws N`, meet every ask's plan with N drawn epidemics
(`asks_run.over_draws`). OUT holds `asks.csv`, `greedy.csv` (with --greedy), `summary.json`
and `base/`; it is written whole or not at all (`optimiser.output_folder`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from optimiser import asks as asks_module
from optimiser.cli_helpers import claim_output, fail, load_or_fail, scenario_folder, written
from optimiser.console import reporting, verbosity_of, verbosity_options
from optimiser.reading import clip, listing, show
from optimiser.suggest import did_you_mean

if TYPE_CHECKING:
    from optimiser.epidemic import EpidemicSetup
    from optimiser.uncertainty import Draws

INVALID_INPUT, SOLVER_FAILED, NOT_CONVERGED = 2, 1, 3
BASE = "base"


def check_patterns(patterns: list[str], candidates: list[asks_module.Ask]) -> list[str]:
    """A problem for each pattern that matches no ask, naming the asks there are."""
    ids = [a.id for a in candidates]
    kinds = sorted({a.kind for a in candidates})
    problems = []
    for p in patterns:
        if not asks_module.select(candidates, [p]):
            problems.append(f"--only {clip(p)!r} matches no ask{did_you_mean(p, ids + kinds)}; "
                            f"patterns match ask ids as the shell does ('route-*', "
                            f"'*:generator*'); kinds: {', '.join(kinds)}; asks: "
                            f"{listing(ids, 60)}")  # fmt: skip
    return problems


@click.command(short_help="Which sanctions to ask about first, in lives")
@click.argument("scenario", required=False)
@click.option("--only", "patterns", multiple=True, metavar="PATTERN",
              help="re-solve only the asks whose id matches (shell pattern, e.g. 'route-*'; "
              "repeatable, or comma-separated)")  # fmt: skip
@click.option("--workers", type=click.IntRange(1, 1024),
              help="worker processes [one per core this process may use]")  # fmt: skip
@click.option(
    "--greedy",
    "greedy_steps",
    type=click.IntRange(1, 100),
    metavar="K",
    help="also build the best sequence of K asks, each chosen given the ones before",
)
@click.option("--draws", "draw_count", type=click.IntRange(2, 10_000), metavar="N",
              help="meet every ask's plan with N epidemics drawn from the scenario's "
              "uncertainty block: median, 5-95 % range and the chance of ranking in the top 3")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), metavar="S",
              help="the draws' seed [the uncertainty block's]")
@click.option("--out", type=click.Path(path_type=Path),
              help="output folder [results/<scenario folder>-asks/]")  # fmt: skip
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a scenario field for the base and every ask (repeatable)",
)
@verbosity_options
def asks(scenario, patterns, workers, greedy_steps, draw_count, seed, out, overrides, quiet,
         verbose):  # fmt: skip
    """Re-solve SCENARIO once per candidate ask (each relaxation or refusal of one of its
    rules) from the base plan, and rank the asks by the deaths they avert."""
    from optimiser.inputs import ScenarioError, expand_overrides
    from optimiser.sweep_exec import SchedulerError, default_workers

    folder = scenario_folder(scenario)
    try:
        given = expand_overrides(overrides)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
    scn = load_or_fail(folder, tuple(given))
    if scn.needs is not None:
        fail([f"{folder}: brings its own needs ({scn.config.tables.needs}); asks are valued "
              f"in deaths by the epidemic model, which such a scenario skips"],
             INVALID_INPUT)  # fmt: skip
    wanted = [p.strip() for text in patterns for p in text.split(",") if p.strip()]
    empty = [text for text in patterns if not any(p.strip() for p in text.split(","))]
    if empty:  # else an empty pattern would select nothing and so quietly run every ask
        fail([f"--only {show(empty[0])}: names no ask; give an ask id or a pattern, e.g. "
              f"--only 'route-*' (aidopt asks without --only runs them all)"],
             INVALID_INPUT)  # fmt: skip
    every = asks_module.generate(scn, binding=[a.id for a in scn.arcs])  # a superset of ids
    problems = check_patterns(wanted, every)
    if problems:
        fail(problems, INVALID_INPUT)
    draws: tuple[Draws, EpidemicSetup] | None = None  # the draws and their stacked epidemic
    if draw_count is not None or seed is not None:
        from optimiser.runner import draws_for
        from optimiser.uncertainty import ensemble

        # Every draw is checked before anything runs: a draw that makes an invalid scenario
        # is bad input, not a failure after an hour of asks.
        try:
            chosen = draws_for(scn, draw_count, seed)
            if chosen is not None:
                draws = (chosen, ensemble(scn, chosen))
        except ScenarioError as exc:
            fail(exc.problems, INVALID_INPUT)
    out = out or Path("results") / f"{folder.resolve().name}-asks"
    started = time.perf_counter()
    with claim_output(out, "asks", (folder,)) as output, reporting(verbosity_of(quiet, verbose)):
        with tempfile.TemporaryDirectory(prefix="aidopt-asks-") as tmp:
            try:
                answer = _compute(scn, folder, scenario or folder.name, given, wanted,
                                  workers or default_workers(), greedy_steps, draws, output,
                                  Path(tmp), started)  # fmt: skip
            except SchedulerError as exc:
                fail([f"the asks' runs stopped: {exc}; nothing was written"],
                     SOLVER_FAILED)  # fmt: skip
    if not quiet:
        click.echo(answer)


def _compute(scn, folder: Path, shown: str, given: list[str], wanted: list[str], workers: int,
             greedy_steps: int | None, draws: tuple[Draws, EpidemicSetup] | None, output,
             tmp: Path,
             started: float) -> str:  # fmt: skip
    """Plan the base, run the asks, write OUT; returns the printed answer."""
    import logging

    from optimiser import asks_run, asks_table
    from optimiser.exports import WRITERS
    from optimiser.lp import SolverError
    from optimiser.results import plain, summary_of
    from optimiser.runner import not_converged, plan
    from optimiser.sweep_exec import How
    from optimiser.sweep_spec import Slurm
    from optimiser.uncertainty import percentiles

    log = logging.getLogger("optimiser.cli")
    try:
        base = plan(scn)
    except SolverError as exc:
        fail([f"the base plan: {exc}"], SOLVER_FAILED)
    base_summary = summary_of(base)
    reason = not_converged(base_summary)
    if reason is not None:
        fail([f"the base plan: {reason}; asks start from it, so nothing was run. Raise "
              f"coupling.max_iterations"], NOT_CONVERGED)  # fmt: skip
    base_s = time.perf_counter() - started
    warm = tmp / "plan.nc"
    WRITERS["plan.nc"](base, warm)
    cap = {a.id: a.capacity_t_per_week for a in scn.arcs}
    binding = asks_module.binding_arcs(cap, base["shipments_t"].sum("commodity").values,
                                       list(base["arc"].values),
                                       base["route_capacity_value"].values)  # fmt: skip
    chosen = asks_module.select(asks_module.generate(scn, binding), wanted)
    if not chosen:
        fail([f"--only {' '.join(wanted)}: matches only asks on capacities that do not "
              f"bind in the base plan ({listing(binding) or 'none binds'}), which are not "
              f"asked about"], INVALID_INPUT)  # fmt: skip
    closed = scn.config.coupling.mode == "closed-loop"
    final = (output.target / BASE / "plan.nc").resolve()
    warm_set = [f"coupling.warm_start={warm}"] if closed else []
    replay_set = [f"coupling.warm_start={final}"] if closed else []
    runs = asks_run.Runs(str(folder.resolve()), scn, [*given, *warm_set],
                         How("local", workers, Slurm()), keep_aid=draws is not None)  # fmt: skip
    log.info("%d asks and the reference on %d worker(s)", len(chosen), workers)
    t0 = time.perf_counter()
    reference, *singles = runs.run([[], *[[a] for a in chosen]], "asks")
    asks_s = time.perf_counter() - t0
    if not asks_run.usable(reference):
        fail([f"the reference run (the base re-solved from its own plan) "
              f"{reference.status}: {reference.message or 'did not converge'}"],
             SOLVER_FAILED if reference.status == "failed" else NOT_CONVERGED)  # fmt: skip
    over, draws_s = None, 0.0
    if draws is not None:
        log.info("every plan met by %d drawn epidemics", draws[0].count)
        t0 = time.perf_counter()
        over = asks_run.over_draws(draws[0], draws[1], reference, singles)
        draws_s = time.perf_counter() - t0
    tolerance = scn.config.coupling.tolerance
    measured = asks_run.band(reference, base_summary["deaths_with_plan"], tolerance, chosen,
                             singles)  # fmt: skip
    noise = measured.deaths
    replay = [*given, *replay_set]
    df = asks_table.table(scn, chosen, singles, reference, noise,
                          [[*replay, *asks_module.overrides_of([a], scn)] for a in chosen],
                          replay, runs.items, over)  # fmt: skip
    steps: list[asks_run.Step] = []
    stopped, greedy_s = "", 0.0
    if greedy_steps:
        t0 = time.perf_counter()
        steps, stopped = asks_run.greedy(runs, chosen, singles, reference, greedy_steps, noise)
        greedy_s = time.perf_counter() - t0
    greedy_replays = [[*replay, *asks_module.overrides_of([s.ask for s in steps[: i + 1]], scn)]
                      for i in range(len(steps))]  # fmt: skip
    greedy_df = asks_table.greedy_table(steps, greedy_replays)
    top = asks_table.top_rows(df)
    timings = {"base": base_s, "asks": asks_s, "draws": draws_s, "greedy": greedy_s,
               "per_run_mean": float(df["wall_s"].mean()), "workers": workers,
               "runs": runs.count, "total": time.perf_counter() - started}  # fmt: skip
    summary = {
        "scenario": scn.config.name, "scenario_folder": str(folder.resolve()),
        "scenario_given": shown,
        "overrides": given, "asks": len(chosen), "only": wanted,
        "reference": {"deaths_with_plan": reference.deaths, "iterations": reference.iterations,
                      "overrides": replay},
        "base": {"folder": BASE, "deaths_with_plan": base_summary["deaths_with_plan"],
                 "iterations": base_summary["coupling"]["iterations"]},
        "band_deaths": noise,
        "band": {"loop": measured.loop, "paths": measured.paths,
                 "wrong_sign": measured.wrong_sign, "wrong_sign_ask": measured.wrong_sign_ask,
                 "rule": f"the largest of coupling.tolerance ({tolerance:g}) x the reference's "
                         f"deaths + 0.5 (loop), |reference - base| (paths: one scenario by two "
                         f"paths), and the largest difference of the wrong sign among the asks "
                         f"(wrong_sign)"},
        "counts": {e: int((df["effect"] == e).sum()) for e in asks_table.EFFECTS[:4]},
        "draws": None if over is None else {
            "count": over.draws.count, "seed": over.draws.seed,
            "parameters": list(over.draws.names),
            "reference_deaths": percentiles(over.reference),
            "what": "each ask's plan, made for the scenario's own epidemic, met by every "
                    "draw; deaths_averted_pNN are percentiles over the draws and "
                    f"top{asks_run.TOP_N}_probability the share of draws in which the ask is "
                    f"among the {asks_run.TOP_N} that avert the most"},
        "top": top,
        "greedy": {"steps": greedy_df.to_dict("records"), "stopped": stopped}
        if greedy_steps else None,
        "timings_s": {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()},
        "provenance": base_summary["provenance"],
    }  # fmt: skip
    base_summary["asks"] = {"table": "../asks.csv", "band_deaths": noise,
                            "reference_deaths": reference.deaths, "top": top}  # fmt: skip

    def write_base(path: Path) -> None:
        path.mkdir()
        for name, writer in WRITERS.items():
            if name == "plan.nc":
                shutil.copyfile(warm, path / name)
            elif name == "summary.json":
                (path / name).write_text(json.dumps(plain(base_summary), indent=2) + "\n")
            else:
                writer(base, path / name)

    writers = {
        "asks.csv": lambda p: asks_table.write_table(df, p),
        **({"greedy.csv": lambda p: asks_table.write_table(greedy_df, p)} if greedy_steps
           else {}),
        "summary.json": lambda p: p.write_text(
            json.dumps(plain(summary), indent=2) + "\n"),
        BASE: write_base,
    }  # fmt: skip
    log.info("writing %s", output.given)
    files = written(lambda: output.write(writers))
    return _answer(scn, summary, df, greedy_df, stopped, noise, runs.items, output.given, files)


def _answer(scn, summary: dict, df, greedy_df, stopped: str, noise: float, items,
            out: Path, files) -> str:  # fmt: skip
    from optimiser.asks_table import plain_words

    t = summary["timings_s"]
    ref = summary["reference"]["deaths_with_plan"]
    b = summary["band"]
    why = {"loop": f"the loop's tolerance, {b['loop']:,.1f}",
           "paths": f"the base solved from no aid and from its own plan, {b['paths']:,.1f}",
           "wrong_sign": f"{b['wrong_sign_ask']}, whose sign can only be the loop's path, "
                         f"{b['wrong_sign']:,.1f}"}  # fmt: skip
    largest = max(("loop", "paths", "wrong_sign"), key=lambda k: b[k])
    lines = [f"{scn.config.name}: {summary['asks']} asks, each re-solved from the base plan "
             f"({ref:,.0f} deaths with it), in {t['total']:.0f} s on {t['workers']} worker(s)",
             f"Differences within +-{noise:,.1f} deaths are no measurable effect (the largest "
             f"measure of the loop's own spread: {why[largest]})",
             plain_words(df, noise, items)]  # fmt: skip
    if summary["draws"] is not None:
        d = summary["draws"]
        lines.insert(2, f"Every plan also met by {d['count']} drawn epidemics (seed {d['seed']}; "
                        f"{', '.join(d['parameters'])}): the reference plan's deaths median "
                        f"{d['reference_deaths']['p50']:,.0f}, 90 % range "
                        f"{d['reference_deaths']['p5']:,.0f} to "
                        f"{d['reference_deaths']['p95']:,.0f}")  # fmt: skip
    if len(greedy_df):
        lines.append("The list to carry (each ask chosen given the ones before):")
        for _, s in greedy_df.iterrows():
            lines.append(f"  {s['step']}. {s['words']}: {s['deaths_averted']:,.0f} more averted, "
                         f"{s['cumulative_deaths_averted']:,.0f} in all")  # fmt: skip
        lines.append(f"  (stopped: {stopped})")
    lines.append(f"  wrote {out}/: {' '.join(f.name for f in files)}")
    lines.append(f"  replay a row: aidopt run {summary['scenario_given']} --set ... (its "
                 f"'overrides' column)")  # fmt: skip
    return "\n".join(lines)
