"""`aidopt export --xlsx`: the plan as one Excel workbook a planner can open and filter.

Sheets: README (what this is and how to read it), Summary, Shipments, Deliveries, Teams, and
Delivered by province / Unmet by province (week pivots). Every table is the same view of the
result as the CSV files (`exports.*_table`), so the totals agree; the extra `rounded up`
columns give whole packs and teams, because the LP is continuous.

Text that a spreadsheet would read as a formula (a leading `=`, `+`, `-` or `@`, or a tab or
carriage return) is stored as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from optimiser import views
from optimiser.exports import QUANTITY_EPS, deliveries_table, shipments_table, staff_table
from optimiser.schema import TEAM

TEAM_NAME = "ROK medical teams"
FORMULA_START = re.compile(r"^[=+\-@\t\r]")
BOLD = Font(bold=True)

SHEETS = {
    "What arrives": "one row per province and item delivered: units over the horizon, tonnes, "
    "and units by calendar month (the same table as the report's); then the limits of the plan "
    "and, where the result has them, the rules of thumb beside it",
    "Summary": "deaths, infections, fill rates, spending and the coupling's outcome",
    "Shipments": "one row per week, route and commodity leaving on it (teams as medical_team); "
    "quantity in the commodity's unit, tonnes",
    "Deliveries": "one row per week, province and commodity with a need or a delivery: "
    "delivered, needed and unmet, in the commodity's unit",
    "Teams": "one row per week and province: ROK medical teams needed, newly deployed, "
    "present and short; staff present",
    "Delivered by province": "units delivered, one block per province, one column per week "
    "(the week's Monday)",
    "Unmet by province": "units needed but not delivered, laid out as the sheet before",
}


def text_safe(value: Any) -> Any:
    """Values as openpyxl should store them: dates as dates, NaN as empty, text cleaned."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def put_row(ws: Worksheet, row: int, values: Iterable[Any], bold: bool = False,
            percent_columns: Iterable[int] = ()) -> None:  # fmt: skip
    """Write one row; text that looks like a formula is forced to stay text; the 1-based
    `percent_columns` show shares as percentages."""
    percent_columns = set(percent_columns)
    for column, value in enumerate(values, start=1):
        cell = ws.cell(row=row, column=column, value=text_safe(value))
        if isinstance(cell.value, str) and FORMULA_START.match(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True
        if isinstance(cell.value, dt.date):
            cell.number_format = "yyyy-mm-dd"
        elif isinstance(cell.value, float) and column in percent_columns:
            cell.number_format = "0.0%"
        elif isinstance(cell.value, float):
            cell.number_format = "#,##0.###"
        if bold:
            cell.font = BOLD


def write_table(ws: Worksheet, table: pd.DataFrame, widths: Sequence[int] | None = None) -> None:
    """A header row (units in brackets) frozen above the rows, with a filter on it."""
    put_row(ws, 1, table.columns, bold=True)
    shares = [i for i, c in enumerate(table.columns, start=1) if "share" in str(c)
              or "fill rate" in str(c) or str(c).endswith("[%]")]  # fmt: skip
    for row, values in enumerate(table.itertuples(index=False), start=2):
        put_row(ws, row, values, percent_columns=shares)
    ws.freeze_panes = "A2"
    if len(table):
        ws.auto_filter.ref = ws.dimensions
    for i, column in enumerate(table.columns, start=1):
        width = widths[i - 1] if widths else min(max(len(str(column)) + 2, 10), 40)
        ws.column_dimensions[get_column_letter(i)].width = width


def _dated(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["date"] = pd.to_datetime(table["date"]).dt.date
    return table


def _named(t: pd.DataFrame, ds: xr.Dataset) -> pd.DataFrame:
    """Provinces and items by their names, not their ids (teams as ROK medical teams)."""
    t = t.copy()
    items = views.commodity_names(ds) | {TEAM: TEAM_NAME}
    nodes = views.node_names(ds)
    for column, names in (("commodity", items), ("province", nodes), ("from", nodes),
                          ("to", nodes)):  # fmt: skip
        if column in t.columns:
            t[column] = t[column].map(lambda v, names=names: names.get(v, v))
    return t.rename(columns={"commodity": "item"})


def whole_quantities(ds: xr.Dataset, table: pd.DataFrame) -> np.ndarray | None:
    """Each shipments row's quantity in the whole-units plan (lots of goods, whole teams), or
    None when the result has no whole-units stage."""
    if "shipments_whole" not in ds:
        return None
    goods = ds["shipments_whole"].to_series()
    teams = ds["team_shipments_whole"].to_series()
    return np.array([
        teams.get((a, w), 0.0) if c == TEAM else goods.get((c, a, w), 0.0)
        for c, a, w in zip(table["commodity"], table["arc"], table["week"], strict=True)
    ], dtype=float)  # fmt: skip


def shipments_sheet(ds: xr.Dataset) -> pd.DataFrame:
    raw = _dated(shipments_table(ds))
    whole = whole_quantities(ds, raw)
    t = _named(raw, ds)
    # Whole lots and teams from the whole-units MIP where it ran, else rounded row by row.
    t["quantity rounded up [whole units]"] = (views.round_up(t["quantity"]) if whole is None
                                              else whole)  # fmt: skip
    return t.rename(
        columns={"date": "week starting", "quantity": "quantity [units]",
                 "tonnes": "tonnes [t]", "arc": "route"}
    )[
        ["week starting", "item", "from", "to", "mode", "route",
         "quantity [units]", "unit", "quantity rounded up [whole units]", "tonnes [t]"]
    ]  # fmt: skip


def deliveries_sheet(ds: xr.Dataset) -> pd.DataFrame:
    t = _named(_dated(deliveries_table(ds)), ds).drop(columns="week")
    t["delivered rounded up [whole units]"] = views.round_up(t["delivered"])
    t["unmet rounded up [whole units]"] = views.round_up(t["unmet"])
    return t.rename(
        columns={"date": "week starting", "delivered": "delivered [units]",
                 "needed": "needed [units]", "unmet": "unmet [units]"}
    )  # fmt: skip


def teams_sheet(ds: xr.Dataset) -> pd.DataFrame:
    raw = _dated(staff_table(ds))
    t = _named(raw, ds).drop(columns="week")
    if "team_deployed_whole" in ds:  # the whole-units MIP's teams
        whole = ds["team_deployed_whole"].to_series()
        t["teams deployed rounded up [whole teams]"] = [
            whole.get((p, w), 0.0) for p, w in zip(raw["province"], raw["week"], strict=True)]
    else:
        t["teams deployed rounded up [whole teams]"] = views.round_up(t["teams_deployed"])
    t["teams needed rounded up [whole teams]"] = views.round_up(t["teams_needed"])
    return t.rename(
        columns={"date": "week starting", "teams_needed": "teams needed [teams]",
                 "teams_deployed": "teams newly deployed [teams]",
                 "teams_present": "teams present [teams]", "teams_unmet": "teams short [teams]",
                 "staff_present": "staff present [persons]"}
    )  # fmt: skip


def pivot_sheet(ds: xr.Dataset, variable: str, team_variable: str) -> pd.DataFrame:
    """Rows (province, item), one column per week; items with nothing in any week left out."""
    dates = [pd.Timestamp(d).date() for d in ds["week_start"].values]
    goods = ds[variable].transpose("province", "commodity", "week")
    units = dict(zip(ds["commodity"].values.tolist(), ds["unit"].values.tolist(), strict=True))
    rows = []
    for p, province in enumerate(ds["province"].values.tolist()):
        name = str(ds["province_name"].values[p]) if "province_name" in ds.coords else province
        items = views.commodity_names(ds)
        for k, commodity in enumerate(ds["commodity"].values.tolist()):
            values = goods.values[p, k]
            if values.max() > QUANTITY_EPS:
                rows.append([name, items[commodity], units[commodity], *values, values.sum()])
        teams = ds[team_variable].sel(province=province).values
        if teams.max() > QUANTITY_EPS:
            rows.append([name, TEAM_NAME, "team", *teams, teams.sum()])
    return pd.DataFrame(rows, columns=["province", "item", "unit", *dates, "total [units]"])


def summary_sheet(result: views.Result) -> pd.DataFrame:
    s, ds = result.summary, result.ds
    rows: list[tuple[str, Any, str]] = []
    for key, label in (("deaths", "deaths"), ("infections", "infections")):
        no_aid, plan = s.get(f"{key}_no_aid"), s.get(f"{key}_with_plan")
        rows += [(f"{label} without aid", no_aid, "persons"),
                 (f"{label} with the plan", plan, "persons")]  # fmt: skip
        for which, words in (("no_aid", "without aid"), ("with_plan", "with the plan")):
            span = views.interval(s, f"{key}_{which}")
            if span:
                name = views.interval_label(s)
                rows.append((f"{label} {words}: {name} low", span[0], "persons"))
                rows.append((f"{label} {words}: {name} high", span[1], "persons"))
        if no_aid is not None and plan is not None:
            rows.append((f"{label} averted", no_aid - plan, "persons"))
    reach = s.get("fill_rate_reachable", {})
    names = views.commodity_names(ds) | {TEAM: TEAM_NAME}
    for item, rate in s.get("fill_rate", {}).items():
        name = names.get(item, item)
        rows.append((f"fill rate: {name}", rate, "share of the horizon's need delivered"))
        if reach.get(item) is not None:
            rows.append((f"fill rate of reachable need: {name}", reach[item],
                         "share of the need it could reach in time"))  # fmt: skip
    for kind, usd in (s.get("spending_usd") or {}).items():
        rows.append((f"spending: {kind}", usd, "USD"))
    for route, tonnes in views.entry_tonnes(ds).items():
        rows.append((f"tonnes entering on {route}", float(tonnes), "t over the horizon"))
    from optimiser.whole_units import summary_rows

    rows += summary_rows(s)
    rows.append(("status", s.get("status"), ""))
    rows.append(("coupling", views.convergence_text(s), ""))
    return pd.DataFrame(rows, columns=["item", "value", "unit"])


def commodity_rows(ds: xr.Dataset) -> list[tuple[str, str, str]]:
    ids = ds["commodity"].values.tolist()
    names = ds["commodity_name"].values.tolist() if "commodity_name" in ds.coords else ids
    return list(zip(ids, names, ds["unit"].values.tolist(), strict=True))


def readme_rows(result: views.Result) -> list[list[Any]]:
    s, ds = result.summary, result.ds
    prov = s.get("provenance", {})
    rows: list[list[Any]] = [
        [f"aidopt plan: {result.name}"],
        [],
        ["scenario", result.name],
        ["result created (UTC)", prov.get("created_utc")],
        ["workbook written (UTC)", dt.datetime.now(dt.UTC).isoformat(timespec="seconds")],
        ["result folder", str(result.folder)],
        ["plan status", s.get("status")],
        ["convergence", views.convergence_text(s)],
        [],
        ["sheet", "what it holds"],
        *[[name, text] for name, text in SHEETS.items()],
        [],
        ["units", "units are given in each header in brackets; [units] means the commodity's "
                  "own unit (its `unit` column), teams are ROK medical teams, t is tonnes"],
        ["rounded up", "the plan is continuous; `rounded up` columns give whole packs and "
                       "teams enough to cover it"],
        [],
        ["commodity", "name", "unit"],
        *[[k, name, unit] for k, name, unit in commodity_rows(ds)],
        [],
        ["key assumptions"],
        *[["", note] for note in views.key_assumptions(ds, s)],
        [],
        ["setting", "value", "meaning [unit]"],
        *[[key, str(value) if isinstance(value, list) else value, meaning]
          for key, value, meaning in views.settings(ds)],
        [],
        ["provenance"],
        *[[key, value] for key, value in prov.items()],
    ]  # fmt: skip
    return rows


def build_workbook(result: views.Result) -> Workbook:
    ds = result.ds
    wb = Workbook()
    first = wb.active
    first.title = "What arrives"
    arrivals_sheet(first, result)
    readme = wb.create_sheet("README")
    for i, row in enumerate(readme_rows(result), start=1):
        put_row(readme, i, row, bold=i == 1 or len(row) == 1)
    readme.column_dimensions["A"].width = 36
    readme.column_dimensions["B"].width = 100
    readme.column_dimensions["C"].width = 60
    for row in readme.iter_rows():
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    write_table(wb.create_sheet("Summary"), summary_sheet(result), widths=[44, 16, 44])
    _percent_rows(wb["Summary"])
    write_table(wb.create_sheet("Shipments"), shipments_sheet(ds))
    write_table(wb.create_sheet("Deliveries"), deliveries_sheet(ds))
    write_table(wb.create_sheet("Teams"), teams_sheet(ds))
    for title, variable, teams in (
        ("Delivered by province", "delivered", "team_present"),
        ("Unmet by province", "unmet", "team_unmet"),
    ):
        ws = wb.create_sheet(title)
        write_table(ws, pivot_sheet(ds, variable, teams))
        ws.freeze_panes = "D2"
        ws.column_dimensions["A"].width = 18
        ws.column_dimensions["B"].width = 22
    return wb


def _percent_rows(ws: Worksheet) -> None:
    """Fill rates in the Summary sheet are shares: show them as percentages."""
    for row in ws.iter_rows(min_row=2):
        if str(row[0].value or "").startswith("fill rate") and isinstance(row[1].value, float):
            row[1].number_format = "0.0%"


def arrivals_sheet(ws: Worksheet, result: views.Result) -> None:
    """The first sheet: what arrives where (views.what_arrives, ids dropped for names), then
    the limits of the plan and the rules of thumb where the result has them."""
    table = views.what_arrives(result.ds).drop(columns=["province_id", "item_id"])
    write_table(ws, table, widths=[18, 40, 14, 16, 12, *[14] * (len(table.columns) - 5)])
    ws.freeze_panes = "C2"
    row = len(table) + 3
    blocks = [("What limits the plan", views.limits_table(result.summary, result.ds)),
              ("The three limits whose relaxation would matter most",
               views.most_valuable_limits(result.summary))]  # fmt: skip
    rules = views.rules_of_thumb(result.summary)
    if rules is not None:
        blocks.append(("The plan beside rules of thumb", rules))
    for title, block in blocks:
        if block is None or block.empty:
            continue
        put_row(ws, row, [title], bold=True)
        put_row(ws, row + 1, block.columns, bold=True)
        for i, values in enumerate(block.itertuples(index=False), start=row + 2):
            put_row(ws, i, values)
        row += len(block) + 3


def write_workbook(result: views.Result, path: Path) -> Path:
    """Write the workbook atomically; returns its path."""
    workbook = build_workbook(result)
    return views.write_file(path, lambda staged: workbook.save(staged))
