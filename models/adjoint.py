"""The adjoint of the SEIR model: d(deaths)/d(aid) for every capacity, province and week from one
forward and one backward integration, whatever the number of provinces and weeks.

With F the right-hand side and J its Jacobian in the state, lambda solves

    lambda' = -J^T lambda,   lambda(end) = 1 on D, 0 elsewhere,

backwards, and the derivative of deaths at the end by the aid held in week w is the integral
over that week of lambda^T dF/d(aid). Nothing depends on D, R or the running totals, so their
lambda stay at 1 (D) and 0. Aid that continues past the plan's weeks (`carry`) is the last
plan week's aid scaled, so its integrals after the plan add to that week's, scaled alike. Each
segment's trajectory is integrated again with dense output from
its stored start unless it is small enough to keep, so memory stays bounded at any size.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from models.seir import (
    AID,
    ASY,
    AWAIT,
    CARE,
    DISCHARGES,
    HOSPITAL,
    ISOLATION,
    PRE,
    QA,
    QPRE,
    STATES,
    TESTS,
    D,
    E,
    H,
    I,
    Model,
    Q,
    R,
    S,
    Segment,
    Trajectory,
    V,
    _rhs,
    loads,
    pressure,
)

DENSE_LIMIT = 5e7
"""Keep forward dense solutions for the adjoint below this many numbers (about 400 MB)."""


def _adjoint_rhs(t, z, trajectory, model: Model, seg: Segment, d_matrix_t, base_t):
    """d lambda/dt = -J^T lambda, and the integrands lambda^T dF/d(aid) for each capacity.
    Shares are sat(capacity / load), whose slopes `loads` gives. `d_matrix_t` and `base_t`
    are the linear flows' transposed products (`Model.transposed_products`)."""
    k, shape = model.rates, model.shape
    y = trajectory(t)
    y3, lam = y.reshape(shape), z[: y.size]
    l3 = lam.reshape(shape)
    aid = seg.aid
    ld = loads(y3, k, aid)
    d3 = d_matrix_t(lam).reshape(shape)  # D^T lambda
    g = base_t(lam) + (d3 * ld.detection).ravel()
    g3 = g.reshape(shape)
    # Detection's rate depends on the suspects (symptomatic onsets): v is lambda^T dF/d(rate).
    v = np.einsum("sbp,sbp->bp", d3, y3)
    d_tested = ld.tested_slope / ld.suspects  # d(tested share) / d(tests)
    d_detection = -k.det_spread * d_tested * aid[TESTS] / ld.suspects  # d / d(suspects)
    g3[PRE] += v * d_detection * k.phi
    g3[E] += v * d_detection * k.sigma * k.to_sym
    # Infection: w is the value of one more infection in each province, psi that of one more
    # unit of infectious pressure in each province.
    w = l3[E] - l3[S]
    foi = seg.beta * ((pressure(y3, k, ld) * model.inv_population) @ model.mixing_t)
    exposed = w * seg.beta * y3[S]
    g3[S] += w * foi
    if model.vaccinates:
        # S -> V at nu e_death S; V -> A at foi x relative rate x V.
        w_v = (l3[ASY] - l3[V]) * k.vaccinated_infection
        exposed = exposed + w_v * seg.beta * y3[V]
        g3[V] += w_v * foi
        g3[S] += seg.vaccination * k.vaccine_protects * (l3[V] - l3[S])
    psi = (exposed @ model.mixing) * model.inv_population
    transmitting = y3[QPRE] + y3[Q] + k.rho * y3[QA]
    # d(leak) / d(isolated) = leak_spread * slope * supplied / isolated^2, and likewise in H.
    d_protected_iso = ld.isolated_slope / ld.isolated
    kappa_q = transmitting * k.leak_spread * d_protected_iso * aid[ISOLATION] / ld.isolated
    d_protected_h = ld.patients_slope / ld.patients
    kappa_h = y3[H] * k.leak_spread * d_protected_h * aid[HOSPITAL] / ld.patients
    for c, slope in (
        (PRE, 1.0),
        (I, 1.0),
        (AWAIT, 1.0),
        (ASY, k.rho),
        (QPRE, ld.leak_isolated + kappa_q),
        (Q, ld.leak_isolated + kappa_q),
        (QA, k.rho * ld.leak_isolated + kappa_q),
        (H, ld.leak_hospital + kappa_h),
    ):
        g3[c] += psi * slope  # fmt: skip
    # Deaths = fatality(H) mu H, fatality falling with the covered share of patients,
    # covered = sat(dom share x sat(capacity / H) + care / H).
    patients_squared = ld.patients**2
    d_domestic = -k.dom_share * ld.domestic_slope * k.dom_capacity / patients_squared
    d_domestic = np.where(np.isfinite(k.dom_capacity), d_domestic, 0.0)
    d_covered = ld.covered_slope * (d_domestic - aid[CARE] / patients_squared)
    fatality = k.f_no - k.f_spread * ld.covered
    death_value = l3[D] - l3[R] - l3[DISCHARGES]
    g3[H] += death_value * k.mu * (fatality - k.f_spread * y3[H] * d_covered)
    # Written in place into one output (small arrays: each call and copy costs the time).
    out = np.empty(z.size)
    np.negative(g, out=out[: g.size])
    integrands = out[g.size :].reshape(len(AID), *shape[1:])
    integrands[0] = v * k.det_spread * d_tested
    integrands[1] = -psi * k.leak_spread * transmitting * d_protected_iso
    integrands[2] = -psi * k.leak_spread * y3[H] * d_protected_h
    integrands[3] = -death_value * k.f_spread * k.mu * y3[H] * ld.covered_slope / ld.patients
    return out


