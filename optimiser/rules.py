"""Rules of thumb: the plans a planner would make without the tool, beside every plan it makes.

Each rule is made from the same supplies, routes, sanctions, budget and medical teams as the
optimised plan, and made feasible through the same LP (`optimiser.allocation`): the rule fixes
how each lever (`models.seir.AID`) is shared between provinces, and the LP buys and routes. No
rule sees the harm gradient; each sends as much of the need as it can reach, every lever and
week alike (the LP maximises the sum over levers and weeks of the national share of need
covered), with spending only a tie-break, then the cheapest plan giving that aid (the LP's
stage 2). The need is ESFT's sizing (`optimiser.demand`) of each lever, in its own unit: the
testing programme's tests, the isolated person-days, the hospital patient-days and the week's
peak of patients in hospital, whichever is larger of two forecasts: the epidemic without aid and
the epidemic with full aid (every suspect tested: only then is everyone who would be isolated
found).

- `population`: each lever's weekly total shared pro rata to population, among the provinces
  its supplies can reach that week;
- `esft_need`: the same, pro rata to each province's ESFT need that week;
- `worst_hit_first`: the province with the most deaths per person without aid served first, up
  to its need, then the next (priorities halve down the ranking, so the LP serves a lower
  province only with what cannot reach a higher one).

Each is met by the same epidemic(s) as the plan (`Loop.point`), and with `--draws` by the same
draws (`optimiser.robust`). `coupling.search` then starts the closed loop from each of them
too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from models.seir import AID, CARE, D
from optimiser.allocation import Plan
from optimiser.epidemic import drivers_from_trajectory
from optimiser.lp import INF

log = logging.getLogger(__name__)

RULES = {
    "population": "each lever's weekly total shared pro rata to population",
    "esft_need": "each lever's weekly total shared pro rata to the provinces' ESFT needs",
    "worst_hit_first": "the provinces with the most deaths per person without aid served "
                       "first, each up to its ESFT need",
}  # fmt: skip
"""The rules of thumb, in the order they are reported."""

FULL_AID = 1e12
"""Aid far above any load (AID_UNITS): the full-aid forecast's capacities saturate."""
SPENDING_WEIGHT = 1e-6
"""Spending enters a rule's first stage at this share of its usual weight, a tie-break only:
a rule sends all the need it can reach whatever that costs (stage 2 then finds its cheapest
form). assumption: a planner without the tool sizes aid to need, not to the price of a life."""
PRIORITY_RATIO = 2.0
"""worst_hit_first: each province's coverage is worth this many times the next one's. Any
ratio above 1 serves the provinces in order where they compete for the same goods (a unit of
aid takes the same goods in every province); 2 keeps the smallest weight of 13 provinces at
2^-12, far from HiGHS's tolerances."""


@dataclass
class RuleOfThumb:
    """A rule's plan and the epidemic(s) it meets."""

    id: str
    description: str
    plan: Plan
    point: object  # coupling.Point: the plan met by the loop's epidemic(s)


