"""Metapopulation SEIR model with presymptomatic and asymptomatic spread, testing, isolation,
hospital care and deaths; its next-generation matrix; and its adjoint.

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

and four running totals since day 0 (persons): symptomatic onsets in the community, detections,
hospital admissions and discharges alive, from which the demand step reads weekly flows.

Flows per day (a = asymptomatic share, rho their relative infectiousness, e isolation efficacy)::

    S -> E        beta(t) S_p sum_q M_pq X_q / N_q,
                  X = P + I + T + rho A + (1 - e)(QP + Q + H + rho QA)
    E -> P | A    E / latent_days, a share a to A  (straight to I when presymptomatic_days = 0)
    P -> I        P / presymptomatic_days, and QP -> Q likewise
    I -> T        delta(t) I                       (straight to Q when test_turnaround_days = 0)
    T -> Q        T / test_turnaround_days
    P -> QP, A -> QA   tracing_relative_rate * delta(t) * P (or A)
    I, T, Q -> H | R   at 1 / infectious_days, a share hospital_share to H
    A, QA -> R    at 1 / (presymptomatic_days + infectious_days)
    H -> D | R    H / stay_days, a share fatality(t, H) dies

Supplies act through three coverages in [0, 1] per province and day:

* testing raises detection: delta = detection_base + (detection_max - detection_base) c_testing;
* infection prevention and control raises isolation efficacy:
  e = efficacy_no_ipc + (efficacy - efficacy_no_ipc) c_ipc;
* care lowers fatality: fatality = f_no_care - (f_no_care - f_care) min(1, dom(H) + c_care), where
  the domestic system covers dom(H) = domestic_care_share * min(1, capacity / H).

`r0` is beta times the mean infectious person-days of a case left in the community: the
reproduction number before detection, isolation and contact reduction. `reproduction_number`
gives the model's own from its next-generation matrix. With presymptomatic_days,
asymptomatic_share and test_turnaround_days 0, both isolation efficacies 1 and no domestic care
this is the plain S-E-I-Q-H-R-D model.

The linear flows of a segment form one sparse matrix, so the right-hand side is a sparse product
plus the two nonlinear terms (infection and the capacity-dependent fatality). Every parameter
broadcasts over a leading *draw* axis: many parameter sets integrate in one `solve_ivp` call and
share its steps. `Model.deaths_gradient` integrates the adjoint once, backwards, for
d(deaths)/d(coverage) of every lever, province and week at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp
import xarray as xr
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp

COMPARTMENTS = ("S", "E", "P", "A", "I", "T", "QP", "Q", "QA", "H", "R", "D")
COUNTERS = ("onsets", "detections", "admissions", "discharges")
STATES = COMPARTMENTS + COUNTERS
(S, E, PRE, ASY, I, AWAIT, QPRE, Q, QA, H, R, D,
 ONSETS, DETECTIONS, ADMISSIONS, DISCHARGES) = range(len(STATES))  # fmt: skip
INFECTED = (E, PRE, ASY, I, AWAIT, QPRE, Q, QA, H)
"""Compartments of the infected, in the order of the next-generation matrix."""
LEVERS = ("testing", "ipc", "care")
DENSE_LIMIT = 5e7
"""Keep forward dense solutions for the adjoint below this many numbers (about 400 MB)."""
TESTING, IPC, CARE = range(len(LEVERS))


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
    """detection rate of symptomatic cases at full testing coverage [1/d]"""
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
    """share of onward transmission isolation and hospital stop at full IPC coverage [1]"""
    isolation_efficacy_no_ipc: ArrayLike = 1.0
    """the same share with no IPC aid [1]"""
    domestic_care_share: ArrayLike = 0.0
    """share of the care lever the domestic system provides within its capacity [1]"""
    domestic_care_capacity: ArrayLike = np.inf
    """hospital patients the domestic system can care for, per province [persons]"""


def _per_draw(value: ArrayLike, n_draws: int, n_provinces: int) -> np.ndarray:
    """Broadcast a scalar, (B,) or (B, P) parameter to a contiguous (B, P) array."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    return np.ascontiguousarray(np.broadcast_to(arr, (n_draws, n_provinces)))


