"""Running the asks: each is one run of the scenario with its overrides (`optimiser.runner`
through `optimiser.sweep_worker.run_one`), on the sweep's machinery (`sweep_exec.execute`:
this process, or a local pool of processes with BLAS pinned).

Every run of the closed loop starts from the base plan (`coupling.warm_start`), the reference
run too: the base scenario re-solved from its own plan, so that an ask and its reference differ
only in the ask. A difference is no measurable effect below the band (`Band`): the largest of
the loop's convergence tolerance, how far the reference lands from the base solved from no aid
(one scenario by two paths), and any difference of the wrong sign among the asks. The runs'
own `deaths_range_last_iterations` is not used: it holds trial plans the loop rejected.

With drawn epidemics (`over_draws`), each run's plan, as the loop made it for the scenario's
own epidemic, is met by every draw of the scenario's uncertainty block: an ask's value in a
draw is the reference plan's deaths there minus the ask's plan's. No ask changes an epidemic
input (asks touch sanctions, routes and teams), so one stacked set of draws serves them all
and every ask meets the same epidemics.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimiser.asks import Ask, conflict, overrides_of
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import Scenario
from optimiser.sweep_exec import How, execute
from optimiser.sweep_spec import OutputSpec
from optimiser.sweep_worker import RunResult, Task
from optimiser.uncertainty import Draws

log = logging.getLogger(__name__)

ARRAYS = (
    OutputSpec(name="tonnes", variable="shipments_t", keep=("arc",)),
    OutputSpec(name="capacity_value", variable="route_capacity_value", keep=("arc",)),
    OutputSpec(name="quota_value", variable="exemption_quota_value", keep=("exemption",)),
)
"""What each run keeps of its plan.nc: tonnes per arc and the LP's duals, summed over weeks."""
AID_OUTPUT = OutputSpec(name="aid", variable="aid", keep=("lever", "province", "week"))
"""...and, to meet drawn epidemics, the plan's aid (capacity, province, week)."""
TOP_N = 3
SPENDING = ("total", "procurement", "transport", "teams")


@dataclass
class Result:
    """One run of an ask (or of the reference), as the table needs it."""

    status: str  # ok, failed, not-converged
    message: str
    deaths: float
    converged: bool
    iterations: int
    spending_usd: dict[str, float]
    fill_rate: dict[str, float]
    tonnes: dict[str, float]
    """per arc, over the horizon [t]"""
    capacity_value: dict[str, float]
    """per arc: deaths one more t/week all horizon long would save (the LP's duals, summed)"""
    quota_value: dict[str, float]
    wall_s: float
    aid: np.ndarray | None = None
    """(capacity, province, week) when the run keeps it (`Runs.keep_aid`)"""


