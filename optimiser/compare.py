"""`aidopt compare A B`: how two results differ, item by item.

Items (B minus A in `difference`): deaths and infections without aid and with the plan
[persons]; fill rate per commodity and medical teams [1]; tonnes over the horizon per entry
route [t]; unmet need per province and commodity [units]; team-weeks present and short per
province [team-weeks]; spending per kind [USD] where the summaries hold it. An item only one
result has shows an empty cell for the other.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from optimiser import views

SHOWN_PER_KIND = 15
"""Printed rows per kind of item (unmet need has one per province and commodity): the largest
differences; the CSV holds them all."""

RELATIVE_TOLERANCE = 1e-9
"""Two values closer than this share of the larger (or than this, near zero) count as equal:
rounding noise, not a difference."""

UNITS = {
    "deaths": "persons",
    "infections": "persons",
    "fill_rate": "1",
    "tonnes": "t",
    "unmet": "units",
    "team_weeks_present": "team-weeks",
    "team_weeks_short": "team-weeks",
    "spending_usd": "USD",
}


def items(result: views.Result) -> dict[str, float]:
    """Every compared number of one result, by item name."""
    s, ds = result.summary, result.ds
    out: dict[str, float] = {}
    for key in ("deaths_no_aid", "deaths_with_plan", "infections_no_aid", "infections_with_plan"):
        if s.get(key) is not None:
            out[key] = float(s[key])
    for commodity, rate in s.get("fill_rate", {}).items():
        if rate is not None:
            out[f"fill_rate.{commodity}"] = float(rate)
    for arc, tonnes in views.entry_tonnes(ds).items():
        out[f"tonnes.{arc}"] = float(tonnes)
    unmet = ds["unmet"].sum("week").transpose("province", "commodity").to_pandas()
    for province, row in unmet.iterrows():
        for commodity, value in row.items():
            out[f"unmet.{province}.{commodity}"] = float(value)
    present = ds["team_present"].sum("week").to_series()
    short = ds["team_unmet"].sum("week").to_series()
    for province in present.index:
        out[f"team_weeks_present.{province}"] = float(present[province])
        out[f"team_weeks_short.{province}"] = float(short[province])
    for kind, usd in (s.get("spending_usd") or {}).items():
        if usd is not None:
            out[f"spending_usd.{kind}"] = float(usd)
    return out


def compare(a: views.Result, b: views.Result) -> pd.DataFrame:
    """Columns item, a, b, difference (b - a); items in A's order, then those only B has."""
    left, right = items(a), items(b)
    names = list(left) + [k for k in right if k not in left]
    rows = []
    for name in names:
        x, y = left.get(name, math.nan), right.get(name, math.nan)
        rows.append({"item": name, "a": x, "b": y, "difference": y - x})
    return pd.DataFrame(rows, columns=["item", "a", "b", "difference"])


def differs(table: pd.DataFrame) -> pd.Series:
    """Rows whose values differ beyond rounding noise, or that only one result has."""
    a, b = table["a"], table["b"]
    scale = pd.concat([a.abs(), b.abs()], axis=1).max(axis=1).clip(lower=1.0)
    one_sided = a.isna() ^ b.isna()
    return one_sided | ((b - a).abs() > RELATIVE_TOLERANCE * scale)


def unit_of(item: str) -> str:
    prefix = item.split(".")[0]
    for key, unit in UNITS.items():
        if prefix == key or prefix.startswith(key + "_"):
            return unit
    return ""


def format_table(table: pd.DataFrame, a: views.Result, b: views.Result) -> str:
    """The differing rows as aligned text, or a line saying the two are identical."""
    shown = table[differs(table)]
    head = f"A = {a.folder} ({a.name})\nB = {b.folder} ({b.name})"
    if shown.empty:
        return f"{head}\nidentical: no differences in {len(table)} compared items"
    lines = [head, f"{len(shown)} of {len(table)} items differ (difference = B - A):"]
    width = max(len(i) for i in shown["item"])
    lines.append(f"  {'item':<{width}}  {'A':>14}  {'B':>14}  {'difference':>14}  unit")
    kinds = shown["item"].str.split(".").str[0]
    for kind in kinds.unique():
        rows = shown[kinds == kind]
        if len(rows) > SHOWN_PER_KIND:
            largest = rows["difference"].abs().fillna(float("inf")).nlargest(SHOWN_PER_KIND)
            rows = rows.loc[sorted(largest.index)]
        for row in rows.itertuples(index=False):
            lines.append(
                f"  {row.item:<{width}}  {views.fmt(row.a):>14}  {views.fmt(row.b):>14}  "
                f"{_signed(row.difference):>14}  {unit_of(row.item)}"
            )
        hidden = int((kinds == kind).sum()) - len(rows)
        if hidden:
            lines.append(f"  ... and {hidden} more {kind} rows (smaller differences) in the CSV")
    return "\n".join(lines)


def _signed(value: float) -> str:
    text = views.fmt(value)
    return text if text.startswith("-") or text in ("0", "-") else f"+{text}"


def write_comparison(table: pd.DataFrame, path: Path) -> Path:
    """CSV at full precision (each number reads back as the same float)."""
    return views.write_file(path, lambda staged: table.to_csv(staged, index=False))


# --- several results side by side ----------------------------------------------------------------

HEADLINE = ("deaths_no_aid", "deaths_with_plan", "deaths_averted", "spending_usd.total")


def labels(results: list[views.Result]) -> list[str]:
    """A label per result: its scenario's name, or its folder's where names repeat, numbered
    where those repeat too, so that two plans never share a label."""
    names = [r.name for r in results]
    if len(set(names)) < len(names):
        names = [r.folder.resolve().name for r in results]
    if len(set(names)) < len(names):
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    return names


def side_by_side(results: list[views.Result]) -> pd.DataFrame:
    """One row per item, one column per result (by `labels`), with deaths averted added;
    items in the first result's order, then those only later ones have."""
    found = []
    for r in results:
        values = items(r)
        averted = views.deaths_averted(r.summary).get("outlook")
        if averted is not None:
            values["deaths_averted"] = averted
        found.append(values)
    names = list(dict.fromkeys(k for values in found for k in values))
    table = pd.DataFrame({"item": names})
    for label, values in zip(labels(results), found, strict=True):
        table[label] = [values.get(n, math.nan) for n in names]
    return table


def format_side_by_side(table: pd.DataFrame, results: list[views.Result]) -> str:
    """The headline items and fill rates as aligned text, one column per result."""
    columns = list(table.columns[1:])
    lines = [f"{label} = {r.folder}" for label, r in zip(columns, results, strict=True)]
    shown = table[table["item"].isin(HEADLINE) | table["item"].str.startswith("fill_rate.")]
    width = max(len(i) for i in shown["item"])
    col = max(14, *(len(c) for c in columns))
    lines.append(f"  {'item':<{width}}  " + "  ".join(f"{c:>{col}}" for c in columns) + "  unit")
    for row in shown.itertuples(index=False):
        share = row[0].startswith("fill_rate.")
        values = "  ".join(f"{views.percent(v) if share else views.fmt(v):>{col}}"
                           for v in row[1:])  # fmt: skip
        unit = "persons" if row[0] == "deaths_averted" else "%" if share else unit_of(row[0])
        lines.append(f"  {row[0]:<{width}}  {values}  {unit}")
    return "\n".join(lines)
