"""What a fixed plan delivers against an epidemic: the plan's shipments and team deployments
are carried out as they are, and each province uses what reaches it, week by week.

Rules, per province and week:

* goods arriving (less the plan's own onward shipments) join the province's stock;
* durables are held once they arrive and serve the need in use: fill = min(1, held / need);
* consumables: at most the units the plan meant to use that week are used (a plan keeps stock
  for later weeks on purpose); each package of complements is used to the coverage its
  scarcest member then allows, and only as much of each member as that coverage needs; the rest
  stays in stock;
* tests that use a laboratory are capped by the laboratory capacity (its own plus equipment
  held); the care lever is capped at what domestic care leaves (1 - domestic share);
* a lever's coverage is the sum of its packages' (substitutes), capped as above; when a cap
  binds, the lever's packages are used in proportion;
* medical teams present are the plan's deployments still running: fill = min(1, present / need).

`execute` is a pure function of the plan and the needs. The closed loop finds the coverage a
plan gives against its *own* epidemic as the fixed point coverage = execute(plan, needs(epidemic
under coverage)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.seir import CARE, LEVERS
from optimiser.allocation import Packages
from optimiser.network import Network


@dataclass(frozen=True)
class Delivery:
    """What a plan puts at each province's disposal, independent of any epidemic."""

    inflow: np.ndarray  # (K, P, W) units arriving less units the plan sends on
    planned_use: np.ndarray  # (K, P, W) units the plan meant to use
    teams_present: np.ndarray  # (P, W) teams deployed and still there
    durable: np.ndarray  # (K,) bool
    uses_lab: np.ndarray  # (K,) bool
    adds_lab: np.ndarray  # (K,) tests a week per unit held
    packages: Packages


def delivery(shipments, deployed, planned_use, net: Network, n_provinces: int,
             deployment_weeks: int, durable, uses_lab, adds_lab, packages: Packages
             ) -> Delivery:  # fmt: skip
    """Province inflows from a plan's (K, A, W) shipments and (P, W) deployments, and the
    (K, P, W) units it meant to use."""
    n_k, _, n_w = shipments.shape
    inflow = np.zeros((n_k, n_provinces, n_w))
    for a, (tail, head, transit) in enumerate(zip(net.tail, net.head, net.transit_weeks,
                                                  strict=True)):  # fmt: skip
        if head < n_provinces and transit < n_w:
            inflow[:, head, transit:] += shipments[:, a, : n_w - transit]
        if tail < n_provinces:
            inflow[:, tail] -= shipments[:, a]
    present = np.zeros_like(deployed)
    for lag in range(deployment_weeks):
        present[:, lag:] += deployed[:, : n_w - lag]
    return Delivery(inflow, np.asarray(planned_use, float), present, np.asarray(durable, bool),
                    np.asarray(uses_lab, bool), np.asarray(adds_lab, float), packages)  # fmt: skip


@dataclass(frozen=True)
class Execution:
    coverage: np.ndarray  # (L, P, W)
    fill: np.ndarray  # (K, P, W) share of need used
    team_fill: np.ndarray  # (P, W)


def execute(d: Delivery, need: np.ndarray, team_need: np.ndarray, lab_capacity: np.ndarray,
            domestic_care: np.ndarray) -> Execution:  # fmt: skip
    """Coverage, fills and team fill the delivery gives against needs (K, P, W) and (P, W),
    laboratory capacity (P,) tests a week and domestic care share (P, W)."""
    n_k, n_p, n_w = need.shape
    pk = d.packages
    with np.errstate(divide="ignore", invalid="ignore"):
        team_fill = np.where(team_need > 0, np.minimum(1.0, d.teams_present / team_need), 1.0)
    held = np.maximum(np.cumsum(d.inflow, axis=2), 0.0)  # durables are never used up
    carry = np.zeros((n_k, n_p))
    coverage = np.zeros((len(LEVERS), n_p, n_w))
    fill = np.zeros((n_k, n_p, n_w))
    upper = np.ones((len(LEVERS), n_p, n_w))
    upper[CARE] = np.clip(1.0 - domestic_care, 0.0, 1.0)
    for w in range(n_w):
        stock = np.maximum(carry + d.inflow[:, :, w], 0.0)
        usable = np.where(d.durable[:, None], held[:, :, w],
                          np.minimum(stock, d.planned_use[:, :, w]))  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore"):
            can = np.where(need[:, :, w] > 0, np.minimum(1.0, usable / need[:, :, w]), 1.0)
            labs = lab_capacity + d.adds_lab @ held[:, :, w]
            tests = need[d.uses_lab, :, w].sum(axis=0)
            lab_share = np.where(tests > 0, np.minimum(1.0, labs / tests), 1.0)
        can[d.uses_lab] = np.minimum(can[d.uses_lab], lab_share)
        package = np.ones((len(pk.names), n_p))
        for g, members in enumerate(pk.members):
            if members:
                package[g] = can[members].min(axis=0)
            if g == pk.teams:
                package[g] = np.minimum(package[g], team_fill[:, w])
            if not members and g != pk.teams:
                package[g] = 0.0
        total = np.zeros((len(LEVERS), n_p))
        np.add.at(total, pk.lever, package)
        coverage[:, :, w] = np.minimum(total, upper[:, :, w])
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(total > 0, coverage[:, :, w] / total, 0.0)
        used_share = can.copy()  # items outside every package are simply used as available
        for g, members in enumerate(pk.members):
            used_share[members] = package[g] * scale[pk.lever[g]]
        fill[:, :, w] = np.where(need[:, :, w] > 0, used_share, 0.0)
        used = used_share * need[:, :, w]
        carry = np.where(d.durable[:, None], 0.0, stock - used)
    return Execution(coverage, fill, team_fill)
