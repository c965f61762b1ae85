"""Stress tests of a fixed plan (`aidopt evaluate`): a written plan's aid, as it is, met by
another epidemic (the scenario with `--set` changes) or by many drawn ones. Nothing is
re-optimised: the epidemic measures the same capacities against its own load.

    aidopt evaluate results/korea-2020 --set epidemic.initial_infections_factor=2
    aidopt evaluate results/korea-2020 --draws 200 --seed 7 --out results/stress
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from models.seir import AID, D, S, V
from optimiser.coupling import total_deaths, total_infections
from optimiser.demand import weekly_needs
from optimiser.epidemic import EpidemicSetup, drivers_from_trajectory
from optimiser.inputs import Scenario, ScenarioError, load_scenario
from optimiser.uncertainty import ensemble, final_states, percentiles
from optimiser.views import Result


def scenario_of(result: Result, folder: Path | None, overrides: Sequence[str]) -> Scenario:
    """The scenario to meet the plan with: `folder`, or the one the plan was made for with the
    run's own overrides, then `overrides`; it must have the plan's provinces and weeks."""
    attrs = result.ds.attrs
    recorded: list[str] = []
    if folder is None:
        if "provenance_scenario_folder" not in attrs:
            raise ScenarioError([f"{result.folder}: the result does not record its scenario; "
                                 "give SCENARIO"])  # fmt: skip
        folder = Path(attrs["provenance_scenario_folder"])
        recorded = json.loads(attrs.get("provenance_overrides_json", "[]"))
    scenario = load_scenario(folder, [*recorded, *overrides])
    plan_provinces = [str(p) for p in result.ds["province"].values]
    if scenario.province_ids != plan_provinces or scenario.n_weeks != result.ds.sizes["week"]:
        raise ScenarioError([
            f"{folder}: its provinces ({len(scenario.province_ids)}) and weeks "
            f"({scenario.n_weeks}) are not the plan's ({len(plan_provinces)} provinces, "
            f"{result.ds.sizes['week']} weeks); give a scenario of the same provinces and horizon"
        ])  # fmt: skip
    if scenario.needs is not None:
        raise ScenarioError([f"{folder}: brings its needs in needs.csv; a plan is evaluated "
                             "against the SEIR model"])  # fmt: skip
    return scenario


def evaluate(result: Result, scenario: Scenario, draws: int | None = None,
             seed: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The plan's deaths, infections, coverage and fill rates against the scenario's epidemic
    and, with `draws`, over that many drawn from its uncertainty block."""
    aid = result.ds["aid"].sel(lever=list(AID)).transpose("lever", "province", "week").values
    used = (result.ds["used"].sel(commodity=scenario.commodity_ids)
            .transpose("commodity", "province", "week").values)  # fmt: skip
    with threadpool_limits(limits=1):
        setup = EpidemicSetup.from_scenario(scenario)
        # The run's own path (`run`, weekly segments), so the plan's deaths come out the same.
        with_plan = setup.run(aid).people[0]
        no_aid = setup.run(np.zeros_like(aid)).people[0]
        population = setup.population
        horizon = 7 * scenario.n_weeks
        figures: dict[str, Any] = {}
        for name, people in (("no_aid", no_aid), ("with_plan", with_plan)):
            figures[f"deaths_{name}"] = total_deaths(people)
            figures[f"infections_{name}"] = total_infections(people, population)
            figures.setdefault("by_window", {})[f"deaths_{name}"] = {
                "horizon": total_deaths(people, horizon), "outlook": total_deaths(people)}
        loads = setup.loads(with_plan)
        coverage = np.minimum(aid, loads).sum(axis=(1, 2)) / np.maximum(loads.sum(axis=(1, 2)),
                                                                        1e-12)  # fmt: skip
        cfg = scenario.config
        needs = weekly_needs(drivers_from_trajectory(with_plan, population, scenario.n_weeks),
                             scenario.commodities, scenario.consumption, scenario.provinces,
                             cfg.demand, cfg.staff)  # fmt: skip
        need = needs.quantity.sum(axis=(1, 2))
        met = np.minimum(used, needs.quantity).sum(axis=(1, 2))
        summary: dict[str, Any] = {
            "plan": str(result.folder),
            "plan_scenario": result.summary.get("scenario"),
            "scenario": cfg.name,
            "scenario_folder": str(scenario.folder),
            "overrides": list(scenario.overrides),
            **figures,
            "deaths_averted": figures["deaths_no_aid"] - figures["deaths_with_plan"],
            "deaths_with_plan_as_planned": result.summary.get("deaths_with_plan"),
            # share of each capacity's load, over every province and week, the plan serves
            "coverage": dict(zip(AID, coverage.tolist(), strict=True)),
            "fill_rate": {c: (float(m / n) if n > 0 else None) for c, m, n in
                          zip(scenario.commodity_ids, met, need, strict=True)},
            "outlook_date": str(cfg.start_date + dt.timedelta(weeks=setup.outlook_weeks)),
        }  # fmt: skip
        if draws is not None or seed is not None:
            summary["uncertainty"] = _over_draws(scenario, aid, draws, seed)
    return summary


def _over_draws(scenario: Scenario, aid: np.ndarray, count: int | None,
                seed: int | None) -> dict[str, Any]:  # fmt: skip
    from optimiser.runner import draws_for

    drawn = draws_for(scenario, count, seed)
    assert drawn is not None  # count or seed is given
    setup = ensemble(scenario, drawn)
    population = setup.population
    finals = {"no_aid": final_states(setup, np.zeros_like(aid)),
              "with_plan": final_states(setup, aid)}  # fmt: skip
    deaths = {k: v[:, D].sum(axis=1) for k, v in finals.items()}
    # Infected: everyone who left S other than into V and has not left V (vaccinated, protected).
    infections = {k: (population - v[:, S] - v[:, V]).sum(axis=1) for k, v in finals.items()}
    return {
        "draws": drawn.count,
        "seed": drawn.seed,
        "parameters": list(drawn.names),
        "deaths_no_aid": percentiles(deaths["no_aid"]),
        "deaths_with_plan": percentiles(deaths["with_plan"]),
        "deaths_averted": percentiles(deaths["no_aid"] - deaths["with_plan"]),
        "infections_no_aid": percentiles(infections["no_aid"]),
        "infections_with_plan": percentiles(infections["with_plan"]),
        "by_draw": [
            {"overrides": list(o), "deaths_no_aid": float(a), "deaths_with_plan": float(b)}
            for o, a, b in zip(drawn.overrides, deaths["no_aid"], deaths["with_plan"],
                               strict=True)
        ],
    }  # fmt: skip
