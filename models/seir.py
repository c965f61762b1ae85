"""Metapopulation SEIR model with presymptomatic and asymptomatic spread, testing, isolation,
hospital care and deaths; and its next-generation matrix. Its adjoint is in `models/adjoint.py`.

Compartments per province (persons):

    S   susceptible
    E   exposed: infected, not yet infectious
    P   presymptomatic: infectious, symptoms to come
    A   asymptomatic: infectious, never symptomatic
    I   symptomatic in the community
    T   symptomatic, tested, awaiting the result (still in the community)
    QP  presymptomatic contacts isolated by tracing
    Q   isolated symptomatic cases
    QA  asymptomatic contacts isolated by tracing
    H   in hospital
    R   recovered
    D   dead
    V   vaccinated and protected against death: infected only at a reduced rate, and then a
        mild case (into A: infectious as an asymptomatic case, never in hospital)

and four running totals since day 0 (persons): symptomatic onsets in the community, detections,
hospital admissions and discharges alive, from which the demand step reads weekly flows.

Flows per day (a = asymptomatic share, rho their relative infectiousness)::

    S -> E        beta(t) S_p sum_q M_pq X_q / N_q, the infectious pressure
                  X = P + I + T + rho A + leak_Q (QP + Q + rho QA) + leak_H H
    E -> P | A    E / latent_days, a share a to A  (straight to I when presymptomatic_days = 0)
    P -> I        P / presymptomatic_days, and QP -> Q likewise
    I -> T        delta I                          (straight to Q when test_turnaround_days = 0)
    T -> Q        T / test_turnaround_days
    P -> QP, A -> QA   tracing_relative_rate * delta * P (or A)
    I, T, Q -> H | R   at 1 / infectious_days, a share hospital_share to H
    A, QA -> R    at 1 / (presymptomatic_days + infectious_days)
    H -> D | R    H / stay_days, a share fatality dies
    S -> V        nu(t) e_death S: nu courses a person a day (the campaign's doses spread over
                  everyone alive, so doses to the infected and recovered are spent on them),
                  e_death the share of courses that protect against death
    V -> A        (1 - e_infection / e_death) times S's infection rate, so that a course cuts a
                  person's chance of infection by e_infection and of death by e_death (all or
                  nothing against death, leaky against infection among the protected)

Aid acts through four capacities per province and day (`AID`), each compared with the load the
epidemic itself puts on it at that moment, so that supplies spread thinner as cases grow:

* tests a day: the share of suspected cases tested is sat(tests / suspects), suspects being
  the symptomatic onsets plus the background of other fevers (so test positivity rises with
  prevalence), and detection = base + (max - base) x that share;
* isolated people with infection prevention and control (IPC) supplies: their share s of those
  isolated (QP + Q + QA), s = sat(supplied / isolated), raises isolation efficacy:
  leak_Q = 1 - e_no_ipc - (e - e_no_ipc) s;
* hospital patients with IPC supplies: likewise for leak_H on H;
* patients with aid's care (oxygen beds, medical teams): fatality = f_no_care - (f_no_care -
  f_care) sat(dom(H) + care / H), where the domestic system covers
  dom(H) = domestic_care_share * sat(capacity / H).

sat(x) is a smooth min(1, x) (`saturate`).

`r0` is beta times the mean infectious person-days of a case left in the community: the
reproduction number before detection, isolation and contact reduction. `reproduction_number`
gives the model's own from its next-generation matrix. With no aid, presymptomatic_days,
asymptomatic_share and test_turnaround_days 0, both isolation efficacies 1 and no domestic care,
this is the plain S-E-I-Q-H-R-D model.

The linear flows form one sparse matrix (detection's flows another, scaled by the detection rate
of their source), so the right-hand side is two sparse products plus the nonlinear terms. Every
parameter broadcasts over a leading *draw* axis: many parameter sets integrate in one `solve_ivp`
call and share its steps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import xarray as xr
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp

COMPARTMENTS = ("S", "E", "P", "A", "I", "T", "QP", "Q", "QA", "H", "R", "D", "V")
COUNTERS = ("onsets", "detections", "admissions", "discharges")
STATES = COMPARTMENTS + COUNTERS
(S, E, PRE, ASY, I, AWAIT, QPRE, Q, QA, H, R, D, V,
 ONSETS, DETECTIONS, ADMISSIONS, DISCHARGES) = range(len(STATES))  # fmt: skip
INFECTED = (E, PRE, ASY, I, AWAIT, QPRE, Q, QA, H)
"""Compartments of the infected, in the order of the next-generation matrix."""
AID = ("tests", "isolation", "hospital", "care")
"""Aid's capacities: tests a day; isolated people and hospital patients with IPC supplies;
patients with aid's care [persons]."""
TESTS, ISOLATION, HOSPITAL, CARE = range(len(AID))
TINY = 1e-12
"""Floor of a denominator [persons], so that no share is 0 / 0."""
LOAD_FLOOR = 1e-3
"""Floor of the loads capacities are measured against [persons]: a thousandth of a person, so
that once an epidemic has gone from a province (its compartments round-off around 0) the
derivative of a share in its capacity, 1 / load, stays bounded. At 1e-12 the adjoint gave
-14,606 deaths per unit of aid held past the horizon where whole runs give +0.04 (measured)."""
SHARPNESS = 4.0
"""How sharply a capacity saturates (see `saturate`)."""


