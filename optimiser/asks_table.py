"""The asks table: one row per ask against the reference run, ranked where the difference is
larger than the band, written as `asks.csv`, summarised in `summary.json` and in plain words.

`deaths_averted` is the reference's deaths minus the ask's (negative: the ask costs lives).
`dual_deaths_averted` is what the reference's LP duals predict for the same change (capacity
and quota asks only): a derivative at the reference's plan and linearisation, extrapolated, with
spending counted as deaths at `objective.usd_per_death_averted`. With `--draws` (the scenario's
uncertainty block) each ask's plan is also met by the drawn epidemics (`asks_run.over_draws`):
`deaths_averted_p05`, `_p50` and `_p95` sit beside `deaths_averted` and `top3_probability` is,
for a relaxation, the share of draws in which it is among the three relaxations that avert the
most deaths there (`asks_run.OverDraws.top_share`; a refusal is no ask to make: empty); a row
keeps its one line, and the rank stays that of the scenario's own epidemic.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from optimiser.asks import Ask
from optimiser.asks_run import TOP_N, OverDraws, Result, Step, usable
from optimiser.inputs import DPRK, Scenario

REFERENCE = "base"
"""The `ask` of the reference row: the scenario as it is, re-solved like every ask."""
EFFECTS = ("measurable", "no measurable effect", "not converged", "failed", "reference")
TOP = 10
DRAW_PERCENTILES = (5, 50, 95)


def tonnes_into_dprk(scn: Scenario, r: Result) -> float:
    """Tonnes crossing into the DPRK over the horizon, by every entry arc [t]."""
    country = scn.node_country
    entry = [a.id for a in scn.arcs if country[a.from_] != DPRK and country[a.to] == DPRK]
    return sum(r.tonnes.get(a, 0.0) for a in entry)


def dual_estimate(ask: Ask, reference: Result) -> float:
    """Deaths the reference's duals predict the ask averts, or NaN where no dual prices it."""
    if ask.dual is None:
        return float("nan")
    values = reference.capacity_value if ask.dual.kind == "capacity" else reference.quota_value
    value = values.get(ask.dual.subject)
    return float("nan") if value is None else value * ask.dual.amount


def effect(r: Result, averted: float, band: float) -> str:
    if r.status == "failed":
        return "failed"
    if not usable(r):
        return "not converged"
    return "measurable" if abs(averted) >= band else "no measurable effect"


def _row(scn: Scenario, ask: Ask | None, r: Result, reference: Result, band: float,
         overrides: list[str], items: Sequence[str]) -> dict[str, Any]:  # fmt: skip
    averted = reference.deaths - r.deaths
    row: dict[str, Any] = {
        "ask": REFERENCE if ask is None else ask.id,
        "kind": REFERENCE if ask is None else ask.kind,
        "rule": "the scenario as it is" if ask is None else ask.rule,
        "direction": "" if ask is None else ask.direction,
        "overrides": json.dumps(overrides),
        "deaths_with_plan": r.deaths,
        "deaths_averted": averted,
        "converged": r.converged,
        "rank": pd.NA,
        "effect": "reference" if ask is None else effect(r, averted, band),
        "iterations": r.iterations,
        "dual_deaths_averted": float("nan") if ask is None else dual_estimate(ask, reference),
        "tonnes_into_dprk": tonnes_into_dprk(scn, r),
        "tonnes_into_dprk_change": tonnes_into_dprk(scn, r) - tonnes_into_dprk(scn, reference),
        "spending_usd": r.spending_usd["total"],
        "spending_change_usd": r.spending_usd["total"] - reference.spending_usd["total"],
    }
    for item in items:
        row[f"fill_rate_change.{item}"] = r.fill_rate[item] - reference.fill_rate[item]
    row |= {"words": "The scenario as it is" if ask is None else ask.words,
            "status": r.status, "message": r.message, "wall_s": r.wall_s}  # fmt: skip
    return row


