"""The export step: files written from the result Dataset, never recomputed, written atomically.

A run's folder is assembled beside it and swapped into place only when every file is written
(`optimiser.output_folder`), so a failed run leaves nothing behind and never replaces a good
result with a broken one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import xarray as xr

from optimiser.output_folder import Output
from optimiser.results import summary_of
from optimiser.schema import TEAM

FILES = ("plan.nc", "shipments.csv", "deliveries.csv", "staff.csv", "summary.json")
QUANTITY_EPS = 1e-3
"""Rows moving less than this are left out of the CSV views; plan.nc keeps every value [units].
The LP is continuous, so thousandths of a unit are real but no one can act on them."""


def shipments_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (week, commodity, arc) with goods or teams leaving on it."""
    goods = ds[["shipments", "shipments_t"]].to_dataframe().reset_index()
    goods = goods[goods["shipments"] > QUANTITY_EPS]
    goods = goods.rename(columns={"shipments": "quantity", "shipments_t": "tonnes"})
    teams = ds["team_shipments"].to_dataframe().reset_index()
    teams = teams[teams["team_shipments"] > QUANTITY_EPS].rename(
        columns={"team_shipments": "quantity"}
    )
    teams = teams.assign(commodity=TEAM, unit="team", tonnes=0.0)
    table = pd.concat([goods, teams], ignore_index=True)
    table["date"] = pd.to_datetime(table["week_start"]).dt.strftime("%Y-%m-%d")
    table = table.rename(columns={"arc_from": "from", "arc_to": "to"})
    columns = [
        "week",
        "date",
        "commodity",
        "from",
        "to",
        "mode",
        "arc",
        "quantity",
        "unit",
        "tonnes",
    ]
    return table[columns].sort_values(["week", "commodity", "arc"]).reset_index(drop=True)


def deliveries_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (week, province, commodity) with a need or a delivery."""
    table = ds[["delivered", "need", "unmet"]].to_dataframe().reset_index()
    table = table[(table["need"] > QUANTITY_EPS) | (table["delivered"] > QUANTITY_EPS)]
    table = table.rename(columns={"need": "needed"})
    table["date"] = pd.to_datetime(table["week_start"]).dt.strftime("%Y-%m-%d")
    columns = ["week", "date", "province", "commodity", "delivered", "needed", "unmet", "unit"]
    return table[columns].sort_values(["week", "province", "commodity"]).reset_index(drop=True)


def staff_table(ds: xr.Dataset) -> pd.DataFrame:
    """One row per (week, province): medical teams needed, newly deployed, present, short."""
    names = ["team_need", "team_deployed", "team_present", "team_unmet", "staff_present"]
    table = ds[names].to_dataframe().reset_index()
    table["date"] = pd.to_datetime(table["week_start"]).dt.strftime("%Y-%m-%d")
    table = table.rename(
        columns={
            "team_need": "teams_needed",
            "team_deployed": "teams_deployed",
            "team_present": "teams_present",
            "team_unmet": "teams_unmet",
        }
    )
    columns = [
        "week",
        "date",
        "province",
        "teams_needed",
        "teams_deployed",
        "teams_present",
        "teams_unmet",
        "staff_present",
    ]
    return table[columns].sort_values(["week", "province"]).reset_index(drop=True)


def _write_netcdf(ds: xr.Dataset, path: Path) -> None:
    encoding = {
        name: {"zlib": True, "complevel": 4}
        for name, v in ds.data_vars.items()
        if v.dtype.kind == "f" and v.size > 1000
    }
    ds.to_netcdf(path, engine="netcdf4", encoding=encoding)


def _write_summary(ds: xr.Dataset, path: Path) -> None:
    path.write_text(json.dumps(summary_of(ds), indent=2) + "\n")


def _csv_writer(table: Callable[[xr.Dataset], pd.DataFrame]):
    def write(ds: xr.Dataset, path: Path) -> None:
        table(ds).to_csv(path, index=False, float_format="%.6g")

    return write


WRITERS: dict[str, Callable[[xr.Dataset, Path], None]] = {
    "plan.nc": _write_netcdf,
    "shipments.csv": _csv_writer(shipments_table),
    "deliveries.csv": _csv_writer(deliveries_table),
    "staff.csv": _csv_writer(staff_table),
    "summary.json": _write_summary,
}


def write_outputs(ds: xr.Dataset, output: Output) -> list[Path]:
    """Write every export of a plan into its claimed folder atomically; returns the files."""
    return output.write({name: functools.partial(WRITERS[name], ds) for name in FILES})