def saturate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The share of a load a capacity serves, x = capacity / load, and its derivative:
    x / (1 + x^n)^(1/n), n = SHARPNESS. It is x while capacity is scarce and 1 once it is
    ample, and bends between (0.84 at x = 1): within a province the load is uneven, so some
    places run short before the total does. A hard min(1, x) has a kink that the adaptive
    integrator steps across, and its gradient came out 6 % wrong at a tolerance of 1e-5
    (measured); this one is smooth. Written for speed on small arrays (it runs in every
    right-hand side): each power once, no division by zero to guard against."""
    n = SHARPNESS
    x = np.maximum(x, 0.0)
    small = x <= 1.0
    y = np.where(small, x, 1.0 / np.maximum(x, 1.0))  # in [0, 1] either way
    base = 1.0 + y**n
    root = base ** (-1.0 / n)
    steep = base ** (-1.0 / n - 1.0)
    return np.where(small, x * root, root), np.where(small, steep, y ** (n + 1.0) * steep)


@dataclass(frozen=True)
class SEIRParameters:
    """Epidemiological parameters; each may be a scalar, one value per draw ``(B,)``,
    or one per draw and province ``(B, P)``. Defaults give the plain S-E-I-Q-H-R-D model."""

    r0: ArrayLike
    """reproduction number in the community before detection and isolation [1]"""
    latent_days: ArrayLike
    """mean time from infection to infectiousness [d]"""
    infectious_days: ArrayLike
    """mean infectious period after symptom onset [d]"""
    hospital_share: ArrayLike
    """share of symptomatic cases that need hospital care [1]"""
    stay_days: ArrayLike
    """mean length of hospital stay [d]"""
    fatality_no_care: ArrayLike
    """share of hospitalised cases that die without adequate care [1]"""
    fatality_care: ArrayLike
    """share of hospitalised cases that die with adequate care [1]"""
    detection_base_per_day: ArrayLike
    """detection rate of symptomatic cases with no testing aid [1/d]"""
    detection_max_per_day: ArrayLike
    """detection rate of symptomatic cases when every suspected case can be tested [1/d]"""
    presymptomatic_days: ArrayLike = 0.0
    """mean infectious time before symptom onset [d]"""
    asymptomatic_share: ArrayLike = 0.0
    """share of infections that never show symptoms [1]"""
    asymptomatic_relative_infectiousness: ArrayLike = 1.0
    """infectiousness of asymptomatic against symptomatic cases [1]"""
    tracing_relative_rate: ArrayLike = 0.0
    """detection rate of presymptomatic and asymptomatic cases through contact tracing, as a
    share of the symptomatic detection rate [1]"""
    test_turnaround_days: ArrayLike = 0.0
    """mean time from test to result, and so to isolation [d]"""
    isolation_efficacy: ArrayLike = 1.0
    """share of onward transmission isolation and hospital stop with IPC supplies [1]"""
    isolation_efficacy_no_ipc: ArrayLike = 1.0
    """the same share without them [1]"""
    domestic_care_share: ArrayLike = 0.0
    """share of the care lever the domestic system provides within its capacity [1]"""
    domestic_care_capacity: ArrayLike = np.inf
    """hospital patients the domestic system can care for, per province [persons]"""
    background_suspects_per_day: ArrayLike = 0.0
    """people with other fevers who are suspected cases, per province [persons/d]"""
    vaccine_efficacy_infection: ArrayLike = 0.0
    """share by which a vaccine course cuts a person's chance of infection [1]"""
    vaccine_efficacy_death: ArrayLike = 0.0
    """share by which it cuts a person's chance of death; at least the one against infection
    [1]"""


