"""Metapopulation SEIR model with detection, isolation, hospital care and deaths.

Compartments per province (all in persons):

    S  susceptible
    E  exposed (infected, not yet infectious)
    I  infectious in the community
    Q  detected and isolated (not infectious)
    H  in hospital (not infectious)
    R  recovered
    D  dead

Flows, per day::

    S -> E   beta(t) * S_p * sum_q M_pq I_q / N_q      (M: row-stochastic mixing matrix)
    E -> I   E / latent_days
    I -> Q   detection(t) * I                          (testing coverage raises detection)
    I -> H|R I / infectious_days, a share `hospital_share` to H
    Q -> H|R Q / infectious_days, the same share to H
    H -> D|R H / stay_days, a share fatality(t) dies   (care coverage lowers fatality)

R0 is beta * infectious_days: the reproduction number with no detection and no contact reduction.

Every rate input broadcasts over a leading *draw* axis, so many parameter sets integrate in one
`solve_ivp` call: a sweep or a finite-difference gradient costs one integration, not hundreds,
and every draw shares the same steps, so differences between draws carry no step-size noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike
from scipy.integrate import solve_ivp

COMPARTMENTS = ("S", "E", "I", "Q", "H", "R", "D")
S, E, I, Q, H, R, D = range(len(COMPARTMENTS))


@dataclass(frozen=True)
class SEIRParameters:
    """Epidemiological parameters; each may be a scalar, one value per draw ``(B,)``,
    or one per draw and province ``(B, P)``."""

    r0: ArrayLike
    """basic reproduction number [1]"""
    latent_days: ArrayLike
    """mean time from infection to infectiousness [d]"""
    infectious_days: ArrayLike
    """mean infectious period in the community [d]"""
    hospital_share: ArrayLike
    """share of infections that need hospital care [1]"""
    stay_days: ArrayLike
    """mean length of hospital stay [d]"""
    fatality_no_care: ArrayLike
    """share of hospitalised cases that die without adequate care [1]"""
    fatality_care: ArrayLike
    """share of hospitalised cases that die with adequate care [1]"""
    detection_base_per_day: ArrayLike
    """detection-and-isolation rate of infectious people with no testing aid [1/d]"""
    detection_max_per_day: ArrayLike
    """detection-and-isolation rate at full testing coverage [1/d]"""


def _per_draw(value: ArrayLike, n_draws: int, n_provinces: int) -> np.ndarray:
    """Broadcast a scalar, (B,) or (B, P) parameter to (B, P)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    return np.broadcast_to(arr, (n_draws, n_provinces))


def _daily(series: ArrayLike | None, n_draws: int, n_days: int, n_provinces: int) -> np.ndarray:
    """Broadcast a daily input given as scalar, (days, P) or (B, days, P) to (B, days, P)."""
    arr = np.zeros(()) if series is None else np.asarray(series, dtype=float)
    if arr.ndim == 2:
        arr = arr[None]
    return np.broadcast_to(arr, (n_draws, n_days, n_provinces))


