"""Fit the SEIR model of `models/` to reported case counts.

Observation model: reports on day d in province p = reporting_p x weekday(d) x onsets_p(d -
delay), where onsets are the model's daily symptomatic onsets in the community (those isolated
by tracing before their symptoms are left out: they are not reported as new fevers) and weekday
is the broadcasts' weekly pattern when it is fitted (geometric mean 1).

Transmission: the scenario's contact-reduction schedule, except that a fitted reduction replaces
it from `calibration.lockdown_date`: one step, or with `calibration.knot_days` a piecewise-
constant reduction on knots that many days apart, tied by a random-walk smoothness penalty.

Fit: bounded least squares (`scipy.optimize.least_squares`) on residuals from
`optimiser.likelihood`: sqrt counts, or negative binomial deviance with the dispersion refitted
by maximum likelihood between rounds, plus one residual per prior (attack rate, infection
fatality ratio) and per knot step, from several Sobol starting points. The Jacobian comes from
one stacked integration of 1 + n_parameters draws per call. Intervals are Wald intervals from
the Jacobian at the optimum (the priors included), mapped back from the log scale where one is
used; forecasts and their intervals are in `optimiser.forecast`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.stats import qmc

from models.seir import ONSETS, D, S, SEIRParameters, integrate
from optimiser.epidemic import EpidemicSetup
from optimiser.heldout import heldout_score
from optimiser.inputs import Scenario, ScenarioError
from optimiser.likelihood import (
    fit_size,
    knot_residuals,
    nb_deviance_residuals,
    prior_residual,
    sqrt_residuals,
    weekday_factors,
    weekday_of,
)  # fmt: skip
from optimiser.observed import NATIONAL, Observed, read_observed  # noqa: F401  (the API)
from optimiser.schema import DEFAULT_BOUNDS, FITTABLE

LOG_SCALE = {"r0": True, "reduction": False, "reporting": True, "seed": True, "severity": True,
             "weekday": False}  # fmt: skip
"""Parameters searched on a log scale (positive, spanning orders of magnitude)."""
FD_STEP = 1e-4
"""Forward-difference step in the search space (log units or reduction units)."""
NB_ROUNDS = 2
"""Fits alternate the means and the data's scatter this many times: the negative binomial
dispersion, or, under priors or knots, the sqrt counts' standard deviation (their terms are in
units of one standard deviation, and so must the data's be)."""
FTOL = 1e-6
"""Relative change of the loss (and of x) at which a local fit stops: a thousandth of a
standard deviation on a 20-parameter fit, far below what the intervals resolve."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Parameter:
    name: str  # e.g. "r0", "seed[pyongyang]", "reduction[2022-05-19]" or "weekday[mon]"
    kind: str  # one of FITTABLE
    province: int | None  # None: shared by every province
    lower: float
    upper: float
    step: int = 0  # the knot of a reduction, the day of a weekday factor

    @property
    def log(self) -> bool:
        return LOG_SCALE[self.kind]

    def to_search(self, value):
        return np.log(value) if self.log else value

    def from_search(self, x):
        return np.exp(x) if self.log else x


@dataclass
class FitResult:
    parameters: list[Parameter]
    x: np.ndarray  # the optimum in the search space
    values: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    loss: float
    converged: bool
    message: str
    n_points: int
    r2: float
    rmse: float
    at_bound: list[bool]
    starts: list[dict]
    table: pd.DataFrame  # date, region, days, observed, fitted, in_fit
    heldout: dict | None
    timings_s: dict[str, float] = field(default_factory=dict)
    covariance: np.ndarray | None = None  # of x, in the search space
    size: float | None = None  # negative binomial dispersion of one day's count
    outcomes: dict[str, float] = field(default_factory=dict)  # what the priors speak of


class Calibrator:
    """Residuals, batched Jacobian and fit for one scenario and one observed series."""

    def __init__(
        self,
        scenario: Scenario,
        observed: Observed,
        fit: tuple[str, ...] | None = None,
        per_province: tuple[str, ...] = (),
        until: dt.date | None = None,
        forecast_days: int = 0,
    ):
        cal = scenario.config.calibration
        self.scenario, self.observed = scenario, observed
        fit = tuple(fit or cal.fit)
        unknown = [f for f in (*fit, *per_province) if f not in FITTABLE]
        if unknown:
            raise ScenarioError(
                [f"--fit/--per-province: {', '.join(unknown)} cannot be fitted; valid: "
                 f"{', '.join(FITTABLE)}"]
            )  # fmt: skip
        loose = [f for f in per_province if f not in fit]
        if loose:
            raise ScenarioError(
                [f"--per-province {','.join(loose)}: not among the fitted parameters "
                 f"({', '.join(fit)}); add it to --fit"]
            )  # fmt: skip
        if per_province and observed.national:
            raise ScenarioError(
                [f"--per-province {','.join(per_province)}: {observed.path} has only national "
                 f"rows; per-province parameters need province rows"]
            )  # fmt: skip
        if "weekday" in per_province:
            raise ScenarioError(["--per-province weekday: the weekday pattern is national"])
        if "reduction" in fit and cal.lockdown_date is None:
            raise ScenarioError(
                ["--fit reduction: scenario.yaml sets no calibration.lockdown_date to fit from"]
            )
        self.epi = EpidemicSetup.from_scenario(scenario)
        self.rtol = 1e-6  # integration tolerance of every prediction
        self.start = np.datetime64(scenario.config.start_date, "D")
        self.delay = cal.report_delay_days
        self.likelihood = cal.likelihood
        # Every prior's band is checked on its day; attack rate and IFR are also fitted.
        self.bands = {name: prior for name, prior in dict(cal.priors).items() if prior is not None}
        self.priors = {n: p for n, p in self.bands.items() if n != "deaths"}
        self.n_provinces = len(scenario.provinces)
        self.day_index = (observed.dates - self.start).astype(int)
        self.until = until
        last_data = int(self.day_index.max())
        in_window = np.ones(len(observed.counts), dtype=bool)
        if until is not None:
            in_window = observed.dates <= np.datetime64(until, "D")
        self.in_fit = np.isfinite(observed.counts) & in_window
        # --forecast-days counts from --until when there is one, else from the last data.
        origin = last_data if until is None else int((np.datetime64(until, "D") - self.start)
                                                     .astype(int))  # fmt: skip
        self.forecast_days = forecast_days
        self.forecast_to = origin + forecast_days
        self.scored = ~self.in_fit & np.isfinite(observed.counts)
        if until is not None and forecast_days:
            self.scored &= self.day_index <= self.forecast_to
        prior_days = [(p.at - scenario.config.start_date).days for p in self.bands.values()]
        self.last_day = max(last_data, self.forecast_to, *prior_days)
        self.n_days = self.last_day + 1
        self.region_index = np.array(
            [-1 if r == NATIONAL else scenario.province_ids.index(r) for r in observed.regions]
        )
        self.day_weekday = weekday_of(self.start + np.arange(self.n_days))
        pattern = self.epi.initial_exposed
        self.seed_pattern = (
            pattern / pattern.sum()
            if pattern.sum() > 0
            else self.epi.population / self.epi.population.sum()
        )
        self.defaults = {
            "r0": float(np.mean(np.asarray(self.epi.params.r0, dtype=float))),
            "reduction": 0.0,  # unused unless fitted: the scenario's schedule applies
            "reporting": cal.reporting,
            "seed": float(self.epi.initial_exposed.sum()),
            "severity": float(np.mean(np.asarray(self.epi.params.hospital_share, dtype=float))),
        }
        self.knots = self._knots(fit, until)
        self.parameters: list[Parameter] = []
        for kind in fit:
            low, high = cal.bounds.get(kind, DEFAULT_BOUNDS[kind])  # type: ignore[call-overload]
            if kind == "weekday":
                self.parameters += [
                    Parameter(f"weekday[{d}]", kind, None, low, high, i)
                    for i, d in enumerate(WEEKDAYS)
                ]
                continue
            steps = range(len(self.knots)) if kind == "reduction" else range(1)
            for k in steps:
                at = f"{self.knots[k]}" if kind == "reduction" and cal.knot_days else ""
                if kind in per_province:
                    self.parameters += [
                        Parameter(f"{kind}[{','.join(filter(None, (at, p)))}]", kind, i, low,
                                  high, k)
                        for i, p in enumerate(scenario.province_ids)
                    ]  # fmt: skip
                else:
                    name = f"{kind}[{at}]" if at else kind
                    self.parameters.append(Parameter(name, kind, None, low, high, k))
        n_rows = int(self.in_fit.sum())
        if n_rows <= len(self.parameters):
            window = f" on or before {until}" if until else ""
            raise ScenarioError(
                [f"{observed.path}: {n_rows} reported row(s){window} cannot determine "
                 f"{len(self.parameters)} parameter(s); need more rows than parameters"]
            )  # fmt: skip
        self.lower = np.array([p.to_search(p.lower) for p in self.parameters])
        self.upper = np.array([p.to_search(p.upper) for p in self.parameters])
        self.size: float = 50.0  # negative binomial dispersion, refitted by `fit`
        self.sqrt_sd: float = 1.0  # scatter of sqrt counts, refitted by `fit` under priors

    def _knots(self, fit: tuple[str, ...], until: dt.date | None) -> list[dt.date]:
        """The days a fitted reduction may change: the lockdown, then every knot_days while a
        whole knot_days of fitted data follows."""
        cal = self.scenario.config.calibration
        if "reduction" not in fit or cal.lockdown_date is None:
            return []
        if cal.knot_days is None:
            return [cal.lockdown_date]
        last = self.observed.dates[self.in_fit].max().astype(dt.date)
        knots = [cal.lockdown_date]
        while knots[-1] + dt.timedelta(days=2 * cal.knot_days) <= last:
            knots.append(knots[-1] + dt.timedelta(days=cal.knot_days))
        return knots

    # --- the model under many parameter sets at once -----------------------------------------

    def _values(self, xs: np.ndarray) -> dict[str, np.ndarray]:
        """Search-space rows (B, n) -> per-kind values: (B, P), reduction (B, K, P) and
        weekday (B, 6); defaults where not fitted."""
        n_b = xs.shape[0]
        values = {k: np.full((n_b, self.n_provinces), v) for k, v in self.defaults.items()}
        values["reduction"] = np.zeros((n_b, max(len(self.knots), 1), self.n_provinces))
        values["weekday"] = np.zeros((n_b, len(WEEKDAYS)))
        for j, p in enumerate(self.parameters):
            v = p.from_search(xs[:, j])
            if p.kind == "weekday":
                values["weekday"][:, p.step] = v
            elif p.kind == "reduction":
                where = slice(None) if p.province is None else p.province
                values["reduction"][:, p.step, where] = v[:, None] if p.province is None else v
            elif p.province is None:
                values[p.kind][:] = v[:, None]
            else:
                values[p.kind][:, p.province] = v
        # A shared seed is the total, spread by the scenario's pattern; a per-province seed is
        # that province's own.
        if not any(p.kind == "seed" and p.province is not None for p in self.parameters):
            values["seed"] = values["seed"] * self.seed_pattern[None, :]
        return values

    def natural_values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-kind values at one search-space point, defaults where not fitted."""
        return {k: v[0] for k, v in self._values(np.atleast_2d(x)).items()}

    def simulate(self, xs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Predicted reports per (draw, province, day) for search-space rows xs (B, n), and
        per draw the national attack rate, deaths and infection fatality ratio on each prior's
        day (and on the last day)."""
        v = self._values(np.atleast_2d(xs))
        n_b = v["r0"].shape[0]
        params = SEIRParameters(
            **{**vars(self.epi.params), "r0": v["r0"], "hospital_share": v["severity"]}
        )
        people = integrate(
            params, self.epi.population, v["seed"], self.n_days, mixing=self.epi.mixing,
            contact_factor=self._contact(v["reduction"]), n_draws=n_b, rtol=self.rtol,
            atol=1e-4,
        )  # fmt: skip
        onsets = people[:, ONSETS]  # symptomatic onsets in the community, a running total
        daily = np.diff(onsets, axis=-1)  # (B, P, days): onsets during day d
        reports = np.zeros_like(daily)
        reports[..., self.delay :] = daily[..., : daily.shape[-1] - self.delay]
        weekday = weekday_factors(v["weekday"])[:, self.day_weekday]  # (B, days)
        reports = v["reporting"][:, :, None] * weekday[:, None, :] * reports
        population = float(self.epi.population.sum())
        outcomes = {}
        for name, day in [("last", self.n_days - 1)] + [
            (n, (p.at - self.scenario.config.start_date).days) for n, p in self.bands.items()
        ]:
            infected = population - people[:, S, :, day].sum(axis=1)
            deaths = people[:, D, :, day].sum(axis=1)
            outcomes[f"attack_rate@{name}"] = infected / population
            outcomes[f"deaths@{name}"] = deaths
            outcomes[f"infection_fatality@{name}"] = deaths / np.maximum(infected, 1.0)
        return reports, outcomes

    def daily_reports(self, xs: np.ndarray) -> np.ndarray:
        """Predicted reports per (draw, province, day) for search-space rows xs (B, n)."""
        return self.simulate(xs)[0]

    def _contact(self, reduction: np.ndarray) -> np.ndarray:
        """(B, days, P) contact factor: the scenario's schedule, except that a fitted
        reduction (B, K, P) replaces it from the lockdown date on, knot by knot."""
        base = self.epi.contact_for(self.n_days)
        factor = np.broadcast_to(base, (reduction.shape[0], *base.shape)).copy()
        if reduction.ndim == 2:  # (B, P): one step
            reduction = reduction[:, None, :]
        if any(p.kind == "reduction" for p in self.parameters):
            for k, knot in enumerate(self.knots):
                first = int((np.datetime64(knot, "D") - self.start).astype(int))
                factor[:, max(first, 0) :, :] = 1.0 - reduction[:, k, None, :]
        return factor

    def rows(self, reports: np.ndarray) -> np.ndarray:
        """Sum predicted daily reports (B, P, days) into the observed rows -> (B, rows)."""
        cumulative = np.concatenate(
            [np.zeros((*reports.shape[:2], 1)), np.cumsum(reports, axis=-1)], axis=-1
        )
        end = self.day_index + 1
        begin = end - self.observed.days
        per_province = cumulative[..., end] - cumulative[..., begin]  # (B, P, rows)
        national = per_province.sum(axis=1)
        pick = np.clip(self.region_index, 0, None)
        province = np.take_along_axis(
            per_province, np.broadcast_to(pick[None, None, :], (reports.shape[0], 1, pick.size)),
            axis=1,
        )[:, 0]  # fmt: skip
        return np.where(self.region_index[None, :] < 0, national, province)

    def predict(self, xs: np.ndarray) -> np.ndarray:
        return self.rows(self.daily_reports(xs))

    def _stacked_residuals(self, xs: np.ndarray) -> np.ndarray:
        """(B, n) search-space rows -> (B, m) residuals: the data's, each prior's, each knot
        step's."""
        xs = np.atleast_2d(xs)
        reports, outcomes = self.simulate(xs)
        fitted = self.rows(reports)[:, self.in_fit]
        observed = self.observed.counts[self.in_fit]
        if self.likelihood == "negative-binomial":
            days = self.observed.days[self.in_fit]
            parts = [nb_deviance_residuals(observed, fitted, self.size * days)]
        else:  # in units of their own scatter, so that prior and knot terms weigh as stated
            parts = [sqrt_residuals(observed, fitted) / self.sqrt_sd]
        for name, prior in self.priors.items():
            parts.append(prior_residual(outcomes[f"{name}@{name}"], prior.median,
                                        prior.log_sd)[:, None])  # fmt: skip
        if len(self.knots) > 1 and any(p.kind == "reduction" for p in self.parameters):
            reduction = self._values(xs)["reduction"].mean(axis=-1)  # (B, K)
            log_sd = self.scenario.config.calibration.knot_log_sd
            parts.append(knot_residuals(reduction, log_sd))
        return np.concatenate(parts, axis=-1)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        return self._stacked_residuals(x[None])[0]

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Forward differences of every parameter from one stacked integration."""
        steps = np.where(x + FD_STEP <= self.upper, FD_STEP, -FD_STEP)
        stacked = self._stacked_residuals(np.vstack([x, x + np.diag(steps)]))
        return ((stacked[1:] - stacked[0]) / steps[:, None]).T

    # --- the fit -----------------------------------------------------------------------------

    def _starts(self) -> np.ndarray:
        """Sobol points over the kinds: every knot, province or day of one kind starts at the
        same point, the weekday pattern flat."""
        cal = self.scenario.config.calibration
        kinds = sorted({p.kind for p in self.parameters}, key=FITTABLE.index)
        sobol = qmc.Sobol(d=len(kinds), seed=20220512).random(cal.starts)
        columns = [kinds.index(p.kind) for p in self.parameters]
        starts = self.lower + sobol[:, columns] * (self.upper - self.lower)
        starts[:, [p.kind == "weekday" for p in self.parameters]] = 0.0
        return starts

    def fit(self, local_fits: int | None = None, max_nfev: int = 200) -> FitResult:
        clock = time.perf_counter()
        local_fits = local_fits or self.scenario.config.calibration.local_fits
        starts = self._starts()
        observed = self.observed.counts[self.in_fit]
        start_costs = np.sum(self._stacked_residuals(starts) ** 2, axis=1)
        order = np.argsort(start_costs)[:local_fits]
        runs = []
        for i in order:
            result = least_squares(
                self.residuals, starts[i], jac=self.jacobian, bounds=(self.lower, self.upper),
                method="trf", x_scale="jac", max_nfev=max_nfev, ftol=FTOL, xtol=FTOL,
            )  # fmt: skip
            runs.append((result, i))
        best, _ = min(runs, key=lambda r: r[0].cost)
        penalised = best.fun.size > observed.size  # priors or knots: weigh the data right
        if self.likelihood == "negative-binomial" or penalised:
            for _ in range(NB_ROUNDS):
                fitted = self.predict(best.x[None])[0, self.in_fit]
                if self.likelihood == "negative-binomial":
                    self.size = fit_size(observed, fitted, self.observed.days[self.in_fit])
                else:
                    self.sqrt_sd = float(np.sqrt(np.mean(sqrt_residuals(observed, fitted) ** 2)))
                best = least_squares(
                    self.residuals, best.x, jac=self.jacobian, bounds=(self.lower, self.upper),
                    method="trf", x_scale="jac", max_nfev=max_nfev, ftol=FTOL, xtol=FTOL,
                )  # fmt: skip
        fit_s = time.perf_counter() - clock

        n, k = int(self.in_fit.sum()), len(self.parameters)
        data_residuals = best.fun[:n]
        fitted = self.predict(best.x[None])[0, self.in_fit]
        sqrt_fun = sqrt_residuals(observed, fitted)
        ssr = float(np.sum(sqrt_fun**2))
        y = np.sqrt(observed)
        sst = float(np.sum((y - y.mean()) ** 2))
        jac = self.jacobian(best.x)
        # The data's own scatter scales the covariance (about 1 for a well-fitted dispersion);
        # the prior and smoothness rows enter at their stated weights.
        sigma2 = float(np.sum(data_residuals**2)) / max(n - k, 1)
        jac_scaled = jac.copy()
        jac_scaled[n:] *= np.sqrt(sigma2)
        covariance = sigma2 * np.linalg.pinv(jac_scaled.T @ jac_scaled)
        se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        values = np.array([p.from_search(x) for p, x in zip(self.parameters, best.x, strict=True)])
        low = np.array([
            p.from_search(max(x - 1.96 * s, lo))
            for p, x, s, lo in zip(self.parameters, best.x, se, self.lower, strict=True)
        ])  # fmt: skip
        high = np.array([
            p.from_search(min(x + 1.96 * s, hi))
            for p, x, s, hi in zip(self.parameters, best.x, se, self.upper, strict=True)
        ])  # fmt: skip
        _, outcomes = self.simulate(best.x[None])
        table = self._table(best.x)
        result = FitResult(
            parameters=self.parameters,
            x=best.x,
            values=values,
            lower_95=low,
            upper_95=high,
            loss=float(2 * best.cost),
            converged=bool(best.success and best.status > 0),
            message=str(best.message),
            n_points=n,
            r2=1.0 - ssr / sst if sst > 0 else float("nan"),
            rmse=float(np.sqrt(ssr / n)),
            at_bound=[
                bool(min(x - lo, hi - x) <= 1e-6 * max(1.0, hi - lo))
                for x, lo, hi in zip(best.x, self.lower, self.upper, strict=True)
            ],
            starts=[
                {
                    "start": int(i),
                    "loss": float(2 * r.cost),
                    "converged": bool(r.success),
                    "evaluations": int(r.nfev),
                }
                for r, i in runs
            ],  # fmt: skip
            table=table,
            heldout=None,
            timings_s={"fit": fit_s, "total": time.perf_counter() - clock},
            covariance=covariance,
            size=self.size if self.likelihood == "negative-binomial" else None,
            outcomes={k: float(v[0]) for k, v in outcomes.items()},
        )
        result.heldout = heldout_score(self, result)
        return result

    def _table(self, x: np.ndarray) -> pd.DataFrame:
        """Observed rows with the fit, plus daily forecasts to the forecast's last day."""
        reports = self.daily_reports(x[None])
        fitted = self.rows(reports)[0]
        obs = self.observed
        table = pd.DataFrame({
            "date": obs.dates.astype(str), "region": obs.regions, "days": obs.days,
            "observed": obs.counts, "fitted": fitted, "in_fit": self.in_fit,
        })  # fmt: skip
        extra = []
        last = int(self.day_index.max())
        for region in pd.unique(obs.regions):
            r = -1 if region == NATIONAL else self.scenario.province_ids.index(region)
            series = reports[0].sum(axis=0) if r < 0 else reports[0, r]
            for d in range(last + 1, self.forecast_to + 1):
                extra.append({
                    "date": str(self.start + d), "region": region, "days": 1,
                    "observed": np.nan, "fitted": series[d], "in_fit": False,
                })  # fmt: skip
        if extra:
            table = pd.concat([table, pd.DataFrame(extra)], ignore_index=True)
        return table.sort_values(["region", "date"], kind="stable").reset_index(drop=True)