def per_draw(value: ArrayLike, n_draws: int, n_provinces: int) -> np.ndarray:
    """Broadcast a scalar, (B,) or (B, P) parameter to a contiguous (B, P) array."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    return np.ascontiguousarray(np.broadcast_to(arr, (n_draws, n_provinces)))


def weekly_to_daily(weekly: ArrayLike, n_days: int) -> np.ndarray:
    """Hold each week's value for its seven days, zero after the last week:
    (..., P, W) -> (..., n_days, P)."""
    arr = np.asarray(weekly, dtype=float)
    padded = np.concatenate([arr, np.zeros((*arr.shape[:-1], 1))], axis=-1)
    day_week = np.minimum(np.arange(n_days) // 7, arr.shape[-1])
    return np.swapaxes(padded[..., day_week], -1, -2)


@dataclass(frozen=True)
class Rates:
    """Rates per (draw, province), derived once from the parameters; each (B, P)."""

    sigma: np.ndarray
    to_pre: np.ndarray  # share of E's outflow entering P
    to_sym: np.ndarray  # share entering I at once (no presymptomatic stage)
    to_asy: np.ndarray
    phi: np.ndarray  # P -> I and QP -> Q
    gamma: np.ndarray  # end of symptomatic infectiousness
    gamma_a: np.ndarray  # end of asymptomatic infectiousness
    rho: np.ndarray
    tau: np.ndarray  # tracing rate relative to detection
    awaits: np.ndarray  # 1 where results take time (I -> T), 0 where isolation is at once
    kappa: np.ndarray  # T -> Q
    hosp: np.ndarray
    mu: np.ndarray  # 1 / stay
    f_no: np.ndarray
    f_spread: np.ndarray  # f_no - f_care
    dom_share: np.ndarray
    dom_capacity: np.ndarray
    beta0: np.ndarray
    det_base: np.ndarray
    det_spread: np.ndarray  # detection_max - detection_base
    leak_no_ipc: np.ndarray  # 1 - efficacy without IPC
    leak_spread: np.ndarray  # efficacy - efficacy_no_ipc: what IPC removes from the leak
    background: np.ndarray  # suspects a day with other fevers
    vaccine_protects: np.ndarray  # share of courses protecting against death (S -> V)
    vaccinated_infection: np.ndarray  # infection rate of V relative to S

    @classmethod
    def of(cls, params: SEIRParameters, n_draws: int, n_provinces: int) -> Rates:
        p = {f.name: per_draw(getattr(params, f.name), n_draws, n_provinces)
             for f in fields(params)}  # fmt: skip
        pre, sym, a = p["presymptomatic_days"], p["infectious_days"], p["asymptomatic_share"]
        turnaround = p["test_turnaround_days"]
        rho = p["asymptomatic_relative_infectiousness"]
        has_pre, awaits = pre > 0, turnaround > 0
        # Of the courses protecting against death (all or nothing), the share that protects
        # against infection too, so that infection falls by efficacy_infection overall.
        protected_from_infection = p["vaccine_efficacy_infection"] / np.maximum(
            p["vaccine_efficacy_death"], TINY
        )
        return cls(
            sigma=1.0 / p["latent_days"],
            to_pre=np.where(has_pre, 1.0 - a, 0.0),
            to_sym=np.where(has_pre, 0.0, 1.0 - a),
            to_asy=a,
            phi=np.where(has_pre, 1.0 / np.where(has_pre, pre, 1.0), 0.0),
            gamma=1.0 / sym,
            gamma_a=1.0 / (pre + sym),
            rho=rho,
            tau=p["tracing_relative_rate"],
            awaits=awaits.astype(float),
            kappa=np.where(awaits, 1.0 / np.where(awaits, turnaround, 1.0), 0.0),
            hosp=p["hospital_share"],
            mu=1.0 / p["stay_days"],
            f_no=p["fatality_no_care"],
            f_spread=p["fatality_no_care"] - p["fatality_care"],
            dom_share=p["domestic_care_share"],
            dom_capacity=p["domestic_care_capacity"],
            # Infectious person-days of a case in the community, before detection or isolation.
            beta0=p["r0"] / ((pre + sym) * (1.0 - a + a * rho)),
            det_base=p["detection_base_per_day"],
            det_spread=p["detection_max_per_day"] - p["detection_base_per_day"],
            leak_no_ipc=1.0 - p["isolation_efficacy_no_ipc"],
            leak_spread=p["isolation_efficacy"] - p["isolation_efficacy_no_ipc"],
            background=p["background_suspects_per_day"],
            vaccine_protects=p["vaccine_efficacy_death"],
            vaccinated_infection=np.clip(1.0 - protected_from_infection, 0.0, 1.0),
        )


def linear_flows(k: Rates, detection: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """Every linear flow (from, to, rate per day (B, P)) at detection rates `detection`."""
    traced = k.tau * detection
    return [
        (E, PRE, k.sigma * k.to_pre),
        (E, I, k.sigma * k.to_sym),
        (E, ASY, k.sigma * k.to_asy),
        (PRE, I, k.phi),
        (PRE, QPRE, traced),
        (QPRE, Q, k.phi),
        (ASY, R, k.gamma_a),
        (ASY, QA, traced),
        (QA, R, k.gamma_a),
        (I, AWAIT, detection * k.awaits),
        (I, Q, detection * (1.0 - k.awaits)),
        (AWAIT, Q, k.kappa),
        *[(c, H, k.gamma * k.hosp) for c in (I, AWAIT, Q)],
        *[(c, R, k.gamma * (1.0 - k.hosp)) for c in (I, AWAIT, Q)],
        (H, R, k.mu),  # the deaths among them are moved R -> D by the nonlinear term
    ]


COUNTED = {
    ONSETS: [(E, I), (PRE, I)],
    DETECTIONS: [(PRE, QPRE), (ASY, QA), (I, AWAIT), (I, Q)],
    ADMISSIONS: [(I, H), (AWAIT, H), (Q, H)],
    DISCHARGES: [(H, R)],
}
"""Running totals: which flows each one counts."""


def linear_matrix(k: Rates, detection: np.ndarray) -> sp.csr_matrix:
    """The linear flows at detection rates (B, P) as a sparse matrix over the flat state
    (state-major, then draw, then province)."""
    n = k.sigma.size
    counted = {flow: total for total, flows in COUNTED.items() for flow in flows}
    rows, cols, vals = [], [], []
    cells = np.arange(n)
    for src, dst, rate in linear_flows(k, detection):
        rate = np.broadcast_to(rate, k.sigma.shape).ravel()
        rows += [src * n + cells, dst * n + cells]
        cols += [src * n + cells] * 2
        vals += [-rate, rate]
        if (src, dst) in counted:
            rows.append(counted[(src, dst)] * n + cells)
            cols.append(src * n + cells)
            vals.append(rate)
    size = len(STATES) * n
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )


class Loads(NamedTuple):
    """What the aid capacities are measured against at one state, the shares they cover, and
    the slopes of those shares in their argument; each (B, P)."""

    suspects: np.ndarray
    tested: np.ndarray  # share of suspects tested
    tested_slope: np.ndarray
    detection: np.ndarray
    isolated: np.ndarray  # QP + Q + QA (floored)
    protected_isolated: np.ndarray  # share with IPC supplies
    isolated_slope: np.ndarray
    patients: np.ndarray  # H (floored)
    protected_patients: np.ndarray  # share of H with IPC supplies
    patients_slope: np.ndarray
    leak_isolated: np.ndarray
    leak_hospital: np.ndarray
    domestic: np.ndarray  # share of the care lever domestic hospitals cover
    domestic_slope: np.ndarray  # slope of sat(capacity / H)
    covered: np.ndarray  # share of patients with adequate care
    covered_slope: np.ndarray


def loads(y: np.ndarray, k: Rates, aid: np.ndarray) -> Loads:
    """Shares the capacities `aid` (4, B, P) cover at state y (states, B, P)."""
    suspects = np.maximum(k.phi * y[PRE] + k.sigma * k.to_sym * y[E] + k.background, LOAD_FLOOR)
    isolated = np.maximum(y[QPRE] + y[Q] + y[QA], LOAD_FLOOR)
    patients = np.maximum(y[H], LOAD_FLOOR)
    # The four shares that do not depend on each other saturate in one call (small arrays:
    # the calls, not the arithmetic, cost the time).
    ratios = np.empty((4, *patients.shape))
    np.divide(aid[TESTS], suspects, out=ratios[0])
    np.divide(aid[ISOLATION], isolated, out=ratios[1])
    np.divide(aid[HOSPITAL], patients, out=ratios[2])
    np.divide(k.dom_capacity, patients, out=ratios[3])
    shares, slopes = saturate(ratios)
    tested, protected_isolated, protected_patients, within = shares
    domestic = k.dom_share * within
    covered, covered_slope = saturate(domestic + aid[CARE] / patients)
    return Loads(
        suspects, tested, slopes[0], k.det_base + k.det_spread * tested, isolated,
        protected_isolated, slopes[1], patients, protected_patients, slopes[2],
        k.leak_no_ipc - k.leak_spread * protected_isolated,
        k.leak_no_ipc - k.leak_spread * protected_patients, domestic, slopes[3], covered,
        covered_slope,
    )  # fmt: skip


def pressure(y: np.ndarray, k: Rates, ld: Loads) -> np.ndarray:
    """X: infectious person-equivalents per (draw, province)."""
    return (
        y[PRE]
        + y[I]
        + y[AWAIT]
        + k.rho * y[ASY]
        + ld.leak_isolated * (y[QPRE] + y[Q] + k.rho * y[QA])
        + ld.leak_hospital * y[H]
    )


@dataclass(frozen=True)
class Segment:
    """The right-hand side's inputs over days [start, stop), where they are constant."""

    start: int
    stop: int
    beta: np.ndarray  # (B, P)
    aid: np.ndarray  # (4, B, P)
    vaccination: np.ndarray | float = 0.0  # (B, 1) courses a person a day, or a scalar