class RulesLP:
    """The loop's own LP, re-solved from its basis with each rule's share rows added to HiGHS
    for that rule alone: aid[c, p, w] - share[c, p, w] x total[c, w] = 0, each lever's weekly
    total (a new column, at most the national need) shared by fixed shares. Rows the loop
    carried while it solved would double its solves (measured on dprk-2022: 9.4 s against
    4.6 s), so they come and go; the LP is left as it was found, basis included."""

    def __init__(self, loop):
        self.loop, self.lp = loop, loop.lp
        self.highs = loop.lp.solver.highs
        self.aid = loop.lp.lp.columns["aid"]
        self.n_cols, self.n_rows = loop.lp.lp.n_cols, loop.lp.lp.n_rows

    def __enter__(self) -> RulesLP:
        self.saved = self.highs.getBasis()
        # The rules set their own harm and aid bounds; what reads the LP after them (the
        # limits' duals, a later loop) must find the loop's linearisation and trust region.
        self.saved_harm = (self.lp.harm.copy(), self.lp.harm_offset)
        self.saved_bounds = self.lp.solver.col_bounds(self.aid.ids)
        self.lp.usd_per_death = self.loop.usd_per_death / SPENDING_WEIGHT
        return self

    def __exit__(self, *exc) -> None:
        self.lp.usd_per_death = self.loop.usd_per_death
        self.lp.harm[:], self.lp.harm_offset = self.saved_harm
        self.lp.solver.set_col_bounds(self.aid.ids, *self.saved_bounds)
        self.highs.setBasis(self.saved)

    def solve(self, weight: np.ndarray, upper: np.ndarray, share: np.ndarray | None = None,
              total_cap: np.ndarray | None = None) -> Plan:  # fmt: skip
        """The plan covering the most need, `weight` (capacity, P, W) per unit of aid, each aid
        at most `upper`; with `share` (capacity, P, W), each lever's weekly total, at most
        `total_cap` (capacity, W), shared by it."""
        t0 = time.perf_counter()
        self.lp.update(harm={"aid": -weight, "offset": 0.0},
                       aid_bounds=(np.zeros_like(upper), upper))  # fmt: skip
        if share is None or total_cap is None:
            plan = self.lp.solve(polish=True)
        else:
            basis = self.highs.getBasis()
            solver = self.lp.solver
            solve = solver.solve

            def trimmed(*args, **kwargs):  # the plan is read from the loop's columns and rows
                x, dual, objective = solve(*args, **kwargs)
                return x[: self.n_cols], dual[: self.n_rows], objective

            self._add(share, total_cap)
            solver.solve = trimmed
            try:
                plan = self.lp.solve(polish=True)
            finally:
                del solver.solve  # the class's method again
                self._drop()
                self.highs.setBasis(basis)
        self.loop.clock["solve"] += time.perf_counter() - t0
        return plan

    def _add(self, share: np.ndarray, total_cap: np.ndarray) -> None:
        h, aid = self.highs, self.aid
        n_c, _, n_w = aid.shape
        n_t = n_c * n_w
        zeros = np.zeros(n_t)
        h.addCols(n_t, zeros, zeros, total_cap.ravel().astype(float), 0, np.zeros(n_t, np.int32),
                  np.zeros(0, np.int32), np.zeros(0))  # fmt: skip
        # One row per aid column: its own coefficient 1, its lever-week total's -share.
        total = self.n_cols + aid.index[:, 0] * n_w + aid.index[:, 2]
        index = np.c_[aid.ids, total].astype(np.int32).ravel()
        values = np.c_[np.ones(aid.size), -share[tuple(aid.index.T)]].ravel()
        h.addRows(aid.size, np.zeros(aid.size), np.zeros(aid.size), 2 * aid.size,
                  np.arange(0, 2 * aid.size, 2, dtype=np.int32), index, values)  # fmt: skip

    def _drop(self) -> None:
        h = self.highs
        n_rows, n_cols = h.getNumRow(), h.getNumCol()
        h.deleteRows(n_rows - self.n_rows, np.arange(self.n_rows, n_rows, dtype=np.int32))
        h.deleteCols(n_cols - self.n_cols, np.arange(self.n_cols, n_cols, dtype=np.int32))


def lever_needs(loop, no_aid) -> np.ndarray:
    """(capacity, P, W) ESFT's need in each lever's unit: tests of the testing programme,
    isolated person-days, hospital patient-days, the week's peak hospital patients; the larger
    of the forecasts without aid and with full aid."""
    t0 = time.perf_counter()
    full = loop.epidemic.simulate(np.full_like(no_aid.aid, FULL_AID))[0]
    loop.clock["epidemic"] += time.perf_counter() - t0
    needs = []
    for people in (no_aid.people, full):
        drivers = drivers_from_trajectory(people, loop.epidemic.population, loop.n_w)
        tests = loop.needs_of(people).tests
        needs.append(np.stack([tests, drivers.isolated_days, drivers.hospital_days,
                               drivers.peak_hospital]))  # fmt: skip
    assert list(AID) == ["tests", "isolation", "hospital", "care"]
    return np.maximum(*needs)