def _daily(series: ArrayLike | None, n_draws: int, n_days: int, n_provinces: int) -> np.ndarray:
    """Broadcast a daily input given as scalar, (days, P) or (B, days, P) to (B, days, P)."""
    arr = np.zeros(()) if series is None else np.asarray(series, dtype=float)
    if arr.ndim == 2:
        arr = arr[None]
    return np.broadcast_to(arr, (n_draws, n_days, n_provinces))


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
    leak_spread: np.ndarray  # efficacy - efficacy_no_ipc: what full IPC removes from the leak

    @classmethod
    def of(cls, params: SEIRParameters, n_draws: int, n_provinces: int) -> Rates:
        p = {f.name: _per_draw(getattr(params, f.name), n_draws, n_provinces)
             for f in fields(params)}  # fmt: skip
        pre, sym, a = p["presymptomatic_days"], p["infectious_days"], p["asymptomatic_share"]
        turnaround = p["test_turnaround_days"]
        rho = p["asymptomatic_relative_infectiousness"]
        has_pre, awaits = pre > 0, turnaround > 0
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
        )


def linear_flows(k: Rates, detection: np.ndarray) -> list[tuple[int, int | None, np.ndarray]]:
    """Every linear flow (from, to, rate per day (B, P)); `to` None leaves the infected
    (for the next-generation matrix), and running totals are listed as flows whose source keeps
    its people (see `_linear_matrix`)."""
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


def _linear_matrix(k: Rates, detection: np.ndarray) -> sp.csr_matrix:
    """The linear part of the right-hand side as a sparse matrix over the flat state
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


def _leak_weights(k: Rates, leak: np.ndarray) -> np.ndarray:
    """Weight of each state in the infectious pressure X, (states, B, P)."""
    w = np.zeros((len(STATES), *k.sigma.shape))
    w[PRE] = w[I] = w[AWAIT] = 1.0
    w[ASY] = k.rho
    w[QPRE] = w[Q] = w[H] = leak
    w[QA] = leak * k.rho
    return w


def _covered(h: np.ndarray, k: Rates, care: np.ndarray) -> np.ndarray:
    """Share of hospital patients with adequate care: domestic within capacity, plus aid."""
    domestic = k.dom_share * np.minimum(1.0, k.dom_capacity / np.maximum(h, 1e-12))
    return np.minimum(1.0, domestic + care)


def _covered_slopes(h: np.ndarray, k: Rates, care: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d(covered share)/dH, and 1 where more aid still helps (domestic plus aid below 1)."""
    h_safe = np.maximum(h, 1e-12)
    domestic = k.dom_share * np.minimum(1.0, k.dom_capacity / h_safe)
    active = domestic + care < 1.0
    # Past its capacity the domestic share falls as capacity / H.
    d_domestic = np.where(h > k.dom_capacity, -domestic / h_safe, 0.0)
    return np.where(active, d_domestic, 0.0), active


@dataclass(frozen=True)
class Segment:
    """The right-hand side's data over days [start, stop), where every input is constant."""

    start: int
    stop: int
    matrix: sp.csr_matrix
    weights: np.ndarray  # (states, B, P)
    beta: np.ndarray  # (B, P)
    detection: np.ndarray
    leak: np.ndarray
    care: np.ndarray


