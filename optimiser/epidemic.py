"""The epidemic step: a scenario's SEIR set-up, runs under given aid, the harm gradient,
reproduction numbers, the loads aid is measured against, and the weekly drivers of need.

Aid enters week by week in the LP's units (`AID_UNITS`): tests a week, isolated person-days and
hospital patient-days with infection prevention and control supplies a week, and patients in aid's
care (beds). The harm gradient says how many deaths one more unit of each averts in each
province-week, counting deaths to the end of the outlook (`epidemic.outlook_weeks`, the
counted window), the aid after the horizon following `epidemic.after_horizon` (stopping, held
at the last week's level, or tapering) and vaccine courses given as `epidemic.vaccination`
says. It comes from one forward and one adjoint integration
(`models.adjoint`), whatever the number of provinces and weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from models.adjoint import carry_weeks, deaths_gradient, gradient_along, keep_dense
from models.seir import (
    AID,
    ASY,
    AWAIT,
    DETECTIONS,
    DISCHARGES,
    ONSETS,
    PRE,
    QA,
    QPRE,
    H,
    I,
    Model,
    Q,
    SEIRParameters,
    Trajectory,
    per_draw,
    reproduction_number,
    weekly_to_daily,
)
from optimiser.inputs import Scenario

AID_UNITS = {"tests": "tests/week", "isolation": "person-days/week",
             "hospital": "patient-days/week", "care": "patients"}  # fmt: skip
PER_DAY = np.array([7.0, 7.0, 7.0, 1.0])
"""The model takes capacities a day (tests) or at a moment (persons): weekly units over this."""

EARTH_RADIUS_KM = 6371.0
GRADIENT_RTOL = 1e-4
"""Tolerance of the adjoint pass: on the default scenario, under a plan, its gradient is within
3e-4 of its largest entry of the gradient at 1e-6, in a third of the time (measured)."""


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


def seir_parameters(scenario: Scenario) -> SEIRParameters:
    """The model's parameters from the scenario's `epidemic` block and provinces' care capacity."""
    epi, testing = scenario.epidemic, scenario.config.demand.testing
    population = np.array([p.population for p in scenario.provinces], dtype=float)
    beds = np.array([p.hospital_beds for p in scenario.provinces], dtype=float)
    vaccine = epi.vaccination
    doctors = np.array([p.doctors for p in scenario.provinces], dtype=float)
    capacity = np.minimum(
        beds * epi.domestic_beds_share, doctors * epi.domestic_patients_per_doctor
    )
    return SEIRParameters(
        r0=epi.r0,
        latent_days=epi.latent_days,
        infectious_days=epi.infectious_days,
        hospital_share=epi.hospital_share,
        stay_days=epi.stay_days,
        fatality_no_care=epi.fatality_no_care,
        fatality_care=epi.fatality_care,
        detection_base_per_day=epi.detection_base_per_day,
        detection_max_per_day=epi.detection_max_per_day,
        presymptomatic_days=epi.presymptomatic_days,
        asymptomatic_share=epi.asymptomatic_share,
        asymptomatic_relative_infectiousness=epi.asymptomatic_relative_infectiousness,
        tracing_relative_rate=epi.tracing_relative_rate,
        test_turnaround_days=epi.test_turnaround_days,
        isolation_efficacy=epi.isolation_efficacy,
        isolation_efficacy_no_ipc=epi.isolation_efficacy_no_ipc,
        domestic_care_share=epi.domestic_care_share,
        domestic_care_capacity=capacity[None, :],
        background_suspects_per_day=(
            testing.background_suspects_per_1000_per_week * population / 1000.0 / 7.0
        )[None, :],
        vaccine_efficacy_infection=0.0 if vaccine is None else vaccine.efficacy_infection,
        vaccine_efficacy_death=0.0 if vaccine is None else vaccine.efficacy_death,
    )


def vaccination_per_day(scenario: Scenario, n_days: int) -> np.ndarray | None:
    """(days,) vaccine courses a person a day from the scenario's deliveries, pro rata to
    population (the same rate everywhere); doses due before start_date are left out. None
    without vaccination."""
    vaccine = scenario.epidemic.vaccination
    if vaccine is None:
        return None
    people = float(sum(p.population for p in scenario.provinces))
    rate = np.zeros(n_days)
    for delivery in vaccine.deliveries:
        first = (delivery.from_ - scenario.config.start_date).days
        days = 7 * delivery.weeks
        span = slice(max(first, 0), max(min(first + days, n_days), 0))
        rate[span] += delivery.doses / days / vaccine.doses_per_course / people
    return rate


