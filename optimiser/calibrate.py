"""Fit the SEIR model of `models/` to reported case counts.

Observation model: reports on day d in province p = reporting_p x onsets_p(d - delay), where
onsets are the model's daily symptomatic onsets in the community (those isolated by tracing
before their symptoms are left out: they are not reported as new fevers).
A `national` row is the sum over provinces; a row with `days` > 1 is the sum over that many days
ending on its date (for example the 350,000 ill counted at the first report).

Fit: bounded least squares (`scipy.optimize.least_squares`) on the square-root scale, which
stabilises the variance of Poisson-like counts, from several Sobol starting points. The Jacobian
comes from one stacked integration of 1 + n_parameters draws per call. Intervals are Wald
intervals from the Jacobian at the optimum, mapped back from the log scale where one is used.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from scipy.stats import qmc

from models.seir import ONSETS, SEIRParameters, integrate
from optimiser.epidemic import EpidemicSetup
from optimiser.inputs import Scenario, ScenarioError
from optimiser.output_folder import Output
from optimiser.reading import clip, csv_rows, listing, read_text, show, too_many
from optimiser.schema import FITTABLE

NATIONAL = "national"
LOG_SCALE = {"r0": True, "reduction": False, "reporting": True, "seed": True}
"""Parameters searched on a log scale (positive, spanning orders of magnitude)."""
MAX_SPAN_DAYS = 1095
"""Observations must fall within three years of the seed: longer is surely a wrong date."""
FD_STEP = 1e-4
"""Forward-difference step in the search space (log units or reduction units)."""


@dataclass(frozen=True)
class Observed:
    """Reported counts, one entry per CSV row (NaN where not reported)."""

    path: Path
    dates: np.ndarray  # datetime64[D]
    regions: np.ndarray  # str
    counts: np.ndarray  # float, NaN = not reported
    days: np.ndarray  # int, length of the period each row counts

    @property
    def national(self) -> bool:
        return bool((self.regions == NATIONAL).all())


def read_observed(path: str | Path, scenario: Scenario) -> Observed:
    """Read `date,region,new_cases[,days]`; every problem names the file, line and value."""
    path = Path(path)
    problems: list[str] = []
    text = read_text(path, problems)
    table = None if text is None else csv_rows(path, text, problems)
    if table is None:
        raise ScenarioError(problems)
    header, rows = table
    required, valid_columns = ("date", "region", "new_cases"), ("days", "source")
    if not set(header) & set(required):  # not a table of reports: quote nothing from it
        raise ScenarioError([f"{path}: its first line names none of the columns "
                             f"{', '.join(required)}"])  # fmt: skip
    problems = [f"{path}: missing column '{c}'" for c in required if c not in header]
    problems += [
        f"{path}: unknown column '{clip(c)}'; valid columns: date, region, new_cases, days, source"
        for c in header
        if c not in required + valid_columns
    ]
    if problems:
        raise ScenarioError(problems)
    regions_valid = [*scenario.province_ids, NATIONAL]
    population = {p.id: p.population for p in scenario.provinces}
    population[NATIONAL] = sum(population.values())
    start = np.datetime64(scenario.config.start_date, "D")
    dates, regions, counts, days = [], [], [], []
    seen: dict[tuple[str, str], int] = {}
    for line, cells in enumerate(rows, start=2):
        if too_many(problems, 0, path, line):
            break
        where = f"{path}, line {line}"
        if len(cells) != len(header):
            problems.append(f"{where}: {len(cells)} cells; expected {len(header)}, one per "
                            f"column ({', '.join(header)})")  # fmt: skip
            continue
        row = dict(zip(header, cells, strict=True))
        try:
            date = np.datetime64(dt.date.fromisoformat(row["date"].strip()), "D")
        except ValueError:
            problems.append(f"{where}, column 'date': {show(row['date'])} is not a date "
                            f"(YYYY-MM-DD)")  # fmt: skip
            continue
        region = row["region"].strip()
        if region not in regions_valid:
            problems.append(
                f"{where}, column 'region': {show(region)} is not a province of the scenario or "
                f"'national'; valid: {listing(regions_valid)}"
            )
            continue
        text = row["new_cases"].strip()
        if text == "":
            count = np.nan  # not reported: left out of the fit, never read as zero
        else:
            try:
                count = float(text)
            except ValueError:
                count = -1.0
            if not 0 <= count <= population[region] or count != int(count):
                problems.append(
                    f"{where}, column 'new_cases': {show(text)} is invalid; valid: a whole number "
                    f">= 0, at most the population of {region} ({population[region]:,}), or empty "
                    f"for not reported"
                )
                continue
        period = row.get("days", "").strip() or "1"
        if not re.fullmatch(r"[0-9]{1,4}", period) or not 1 <= int(period) <= MAX_SPAN_DAYS:
            problems.append(f"{where}, column 'days': {show(period)} is invalid; valid: a whole "
                            f"number from 1 to {MAX_SPAN_DAYS}")  # fmt: skip
            continue
        if date > start + MAX_SPAN_DAYS:
            problems.append(
                f"{where}: {row['date'].strip()} is more than {MAX_SPAN_DAYS} days after the "
                f"scenario's start_date {scenario.config.start_date}"
            )
            continue
        if date - int(period) + 1 < start:
            problems.append(
                f"{where}: {row['date'].strip()} ({period} day(s)) begins before the scenario's "
                f"start_date {scenario.config.start_date}, when the outbreak is seeded"
            )
            continue
        key = (str(date), region)
        if key in seen:
            problems.append(f"{where}: ({key[0]}, {region}) repeats line {seen[key]}")
            continue
        seen[key] = line
        dates.append(date)
        regions.append(region)
        counts.append(count)
        days.append(int(period))
    if problems:
        raise ScenarioError(problems)
    counts_arr = np.array(counts, dtype=float)
    if not np.isfinite(counts_arr).any():
        raise ScenarioError([f"{path}: no usable rows (no row has a reported new_cases)"])
    regions_arr = np.array(regions)
    if (regions_arr == NATIONAL).any() and not (regions_arr == NATIONAL).all():
        raise ScenarioError(
            [f"{path}: mixes 'national' rows with province rows; fit one or the other"]
        )
    return Observed(path, np.array(dates), regions_arr, counts_arr, np.array(days))


@dataclass(frozen=True)
class Parameter:
    name: str  # e.g. "r0" or "seed[pyongyang]"
    kind: str  # one of FITTABLE
    province: int | None  # None: shared by every province
    lower: float
    upper: float

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
        if "reduction" in fit and cal.lockdown_date is None:
            raise ScenarioError(
                ["--fit reduction: scenario.yaml sets no calibration.lockdown_date to fit from"]
            )
        self.epi = EpidemicSetup.from_scenario(scenario)
        self.rtol = 1e-6  # integration tolerance of every prediction
        self.start = np.datetime64(scenario.config.start_date, "D")
        self.delay = cal.report_delay_days
        self.n_provinces = len(scenario.provinces)
        self.day_index = (observed.dates - self.start).astype(int)
        self.last_day = int(self.day_index.max()) + forecast_days
        self.n_days = self.last_day + 1
        self.forecast_days = forecast_days
        in_window = np.ones(len(observed.counts), dtype=bool)
        if until is not None:
            in_window = observed.dates <= np.datetime64(until, "D")
        self.in_fit = np.isfinite(observed.counts) & in_window
        self.region_index = np.array(
            [-1 if r == NATIONAL else scenario.province_ids.index(r) for r in observed.regions]
        )
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
        }
        self.parameters: list[Parameter] = []
        for kind in fit:
            low, high = cal.bounds[kind]  # type: ignore[index]  # names checked above
            if kind in per_province:
                self.parameters += [
                    Parameter(f"{kind}[{p}]", kind, i, low, high)
                    for i, p in enumerate(scenario.province_ids)
                ]
            else:
                self.parameters.append(Parameter(kind, kind, None, low, high))
        n_rows = int(self.in_fit.sum())
        if n_rows <= len(self.parameters):
            window = f" on or before {until}" if until else ""
            raise ScenarioError(
                [f"{observed.path}: {n_rows} reported row(s){window} cannot determine "
                 f"{len(self.parameters)} parameter(s); need more rows than parameters"]
            )  # fmt: skip
        self.lower = np.array([p.to_search(p.lower) for p in self.parameters])
        self.upper = np.array([p.to_search(p.upper) for p in self.parameters])

    # --- the model under many parameter sets at once -----------------------------------------

    def _values(self, xs: np.ndarray) -> dict[str, np.ndarray]:
        """Search-space rows (B, n) -> per-kind values (B, P), defaults where not fitted."""
        n_b = xs.shape[0]
        values = {k: np.full((n_b, self.n_provinces), v) for k, v in self.defaults.items()}
        for j, p in enumerate(self.parameters):
            v = p.from_search(xs[:, j])
            if p.province is None:
                values[p.kind][:] = v[:, None]
            else:
                values[p.kind][:, p.province] = v
        # A shared seed is the total, spread by the scenario's pattern; a per-province seed is
        # that province's own.
        if not any(p.kind == "seed" and p.province is not None for p in self.parameters):
            values["seed"] = values["seed"] * self.seed_pattern[None, :]
        return values

    def natural_values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-kind values (P,) at one search-space point, defaults where not fitted."""
        return {k: v[0] for k, v in self._values(np.atleast_2d(x)).items()}

    def daily_reports(self, xs: np.ndarray) -> np.ndarray:
        """Predicted reports per (draw, province, day) for search-space rows xs (B, n)."""
        v = self._values(np.atleast_2d(xs))
        n_b = v["r0"].shape[0]
        params = SEIRParameters(**{**vars(self.epi.params), "r0": v["r0"]})
        contact = self._contact(v["reduction"])
        people = integrate(
            params, self.epi.population, v["seed"], self.n_days, mixing=self.epi.mixing,
            contact_factor=contact, n_draws=n_b, rtol=self.rtol, atol=1e-4,
        )  # fmt: skip
        onsets = people[:, ONSETS]  # symptomatic onsets in the community, a running total
        daily = np.diff(onsets, axis=-1)  # (B, P, days): onsets during day d
        reports = np.zeros_like(daily)
        reports[..., self.delay :] = daily[..., : daily.shape[-1] - self.delay]
        return v["reporting"][:, :, None] * reports

    def _contact(self, reduction: np.ndarray) -> np.ndarray:
        """(B, days, P) contact factor: the scenario's schedule, except that a fitted
        reduction replaces it from the lockdown date on."""
        base = self.epi.contact_for(self.n_days)
        factor = np.broadcast_to(base, (reduction.shape[0], *base.shape)).copy()
        lockdown = self.scenario.config.calibration.lockdown_date
        if any(p.kind == "reduction" for p in self.parameters):
            first = int((np.datetime64(lockdown, "D") - self.start).astype(int))
            factor[:, max(first, 0) :, :] = 1.0 - reduction[:, None, :]
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

    def residuals(self, x: np.ndarray) -> np.ndarray:
        fitted = self.predict(x[None])[0, self.in_fit]
        return np.sqrt(np.maximum(fitted, 0.0)) - np.sqrt(self.observed.counts[self.in_fit])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Forward differences of every parameter from one stacked integration."""
        steps = np.where(x + FD_STEP <= self.upper, FD_STEP, -FD_STEP)
        xs = np.vstack([x, x + np.diag(steps)])
        fitted = np.sqrt(np.maximum(self.predict(xs)[:, self.in_fit], 0.0))
        return ((fitted[1:] - fitted[0]) / steps[:, None]).T

    # --- the fit -----------------------------------------------------------------------------

    def fit(self, local_fits: int = 3) -> FitResult:
        clock = time.perf_counter()
        cal = self.scenario.config.calibration
        kinds = sorted({p.kind for p in self.parameters}, key=FITTABLE.index)
        sobol = qmc.Sobol(d=len(kinds), seed=20220512).random(cal.starts)
        # Every province starts a per-province parameter at the same point.
        columns = [kinds.index(p.kind) for p in self.parameters]
        starts = self.lower + sobol[:, columns] * (self.upper - self.lower)
        observed = np.sqrt(self.observed.counts[self.in_fit])
        start_costs = [
            0.5 * float(np.sum((np.sqrt(np.maximum(f, 0.0)) - observed) ** 2))
            for f in self.predict(starts)[:, self.in_fit]
        ]
        order = np.argsort(start_costs)[:local_fits]
        runs = []
        for i in order:
            result = least_squares(
                self.residuals, starts[i], jac=self.jacobian, bounds=(self.lower, self.upper),
                method="trf", x_scale="jac", max_nfev=200,
            )  # fmt: skip
            runs.append((result, i))
        best, _ = min(runs, key=lambda r: r[0].cost)
        fit_s = time.perf_counter() - clock

        n, k = best.fun.size, len(self.parameters)
        ssr = float(np.sum(best.fun**2))
        sst = float(np.sum((observed - observed.mean()) ** 2))
        jac = self.jacobian(best.x)
        sigma2 = ssr / max(n - k, 1)
        covariance = sigma2 * np.linalg.pinv(jac.T @ jac)
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
        table = self._table(best.x)
        return FitResult(
            parameters=self.parameters,
            x=best.x,
            values=values,
            lower_95=low,
            upper_95=high,
            loss=ssr,
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
            heldout=self._heldout(table),
            timings_s={"fit": fit_s, "total": time.perf_counter() - clock},
        )

    def _table(self, x: np.ndarray) -> pd.DataFrame:
        """Observed rows with the fit, plus daily forecasts for `forecast_days` past the data."""
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
            for d in range(last + 1, self.n_days):
                extra.append({
                    "date": str(self.start + d), "region": region, "days": 1,
                    "observed": np.nan, "fitted": series[d], "in_fit": False,
                })  # fmt: skip
        if extra:
            table = pd.concat([table, pd.DataFrame(extra)], ignore_index=True)
        return table.sort_values(["region", "date"], kind="stable").reset_index(drop=True)

    def _heldout(self, table: pd.DataFrame) -> dict | None:
        held = table[~table["in_fit"] & table["observed"].notna()]
        if held.empty:
            return None
        y, f = np.sqrt(held["observed"].to_numpy()), np.sqrt(held["fitted"].to_numpy())
        sst = float(np.sum((y - y.mean()) ** 2))
        total_obs, total_fit = float(held["observed"].sum()), float(held["fitted"].sum())
        return {
            "rows": len(held),
            "from": str(held["date"].min()),
            "to": str(held["date"].max()),
            "rmse_sqrt": float(np.sqrt(np.mean((f - y) ** 2))),
            "r2_sqrt": 1.0 - float(np.sum((f - y) ** 2)) / sst if sst > 0 else None,
            "observed_total": total_obs,
            "forecast_total": total_fit,
            "total_error_pct": 100.0 * (total_fit - total_obs) / total_obs if total_obs else None,
        }


# --- outputs ---------------------------------------------------------------------------------


def fit_summary(result: FitResult, cal: Calibrator) -> dict:
    """The content of fit.json."""
    import hashlib

    from optimiser.results import plain

    scenario = cal.scenario
    summary: dict = plain({
        "scenario": scenario.config.name,
        "observed": str(cal.observed.path),
        "observed_sha256": hashlib.sha256(cal.observed.path.read_bytes()).hexdigest(),
        "start_date": str(scenario.config.start_date),
        "lockdown_date": str(scenario.config.calibration.lockdown_date),
        "report_delay_days": cal.delay,
        "fitted_scale": "sqrt(counts)",
        "parameters": {
            p.name: {"value": v, "lower_95": lo, "upper_95": hi,
                     "search_bounds": [p.lower, p.upper], "at_bound": edge}
            for p, v, lo, hi, edge in zip(result.parameters, result.values, result.lower_95,
                                          result.upper_95, result.at_bound, strict=True)
        },
        "interval_method": "Wald, from the Jacobian at the optimum (log scale for r0, "
                           "reporting and seed); residuals are serially correlated, so these "
                           "intervals are narrower than the truth",
        "r2": result.r2,
        "rmse": result.rmse,
        "loss": result.loss,
        "n_points": result.n_points,
        "n_parameters": len(result.parameters),
        "converged": result.converged,
        "message": result.message,
        "starts": result.starts,
        "heldout": result.heldout,
        "timings_s": result.timings_s,
    })  # fmt: skip
    return summary


def overrides_yaml(result: FitResult, cal: Calibrator, out: Path) -> str:
    """scenario-overrides.yaml: the whole epidemic block the fit used, the parameters it held
    fixed as well as those it fitted (at full precision), and the reporting share and delay, so
    that `aidopt run SCENARIO --set @scenario-overrides.yaml` gives exactly the fitted model
    whatever the scenario's own epidemic block says."""
    import yaml

    scenario = cal.scenario
    fitted = {p.name: float(v) for p, v in zip(result.parameters, result.values, strict=True)}
    epidemic: dict = scenario.epidemic.model_dump(mode="json", by_alias=True)
    if "r0" in fitted:
        epidemic["r0"] = fitted["r0"]
    lockdown = scenario.config.calibration.lockdown_date
    if "reduction" in fitted and lockdown is not None:  # a fitted reduction implies a date
        earlier = [
            {"from": s.from_.isoformat(), "reduction": s.reduction}
            for s in scenario.epidemic.contact_reduction
            if s.from_ < lockdown
        ]
        epidemic["contact_reduction"] = earlier + [
            {"from": lockdown.isoformat(), "reduction": fitted["reduction"]}
        ]
    seeds = cal.natural_values(result.x)["seed"]
    epidemic["initial_infections"] = {
        pid: float(s) for pid, s in zip(scenario.province_ids, seeds, strict=True)
    }
    epidemic["initial_infections_factor"] = 1.0  # the fitted seeds include any factor held
    calibration = {
        "report_delay_days": cal.delay,
        "reporting": fitted.get("reporting", scenario.config.calibration.reporting),
    }
    skipped = [
        p.name
        for p in result.parameters
        if p.province is not None and p.kind in ("r0", "reduction", "reporting")
    ]
    body = {"epidemic": epidemic, "calibration": calibration}
    header = (
        f"# Fitted by aidopt calibrate to {cal.observed.path}\n"
        f"# R2 {result.r2:.3f} and RMSE {result.rmse:.2f} on the sqrt scale, "
        f"{result.n_points} points; converged: {result.converged}\n"
        f"# Fitted: {', '.join(fitted)}; every other epidemic field is the one the fit held.\n"
        f"# Use: aidopt run {scenario.folder} --set @{out / 'scenario-overrides.yaml'}\n"
    )
    if skipped:
        header += f"# Not scenario fields, see fit.json: {', '.join(skipped)}\n"
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)


