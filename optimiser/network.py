"""Sanction rules, route windows and approvals turned into masks over (commodity, arc, week).

The LP creates a shipment variable only where its mask is true, so a barred flow has no
variable at all. A flow is allowed when

* the arc is open that week (its `open_from`/`open_until` window: border closures),
* a cross-border arc from the ROK has its May 24 approval (lead time from week 0),
* the goods are not barred by UNSCR 2397 (HS chapters 72-89 entering the DPRK, less the
  commodities `lifted_for` names), or a requested 1718 Committee exemption covers them that week,
* the goods arrive within the horizon,

and it is *useful*: the commodity can reach the arc's tail from a depot that stocks it, and the
arc's head can reach a province, both in time. Medical teams use the same windows and approvals
on arcs that allow personnel; sanctions on goods do not apply to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimiser.inputs import DPRK, ROK, Scenario


@dataclass(frozen=True)
class Network:
    """Index arrays for the LP; all masks are numpy booleans."""

    arc_ids: list[str]
    tail: np.ndarray
    """(A,) node index each arc leaves"""
    head: np.ndarray
    """(A,) node index each arc enters"""
    transit_weeks: np.ndarray
    """(A,) weeks from departure to arrival"""
    route_open: np.ndarray
    """(A, W) window and approval allow departures that week"""
    enters_dprk: np.ndarray
    """(A,) arc crosses into the DPRK from outside"""
    barred: np.ndarray
    """(K, A) UNSCR 2397 bars the commodity on the arc without an exemption"""
    exempt: np.ndarray
    """(E, K, A, W) requested exemption e lets commodity k cross arc a in week w"""
    exemption_ids: list[str]
    allowed: np.ndarray
    """(K, A, W) shipments may be created here"""
    stock_possible: np.ndarray
    """(K, N, W) the commodity can be held at the node at the end of the week"""
    team_allowed: np.ndarray
    """(A, W) medical teams may travel here"""
    team_arrives: np.ndarray
    """(N, W) teams can be at the node that week"""


def hs_chapter(hs_code: str) -> int:
    return int(hs_code[:2])


def route_windows(scenario: Scenario) -> np.ndarray:
    """(A, W): the week's Monday lies within the arc's open window."""
    mondays = scenario.week_start_dates
    open_ = np.ones((len(scenario.arcs), scenario.n_weeks), dtype=bool)
    for a, arc in enumerate(scenario.arcs):
        if arc.open_from is not None:
            open_[a] &= mondays >= np.datetime64(arc.open_from, "D")
        if arc.open_until is not None:
            open_[a] &= mondays <= np.datetime64(arc.open_until, "D")
    return open_


def route_approvals(scenario: Scenario) -> np.ndarray:
    """(A, W): ROK May 24 measures: ROK-to-DPRK arcs open once approved, others always."""
    country = scenario.node_country
    approved = np.ones((len(scenario.arcs), scenario.n_weeks), dtype=bool)
    leads = scenario.sanctions.rok_route_approvals.routes
    for a, arc in enumerate(scenario.arcs):
        if country[arc.from_] == ROK and country[arc.to] == DPRK:
            lead = leads.get(arc.id)
            approved[a] = False if lead is None else np.arange(scenario.n_weeks) >= lead
    return approved


def exemption_windows(scenario: Scenario, enters: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(E, K, A, W) for the exemptions the scenario requests."""
    requested = [
        e for e in scenario.sanctions.exemptions if e.id in scenario.config.exemptions_requested
    ]
    k_index = {c: k for k, c in enumerate(scenario.commodity_ids)}
    weeks = np.arange(scenario.n_weeks)
    out = np.zeros((len(requested), len(k_index), len(scenario.arcs), scenario.n_weeks), dtype=bool)
    for e, ex in enumerate(requested):
        first = ex.request_week + ex.approval_lead_weeks
        valid = (weeks >= first) & (weeks < first + ex.validity_weeks)
        for c in ex.commodities:
            out[e, k_index[c]] = enters[:, None] & valid[None, :]
    return out, [e.id for e in requested]