def _rhs(_t, y, model: Model, seg: Segment):
    k, shape = model.rates, model.shape
    y3 = y.reshape(shape)
    ld = loads(y3, k, seg.aid)
    dy = model.base_matrix @ y + model.detection_matrix @ (y3 * ld.detection).ravel()
    d3 = dy.reshape(shape)
    foi = seg.beta * ((pressure(y3, k, ld) * model.inv_population) @ model.mixing_t)
    infections = foi * y3[S]
    deaths = (k.f_no - k.f_spread * ld.covered) * k.mu * y3[H]
    d3[S] -= infections
    d3[E] += infections
    if model.vaccinates:
        vaccinated = seg.vaccination * k.vaccine_protects * y3[S]
        breakthrough = foi * k.vaccinated_infection * y3[V]
        d3[S] -= vaccinated
        d3[V] += vaccinated - breakthrough
        d3[ASY] += breakthrough
    d3[R] -= deaths
    d3[D] += deaths
    d3[DISCHARGES] -= deaths
    return dy


@dataclass(frozen=True)
class Model:
    """A parameter set bound to its provinces and mixing, ready to integrate many times."""

    params: SEIRParameters
    population: np.ndarray
    mixing: np.ndarray
    n_draws: int
    rates: Rates
    base_matrix: sp.csr_matrix
    """linear flows with no detection"""
    detection_matrix: sp.csr_matrix
    """the flows detection drives, per unit of detection rate of their source"""

    @classmethod
    def build(cls, params: SEIRParameters, population: ArrayLike, mixing: ArrayLike | None = None,
              n_draws: int | None = None) -> Model:  # fmt: skip
        population = np.asarray(population, dtype=float)
        n_p = population.size
        if n_draws is None:
            n_draws = max([1] + [np.shape(getattr(params, f.name))[0] for f in fields(params)
                                 if np.ndim(getattr(params, f.name)) >= 1])  # fmt: skip
        mixing = np.eye(n_p) if mixing is None else np.asarray(mixing, dtype=float)
        rates = Rates.of(params, n_draws, n_p)
        base = linear_matrix(rates, np.zeros((n_draws, n_p)))
        detection = (linear_matrix(rates, np.ones((n_draws, n_p))) - base).tocsr()
        return cls(params, population, mixing, n_draws, rates, base, detection)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(STATES), self.n_draws, self.population.size)

    @property
    def mixing_t(self) -> np.ndarray:
        return self.mixing.T

    @cached_property
    def vaccinates(self) -> bool:
        """Whether any course protects: else V stays empty and its terms are skipped."""
        return bool(np.any(self.rates.vaccine_protects > 0))

    @cached_property
    def inv_population(self) -> np.ndarray:
        return 1.0 / self.population

    def initial_state(self, initial_exposed: ArrayLike) -> np.ndarray:
        y = np.zeros(self.shape)
        exposed = np.broadcast_to(np.asarray(initial_exposed, dtype=float), self.shape[1:])
        y[S] = self.population - exposed
        y[E] = exposed
        return y

    def segments(self, n_days: int, contact=None, aid=None, weeks: int = 0,
                 vaccination=None) -> list[Segment]:  # fmt: skip
        """Spans of constant input, so that the adaptive step never straddles a jump, split at
        the start of each of the first `weeks` weeks too (for the adjoint's weekly books).
        `contact` (days, P) or (B, days, P), one minus the contact reduction; `aid` (4, days, P)
        or (B, 4, days, P) capacities as in AID; `vaccination` (days,) or (B, days) courses a
        person a day."""
        n_b, n_p = self.shape[1:]
        daily = np.zeros((n_b, len(AID), n_days, n_p))
        if aid is not None:
            daily = np.broadcast_to(np.asarray(aid, dtype=float), daily.shape)
        factor = np.ones(()) if contact is None else np.asarray(contact, dtype=float)
        if factor.ndim == 2:
            factor = factor[None]
        beta = self.rates.beta0[:, None, :] * np.broadcast_to(factor, (n_b, n_days, n_p))
        inputs = np.concatenate([beta[:, None], daily], axis=1)
        changes = np.flatnonzero(np.any(inputs[..., 1:, :] != inputs[..., :-1, :],
                                        axis=(0, 1, 3))) + 1  # fmt: skip
        # Split at the end of the last of those weeks too: what follows is not that week's.
        weekly = np.arange(0, min(n_days, 7 * weeks + 1), 7)
        nu = np.zeros((n_b, n_days))
        if vaccination is not None:
            nu = np.broadcast_to(np.asarray(vaccination, dtype=float), nu.shape)
        jabs = np.flatnonzero(np.any(nu[:, 1:] != nu[:, :-1], axis=0)) + 1
        bounds = np.union1d(np.concatenate([[0], changes, weekly, jabs]), [n_days])
        return [
            Segment(int(a), int(b), beta[:, a], np.ascontiguousarray(daily[:, :, a].swapaxes(0, 1)),
                    nu[:, a, None].copy())
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]  # fmt: skip

    def integrate(self, initial_exposed, n_days, contact=None, aid=None,
                  rtol=1e-6, atol=1e-6, vaccination=None) -> np.ndarray:  # fmt: skip
        """States per (draw, state, province, day) for days 0..n_days."""
        return self.trajectory(initial_exposed, n_days, contact, aid, 0, rtol, atol,
                               vaccination=vaccination).people  # fmt: skip

    def trajectory(self, initial_exposed, n_days, contact=None, aid=None, weeks: int = 0,
                   rtol=1e-6, atol=1e-6, dense: bool = False, vaccination=None
                   ) -> Trajectory:  # fmt: skip
        """One integration, its segments split weekly over the first `weeks` weeks, and with
        `dense`, each segment's dense solution, for the adjoint to reuse."""
        segments = self.segments(n_days, contact, aid, weeks, vaccination)
        states, solutions = self.forward(segments, initial_exposed, n_days, rtol, atol, dense)
        return Trajectory(states, segments, solutions, initial_exposed, rtol, atol)

    def forward(self, segments, initial_exposed, n_days, rtol, atol, dense=False):
        """(day, state, B, P) states, and each segment's dense solution if asked for."""
        out = np.empty((n_days + 1, *self.shape))
        out[0] = self.initial_state(initial_exposed)
        solutions = []
        for seg in segments:
            sol = solve_ivp(_rhs, (seg.start, seg.stop), out[seg.start].ravel(),
                            t_eval=np.arange(seg.start + 1, seg.stop + 1), rtol=rtol, atol=atol,
                            dense_output=dense, args=(self, seg))  # fmt: skip
            if not sol.success:
                raise RuntimeError(f"SEIR integration failed on days {seg.start}-{seg.stop}: "
                                   f"{sol.message}")  # fmt: skip
            out[seg.start + 1 : seg.stop + 1] = sol.y.T.reshape(-1, *self.shape)
            solutions.append(sol.sol)
        return out, solutions


