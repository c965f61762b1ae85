"""How well predicted reports explain observed ones, as residuals `least_squares` can minimise.

* `sqrt_residuals`: sqrt(fitted) - sqrt(observed), whose squares a least-squares fit sums; the
  square root stabilises the variance of Poisson-like counts.
* `nb_deviance_residuals`: signed square roots of the negative binomial deviance, so that the
  sum of squares is -2 log-likelihood up to a constant: minimising it is the maximum likelihood
  fit of the counts for a given dispersion `size` (variance mu + mu^2 / size). A row summing d
  days is taken as NB(mu, d x size), the sum of d independent days with the same mean.
* `fit_size`: the maximum likelihood dispersion given the fitted means.
* `prior_residual`: (ln value - ln median) / log_sd, the square of which is a log-normal prior's
  -2 log-density up to a constant.
* `knot_residuals`: changes of log(1 - reduction) from one knot to the next over their standard
  deviation: a Gaussian random walk on the log transmission factor (the smoothness penalty).
* `weekday_factors`: seven multiplicative reporting factors with geometric mean 1 from six free
  log factors (Monday to Saturday; Sunday is what makes the mean 1).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

TINY = 1e-9
"""Floor on a predicted mean (reports), so that a zero prediction has a finite likelihood."""


def sqrt_residuals(observed: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(fitted, 0.0)) - np.sqrt(observed)


def nb_deviance_residuals(observed: np.ndarray, fitted: np.ndarray, size: np.ndarray) -> np.ndarray:
    """sign(mu - y) sqrt(2 [y ln(y / mu) - (y + k) ln((y + k) / (mu + k))]), fitted minus
    observed as `sqrt_residuals` is, broadcasting over a leading draw axis."""
    y, mu = observed, np.maximum(fitted, TINY)
    term = np.where(y > 0, y * np.log(np.maximum(y, TINY) / mu), 0.0)
    deviance = 2.0 * (term - (y + size) * np.log((y + size) / (mu + size)))
    return np.sign(mu - y) * np.sqrt(np.maximum(deviance, 0.0))


def nb_log_likelihood(observed: np.ndarray, fitted: np.ndarray, size: np.ndarray) -> float:
    y, mu = observed, np.maximum(fitted, TINY)
    return float(np.sum(
        gammaln(y + size) - gammaln(size) - gammaln(y + 1)
        + size * np.log(size / (size + mu)) + y * np.log(mu / (size + mu))
    ))  # fmt: skip


def fit_size(observed: np.ndarray, fitted: np.ndarray, days: np.ndarray) -> float:
    """Maximum likelihood dispersion per day (the `size` of one day's count), searched on a log
    scale from 0.1 (wildly overdispersed) to 1e7 (Poisson in all but name)."""
    result = minimize_scalar(
        lambda log_k: -nb_log_likelihood(observed, fitted, np.exp(log_k) * days),
        bounds=(np.log(0.1), np.log(1e7)), method="bounded", options={"xatol": 1e-4},
    )  # fmt: skip
    return float(np.exp(result.x))


def prior_residual(value: np.ndarray, median: float, log_sd: float) -> np.ndarray:
    return (np.log(np.maximum(value, TINY)) - np.log(median)) / log_sd


def knot_residuals(reduction: np.ndarray, log_sd: float) -> np.ndarray:
    """(B, K) reductions per knot -> (B, K - 1) random-walk residuals."""
    return np.diff(np.log1p(-reduction), axis=-1) / log_sd


def weekday_factors(log_factors: np.ndarray) -> np.ndarray:
    """(B, 6) free log factors, Monday to Saturday -> (B, 7) factors, Monday = 0 as numpy's
    weekday count has it, with geometric mean 1."""
    full = np.concatenate([log_factors, -log_factors.sum(axis=-1, keepdims=True)], axis=-1)
    return np.exp(full)


def weekday_of(dates: np.ndarray) -> np.ndarray:
    """Monday = 0 .. Sunday = 6 for datetime64[D] dates (1970-01-01 was a Thursday)."""
    return (dates.astype("datetime64[D]").astype(int) + 3) % 7