@dataclass
class Runs:
    """How the asks are run: the scenario folder, the overrides every run shares (the user's
    and the warm start), and where."""

    folder: str
    scenario: Scenario
    shared: list[str]
    how: How
    count: int = 0
    """runs started so far"""
    keep_aid: bool = False

    @property
    def items(self) -> list[str]:
        """Fill-rate items: the scenario's commodities and medical teams."""
        return [*self.scenario.commodity_ids, "medical_team"]

    def outputs(self) -> tuple:
        scalars = ["deaths_with_plan", "coupling.converged", "coupling.iterations",
                   *(f"spending_usd.{k}" for k in SPENDING),
                   *(f"fill_rate.{k}" for k in self.items)]  # fmt: skip
        return (*scalars, *ARRAYS, *((AID_OUTPUT,) if self.keep_aid else ()))

    def replay(self, asks: Sequence[Ask]) -> list[str]:
        """Every --set argument of one run: the shared ones, then the asks' changes."""
        return [*self.shared, *overrides_of(asks, self.scenario)]

    def run(self, sets: Sequence[Sequence[Ask]], what: str) -> list[Result]:
        """One run per set of asks (the empty set is the reference), in the order given."""
        outputs = self.outputs()
        tasks = [Task(self.count + i, self.folder, tuple(self.replay(s)), outputs)
                 for i, s in enumerate(sets)]  # fmt: skip
        self.count += len(tasks)
        results: dict[int, RunResult] = {}
        start = time.perf_counter()

        def on_result(result: RunResult) -> bool:
            results[result.run] = result
            rate = len(results) / (time.perf_counter() - start)
            left = (len(tasks) - len(results)) / rate
            log.info(
                "%s: %d of %d runs, %d failed, about %.0f s left",
                what,
                len(results),
                len(tasks),
                sum(r.status == "failed" for r in results.values()),
                left,
            )
            return True

        execute(tasks, self.how, on_result)
        return [self._read(results[t.run]) for t in tasks]

    def _read(self, r: RunResult) -> Result:
        s = r.scalars
        nan = float("nan")

        def named(name: str) -> dict[str, float]:
            if name not in r.arrays:
                return {}
            dims, labels, values = r.arrays[name]
            return dict(zip(map(str, labels[dims[0]]), map(float, values), strict=True))

        return Result(
            status=r.status, message=r.message, deaths=s.get("deaths_with_plan", nan),
            converged=s.get("coupling.converged", 0.0) == 1.0,
            iterations=int(s.get("coupling.iterations", 0)),
            spending_usd={k: s.get(f"spending_usd.{k}", nan) for k in SPENDING},
            fill_rate={k: s.get(f"fill_rate.{k}", nan) for k in self.items},
            tonnes=named("tonnes"), capacity_value=named("capacity_value"),
            quota_value=named("quota_value"), wall_s=r.wall_s,
            aid=r.arrays["aid"][2] if "aid" in r.arrays else None,
        )  # fmt: skip


@dataclass(frozen=True)
class Band:
    """Differences in deaths smaller than `deaths` are no measurable effect: the largest of
    three measures of how far the loop's answer moves by its path alone [deaths]."""

    loop: float
    """coupling.tolerance x the reference's deaths + 0.5: what the loop's convergence test
    leaves (no plan near the answer is better than this, to first order)"""
    paths: float
    """|reference - base|: one scenario solved from no aid and from its own plan"""
    wrong_sign: float
    """the largest difference of the wrong sign among the asks: a refusal that seems to save
    lives, or a relaxation that seems to cost them, can only be the loop's path"""
    wrong_sign_ask: str | None

    @property
    def deaths(self) -> float:
        return max(self.loop, self.paths, self.wrong_sign)

    @property
    def of_the_loop(self) -> float:
        """The band without the asks' own evidence: what the loop itself promises."""
        return max(self.loop, self.paths)


def band(reference: Result, base_deaths: float, tolerance: float, asks: Sequence[Ask],
         results: Sequence[Result]) -> Band:  # fmt: skip
    paths = abs(reference.deaths - base_deaths)
    wrong = [(max(0.0, (r.deaths - reference.deaths) * (1 if a.direction == "relax" else -1)),
              a.id) for a, r in zip(asks, results, strict=True) if usable(r)]  # fmt: skip
    worst = max(wrong, default=(0.0, None), key=lambda t: t[0])
    return Band(tolerance * reference.deaths + 0.5, paths if math.isfinite(paths) else 0.0,
                worst[0], worst[1] if worst[0] > 0 else None)  # fmt: skip


def usable(r: Result) -> bool:
    """A run whose deaths are an answer: it planned, and its loop converged."""
    return r.status == "ok" and r.converged and math.isfinite(r.deaths)


@dataclass(frozen=True)
class Step:
    """One step of the greedy sequence: the ask taken and the deaths with every ask so far."""

    ask: Ask
    result: Result
    averted: float
    """deaths this step averts, against the step before [deaths]"""
    cumulative: float
    candidates: int
    """asks re-solved on top of the ones before to choose it"""


