"""The epidemic step: a scenario's SEIR set-up, runs under given coverage, and harm gradients.

The harm gradient says how many deaths (within the horizon) one unit of coverage of each lever
in each province-week averts. It is what turns the LP's unmet need into deaths:

* care: care coverage in week w only changes the fatality of discharges that week and does not
  feed back into transmission, so dD/dcare[p, w] = (f_no_care - f_care) * discharges[p, w],
  exact from one trajectory;
* testing: detection changes transmission everywhere afterwards, so dD/dtesting[p, w] is a
  forward difference over P x W perturbed runs, integrated as one stacked batch, counting
  deaths until `gradient_tail_weeks` after the horizon (with no aid then), so that tests sent
  late in the plan are not worth nothing merely because their effect falls after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.seir import D, H, SEIRParameters, integrate, weekly_to_daily
from optimiser.inputs import Scenario

EARTH_RADIUS_KM = 6371.0
TESTING_STEP = 0.02
"""Coverage step of the finite difference [1]; small against 1, large against solver noise."""


def great_circle_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(P, P) great-circle distances between points given in degrees."""
    phi, lam = np.radians(lat), np.radians(lon)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    h = np.sin(dphi / 2) ** 2 + np.cos(phi[:, None]) * np.cos(phi[None, :]) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(h))


def gravity_mixing(
    population: np.ndarray, lat: np.ndarray, lon: np.ndarray, outside_share: float, exponent: float
) -> np.ndarray:
    """Row-stochastic (P, P) mixing: a share `outside_share` of each province's contacts is
    spread over the others in proportion to population / distance^exponent."""
    dist = great_circle_km(lat, lon)
    n = len(population)
    if n == 1:
        return np.ones((1, 1))
    with np.errstate(divide="ignore"):
        attraction = population[None, :] / np.maximum(dist, 1.0) ** exponent
    np.fill_diagonal(attraction, 0.0)
    away = outside_share * attraction / attraction.sum(axis=1, keepdims=True)
    return away + np.diag(np.full(n, 1.0 - outside_share))


