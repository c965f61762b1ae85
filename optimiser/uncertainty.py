"""Ensembles: the epidemics a plan cannot rule out, drawn from the scenario's `uncertainty`
block and stacked into one set-up that integrates them all at once.

Each draw is a list of `--set` overrides (a Latin hypercube over the block's distributions), so
any draw can be replayed as a scenario of its own: `aidopt run --set epidemic.r0=2.61 ...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from SALib.sample import latin

from models.seir import D
from optimiser.epidemic import EpidemicSetup, stack
from optimiser.inputs import Scenario, ScenarioError, load_scenario
from optimiser.schema import Uncertainty
from optimiser.sweep_design import parameter_values

PERCENTILES = (5, 50, 90, 95)
"""The percentiles every ensemble figure is reported at [%]."""


@dataclass(frozen=True)
class Draws:
    """The parameter values of each draw and the `--set` overrides that make it."""

    names: tuple[str, ...]  # --set paths, in the block's order
    values: np.ndarray  # (B, parameters) in each path's unit (factors where `scale`)
    overrides: tuple[tuple[str, ...], ...]  # per draw
    seed: int

    @property
    def count(self) -> int:
        return len(self.overrides)


def draw(block: Uncertainty, count: int | None = None, seed: int | None = None,
         fixed: Sequence[str] = ()) -> Draws:  # fmt: skip
    """`count` draws (default the block's) by Latin hypercube with `seed` (default the
    block's): each parameter's range is cut into `count` equally likely slices and every slice
    is used once, so 100 draws cover the tails better than 100 independent ones. Parameters
    the run's `--set` fixes (`fixed`, from `fixed_paths`) are not drawn."""
    count = block.draws if count is None else count
    seed = block.seed if seed is None else seed
    names = tuple(name for name in block.parameters if name not in fixed)
    if not names:
        raise ScenarioError([f"uncertainty: --set fixes every parameter the block draws "
                             f"({', '.join(block.parameters)}); nothing is left to vary"])
    # SALib's Latin hypercube, as `aidopt sweep` uses: a draw here is a sweep's latin run.
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    unit = latin.sample(problem, count, seed=seed)
    columns, texts = [], []
    for j, name in enumerate(names):
        x, text = parameter_values(block.parameters[name], unit[:, j])
        columns.append(np.asarray(x, dtype=float))
        texts.append([f"{name}={t}" for t in text])
    overrides = tuple(tuple(t[b] for t in texts) for b in range(count))
    return Draws(names, np.stack(columns, axis=1), overrides, seed)


def fixed_paths(overrides: Sequence[str], block: Uncertainty) -> list[str]:
    """The paths a run's `--set` gives a value: they win over the draws. A `*FACTOR` composes
    with a draw that is itself a factor (`scale: true`); on a path drawn as a value it would be
    lost under the draw, so it is refused."""
    fixed = []
    for key, _, value in (o.partition("=") for o in overrides):
        key, value = key.strip(), value.strip()
        if not value.startswith("*"):
            fixed.append(key)
        elif key in block.parameters and not block.parameters[key].scale:
            raise ScenarioError([
                f"--set {key}={value}: the uncertainty block draws {key} as a value, which "
                f"would replace the factor in every draw; give a value (--set {key}=X fixes it "
                f"in every draw), or draw it as a factor (scale: true)"])  # fmt: skip
    return fixed


def ensemble(scenario: Scenario, draws: Draws) -> EpidemicSetup:
    """The scenario's epidemic under every draw, stacked: each draw is the scenario loaded
    again with its overrides on top of the run's own, so it is checked like any input."""
    setups = []
    for b, overrides in enumerate(draws.overrides):
        try:
            drawn = load_scenario(scenario.folder, [*scenario.overrides, *overrides])
        except ScenarioError as exc:
            raise ScenarioError(
                [f"uncertainty: draw {b} ({', '.join(overrides)}) is not a valid scenario: "
                 + "; ".join(exc.problems)]  # fmt: skip
            ) from None
        setups.append(EpidemicSetup.from_scenario(drawn))
    try:
        return stack(setups)
    except ValueError as exc:
        raise ScenarioError([f"uncertainty: {exc}"]) from None


def final_states(setup: EpidemicSetup, aid: np.ndarray) -> np.ndarray:
    """(B, state, P) on the outlook's last day of every draw of a stacked setup under weekly
    aid (capacity, P, W), at the reporting tolerance: how a plan, as it is, meets the draws."""
    return setup.simulate(aid)[..., -1]


def deaths_by_draw(setup: EpidemicSetup, aid: np.ndarray) -> np.ndarray:
    """(B, P) deaths by the end of the outlook in every draw under weekly aid."""
    return final_states(setup, aid)[:, D]


def percentiles(values: np.ndarray) -> dict[str, float]:
    """{"p5": ..., "p50": ..., "p90": ..., "p95": ...} of a sample, by linear interpolation."""
    points = np.percentile(np.asarray(values, dtype=float), PERCENTILES)
    return {f"p{q}": float(v) for q, v in zip(PERCENTILES, points, strict=True)}


def cvar(values: np.ndarray, share: float) -> float:
    """The mean of the worst `share` of equally likely values (Rockafellar and Uryasev): the
    largest values weigh 1 / (share x B) each until the weights reach 1, the last one partly.
    It is the LP's min over t of t + sum(max(v - t, 0)) / (share x B)."""
    worst = np.sort(np.asarray(values, dtype=float))[::-1]
    weight = np.full(worst.size, 1.0 / (share * worst.size))
    room = 1.0 - np.concatenate([[0.0], np.cumsum(weight)[:-1]])
    return float(worst @ np.clip(np.minimum(weight, room), 0.0, None))
