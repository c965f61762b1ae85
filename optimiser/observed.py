"""Reported case counts, read and checked: `date,region,new_cases[,days]`.

A `national` row is the sum over provinces; a row with `days` > 1 is the sum over that many days
ending on its date (for example the 350,000 ill counted at the first report).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optimiser.inputs import Scenario, ScenarioError
from optimiser.reading import clip, csv_rows, listing, read_text, show, too_many

NATIONAL = "national"
MAX_SPAN_DAYS = 1095
"""Observations must fall within three years of the seed: longer is surely a wrong date."""


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
