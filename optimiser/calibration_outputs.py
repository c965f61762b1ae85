"""What `aidopt calibrate` writes: fit.json, fit.csv, fit.png and scenario-overrides.yaml."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from optimiser.calibrate import Calibrator, FitResult
from optimiser.output_folder import Output


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
        "fitted_scale": "sqrt(counts)" if cal.likelihood == "sqrt-least-squares"
                        else "negative binomial deviance",
        "likelihood": cal.likelihood,
        "nb_size_per_day": result.size,
        "knots": [str(k) for k in cal.knots],
        "outcomes": result.outcomes,
        "priors": {
            name: {"median": prior.median, "log_sd": prior.log_sd, "band": list(prior.band),
                   "at": str(prior.at), "source": prior.source,
                   "fitted": name in cal.priors, "value": result.outcomes.get(f"{name}@{name}"),
                   "inside_band": prior.band[0] <= result.outcomes.get(f"{name}@{name}", -1)
                                  <= prior.band[1]}
            for name, prior in cal.bands.items()
        },
        "parameters": {
            p.name: {"value": v, "lower_95": lo, "upper_95": hi,
                     "search_bounds": [p.lower, p.upper], "at_bound": edge}
            for p, v, lo, hi, edge in zip(result.parameters, result.values, result.lower_95,
                                          result.upper_95, result.at_bound, strict=True)
        },
        "interval_method": "Wald, from the Jacobian at the optimum (log scale for r0, "
                           "reporting and seed); residuals are serially correlated, so these "
                           "intervals are narrower than the truth",
        "r2": result.r2,  # always on the sqrt scale, whatever the likelihood
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
    natural = cal.natural_values(result.x)
    if cal.knots and any(p.kind == "reduction" for p in result.parameters):
        # A fitted reduction implies its dates: the lockdown and every knot after it.
        earlier = [
            {"from": s.from_.isoformat(), "reduction": s.reduction}
            for s in scenario.epidemic.contact_reduction
            if s.from_ < cal.knots[0]
        ]
        epidemic["contact_reduction"] = earlier + [
            {"from": knot.isoformat(), "reduction": float(natural["reduction"][k].mean())}
            for k, knot in enumerate(cal.knots)
        ]
    if "severity" in fitted:
        epidemic["hospital_share"] = fitted["severity"]
    seeds = natural["seed"]
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
        if (p.province is not None and p.kind in ("r0", "reduction", "reporting"))
        or p.kind == "weekday"
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