@dataclass(frozen=True)
class EpidemicSetup:
    """Everything the SEIR model needs from a scenario, ready to integrate."""

    params: SEIRParameters
    population: np.ndarray
    initial_exposed: np.ndarray
    mixing: np.ndarray
    reduction_steps: tuple[tuple[int, float], ...]
    """(first day, share of contacts removed) of each step of the schedule, in order"""
    n_weeks: int
    tail_weeks: int = 0
    """weeks past the horizon over which the testing gradient counts deaths"""

    @property
    def n_days(self) -> int:
        return 7 * self.n_weeks

    def contact_for(self, n_days: int) -> np.ndarray:
        """(days, P) one minus the contact reduction in force each day, for any span."""
        factor = np.ones(n_days)
        for first_day, reduction in self.reduction_steps:
            factor[max(first_day, 0) :] = 1.0 - reduction
        return np.repeat(factor[:, None], self.population.size, axis=1)

    @property
    def contact_factor(self) -> np.ndarray:
        """(days, P) over the horizon."""
        return self.contact_for(self.n_days)

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> EpidemicSetup:
        epi = scenario.config.epidemic
        population = np.array([p.population for p in scenario.provinces], dtype=float)
        lat = np.array([p.latitude for p in scenario.provinces])
        lon = np.array([p.longitude for p in scenario.provinces])
        mixing = (
            scenario.mobility
            if scenario.mobility is not None
            else gravity_mixing(
                population, lat, lon, epi.mobility.outside_share, epi.mobility.distance_exponent
            )
        )
        steps = tuple(
            ((step.from_ - scenario.config.start_date).days, step.reduction)
            for step in epi.contact_reduction
        )
        params = SEIRParameters(
            r0=epi.r0,
            latent_days=epi.latent_days,
            infectious_days=epi.infectious_days,
            hospital_share=epi.hospital_share,
            stay_days=epi.stay_days,
            fatality_no_care=epi.fatality_no_care,
            fatality_care=epi.fatality_care,
            detection_base_per_day=epi.detection_base_per_day,
            detection_max_per_day=epi.detection_max_per_day,
        )
        seeds = epi.initial_infections or {}
        return cls(
            params=params,
            population=population,
            initial_exposed=np.array(
                [seeds.get(p.id, p.initial_infections) for p in scenario.provinces]
            ),
            mixing=mixing,
            reduction_steps=steps,
            n_weeks=scenario.n_weeks,
            tail_weeks=epi.gradient_tail_weeks,
        )

    def simulate(
        self,
        testing: np.ndarray,
        care: np.ndarray,
        extra_weeks: int = 0,
        rtol: float = 1e-6,
        atol: float = 1e-6,
    ) -> np.ndarray:
        """Persons per (compartment, province, day) under weekly coverage (P, W) or, for a
        batch, (B, P, W) -> (B, compartment, province, day). `extra_weeks` runs on past the
        horizon with no aid, the contact schedule going on as given."""
        batched = np.ndim(testing) == 3 or np.ndim(care) == 3
        n_days = self.n_days + 7 * extra_weeks

        def pad(weekly: np.ndarray) -> np.ndarray:
            return np.pad(weekly, [(0, 0)] * (np.ndim(weekly) - 1) + [(0, extra_weeks)])

        out = integrate(
            self.params,
            self.population,
            self.initial_exposed,
            n_days,
            mixing=self.mixing,
            contact_factor=self.contact_for(n_days),
            testing_coverage=weekly_to_daily(pad(testing), n_days),
            care_coverage=weekly_to_daily(pad(care), n_days),
            rtol=rtol,
            atol=atol,
        )
        return out if batched else out[0]

    def harm_gradient(
        self, testing: np.ndarray, care: np.ndarray, people: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Deaths averted per unit of coverage, (P, W) for testing and for care.

        `people` is the trajectory at (testing, care). Values are clipped at zero: more coverage
        never costs lives, so a negative difference can only be numerical noise.
        """
        n_p, n_w = testing.shape
        discharges = weekly_integral(people[H], n_w) / np.asarray(self.params.stay_days)
        spread = np.asarray(self.params.fatality_no_care) - np.asarray(self.params.fatality_care)
        care_gradient = spread * discharges

        # Draw 0 is the base; draw 1 + p*W + w has week w's testing coverage in province p moved
        # by a step (downwards where the step would leave [0, 1]). All draws share the solver's
        # steps, so their differences carry almost no integration error even at a loose
        # tolerance: 2e-5 relative to a 1e-9 reference at rtol 1e-4 (measured, default
        # scenario), in half the time of rtol 1e-6.
        step = np.where(testing + TESTING_STEP <= 1.0, TESTING_STEP, -TESTING_STEP)
        batch = np.broadcast_to(testing, (1 + n_p * n_w, n_p, n_w)).copy()
        rows = np.arange(n_p * n_w)
        batch[1 + rows, rows // n_w, rows % n_w] += step.ravel()
        # Run on past the horizon so that testing late in the plan is valued by the deaths it
        # averts afterwards too, not only by those before the horizon ends.
        runs = self.simulate(
            batch, np.broadcast_to(care, batch.shape), self.tail_weeks, rtol=1e-4, atol=1e-3
        )
        deaths = runs[:, D, :, -1].sum(axis=1)
        testing_gradient = (deaths[0] - deaths[1:]).reshape(n_p, n_w) / step
        return np.maximum(testing_gradient, 0.0), np.maximum(care_gradient, 0.0)


def weekly_integral(daily: np.ndarray, n_weeks: int) -> np.ndarray:
    """Integrate daily snapshots (..., 7W + 1) over each week by the trapezoid rule -> (..., W)."""
    mid = 0.5 * (daily[..., 1:] + daily[..., :-1])
    return mid[..., : 7 * n_weeks].reshape(*daily.shape[:-1], n_weeks, 7).sum(axis=-1)