def plot_fit(table: pd.DataFrame, path: Path, title: str) -> None:
    """Observed against fitted per region; held-out and forecast days marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = list(pd.unique(table["region"]))
    cols = 1 if len(regions) == 1 else 4
    rows = -(-len(regions) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols if cols > 1 else 9, 2.8 * rows + 0.6 if cols > 1 else 4.5),
        squeeze=False, sharex=True,
    )  # fmt: skip
    for ax, region in zip(axes.flat, regions, strict=False):
        part = table[(table["region"] == region) & (table["days"] == 1)]
        dates = pd.to_datetime(part["date"])
        fit_rows = part["in_fit"].to_numpy()
        ax.plot(dates, part["fitted"], color="tab:blue", lw=1.5, label="model")
        ax.scatter(dates[fit_rows], part["observed"][fit_rows], s=8, color="black",
                   label="observed, fitted")  # fmt: skip
        held = ~fit_rows & part["observed"].notna().to_numpy()
        if held.any():
            ax.scatter(dates[held], part["observed"][held], s=10, facecolors="none",
                       edgecolors="tab:red", label="observed, held out")  # fmt: skip
        longer = table[(table["region"] == region) & (table["days"] > 1)]
        note = "".join(
            f"\n+ {r.observed:,.0f} observed / {r.fitted:,.0f} fitted, {r.days} days to {r.date}"
            for r in longer.itertuples()
        )
        ax.set_title(region.replace("_", " ") + note, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", rotation=45)
    for ax in list(axes.flat)[len(regions) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.supylabel("reported new cases per day", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_calibration(result: FitResult, cal: Calibrator, output: Output) -> list[Path]:
    """Write fit.json, fit.csv, fit.png and scenario-overrides.yaml into the claimed folder."""
    import json

    out = output.given
    summary = fit_summary(result, cal)
    title = (f"{cal.scenario.config.name}: {cal.observed.path.name}, R2 {result.r2:.2f} "
             f"(sqrt scale)")  # fmt: skip
    writers = {
        "fit.json": lambda p: p.write_text(json.dumps(summary, indent=2) + "\n"),
        "fit.csv": lambda p: result.table.to_csv(p, index=False, float_format="%.6g"),
        "fit.png": lambda p: plot_fit(result.table, p, title),
        "scenario-overrides.yaml": lambda p: p.write_text(overrides_yaml(result, cal, out)),
    }
    return output.write(writers)
