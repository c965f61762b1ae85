"""Forecasts from a fit, scored against what was reported next, beside two simple baselines.

* `heldout_score` (`optimiser.heldout`, which calibrate also uses): the fit's forecast of the
  rows it did not see (with `--until` and
  `--forecast-days N`, exactly the N days after the cut-off), with a 95 % interval on their total
  from the fit's uncertainty: parameter draws from the Wald covariance (clipped to the search
  bounds), each integrated, then observation noise drawn from the fit's own likelihood
  (negative binomial with the fitted dispersion, or normal on the sqrt scale with its RMSE).
* `trend_total`: a log-linear trend fitted by least squares to the last `TREND_DAYS` daily counts
  up to the cut-off, extrapolated (the baseline issue 19 names).
* `persistence_total`: the last `TREND_DAYS` days' mean count held for every forecast day (the
  mean rather than the last day so that one broadcast's weekday does not set it).
* `rolling`: all three from every origin of `calibration.rolling_origins`, one fit per origin.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optimiser.calibrate import Calibrator
from optimiser.inputs import Scenario
from optimiser.observed import NATIONAL, Observed
from optimiser.output_folder import Output

TREND_DAYS = 7
"""Days of data the log-linear trend and the persistence forecast are fitted to."""
def _last_days(observed: Observed, origin: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Day offsets (0 = origin) and counts of the last TREND_DAYS national one-day rows."""
    cut = np.datetime64(origin, "D")
    keep = ((observed.regions == NATIONAL) & (observed.days == 1) & (observed.dates <= cut)
            & np.isfinite(observed.counts))  # fmt: skip
    dates, counts = observed.dates[keep][-TREND_DAYS:], observed.counts[keep][-TREND_DAYS:]
    return (dates - cut).astype(int), counts


def trend_total(observed: Observed, origin: dt.date, days: int) -> float:
    """Sum over days 1..N after the origin of exp(a + b t), a and b from log counts."""
    t, y = _last_days(observed, origin)
    b, a = np.polyfit(t, np.log(np.maximum(y, 1.0)), 1)
    ahead = np.arange(1, days + 1)
    return float(np.exp(a + b * ahead).sum())


def persistence_total(observed: Observed, origin: dt.date, days: int) -> float:
    return float(np.mean(_last_days(observed, origin)[1]) * days)


def error_pct(forecast: float, observed: float) -> float:
    return 100.0 * (forecast - observed) / observed


@dataclass
class Rolling:
    table: pd.DataFrame  # one row per origin
    forecasts: dict[str, pd.DataFrame]  # per origin: date, fitted (daily national)

    def summary(self) -> dict:
        t = self.table
        return {
            "origins": list(t["origin"]),
            "forecast_days": int(t["forecast_days"].iloc[0]),
            "median_abs_error_pct": {
                m: float(t[f"{m}_error_pct"].abs().median())
                for m in ("model", "trend", "persistence")
            },
            "model_beats_trend": int(
                (t["model_error_pct"].abs() < t["trend_error_pct"].abs()).sum()
            ),
            "intervals_cover": int(t["covered"].sum()),
            "rows": t.to_dict(orient="records"),
        }


def rolling_fit(scenario: Scenario, fit: tuple[str, ...] | None) -> tuple[str, ...]:
    """The parameters a rolling origin fits: all but the weekday pattern, which a week of data
    cannot tell from the trend (the first origin has 10 rows)."""
    return tuple(f for f in (fit or scenario.config.calibration.fit) if f != "weekday")


def rolling(
    scenario: Scenario,
    observed: Observed,
    origins: tuple[dt.date, ...],
    days: int = 14,
    fit: tuple[str, ...] | None = None,
    max_nfev: int = 200,
) -> Rolling:
    """Fit to each origin, forecast the next `days` and score them beside the baselines."""
    fit = rolling_fit(scenario, fit)
    rows, forecasts = [], {}
    for origin in origins:
        cal = Calibrator(scenario, observed, fit, (), origin, days)
        result = cal.fit(local_fits=1, max_nfev=max_nfev)  # the best start of the Sobol set
        h = result.heldout
        if h is None:
            continue
        trend = trend_total(observed, origin, days)
        persistence = persistence_total(observed, origin, days)
        rows.append({
            "origin": str(origin), "forecast_days": days, "from": h["from"], "to": h["to"],
            "observed_total": h["observed_total"], "model_total": h["forecast_total"],
            "model_low_95": h["forecast_total_95"][0], "model_high_95": h["forecast_total_95"][1],
            "covered": h["covered"], "model_error_pct": h["total_error_pct"],
            "trend_total": trend, "trend_error_pct": error_pct(trend, h["observed_total"]),
            "persistence_total": persistence,
            "persistence_error_pct": error_pct(persistence, h["observed_total"]),
            "r2_in_fit": result.r2, "converged": result.converged,
        })  # fmt: skip
        national = result.table[result.table["region"] == NATIONAL]
        forecasts[str(origin)] = national[national["days"] == 1][["date", "fitted"]]
    return Rolling(pd.DataFrame(rows), forecasts)


def plot_rolling(run: Rolling, observed: Observed, path: Path, title: str) -> None:
    """Reported series (log scale) with each origin's model forecast over its scored days."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    keep = (observed.days == 1) & np.isfinite(observed.counts) & (observed.counts > 0)
    ax.scatter(pd.to_datetime(observed.dates[keep].astype(str)), observed.counts[keep], s=8,
               color="black", label="reported")  # fmt: skip
    colours = plt.cm.viridis(np.linspace(0, 0.9, max(len(run.table), 1)))
    for colour, row in zip(colours, run.table.itertuples(), strict=False):
        part = run.forecasts[row.origin]
        ahead = (part["date"] > row.origin) & (part["date"] <= row.to)
        dates = pd.to_datetime(part["date"][ahead])
        ax.plot(dates, part["fitted"][ahead], color=colour, lw=2,
                label=f"from {row.origin}: {row.model_error_pct:+.0f}% "
                      f"(trend {row.trend_error_pct:+.0f}%)")  # fmt: skip
        ax.axvline(pd.to_datetime(row.origin), color=colour, lw=0.6, ls=":")
    ax.set_yscale("log")
    ax.set_ylabel("reported new fevers per day")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_rolling(run: Rolling, observed: Observed, scenario: Scenario,
                  output: Output) -> list[Path]:  # fmt: skip
    """Write rolling.json, rolling.csv and rolling.png into the claimed folder."""
    import json

    from optimiser.results import plain

    summary = plain({"scenario": scenario.config.name, "observed": str(observed.path),
                     **run.summary()})  # fmt: skip
    title = (f"{scenario.config.name}: {run.table['forecast_days'].iloc[0]}-day forecasts, "
             f"median |error| {summary['median_abs_error_pct']['model']:.0f}% (trend "
             f"{summary['median_abs_error_pct']['trend']:.0f}%)")  # fmt: skip
    writers = {
        "rolling.json": lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"),
        "rolling.csv": lambda p: run.table.to_csv(p, index=False, float_format="%.6g"),
        "rolling.png": lambda p: plot_rolling(run, observed, p, title),
    }
    return output.write(writers)