@dataclass(frozen=True)
class EpidemicSetup:
    """Everything the SEIR model needs from a scenario, ready to integrate."""

    model: Model
    initial_exposed: np.ndarray
    reduction_steps: tuple[tuple[int, float], ...]
    """(first day, share of contacts removed) of each step of the schedule, in order"""
    n_weeks: int
    """weeks of the plan: aid acts in these"""
    outlook_weeks: int
    """weeks the epidemic is followed, from the start"""
    contact_draws: np.ndarray | None = None
    """(B, days, P) one minus the contact reduction over the outlook, one row per draw, where
    the draws' schedules differ (`stack`); None: `reduction_steps` for every draw"""
    carry: tuple[float, ...] = ()
    """share of the last plan week's aid held in each week from the horizon to the end of the
    outlook (`epidemic.after_horizon`); () or zeros: aid stops at the horizon"""
    vaccination: np.ndarray | None = None
    """(days,) or (B, days) vaccine courses a person a day over the outlook; None: no vaccine"""

    @property
    def params(self) -> SEIRParameters:
        return self.model.params

    @property
    def population(self) -> np.ndarray:
        return self.model.population

    @property
    def mixing(self) -> np.ndarray:
        return self.model.mixing

    @property
    def n_days(self) -> int:
        """Days followed: the whole outlook."""
        return 7 * self.outlook_weeks

    @property
    def n_draws(self) -> int:
        return self.model.n_draws

    @property
    def outlook_contact(self) -> np.ndarray:
        """(days, P) or (B, days, P): one minus the contact reduction over the outlook."""
        if self.contact_draws is not None:
            return self.contact_draws
        return self.contact_for(self.n_days)

    def contact_for(self, n_days: int) -> np.ndarray:
        """(days, P) one minus the contact reduction in force each day, for any span."""
        factor = np.ones(n_days)
        for first_day, reduction in self.reduction_steps:
            factor[max(first_day, 0) :] = 1.0 - reduction
        return np.repeat(factor[:, None], self.population.size, axis=1)

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, draws: SEIRParameters | None = None
    ) -> EpidemicSetup:
        """The scenario's epidemic, or, with `draws`, the same with per-draw parameters."""
        epi = scenario.epidemic
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
        seeds = epi.initial_infections or {}
        after = epi.outlook_weeks - scenario.n_weeks
        return cls(
            model=Model.build(draws or seir_parameters(scenario), population, mixing),
            initial_exposed=epi.initial_infections_factor * np.array(
                [seeds.get(p.id, p.initial_infections) for p in scenario.provinces]
            ),
            reduction_steps=steps,
            n_weeks=scenario.n_weeks,
            outlook_weeks=epi.outlook_weeks,
            carry=epi.after_horizon.shares(after),
            vaccination=vaccination_per_day(scenario, 7 * epi.outlook_weeks),
        )

    @property
    def carries(self) -> bool:
        """Whether any aid goes on past the horizon."""
        return any(share > 0 for share in self.carry)

    @property
    def split_weeks(self) -> int:
        """Weeks over which integrations are split weekly: the plan's, and those after it in
        which the carried share of aid changes (for the adjoint's weekly books)."""
        return self.n_weeks + (carry_weeks(self.carry) if self.carries else 0)

    def outlook_aid(self, aid: np.ndarray) -> np.ndarray:
        """Weekly aid (..., capacity, P, W) of the plan -> (..., capacity, P, outlook weeks):
        after the horizon, the last plan week's scaled by `carry`."""
        aid = np.asarray(aid, dtype=float)
        after = self.outlook_weeks - aid.shape[-1]
        if after <= 0 or not self.carries:
            return aid
        shares = np.asarray(self.carry, dtype=float)[:after]
        shares = np.concatenate([shares, np.full(after - shares.size, shares[-1])])
        return np.concatenate([aid, aid[..., -1:] * shares], axis=-1)

    def _aid(self, aid: np.ndarray | None) -> np.ndarray | None:
        """Weekly aid (..., capacity, P, W) in AID_UNITS -> daily model inputs over the outlook,
        carried past week W as `carry` says."""
        if aid is None:
            return None
        per_day = self.outlook_aid(aid) / PER_DAY[:, None, None]
        return weekly_to_daily(per_day, self.n_days)

    @property
    def _carry(self) -> np.ndarray | None:
        return np.asarray(self.carry, dtype=float) if self.carries else None

    def simulate(self, aid: np.ndarray | None = None, rtol: float = 1e-6) -> np.ndarray:
        """States per (draw, state, province, day) over the outlook under weekly aid
        (capacity, P, W) or (B, capacity, P, W), carried past the horizon as `carry` says."""
        return self.model.integrate(self.initial_exposed, self.n_days, self.outlook_contact,
                                    self._aid(aid), rtol=rtol, atol=1e-6,
                                    vaccination=self.vaccination)  # fmt: skip

    def run(self, aid: np.ndarray | None = None) -> Trajectory:
        """One integration at the reporting tolerance, kept so that `gradient_at` can go back
        along it without integrating forward again."""
        return self.model.trajectory(self.initial_exposed, self.n_days, self.outlook_contact,
                                     self._aid(aid), weeks=self.split_weeks,
                                     dense=keep_dense(self.model, self.n_days),
                                     vaccination=self.vaccination)  # fmt: skip

    def gradient_at(self, forward: Trajectory) -> np.ndarray:
        """Deaths averted per unit of each capacity in AID_UNITS, (B, capacity, P, W), along an
        integration from `run`; a last week's unit counts with what it carries past the
        horizon."""
        gradient = gradient_along(self.model, forward, self.n_weeks, GRADIENT_RTOL, 1e-6,
                                  self._carry)  # fmt: skip
        return -gradient / PER_DAY[None, :, None, None]

    def harm_gradient(self, aid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """States, and deaths averted (by the end of the outlook) per unit of each capacity in
        AID_UNITS in each plan week, (B, capacity, P, W)."""
        people, gradient = deaths_gradient(
            self.model, self.initial_exposed, self.n_days, self.outlook_contact, self._aid(aid),
            weeks=self.n_weeks, rtol=GRADIENT_RTOL, atol=1e-6, vaccination=self.vaccination,
            carry=self._carry,
        )  # fmt: skip
        return people, -gradient / PER_DAY[None, :, None, None]

    def loads(self, people: np.ndarray, draw: int = 0) -> np.ndarray:
        """(capacity, P, W) what each capacity would have to be to serve the whole epidemic of
        one trajectory (state, P, day) of draw `draw`, in AID_UNITS: suspects a week, isolated
        person-days, hospital patient-days, mean hospital patients."""
        n_w = self.n_weeks
        background = per_draw(self.params.background_suspects_per_day, self.n_draws,
                              self.population.size)[draw]  # fmt: skip
        return np.stack([
            weekly_flow(people[ONSETS], n_w) + 7.0 * background[:, None],
            weekly_integral(people[QPRE] + people[Q] + people[QA], n_w),
            weekly_integral(people[H], n_w),
            weekly_integral(people[H], n_w) / 7.0,
        ])  # fmt: skip

    def reproduction_numbers(self) -> dict[str, dict[str, float]]:
        """R from the next-generation matrix with no aid and with full aid (every suspected case
        tested, every isolated person and patient with IPC supplies), at the start and under the
        last contact-reduction step."""
        contact = {"start": 1.0}
        if self.reduction_steps:
            contact["after_last_reduction"] = 1.0 - self.reduction_steps[-1][1]
        return {
            name: {
                when: reproduction_number(
                    self.params, self.population, self.mixing, factor, full_aid=full
                )  # fmt: skip
                for when, factor in contact.items()
            }
            for name, full in (("no_aid", False), ("full_aid", True))
        }


def stack(setups: Sequence[EpidemicSetup]) -> EpidemicSetup:
    """Many set-ups of the same provinces as one, their draws side by side: one integration
    runs them all, sharing its steps. They must share population, mixing and windows; the
    parameters, seeds and contact schedules may differ."""
    first, n_p = setups[0], setups[0].population.size
    for setup in setups[1:]:
        for what, a, b in (("population", setup.population, first.population),
                           ("mixing", setup.mixing, first.mixing),
                           ("plan weeks", setup.n_weeks, first.n_weeks),
                           ("outlook_weeks", setup.outlook_weeks, first.outlook_weeks),
                           ("aid after the horizon", setup.carry, first.carry)):  # fmt: skip
            if not np.array_equal(a, b):
                raise ValueError(f"draws must share the {what}; one draw changes it")  # fmt: skip
    params = SEIRParameters(**{
        f.name: np.concatenate([per_draw(getattr(s.params, f.name), s.n_draws, n_p)
                                for s in setups])
        for f in fields(SEIRParameters)
    })  # fmt: skip
    n_draws = sum(s.n_draws for s in setups)
    exposed = np.concatenate([np.broadcast_to(s.initial_exposed, (s.n_draws, n_p)) for s in setups])
    contact = np.concatenate([
        np.broadcast_to(s.outlook_contact, (s.n_draws, first.n_days, n_p)) for s in setups
    ])  # fmt: skip
    vaccination = None
    if any(s.vaccination is not None for s in setups):
        vaccination = np.concatenate([
            np.broadcast_to(np.zeros(first.n_days) if s.vaccination is None else s.vaccination,
                            (s.n_draws, first.n_days)) for s in setups
        ])  # fmt: skip
    return replace(first, model=Model.build(params, first.population, first.mixing, n_draws),
                   initial_exposed=exposed, contact_draws=contact,
                   vaccination=vaccination)  # fmt: skip


def weekly_integral(daily: np.ndarray, n_weeks: int) -> np.ndarray:
    """Integrate daily snapshots (..., >= 7W + 1) over each week by the trapezoid rule:
    -> (..., W)."""
    mid = 0.5 * (daily[..., 1:] + daily[..., :-1])
    return mid[..., : 7 * n_weeks].reshape(*daily.shape[:-1], n_weeks, 7).sum(axis=-1)


def weekly_flow(running_total: np.ndarray, n_weeks: int) -> np.ndarray:
    """Weekly increments of a running total sampled daily (..., days + 1) -> (..., W)."""
    return np.diff(running_total[..., : 7 * n_weeks + 1 : 7], axis=-1)


@dataclass(frozen=True)
class Drivers:
    """What drives need, per province and week, from one epidemic trajectory. Arrays are (P, W)
    unless noted; flows are persons per week, person-days are summed over the week."""

    population: np.ndarray  # (P,) persons
    symptomatic_onsets: np.ndarray  # new symptomatic COVID-19 cases (all, detected or not)
    detected: np.ndarray  # new cases confirmed by a test (these are isolated)
    isolated_days: np.ndarray  # person-days in isolation of detected cases
    hospital_days: np.ndarray  # patient-days in hospital (severe and critical together)
    peak_hospital: np.ndarray  # most patients in hospital on any day of the week
    discharges_alive: np.ndarray  # hospital patients leaving alive
    prevalence: np.ndarray  # mean share of the population infectious in the week [1]


def drivers_from_trajectory(people: np.ndarray, population: np.ndarray, n_weeks: int) -> Drivers:
    """Weekly drivers of the first `n_weeks` weeks from one (state, province, day) trajectory."""
    hospital = people[H, :, : 7 * n_weeks + 1]
    in_community = people[PRE] + people[ASY] + people[I] + people[AWAIT]
    return Drivers(
        population=population,
        symptomatic_onsets=weekly_flow(people[ONSETS], n_weeks),
        detected=weekly_flow(people[DETECTIONS], n_weeks),
        isolated_days=weekly_integral(people[QPRE] + people[Q] + people[QA], n_weeks),
        hospital_days=weekly_integral(people[H], n_weeks),
        peak_hospital=np.stack(
            [hospital[:, 7 * w : 7 * w + 8].max(axis=1) for w in range(n_weeks)], axis=1
        ),
        discharges_alive=weekly_flow(people[DISCHARGES], n_weeks),
        prevalence=weekly_integral(in_community, n_weeks) / 7.0 / population[:, None],
    )


def aid_coverage(aid: np.ndarray, loads: np.ndarray) -> np.ndarray:
    """(capacity, P, W) share of each load the aid covers, 1 where there is no load."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(loads > 0, np.minimum(1.0, aid / loads), 1.0)


__all__ = ["AID", "AID_UNITS", "Drivers", "EpidemicSetup", "drivers_from_trajectory",
           "gravity_mixing"]  # fmt: skip