def _reachable(
    start: np.ndarray,
    open_: np.ndarray,
    tail: np.ndarray,
    head: np.ndarray,
    transit: np.ndarray,
    forward: bool,
    wait: bool = True,
) -> np.ndarray:
    """(..., N, W) nodes reachable from `start` in the time-expanded graph.

    Forward: where goods present at `start` (node, week) can be by waiting or shipping.
    Backward: where goods must be to reach a `start` (node, week) in time.
    `open_` is (..., A, W) and selects usable (arc, departure week) pairs. With `wait` false
    nothing may be held at a node from one week to the next (medical teams).
    """
    reach = start.copy()
    n_weeks = start.shape[-1]
    for w in range(n_weeks) if forward else range(n_weeks - 1, -1, -1):
        # Holding links week w-1 to w (forward) or w+1 to w (backward).
        if wait and forward and w > 0:
            reach[..., w] |= reach[..., w - 1]
        if wait and not forward and w < n_weeks - 1:
            reach[..., w] |= reach[..., w + 1]
        # Zero-transit arcs chain within one week: repeat until nothing changes.
        changed = True
        while changed:
            changed = False
            for a in range(len(tail)):
                if forward:  # read the tail at departure, write the head at arrival
                    src, dst, write, depart = tail[a], head[a], w + transit[a], w
                else:  # read the head at arrival, write the tail at departure
                    src, dst, write, depart = head[a], tail[a], w - transit[a], w - transit[a]
                if not 0 <= write < n_weeks:
                    continue
                new = reach[..., src, w] & open_[..., a, depart] & ~reach[..., dst, write]
                reach[..., dst, write] |= new
                changed |= bool(np.any(new)) and transit[a] == 0
    return reach


def build_network(scenario: Scenario) -> Network:
    node_index = {n: i for i, n in enumerate(scenario.node_ids)}
    country = scenario.node_country
    arcs = scenario.arcs
    n_k, n_a, n_n, n_w = (
        len(scenario.commodities),
        len(arcs),
        len(node_index),
        scenario.n_weeks,
    )
    tail = np.array([node_index[a.from_] for a in arcs])
    head = np.array([node_index[a.to] for a in arcs])
    transit = np.array([a.transit_weeks for a in arcs])
    enters = np.array([country[a.from_] != DPRK and country[a.to] == DPRK for a in arcs])

    route_open = route_windows(scenario) & route_approvals(scenario)
    arrives_in_time = np.arange(n_w)[None, :] + transit[:, None] < n_w
    chapters = set(scenario.sanctions.unscr_2397.hs_chapters)
    lifted = set(scenario.sanctions.unscr_2397.lifted_for)
    barred_goods = np.array([hs_chapter(c.hs_code) in chapters and c.id not in lifted
                             for c in scenario.commodities])  # fmt: skip
    barred = barred_goods[:, None] & enters[None, :]
    exempt, exemption_ids = exemption_windows(scenario, enters)
    permitted = (route_open & arrives_in_time)[None] & (~barred[:, :, None] | exempt.any(axis=0))

    # Usefulness: forward from depots stocking the commodity, backward from every province.
    sources = np.zeros((n_k, n_n, n_w), dtype=bool)
    k_index = {c: k for k, c in enumerate(scenario.commodity_ids)}
    for row in scenario.supply:
        if row.units_per_week > 0:
            sources[k_index[row.commodity], node_index[row.depot], :] = True
    sinks = np.zeros((n_k, n_n, n_w), dtype=bool)
    sinks[:, : len(scenario.provinces), :] = True
    fwd = _reachable(sources, permitted, tail, head, transit, forward=True)
    bwd = _reachable(sinks, permitted, tail, head, transit, forward=False)
    weeks = np.arange(n_w)
    arrival = np.minimum(weeks[None, :] + transit[:, None], n_w - 1)
    useful = fwd[:, tail, :] & np.take_along_axis(
        bwd[:, head, :], np.broadcast_to(arrival, (n_k, n_a, n_w)), axis=2
    )
    allowed = permitted & useful
    # Holding stock at the end of week w helps only if the goods can still move on from w + 1;
    # at provinces it also serves the week's own durable equipment in use.
    n_p = len(scenario.provinces)
    moves_on = np.zeros_like(bwd)
    moves_on[..., :-1] = bwd[..., 1:]
    stock_possible = fwd & moves_on
    stock_possible[:, :n_p] = fwd[:, :n_p]

    team_open = route_open & arrives_in_time & np.array([a.personnel for a in arcs])[:, None]
    team_sources = np.zeros((n_n, n_w), dtype=bool)
    for origin in scenario.config.staff.origins:
        team_sources[node_index[origin]] = True
    team_fwd = _reachable(team_sources, team_open, tail, head, transit, forward=True, wait=False)
    team_allowed = team_open & team_fwd[tail, :]
    return Network(
        arc_ids=[a.id for a in arcs],
        tail=tail,
        head=head,
        transit_weeks=transit,
        route_open=route_open,
        enters_dprk=enters,
        barred=barred,
        exempt=exempt,
        exemption_ids=exemption_ids,
        allowed=allowed,
        stock_possible=stock_possible,
        team_allowed=team_allowed,
        team_arrives=team_fwd,
    )