def _rhs(_t, y, shape, seg: Segment, k: Rates, mixing_t, inv_population):
    dy = seg.matrix @ y
    y3, d3 = y.reshape(shape), dy.reshape(shape)
    pressure = np.einsum("sbp,sbp->bp", seg.weights, y3)
    infections = seg.beta * ((pressure * inv_population) @ mixing_t) * y3[S]
    deaths = (k.f_no - k.f_spread * _covered(y3[H], k, seg.care)) * k.mu * y3[H]
    d3[S] -= infections
    d3[E] += infections
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
    """the flows detection drives, per unit of detection rate: M(delta) = base + this diag(delta)"""

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
        base = _linear_matrix(rates, np.zeros((n_draws, n_p)))
        detection = (_linear_matrix(rates, np.ones((n_draws, n_p))) - base).tocsr()
        return cls(params, population, mixing, n_draws, rates, base, detection)

    def matrix(self, detection: np.ndarray) -> sp.csr_matrix:
        """The linear flows at detection rates (B, P)."""
        per_state = sp.diags(np.tile(detection.ravel(), len(STATES)))
        return (self.base_matrix + self.detection_matrix @ per_state).tocsr()

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(STATES), self.n_draws, self.population.size)

    def initial_state(self, initial_exposed: ArrayLike) -> np.ndarray:
        y = np.zeros(self.shape)
        exposed = np.broadcast_to(np.asarray(initial_exposed, dtype=float), self.shape[1:])
        y[S] = self.population - exposed
        y[E] = exposed
        return y

    def segments(self, n_days: int, contact=None, coverage=None, weeks: int | None = None
                 ) -> list[Segment]:  # fmt: skip
        """Spans of constant input, so that the adaptive step never straddles a jump, split at
        the start of each of the first `weeks` weeks too, so that the adjoint can book each of
        them apart. `contact` (days, P) or (B, days, P); `coverage` (lever, days, P) or
        (B, lever, days, P)."""
        k, (n_b, n_p) = self.rates, self.shape[1:]
        cov = np.zeros((n_b, len(LEVERS), n_days, n_p))
        if coverage is not None:
            cov = np.broadcast_to(np.asarray(coverage, dtype=float), cov.shape)
        beta = k.beta0[:, None, :] * _daily(1.0 if contact is None else contact, n_b, n_days, n_p)
        detection = k.det_base[:, None, :] + k.det_spread[:, None, :] * cov[:, TESTING]
        leak = k.leak_no_ipc[:, None, :] - k.leak_spread[:, None, :] * cov[:, IPC]
        inputs = np.stack([beta, detection, leak, cov[:, CARE]])
        changes = np.flatnonzero(np.any(inputs[:, :, 1:] != inputs[:, :, :-1], axis=(0, 1, 3))) + 1
        weekly = np.arange(0, min(n_days, 7 * (weeks if weeks is not None else n_days)), 7)
        bounds = np.union1d(np.concatenate([[0], changes, weekly]), [n_days])
        return [
            Segment(int(a), int(b), self.matrix(detection[:, a]),
                    _leak_weights(k, leak[:, a]), beta[:, a], detection[:, a], leak[:, a],
                    cov[:, CARE, a])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]  # fmt: skip

    def _args(self, seg: Segment) -> tuple:
        return (self.shape, seg, self.rates, self.mixing.T, 1.0 / self.population)

    def integrate(self, initial_exposed, n_days, contact=None, coverage=None,
                  rtol=1e-6, atol=1e-6) -> np.ndarray:  # fmt: skip
        """States per (draw, state, province, day) for days 0..n_days."""
        segments = self.segments(n_days, contact, coverage, weeks=0)
        out, _ = self._forward(segments, initial_exposed, n_days, rtol, atol)
        return out.transpose(2, 1, 3, 0)

    def _forward(self, segments, initial_exposed, n_days, rtol, atol, dense=False):
        """(day, state, B, P) states, and each segment's dense solution if asked for."""
        out = np.empty((n_days + 1, *self.shape))
        out[0] = self.initial_state(initial_exposed)
        solutions = []
        for seg in segments:
            sol = solve_ivp(_rhs, (seg.start, seg.stop), out[seg.start].ravel(),
                            t_eval=np.arange(seg.start + 1, seg.stop + 1), rtol=rtol, atol=atol,
                            dense_output=dense, args=self._args(seg))  # fmt: skip
            if not sol.success:
                raise RuntimeError(f"SEIR integration failed on days {seg.start}-{seg.stop}: "
                                   f"{sol.message}")  # fmt: skip
            out[seg.start + 1 : seg.stop + 1] = sol.y.T.reshape(-1, *self.shape)
            solutions.append(sol.sol)
        return out, solutions

    def deaths_gradient(self, initial_exposed, n_days, contact=None, coverage=None, weeks=None,
                        rtol=1e-6, atol=1e-6) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """States as `integrate` gives them, and d(deaths by day n_days, summed over provinces)
        / d(coverage of each lever, province and week) for the first `weeks` weeks (all if
        None), (B, lever, P, weeks), from one forward and one backward (adjoint) integration.

        The adjoint solves lambda' = -J^T lambda backwards from lambda = 1 on D at the end; the
        gradient for week w is the integral over that week of lambda^T dF/dcoverage. Each
        segment's dense forward solution is kept while it is small (under DENSE_LIMIT numbers)
        and integrated again from its stored start otherwise, so memory does not grow with the
        number of gradients and stays bounded at any size."""
        n_b, n_p = self.shape[1:]
        weeks = -(-n_days // 7) if weeks is None else weeks
        segments = self.segments(n_days, contact, coverage, weeks)
        keep = n_days * self.rates.sigma.size * len(STATES) * 30 < DENSE_LIMIT
        states, solutions = self._forward(segments, initial_exposed, n_days, rtol, atol, keep)
        n_cells = n_b * n_p
        gradient = np.zeros((n_b, len(LEVERS), n_p, weeks))
        lam = np.zeros(self.shape)
        lam[D] = 1.0
        # lambda are deaths per person (1e-4..1), the accumulators deaths per unit coverage.
        atol_z = np.concatenate([np.full(lam.size, atol * 1e-4), np.full(3 * n_cells, atol)])
        for seg, trajectory in zip(reversed(segments), reversed(solutions), strict=True):
            args = self._args(seg)
            if trajectory is None:
                forward = solve_ivp(_rhs, (seg.start, seg.stop), states[seg.start].ravel(),
                                    dense_output=True, rtol=rtol, atol=atol, args=args)  # fmt: skip
                trajectory = forward.sol
            back = solve_ivp(
                _adjoint_rhs, (seg.stop, seg.start), np.concatenate([lam.ravel(), np.zeros(3 * n_cells)]),
                rtol=rtol, atol=atol_z,
                args=(trajectory, seg.matrix.T.tocsr(), self.detection_matrix, *args),
            )  # fmt: skip
            if not back.success:
                raise RuntimeError(f"adjoint integration failed on days {seg.start}-{seg.stop}")
            lam = back.y[: lam.size, -1].reshape(self.shape)
            # Integrated from stop back to start the accumulators hold minus each integral.
            if seg.start // 7 < weeks:
                gradient[:, :, :, seg.start // 7] -= (
                    back.y[lam.size :, -1].reshape(3, n_b, n_p).transpose(1, 0, 2)
                )
        return states.transpose(2, 1, 3, 0), gradient


def _adjoint_rhs(t, z, trajectory, matrix_t, d_matrix, shape, seg: Segment, k: Rates,
                 mixing_t, inv_population):  # fmt: skip
    """d lambda/dt = -J^T lambda, and the integrands lambda^T dF/dcoverage of the levers."""
    n = int(np.prod(shape))
    y = trajectory(t)
    y3, lam = y.reshape(shape), z[:n]
    l3 = lam.reshape(shape)
    g = matrix_t @ lam
    g3 = g.reshape(shape)
    pressure = np.einsum("sbp,sbp->bp", seg.weights, y3)
    foi = seg.beta * ((pressure * inv_population) @ mixing_t)
    w = l3[E] - l3[S]  # the adjoint value of one more infection in each province
    # psi_q = sum_p w_p beta_p S_p M_pq / N_q: value of one more unit of pressure in q.
    psi = ((w * seg.beta * y3[S]) @ mixing_t.T) * inv_population
    g3[S] += w * foi
    g3 += seg.weights * psi
    d_covered, active = _covered_slopes(y3[H], k, seg.care)
    death_value = l3[D] - l3[R] - l3[DISCHARGES]
    fatality = k.f_no - k.f_spread * _covered(y3[H], k, seg.care)
    g3[H] += death_value * k.mu * (fatality - k.f_spread * y3[H] * d_covered)
    integrands = np.stack([
        k.det_spread * np.einsum("sbp,sbp->bp", l3, (d_matrix @ y).reshape(shape)),
        -k.leak_spread * psi * (y3[QPRE] + y3[Q] + y3[H] + k.rho * y3[QA]),
        -k.f_spread * k.mu * y3[H] * active * death_value,
    ])  # fmt: skip
    return np.concatenate([-g, integrands.ravel()])


def integrate(
    params: SEIRParameters,
    population: ArrayLike,
    initial_exposed: ArrayLike,
    n_days: int,
    *,
    mixing: ArrayLike | None = None,
    contact_factor: ArrayLike | None = None,
    coverage: ArrayLike | None = None,
    n_draws: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
) -> np.ndarray:
    """Integrate the model and return persons per (draw, state, province, day).

    ``population`` (P,) persons; ``initial_exposed`` (P,) or (B, P) persons moved from S to E at
    day 0; ``mixing`` (P, P) row-stochastic (identity if omitted); ``contact_factor`` (days, P) or
    (B, days, P), one minus the contact reduction (one if omitted); ``coverage`` (lever, days, P)
    or (B, lever, days, P) in [0, 1], levers as in LEVERS (zero if omitted). Output holds days
    0..n_days inclusive; states as in STATES.
    """
    if n_draws is None:
        exposed = np.asarray(initial_exposed)
        candidates = [exposed.shape[0] if exposed.ndim == 2 else 1]
        for series, ndim in ((contact_factor, 3), (coverage, 4)):
            if series is not None and np.ndim(series) == ndim:
                candidates.append(np.shape(series)[0])
        candidates += [np.shape(getattr(params, f.name))[0] for f in fields(params)
                       if np.ndim(getattr(params, f.name)) >= 1]  # fmt: skip
        n_draws = max(candidates)
    model = Model.build(params, population, mixing, n_draws)
    return model.integrate(initial_exposed, n_days, contact_factor, coverage, rtol, atol)


def next_generation_matrix(
    params: SEIRParameters,
    population: ArrayLike,
    mixing: ArrayLike | None = None,
    contact: ArrayLike = 1.0,
    coverage: ArrayLike = (0.0, 0.0, 0.0),
    growth_rate: float = 0.0,
) -> np.ndarray:
    """F (V + r I)^-1 at the disease-free state for one parameter set, over (infected
    compartment, province): its spectral radius at r = 0 is the reproduction number, and 1 at the
    epidemic's growth rate r. `contact` is one minus the contact reduction and `coverage` the
    (testing, ipc, care) coverage, each a scalar or one value per province."""
    population = np.asarray(population, dtype=float)
    n_p = population.size
    model = Model.build(params, population, mixing, 1)
    k = model.rates
    cov = np.broadcast_to(np.asarray(coverage, dtype=float).reshape(3, -1), (3, n_p))
    detection = k.det_base + k.det_spread * cov[TESTING]
    leak = k.leak_no_ipc - k.leak_spread * cov[IPC]
    beta = k.beta0[0] * np.broadcast_to(np.asarray(contact, dtype=float), (n_p,))
    index = {c: i for i, c in enumerate(INFECTED)}
    size = len(INFECTED) * n_p

    def cells(c: int) -> np.ndarray:
        return index[c] * n_p + np.arange(n_p)

    # F: new infections in E of province p per infected person in compartment c of province q.
    f = np.zeros((size, size))
    weights = _leak_weights(k, leak)[:, 0]
    contacts = beta[:, None] * model.mixing * population[:, None] / population[None, :]
    for c in INFECTED:
        f[np.ix_(cells(E), cells(c))] = contacts * weights[c][None, :]
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