def deaths_gradient(model: Model, initial_exposed, n_days: int, contact=None, aid=None,
                    weeks: int | None = None, rtol: float = 1e-6, atol: float = 1e-6,
                    vaccination=None, carry=None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """States as `Model.integrate` gives them, and d(deaths by day n_days, summed over
    provinces) / d(each capacity in AID held through a week) for the first `weeks` weeks (all if
    None): (B, capacity, P, weeks), in deaths per (person or test a day) held for the week.
    `carry` as in `gradient_along` (the aid after the weeks must then be carried so)."""
    weeks = -(-n_days // 7) if weeks is None else weeks
    split = weeks + (0 if carry is None else carry_weeks(carry))
    forward = model.trajectory(initial_exposed, n_days, contact, aid, split, rtol, atol,
                               keep_dense(model, n_days), vaccination)  # fmt: skip
    return forward.people, gradient_along(model, forward, weeks, rtol, atol, carry)


def carry_weeks(carry) -> int:
    """Weeks after the plan over which `carry` changes: the segments must be split weekly over
    these for `gradient_along` to weigh each by its week's share."""
    carry = np.asarray(carry, dtype=float)
    changes = np.flatnonzero(carry[1:] != carry[:-1])
    return int(changes[-1]) + 2 if changes.size else 1


def keep_dense(model: Model, n_days: int) -> bool:
    """Whether an integration's dense solutions fit under DENSE_LIMIT numbers."""
    return n_days * model.rates.sigma.size * len(STATES) * 30 < DENSE_LIMIT


def gradient_along(model: Model, forward: Trajectory, weeks: int, rtol: float = 1e-6,
                   atol: float = 1e-6, carry=None) -> np.ndarray:  # fmt: skip
    """The adjoint pass of `deaths_gradient` along an integration already made; its segments
    must be split weekly over the first `weeks` weeks (`Model.trajectory`), and over the
    `carry_weeks(carry)` after them. `carry` (weeks after the plan,): the share of the last plan
    week's aid held in each week after it (its last value for the rest), None for none."""
    carry = None if carry is None else np.asarray(carry, dtype=float)
    n_b, n_p = model.shape[1:]
    segments, solutions, states = forward.segments, forward.solutions, forward.states
    n_cells, n_aid = n_b * n_p, len(AID)
    gradient = np.zeros((n_b, n_aid, n_p, weeks))
    lam = np.zeros(model.shape)
    lam[D] = 1.0
    # lambda are deaths per person (1e-4..1), the accumulators deaths per unit of aid.
    atol_z = np.concatenate([np.full(lam.size, atol * 1e-4), np.full(n_aid * n_cells, atol)])
    d_matrix_t, base_t = model.transposed_products
    for seg, trajectory in zip(reversed(segments), reversed(solutions), strict=True):
        if trajectory is None:  # not kept: integrate this segment again from its start
            again = solve_ivp(_rhs, (seg.start, seg.stop), states[seg.start].ravel(),
                              dense_output=True, rtol=forward.rtol, atol=forward.atol,
                              args=(model, seg))  # fmt: skip
            trajectory = again.sol
        back = solve_ivp(
            _adjoint_rhs, (seg.stop, seg.start),
            np.concatenate([lam.ravel(), np.zeros(n_aid * n_cells)]), rtol=rtol, atol=atol_z,
            args=(trajectory, model, seg, d_matrix_t, base_t),
        )  # fmt: skip
        if not back.success:
            raise RuntimeError(f"adjoint integration failed on days {seg.start}-{seg.stop}")
        lam = back.y[: lam.size, -1].reshape(model.shape)
        week, share = seg.start // 7, 1.0
        if week >= weeks and carry is not None and weeks > 0:
            week, share = weeks - 1, carry[min(week - weeks, carry.size - 1)]
        if week < weeks and share != 0.0:
            # Integrated from stop back to start, the accumulators hold minus each integral.
            gradient[:, :, :, week] -= share * (
                back.y[lam.size :, -1].reshape(n_aid, n_b, n_p).transpose(1, 0, 2)
            )
    return gradient