@dataclass(frozen=True)
class Trajectory:
    """An integration's states (day, state, B, P) and what the adjoint needs to go back."""

    states: np.ndarray
    segments: list[Segment]
    solutions: list  # dense solutions per segment, or None
    initial_exposed: ArrayLike
    rtol: float
    atol: float

    @property
    def people(self) -> np.ndarray:
        """States per (draw, state, province, day)."""
        return self.states.transpose(2, 1, 3, 0)


def integrate(
    params: SEIRParameters,
    population: ArrayLike,
    initial_exposed: ArrayLike,
    n_days: int,
    *,
    mixing: ArrayLike | None = None,
    contact_factor: ArrayLike | None = None,
    aid: ArrayLike | None = None,
    n_draws: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    vaccination: ArrayLike | None = None,
) -> np.ndarray:
    """Integrate the model and return persons per (draw, state, province, day).

    ``population`` (P,) persons; ``initial_exposed`` (P,) or (B, P) persons moved from S to E at
    day 0; ``mixing`` (P, P) row-stochastic (identity if omitted); ``contact_factor`` (days, P) or
    (B, days, P), one minus the contact reduction (one if omitted); ``aid`` (4, days, P) or
    (B, 4, days, P) capacities as in AID (none if omitted); ``vaccination`` (days,) or
    (B, days) vaccine courses a person a day (none if omitted). Output holds days 0..n_days
    inclusive; states as in STATES.
    """
    if n_draws is None:
        exposed = np.asarray(initial_exposed)
        candidates = [exposed.shape[0] if exposed.ndim == 2 else 1]
        for series, ndim in ((contact_factor, 3), (aid, 4)):
            if series is not None and np.ndim(series) == ndim:
                candidates.append(np.shape(series)[0])
        candidates += [np.shape(getattr(params, f.name))[0] for f in fields(params)
                       if np.ndim(getattr(params, f.name)) >= 1]  # fmt: skip
        n_draws = max(candidates)
    model = Model.build(params, population, mixing, n_draws)
    return model.integrate(initial_exposed, n_days, contact_factor, aid, rtol, atol, vaccination)


