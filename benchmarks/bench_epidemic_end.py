"""What ends the epidemic, measured: unlimited aid per lever, and random increases of random plans.

    python benchmarks/bench_epidemic_end.py unlimited [SCENARIO] [--set KEY=VALUE ...]
    python benchmarks/bench_epidemic_end.py monotone [SCENARIO]
        [--plans weekly|steady-care|built-up] [--n N] [--seed S] [--set KEY=VALUE ...]

`unlimited` prints deaths by the horizon / by the end of the outlook with no aid, with every
capacity unlimited (1e9 units a week in every province and plan week) and with each alone.
`monotone` draws N random plans and one random increase each (a capacity, province and week),
integrates both side by side and prints how many increases raised deaths by more than 1e-5 of
them, and the largest rise. Plans: `weekly`, each capacity uniform in [0, load] independently
each week; `steady-care`, the same with care constant over the weeks; `built-up`, capacities
that step up at random weeks and are not withdrawn (those of tests/test_epidemic_end.py). Not a
test: nothing here asserts.
"""

from __future__ import annotations

import argparse

import common  # pins BLAS threads before numpy loads  # noqa: F401
import numpy as np

from models.seir import AID, D
from optimiser.epidemic import EpidemicSetup, stack
from optimiser.inputs import load_scenario

UNLIMITED = 1e9
ACCURACY = 1e-5


def unlimited(setup: EpidemicSetup, n_p: int, n_w: int) -> None:
    plans = np.zeros((len(AID) + 2, len(AID), n_p, n_w))
    plans[1] = UNLIMITED
    for c in range(len(AID)):
        plans[c + 2, c] = UNLIMITED
    people = stack([setup] * len(plans)).simulate(plans)[:, D].sum(axis=1)
    for label, deaths in zip(("no aid", "every lever", *AID), people, strict=True):
        print(f"{label:12s} {deaths[7 * n_w]:>10,.0f} / {deaths[-1]:>10,.0f}")


def random_plan(kind: str, rng, loads: np.ndarray) -> np.ndarray:
    top = loads.max(axis=-1, keepdims=True)
    if kind == "built-up":
        steps = rng.uniform(0, 1, loads.shape) * (rng.uniform(size=loads.shape) < 0.15)
        return np.minimum(np.cumsum(steps, axis=-1), 2.0) * 0.4 * top
    plan = rng.uniform(0, 1, loads.shape) * loads
    if kind == "steady-care":
        plan[-1] = rng.uniform(0, 1, (loads.shape[1], 1)) * top[-1]
    return plan


def monotone(setup: EpidemicSetup, loads: np.ndarray, kind: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    twice = stack([setup, setup])
    top = loads.max(axis=-1)
    raised_deaths, worst = 0, (0.0, None)
    for _ in range(n):
        plan = random_plan(kind, rng, loads)
        c, p, w = (int(rng.integers(k)) for k in loads.shape)
        raised = plan.copy()
        raised[c, p, w] += rng.uniform(0.05, 3.0) * max(loads[c, p, w], 0.1 * top[c, p], 1.0)
        before, after = twice.simulate(np.stack([plan, raised]))[:, D, :, -1].sum(axis=1)
        print(f"{AID[c]:9s} province {p:2d} week {w:2d}: {before:12,.1f} -> {after:12,.1f} "
              f"({after - before:+.2f})")  # fmt: skip
        if after > before * (1 + ACCURACY):
            raised_deaths += 1
            if after - before > worst[0]:
                worst = (after - before, (AID[c], p, w, before))
    print(f"{kind}: {raised_deaths} of {n} increases raised deaths; the largest rise "
          f"{worst[0]:.1f} {worst[1] or ''}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["unlimited", "monotone"])
    parser.add_argument("scenario", nargs="?", default=str(common.ROOT / "inputs" / "korea-2020"))
    parser.add_argument("--plans", choices=["weekly", "steady-care", "built-up"],
                        default="weekly")  # fmt: skip
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario, args.overrides)
    setup = EpidemicSetup.from_scenario(scenario)
    n_p, n_w = len(scenario.provinces), scenario.n_weeks
    print(f"{scenario.config.name}: {scenario.epidemic.after_horizon.describe()}")
    if args.what == "unlimited":
        unlimited(setup, n_p, n_w)
    else:
        monotone(setup, setup.loads(setup.simulate()[0]), args.plans, args.n, args.seed)


if __name__ == "__main__":
    main()