def weekly_to_daily(weekly: ArrayLike, n_days: int) -> np.ndarray:
    """Hold each week's value for its seven days: (..., P, W) -> (..., n_days, P)."""
    arr = np.asarray(weekly, dtype=float)
    day_week = np.minimum(np.arange(n_days) // 7, arr.shape[-1] - 1)
    return np.swapaxes(arr[..., day_week], -1, -2)


def _rhs(
    _t: float,
    y: np.ndarray,
    shape: tuple[int, int, int],
    beta: np.ndarray,
    sigma: np.ndarray,
    gamma: np.ndarray,
    detection: np.ndarray,
    hospital_share: np.ndarray,
    discharge_rate: np.ndarray,
    fatality: np.ndarray,
    mixing_t: np.ndarray,
    inv_population: np.ndarray,
) -> np.ndarray:
    """Right-hand side on the whole (compartment, draw, province) block at once."""
    y = y.reshape(shape)
    # Infectious share each province's residents meet, mixed over where they spend time.
    foi = beta * ((y[I] * inv_population) @ mixing_t)
    infections = foi * y[S]
    onsets = sigma * y[E]
    detections = detection * y[I]
    ends_i = gamma * y[I]
    ends_q = gamma * y[Q]
    admissions = hospital_share * (ends_i + ends_q)
    discharges = discharge_rate * y[H]
    deaths = fatality * discharges

    dy = np.empty_like(y)
    dy[S] = -infections
    dy[E] = infections - onsets
    dy[I] = onsets - detections - ends_i
    dy[Q] = detections - ends_q
    dy[H] = admissions - discharges
    dy[R] = ends_i + ends_q - admissions + discharges - deaths
    dy[D] = deaths
    return dy.ravel()


def integrate(
    params: SEIRParameters,
    population: ArrayLike,
    initial_exposed: ArrayLike,
    n_days: int,
    *,
    mixing: ArrayLike | None = None,
    contact_factor: ArrayLike | None = None,
    testing_coverage: ArrayLike | None = None,
    care_coverage: ArrayLike | None = None,
    n_draws: int | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
) -> np.ndarray:
    """Integrate the model and return persons per (draw, compartment, province, day).

    ``population`` (P,) persons; ``initial_exposed`` (P,) or (B, P) persons moved from S to E at
    day 0; ``mixing`` (P, P) row-stochastic (identity if omitted); ``contact_factor``,
    ``testing_coverage`` and ``care_coverage`` are daily inputs of shape (days, P) or
    (B, days, P), piecewise constant over each day, with coverages in [0, 1] (zero if omitted)
    and contact factor 1 - reduction (one if omitted). Output holds days 0..n_days inclusive.

    The integration restarts wherever a daily input changes, so the adaptive step never
    straddles a jump in the right-hand side.
    """
    population = np.asarray(population, dtype=float)
    n_provinces = population.size
    exposed0 = np.asarray(initial_exposed, dtype=float)
    if n_draws is None:
        # The draw axis leads every batched input: daily series are 3-D, seeds and parameters
        # with draws are at least 1-D per province set.
        daily_inputs = (contact_factor, testing_coverage, care_coverage)
        n_draws = max(
            [np.shape(x)[0] for x in daily_inputs if x is not None and np.ndim(x) == 3]
            + [exposed0.shape[0] if exposed0.ndim == 2 else 1]
            + [np.shape(v)[0] for v in vars(params).values() if np.ndim(v) >= 1]
        )
    shape = (len(COMPARTMENTS), n_draws, n_provinces)

    def p(name: str) -> np.ndarray:
        return _per_draw(getattr(params, name), n_draws, n_provinces)

    gamma = 1.0 / p("infectious_days")
    beta0 = p("r0") * gamma
    contact = _daily(1.0 if contact_factor is None else contact_factor, n_draws, n_days,
                     n_provinces)  # fmt: skip
    testing = _daily(testing_coverage, n_draws, n_days, n_provinces)
    care = _daily(care_coverage, n_draws, n_days, n_provinces)
    beta_daily = beta0[:, None, :] * contact
    det_base, det_max = p("detection_base_per_day"), p("detection_max_per_day")
    detection_daily = det_base[:, None, :] + (det_max - det_base)[:, None, :] * testing
    f_no, f_care = p("fatality_no_care"), p("fatality_care")
    fatality_daily = f_no[:, None, :] - (f_no - f_care)[:, None, :] * care

    # Days where any input differs from the day before start a new smooth segment.
    inputs = np.stack([beta_daily, detection_daily, fatality_daily])
    changes = np.flatnonzero(np.any(inputs[:, :, 1:] != inputs[:, :, :-1], axis=(0, 1, 3))) + 1
    bounds = np.concatenate([[0], changes, [n_days]]).astype(int)

    y = np.zeros(shape)
    exposed0 = np.broadcast_to(exposed0, (n_draws, n_provinces))
    y[S] = population - exposed0
    y[E] = exposed0
    out = np.empty((n_days + 1, *shape))
    out[0] = y
    sigma = 1.0 / p("latent_days")
    mixing_t = np.eye(n_provinces) if mixing is None else np.asarray(mixing, dtype=float).T
    inv_population = 1.0 / population
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        sol = solve_ivp(
            _rhs,
            (start, stop),
            y.ravel(),
            t_eval=np.arange(start + 1, stop + 1),
            rtol=rtol,
            atol=atol,
            args=(
                shape,
                beta_daily[:, start],
                sigma,
                gamma,
                detection_daily[:, start],
                p("hospital_share"),
                1.0 / p("stay_days"),
                fatality_daily[:, start],
                mixing_t,
                inv_population,
            ),
        )
        if not sol.success:
            raise RuntimeError(f"SEIR integration failed on days {start}-{stop}: {sol.message}")
        out[start + 1 : stop + 1] = sol.y.T.reshape(-1, *shape)
        y = out[stop]
    # (day, compartment, draw, province) -> (draw, compartment, province, day)
    return out.transpose(2, 1, 3, 0)


def to_dataset(
    people: np.ndarray, provinces: list[str], start_date: np.datetime64 | str | None = None
) -> xr.Dataset:
    """Label one draw's (compartment, province, day) array, or many draws', as a Dataset."""
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
