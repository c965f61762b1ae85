"""The first LP a run solves, written through Pyomo in LP format (`aidopt lp`), for people who
want to read the formulation with the scenario's own names.

The first LP is the one `aidopt run` solves first: with the epidemic, linearised at the epidemic
without aid, aid bounded by the trust region (`coupling.trust_region`, or 1 one-way) times the
epidemic's load, and the provinces' own laboratory capacity; with needs.csv, the planner's needs
and penalties. A run with `coupling.warm_start` starts from that plan's aid instead; this is
still the LP from no aid, the one to read for the formulation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.seir import AID
from optimiser.coupling import Loop, penalties, table_needs
from optimiser.inputs import Scenario
from optimiser.lp_forms import write_lp
from optimiser.lp_pyomo import LPData, build_model
from optimiser.network import Network
from optimiser.output_folder import write_file


def first_lp(scenario: Scenario) -> tuple[Network, LPData]:
    """The network and the data of the run's first LP."""
    loop = Loop(scenario)
    if scenario.needs is not None:
        need, team_need = table_needs(scenario)
        fill, team = penalties(scenario, need, team_need)
        harm = {"use": -np.broadcast_to(fill, need.shape), "team_fill": -team * team_need}
        return loop.net, LPData(harm=harm, need=need, team_need=team_need)
    coupling = scenario.config.coupling
    no_aid = loop.point(np.zeros((len(AID), loop.n_p, loop.n_w)))
    gradient = loop.gradient(no_aid).mean(axis=0)  # the scenario's own epidemic: one draw
    radius = 1.0 if coupling.mode == "one-way" else coupling.trust_region
    reach = radius * no_aid.loads
    return loop.net, LPData(
        harm={"aid": -gradient},
        aid_bounds=(np.zeros_like(reach), reach),
        lab_tests_per_week=loop.needs_of(no_aid.people).lab_capacity,
    )


def write_first_lp(scenario: Scenario, path: Path) -> Path:
    """Write the first LP to `path` (atomically) and return it."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        net, data = first_lp(scenario)
    model = build_model(scenario, net, data)
    return write_file(path, lambda tmp: write_lp(model, str(tmp)), "lp")
