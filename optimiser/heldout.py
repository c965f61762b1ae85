"""The fit's forecast of the rows it did not see (with `--until` and `--forecast-days`),
scored against what was reported, with a 95 % interval from parameter draws and observation
noise. `optimiser.calibrate` attaches it to each fit; `optimiser.forecast` builds the rolling
forecasts on the same draws. It imports neither, so neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:  # annotations only: calibrate imports this module
    from optimiser.calibrate import Calibrator, FitResult

INTERVAL_DRAWS = 200
"""Parameter draws behind a forecast interval; the 2.5 and 97.5 percentiles are read off."""
INTERVAL_SEED = 20220512


def _draws(cal: Calibrator, result: FitResult, rng: np.random.Generator) -> np.ndarray:
    """Parameter draws in the search space from the fit's Wald covariance, the optimum first."""
    cov = result.covariance if result.covariance is not None else np.zeros((result.x.size,) * 2)
    xs = rng.multivariate_normal(result.x, cov, size=INTERVAL_DRAWS - 1, method="eigh")
    return np.clip(np.vstack([result.x, xs]), cal.lower, cal.upper)


def _noisy(cal: Calibrator, result: FitResult, mean: np.ndarray, days: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Observed counts drawn around predicted means (draws, rows) by the fit's likelihood."""
    mean = np.maximum(mean, 1e-9)
    if result.size is not None:
        size = result.size * days[None, :]
        return rng.negative_binomial(size, size / (size + mean)).astype(float)
    root = np.sqrt(mean) + result.rmse * rng.standard_normal(mean.shape)
    return np.maximum(root, 0.0) ** 2


def heldout_score(cal: Calibrator, result: FitResult) -> dict | None:
    """The scored rows' forecast against what was reported, with its 95 % interval."""
    scored = cal.scored
    if not scored.any():
        return None
    rng = np.random.default_rng(INTERVAL_SEED)
    with threadpool_limits(1):  # the eigen-decomposition: one thread, repeatable sums
        xs = _draws(cal, result, rng)
    predicted = cal.predict(xs)[:, scored]  # (draws, rows)
    observed = cal.observed.counts[scored]
    noisy = _noisy(cal, result, predicted, cal.observed.days[scored], rng)
    totals = noisy.sum(axis=1)
    low, high = np.percentile(totals, [2.5, 97.5])
    y, f = np.sqrt(observed), np.sqrt(predicted[0])
    sst = float(np.sum((y - y.mean()) ** 2))
    total_obs, total_fit = float(observed.sum()), float(predicted[0].sum())
    dates = cal.observed.dates[scored]
    return {
        "rows": int(scored.sum()),
        "from": str(dates.min()),
        "to": str(dates.max()),
        "rmse_sqrt": float(np.sqrt(np.mean((f - y) ** 2))),
        "r2_sqrt": 1.0 - float(np.sum((f - y) ** 2)) / sst if sst > 0 else None,
        "observed_total": total_obs,
        "forecast_total": total_fit,
        "forecast_total_95": [float(low), float(high)],
        "covered": bool(low <= total_obs <= high),
        "total_error_pct": 100.0 * (total_fit - total_obs) / total_obs if total_obs else None,
        "interval_method": f"{INTERVAL_DRAWS} draws from the Wald covariance, each with "
                           f"observation noise from the fit's likelihood",
    }  # fmt: skip