def greedy(runs: Runs, asks: Sequence[Ask], singles: Sequence[Result], reference: Result,
           steps: int, noise: float) -> tuple[list[Step], str]:  # fmt: skip
    """The best sequence of up to `steps` relaxations, each chosen given the ones before: the
    first from the single-ask runs, each later one by re-solving every remaining relaxation on
    top of those taken (asks that set a field one taken sets are skipped). Stops early when no
    ask averts more than `noise`; returns the steps and why it stopped."""
    chosen: list[Step] = []
    pool = [(a, r) for a, r in zip(asks, singles, strict=True) if a.direction == "relax"]
    last = reference.deaths
    for n in range(steps):
        if n:
            taken = [s.ask for s in chosen]
            remaining = [a for a, _ in pool if a not in taken and not conflict(a, taken)]
            results = runs.run([[*taken, a] for a in remaining], f"greedy step {n + 1}")
            pool_now = list(zip(remaining, results, strict=True))
        else:
            pool_now = pool
        scored = [(last - r.deaths, a, r) for a, r in pool_now if usable(r)]
        if not scored:
            return chosen, "no ask left to add" if not pool_now else "no run converged"
        averted, ask, result = max(scored, key=lambda t: t[0])
        if averted < noise:
            return chosen, (f"no further ask averts more than the band ({noise:,.1f} deaths; "
                            f"the best, {ask.id}, {averted:,.1f})")  # fmt: skip
        last = result.deaths
        chosen.append(Step(ask, result, averted, reference.deaths - last, len(pool_now)))
    return chosen, f"{steps} step(s), as asked"


@dataclass(frozen=True)
class OverDraws:
    """Every ask's plan met by the same drawn epidemics."""

    draws: Draws
    reference: np.ndarray
    """(B,) deaths with the reference plan in each draw"""
    averted: np.ndarray
    """(asks, B) the reference's deaths minus the ask's in each draw; NaN for a run that is no
    answer (failed or not converged)"""

    def top_share(self, eligible: np.ndarray, n: int = TOP_N) -> np.ndarray:
        """(asks,) the share of draws in which each `eligible` ask (the relaxations: what a
        negotiator would ask for) is among the n eligible ones that avert the most; NaN for the
        others and for runs with no answer. An ask that averts no deaths in a draw is in no top
        there: many asks change nothing, and their ties at 0 would otherwise fill it."""
        out = np.isnan(self.averted) | ~eligible[:, None] | (self.averted <= 0.0)
        scored = np.where(out, -np.inf, self.averted)
        n = min(n, int(eligible.sum()))
        share = np.full(len(scored), np.nan)
        if n == 0:
            return share
        # Ties go to the ask listed first, as a stable sort leaves them.
        order = np.argsort(-scored, axis=0, kind="stable")[:n]  # (n, B)
        counts = np.zeros(len(scored))
        np.add.at(counts, order[np.isfinite(np.take_along_axis(scored, order, 0))], 1.0)
        answered = eligible & ~np.isnan(self.averted).all(axis=1)
        share[answered] = counts[answered] / scored.shape[1]
        return share


def over_draws(draws: Draws, drawn: EpidemicSetup, reference: Result,
               results: Sequence[Result]) -> OverDraws:  # fmt: skip
    """Each run's plan met by `draws` of the scenario's epidemic (`drawn`, their stacked
    setup), one stacked integration per plan at the reporting tolerance, as `aidopt evaluate`
    meets a plan."""
    from threadpoolctl import threadpool_limits

    from optimiser.uncertainty import deaths_by_draw

    with threadpool_limits(limits=1):

        def deaths(r: Result) -> np.ndarray:
            assert r.aid is not None, "the runs kept no aid: Runs(keep_aid=True)"
            return deaths_by_draw(drawn, r.aid).sum(axis=1)

        base = deaths(reference)
        averted = np.full((len(results), draws.count), np.nan)
        for i, r in enumerate(results):
            if usable(r):
                averted[i] = base - deaths(r)
                log.info("ask %d of %d met by %d draws", i + 1, len(results), draws.count)
    return OverDraws(draws, base, averted)