def table(scn: Scenario, asks: Sequence[Ask], results: Sequence[Result], reference: Result,
          band: float, replays: Sequence[list[str]], reference_replay: list[str],
          items: Sequence[str], over: OverDraws | None = None) -> pd.DataFrame:  # fmt: skip
    """The reference row, then the ranked rows by rank, then the rest in the asks' order."""
    rows = [_row(scn, None, reference, reference, band, reference_replay, items)]
    rows += [_row(scn, a, r, reference, band, o, items)
             for a, r, o in zip(asks, results, replays, strict=True)]  # fmt: skip
    df = pd.DataFrame(rows)
    if over is not None:
        at = df.columns.get_loc("deaths_averted") + 1
        nan = np.full((1, over.averted.shape[1]), np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: runs with no answer
            spread = np.nanpercentile(np.vstack([nan, over.averted]), DRAW_PERCENTILES, axis=1)
        for i, q in enumerate(DRAW_PERCENTILES):
            df.insert(at + i, f"deaths_averted_p{q:02d}", spread[i])
        relax = np.array([a.direction == "relax" for a in asks])
        df.insert(at + len(DRAW_PERCENTILES), f"top{TOP_N}_probability",
                  [np.nan, *over.top_share(relax)])  # fmt: skip
    ranked = df.index[df["effect"] == "measurable"]
    order = df.loc[ranked, "deaths_averted"].sort_values(ascending=False, kind="stable").index
    df["rank"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df.loc[order, "rank"] = range(1, len(order) + 1)
    first = [0, *order, *(i for i in df.index[1:] if i not in set(order))]
    return df.loc[first].reset_index(drop=True)


def write_table(df: pd.DataFrame, path) -> None:
    df.to_csv(path, index=False, float_format="%.10g")


def top_rows(df: pd.DataFrame, n: int = TOP) -> list[dict[str, Any]]:
    """The first n ranked rows, as plain dicts (for summary.json)."""
    ranked = df[df["rank"].notna()].head(n)
    keep = ["rank", "ask", "words", "direction", "deaths_averted",
            *(c for c in df.columns
               if c.startswith("deaths_averted_p") or c == f"top{TOP_N}_probability"),
            "dual_deaths_averted", "deaths_with_plan", "overrides"]  # fmt: skip
    return [{k: _plain(row[k]) if k != "overrides" else json.loads(row[k]) for k in keep}
            for _, row in ranked.iterrows()]  # fmt: skip


def greedy_table(steps: Sequence[Step], replays: Sequence[list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "step": i + 1, "ask": s.ask.id, "words": s.ask.words,
        "overrides": json.dumps(o), "deaths_with_plan": s.result.deaths,
        "deaths_averted": s.averted, "cumulative_deaths_averted": s.cumulative,
        "converged": s.result.converged, "candidates": s.candidates,
    } for i, (s, o) in enumerate(zip(steps, replays, strict=True))],
        columns=["step", "ask", "words", "overrides", "deaths_with_plan", "deaths_averted",
                 "cumulative_deaths_averted", "converged", "candidates"])  # fmt: skip


def _plain(value: Any) -> Any:
    if value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _deaths(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 else f"{x:,.1f}"


def _details(row: pd.Series, items: Sequence[str]) -> str:
    changes = sorted(((row[f"fill_rate_change.{k}"], k) for k in items
                      if math.isfinite(row[f"fill_rate_change.{k}"])),
                     key=lambda t: -abs(t[0]))[:3]  # fmt: skip
    fills = ", ".join(f"{k} {100 * v:+.1f} pts" for v, k in changes if abs(v) >= 5e-4)
    parts = [f"fill rate {fills}"] if fills else []
    parts.append(f"{row['tonnes_into_dprk_change']:+,.1f} t into the DPRK")
    parts.append(f"spending {row['spending_change_usd'] / 1e6:+,.2f} M USD")
    return "; ".join(parts)


def plain_words(df: pd.DataFrame, band: float, items: Sequence[str], n: int = TOP) -> str:
    """The answer as a negotiator reads it: the asks worth most first, then what refusals
    would cost, then what makes no measurable difference."""
    lines = []
    ranked = df[df["rank"].notna()]
    gains = ranked[ranked["deaths_averted"] > 0].head(n)
    if len(gains):
        duals = gains["dual_deaths_averted"].notna().any()
        lines.append("Ask first (deaths averted" + ("; in brackets what the LP's dual predicted"
                                                    if duals else "") + "):")  # fmt: skip
    for _, row in gains.iterrows():
        dual = row["dual_deaths_averted"]
        said = f" (dual: {_deaths(dual)})" if math.isfinite(dual) else ""
        if "deaths_averted_p05" in row and math.isfinite(row["deaths_averted_p05"]):
            said += (f"; over the drawn epidemics median {_deaths(row['deaths_averted_p50'])}, "
                     f"90 % range {_deaths(row['deaths_averted_p05'])} to "
                     f"{_deaths(row['deaths_averted_p95'])}, among the top {TOP_N} asks in "
                     f"{100 * row[f'top{TOP_N}_probability']:.0f} % of draws")  # fmt: skip
        lines.append(f"  {row['rank']:>2}. {row['words']}: {_deaths(row['deaths_averted'])} "
                     f"deaths averted{said}")  # fmt: skip
        lines.append(f"      {_details(row, items)}")
    if not len(gains):
        lines.append(f"No ask averts more deaths than the band ({_deaths(band)}).")
    costs = ranked[ranked["deaths_averted"] < 0].sort_values("deaths_averted")
    if len(costs):
        lines.append("What refusals would cost:")
    for _, row in costs.iterrows():
        lines.append(f"   - {row['words']}: {_deaths(-row['deaths_averted'])} more deaths")
    quiet = df[df["effect"] == "no measurable effect"]["ask"].tolist()
    if quiet:
        shown = ", ".join(quiet[:8]) + (f" and {len(quiet) - 8} more" if len(quiet) > 8 else "")
        lines.append(f"No measurable effect (within +-{_deaths(band)} deaths): {len(quiet)} "
                     f"ask(s): {shown} (a tighter coupling.tolerance narrows the band, e.g. "
                     f"--set coupling.tolerance=1e-4, at the cost of time)")  # fmt: skip
    for what in ("not converged", "failed"):
        bad = df[df["effect"] == what]
        if len(bad):
            first = bad.iloc[0]
            lines.append(
                f"{what.capitalize()}: {len(bad)} ask(s) ({', '.join(bad['ask'])})"
                + (f"; first: {first['message']}" if first["message"] else "")
            )
    return "\n".join(lines)