def next_generation_matrix(
    params: SEIRParameters,
    population: ArrayLike,
    mixing: ArrayLike | None = None,
    contact: ArrayLike = 1.0,
    full_aid: bool = False,
    growth_rate: float = 0.0,
) -> np.ndarray:
    """F (V + r I)^-1 at the disease-free state for one parameter set, over (infected
    compartment, province): its spectral radius at r = 0 is the reproduction number, and 1 at
    the epidemic's growth rate r. `contact` is one minus the contact reduction (scalar or per
    province); `full_aid` gives every suspected case a test and every isolated person and
    patient IPC supplies."""
    population = np.asarray(population, dtype=float)
    n_p = population.size
    model = Model.build(params, population, mixing, 1)
    k = model.rates
    detection = k.det_base + (k.det_spread if full_aid else 0.0)
    leak = k.leak_no_ipc - (k.leak_spread if full_aid else 0.0)
    beta = k.beta0[0] * np.broadcast_to(np.asarray(contact, dtype=float), (n_p,))
    index = {c: i for i, c in enumerate(INFECTED)}
    size = len(INFECTED) * n_p

    def cells(c: int) -> np.ndarray:
        return index[c] * n_p + np.arange(n_p)

    # F: new infections in E of province p per infected person in compartment c of province q.
    weights = {PRE: 1.0, I: 1.0, AWAIT: 1.0, ASY: k.rho[0], QPRE: leak[0], Q: leak[0],
               QA: leak[0] * k.rho[0], H: leak[0]}  # fmt: skip
    f = np.zeros((size, size))
    contacts = beta[:, None] * model.mixing * population[:, None] / population[None, :]
    for c, weight in weights.items():
        f[np.ix_(cells(E), cells(c))] = contacts * np.broadcast_to(weight, (n_p,))[None, :]
    # V: outflows on the diagonal, inflows between infected compartments off it.
    v = np.zeros((size, size))
    for src, dst, rate in linear_flows(k, detection):
        rate = np.broadcast_to(rate, (1, n_p))[0]
        v[cells(src), cells(src)] += rate
        if dst in index:
            v[cells(dst), cells(src)] -= rate
    return f @ np.linalg.inv(v + growth_rate * np.eye(size))


def reproduction_number(*args, **kwargs) -> float:
    """Spectral radius of the next-generation matrix (see `next_generation_matrix`)."""
    return float(np.max(np.abs(np.linalg.eigvals(next_generation_matrix(*args, **kwargs)))))


def to_dataset(
    people: np.ndarray, provinces: list[str], start_date: np.datetime64 | str | None = None
) -> xr.Dataset:
    """Label one draw's (state, province, day) array, or many draws', as a Dataset of the
    compartments (running totals left out)."""
    people = people[..., : len(COMPARTMENTS), :, :]
    dims: tuple[str, ...] = ("compartment", "province", "day")
    if people.ndim == 4:
        dims = ("draw", *dims)
    n_days = people.shape[-1]
    coords: dict[str, object] = {
        "compartment": list(COMPARTMENTS),
        "province": provinces,
        "day": np.arange(n_days),
    }
    if start_date is not None:
        first_day = np.datetime64(str(start_date)[:10], "D")
        coords["date"] = ("day", first_day + np.arange(n_days))
    ds = xr.Dataset({"people": (dims, people)}, coords=coords)
    ds["people"].attrs.update(units="persons", long_name="persons per compartment at 00:00")
    return ds
