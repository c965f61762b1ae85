"""`coupling.warm_start`: the aid of an earlier run's plan.nc, read and checked against the
scenario it is to start.

The closed loop starts from this aid instead of from no aid (`optimiser.coupling.start_point`),
so a run that changes one rule of a scenario (`aidopt asks`) begins where the scenario's own
plan ended, and its result depends only on its inputs and this file, never on the order runs
happen to be made in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from models.seir import AID
from optimiser.reading import ReadError, clip, json_attribute, listing, load_netcdf, show

FIELD = "scenario.yaml, coupling.warm_start"


@dataclass(frozen=True)
class WarmStart:
    """An earlier plan's aid and what it cost."""

    path: Path
    aid: np.ndarray
    """(capacity, P, W) in AID_UNITS, as `models.seir.AID` orders the capacities"""
    spending_usd: float
    sha256: str


def read_warm_start(text: str, province_ids: list[str], n_weeks: int,
                    problems: list[str]) -> WarmStart | None:  # fmt: skip
    """The plan at `text` (relative to the working folder), or None with the problem named."""
    path = Path(text)
    where = f"{FIELD}: '{clip(text)}'"
    if not path.exists():
        problems.append(f"{where} does not exist (relative paths start at the working folder "
                        f"{Path.cwd()}); give the plan.nc of an earlier aidopt run")  # fmt: skip
        return None
    if not path.is_file():
        problems.append(f"{where} is not a file; give the plan.nc of an earlier aidopt run")
        return None
    try:
        aid, spending = _read_plan(path)
        sha256 = _sha256(path)
    except ReadError as exc:
        part = str(exc).removeprefix(f"{path}: ")
        problems.append(f"{where} is not a plan.nc aidopt wrote ({part})")
        return None
    except OSError as exc:
        problems.append(f"{where}: cannot be read ({exc.strerror or exc})")
        return None
    if aid is None:
        problems.append(f"{where} holds no 'aid' (lever, province, week): it is not the plan of "
                        f"an epidemic scenario")  # fmt: skip
        return None
    levers, provinces, weeks, values = aid
    found = []
    if levers != list(AID):
        found.append(f"levers {listing(levers)} where the model has {listing(AID)}")
    if provinces != province_ids:
        found.append(f"provinces {listing(provinces)} where the scenario has "
                     f"{listing(province_ids)}")  # fmt: skip
    if weeks != n_weeks:
        found.append(f"{weeks} weeks where the scenario's horizon has {n_weeks}")
    if not found and not (np.all(np.isfinite(values)) and np.all(values >= 0)):
        found.append("aid that is negative or not a number")
    if found:
        problems.append(f"{where} does not fit this scenario: it has {'; '.join(found)}")
        return None
    return WarmStart(path, values, spending, sha256)


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _read_plan(path: Path):
    """((levers, provinces, weeks, aid) or None, spending in USD) from a plan.nc, each part
    checked for its type (ReadError names the part that is wrong)."""
    ds = load_netcdf(path)
    summary = cast(dict, json_attribute(path, ds.attrs, "summary_json", dict, "{}"))
    spent = summary.get("spending_usd") or {}
    total = spent.get("total") if isinstance(spent, dict) else spent
    if not isinstance(total, int | float | type(None)) or isinstance(total, bool):
        raise ReadError(f"{path}: summary_json's spending_usd.total is {show(total)}, not a "
                        f"number of USD")  # fmt: skip
    spending = float(total or 0.0)
    if "aid" not in ds.data_vars or ds["aid"].dims != ("lever", "province", "week"):
        return None, spending
    aid = ds["aid"]
    if aid.dtype.kind not in "fiu" or "lever" not in aid.coords or "province" not in aid.coords:
        raise ReadError(f"{path}: variable 'aid' is not numbers labelled by lever and province")
    return (
        [str(x) for x in aid["lever"].values],
        [str(x) for x in aid["province"].values],
        aid.sizes["week"],
        np.asarray(aid.values, dtype=float),
    ), spending