def reachable(loop) -> np.ndarray:
    """(capacity, P, W) the lever's goods can be held in the province that week (care: its
    equipment, or a medical team can be there)."""
    lp, net = loop.lp, loop.net
    n_p = loop.n_p
    held = net.stock_possible[:, :n_p, :]  # (K, P, W)
    reach = np.zeros((len(AID), n_p, loop.n_w), dtype=bool)
    for c in range(len(AID)):
        items = np.flatnonzero(lp.recipe[:, c] > 0)
        reach[c] = held[items].all(axis=0) if items.size else True
    teams = loop.cfg.staff.teams_per_week > 0
    reach[CARE] |= teams & net.team_arrives[:n_p]
    return reach


def pro_rata(weights: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """(capacity, P, W) shares proportional to `weights` (broadcast), among reachable provinces
    (0 where none can be reached that week)."""
    w = np.broadcast_to(weights, reach.shape) * reach
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, w / total, 0.0)


def split_totals(aid: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(capacity, P, W) the plan's own weekly total of each lever shared in proportion to
    `weights` (P,) or (capacity, P, W): a same-supply split the plan must beat."""
    weights = np.asarray(weights, dtype=float)
    w = np.broadcast_to(weights[None, :, None] if weights.ndim == 1 else weights, aid.shape)
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total > 0, w / total, 1.0 / aid.shape[1])
    return share * aid.sum(axis=1, keepdims=True)


def rules_of_thumb(loop, no_aid) -> list[RuleOfThumb]:
    """Every rule's plan, met by the loop's epidemic(s)."""
    log.info("rules of thumb")
    t0, solve0 = time.perf_counter(), loop.clock["solve"]
    need = lever_needs(loop, no_aid)
    national = need.sum(axis=1)  # (capacity, W)
    reach = reachable(loop)
    population = loop.epidemic.population.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_national = np.where(national > 0, 1.0 / national, 0.0)[:, None, :]
    weight = np.broadcast_to(per_national, need.shape)
    unbounded = np.full(need.shape, INF)
    # Worst hit: deaths per person by the end of the counted window, without aid.
    deaths = no_aid.final[0, D] / population
    rank = np.empty(len(deaths), dtype=int)
    rank[np.argsort(-deaths, kind="stable")] = np.arange(len(deaths))
    priority = PRIORITY_RATIO ** -rank.astype(float)
    made = []
    with RulesLP(loop) as rules_lp:
        for rule, share in (("population", pro_rata(population[None, :, None], reach)),
                            ("esft_need", pro_rata(need, reach))):  # fmt: skip
            made.append((rule, rules_lp.solve(weight, unbounded, share, national)))
        made.append(("worst_hit_first", rules_lp.solve(weight * priority[None, :, None], need)))
    log.info("rules of thumb: %.1f s, of which LP %.1f s", time.perf_counter() - t0,
             loop.clock["solve"] - solve0)  # fmt: skip
    out = []
    for rule, plan in made:
        point = loop.point(plan.aid, plan)
        log.info("rule of thumb %s: %.0f deaths, %.0f USD", rule, point.deaths, plan.spent)
        out.append(RuleOfThumb(rule, RULES[rule], plan, point))
    return out


def summary(rules: list[RuleOfThumb], no_aid_deaths: float, plan_deaths: float,
            window: str, by_draw: dict | None = None) -> dict:  # fmt: skip
    """summary.json's `rules_of_thumb`: each rule's deaths and spending beside the plan's, in
    the counted window; `by_draw`, rule id -> (B,) deaths over the run's draws."""
    from optimiser.uncertainty import percentiles

    entries = []
    for r in rules:
        entry = {"rule": r.id, "description": r.description, "deaths": r.point.deaths,
                 "deaths_averted": no_aid_deaths - r.point.deaths,
                 "spending_usd": r.plan.spent}  # fmt: skip
        if by_draw is not None and r.id in by_draw:
            entry["uncertainty"] = {"deaths": percentiles(by_draw[r.id])}
        entries.append(entry)
    best = min(entries, key=lambda e: e["deaths"])
    return {
        "window": window,
        "rules": entries,
        "best_rule": best["rule"],
        "plan_deaths": plan_deaths,
        "plan_averts_more_than_best_rule": best["deaths"] - plan_deaths,
        "plan_averts_more_than_best_rule_share": (best["deaths"] - plan_deaths)
        / max(best["deaths_averted"], 1e-9),
    }
