"""Read a scenario folder, apply `--set` overrides, validate everything, and cross-check tables.

Every problem is collected before anything runs, and each message names the file, the line or
key, the value, and what would be valid. `load_scenario` either returns a whole `Scenario` or
raises one `ScenarioError` listing all problems.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import types
import typing
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ValidationError

from optimiser import overrides as overrides_module
from optimiser.reading import (
    MAX_TABLE_ROWS,
    SHOWN_NAMES,
    clip,
    csv_rows,
    listing,
    parse_yaml,
    read_bytes,
    read_text,
    read_yaml,
    show,
    too_many,
)
from optimiser.schema import (
    DRIVERS,
    TEAM,
    ArcRow,
    CommodityRow,
    ConsumptionRow,
    CrossingRow,
    DepotRow,
    Epidemic,
    NeedRow,
    ProvinceRow,
    Sanctions,
    ScenarioConfig,
    SupplyRow,
)
from optimiser.suggest import did_you_mean

if typing.TYPE_CHECKING:
    from optimiser.warm_start import WarmStart

DPRK, ROK = "DPRK", "ROK"
CALIBRATION_LIMITS = {"r0": 20.0, "reduction": 1.0, "reporting": 1.0, "seed": 1e10,
                      "severity": 1.0, "weekday": 5.0}  # fmt: skip
"""Largest upper search bound per fitted parameter (r0 as epidemic.r0; seed in persons;
weekday a log factor, whose lower bound may go as far below 0)."""
MAX_PLAN_CELLS = 500_000
"""Most (commodity x (arc + node) x week) cells a scenario may span (the default: 14,768)."""


class ScenarioError(Exception):
    """Invalid input. Holds every problem found, each a full sentence."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: configuration and tables, immutable."""

    folder: Path
    config: ScenarioConfig
    provinces: tuple[ProvinceRow, ...]
    commodities: tuple[CommodityRow, ...]
    consumption: tuple[ConsumptionRow, ...]
    depots: tuple[DepotRow, ...]
    crossings: tuple[CrossingRow, ...]
    supply: tuple[SupplyRow, ...]
    arcs: tuple[ArcRow, ...]
    sanctions: Sanctions
    mobility: np.ndarray | None
    needs: tuple[NeedRow, ...] | None
    overrides: tuple[str, ...]
    inputs_sha256: str
    warm_start: WarmStart | None = None
    """the plan `coupling.warm_start` names, read and checked"""

    @property
    def n_weeks(self) -> int:
        return self.config.horizon_weeks

    @property
    def epidemic(self) -> Epidemic:
        """The epidemic block, which every step that models the epidemic needs."""
        if self.config.epidemic is None:
            raise ScenarioError(["scenario.yaml: 'epidemic' is missing; this step needs it"])
        return self.config.epidemic

    @cached_property
    def province_ids(self) -> list[str]:
        return [p.id for p in self.provinces]

    @cached_property
    def commodity_ids(self) -> list[str]:
        return [c.id for c in self.commodities]

    @cached_property
    def node_ids(self) -> list[str]:
        """Provinces first (their index is the province index), then depots, then crossings."""
        return self.province_ids + [d.id for d in self.depots] + [c.id for c in self.crossings]

    @cached_property
    def node_country(self) -> dict[str, str]:
        return node_countries(self.provinces, self.depots, self.crossings)

    @cached_property
    def week_start_dates(self) -> np.ndarray:
        start = np.datetime64(self.config.start_date, "D")
        return start + 7 * np.arange(self.n_weeks)


def node_countries(provinces, depots, crossings) -> dict[str, str]:
    """Provinces lie in the DPRK, depots in the ROK, crossings where their table says."""
    return (
        {p.id: DPRK for p in provinces}
        | {d.id: ROK for d in depots}
        | {c.id: c.country for c in crossings}
    )


# --- reading ---------------------------------------------------------------------------------


def _walk(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, object]:
    """Follow `loc` through nested models as far as it names fields: the description of the
    last field reached and the model (or None) it holds."""
    current: object = model
    description = ""
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            break
        fields = {(f.alias or n): f for n, f in current.model_fields.items()}
        if part not in fields:
            break
        description = fields[part].description or ""
        current = _submodel(fields[part].annotation)
    return description, current


def _describe(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The description of the field at `loc`, following nested models."""
    return _walk(model, loc)[0]


def _submodel(annotation: object) -> object:
    """The BaseModel inside an annotation such as `Model`, `Model | None` or `tuple[Model, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


def _show(value: object) -> str:
    return show(value)


def _field_names(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys valid where `loc` points: the fields of the model nested there."""
    current = _walk(model, loc)[1]
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    return [(f.alias or n) for n, f in current.model_fields.items()]


def _validate(model: type[BaseModel], data: object, where: str, problems: list[str]):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = clip(".".join(str(p) for p in loc))
            what = _describe(model, loc)
            hint = f"; expected {what}" if what else ""
            if err["type"] == "extra_forbidden":
                names = _field_names(model, loc[:-1])
                guess = did_you_mean(str(loc[-1]), names)
                problems.append(f"{where}: unknown key '{key}'{guess}; valid: {listing(names)}")
            elif err["type"] == "missing":
                problems.append(f"{where}: '{key}' is missing{hint}")
            elif not loc:
                problems.append(f"{where}: {err['msg']}")
            else:
                problems.append(
                    f"{where}, '{key}': {_show(err.get('input'))} is invalid: {err['msg']}{hint}"
                )
        return None


def _named_by(problems: list[str], before: int, path: Path, field: str, named_in: Path) -> None:
    """Say which field of which file named `path`, in each problem reading it just gave that is
    about the file as a whole (where it lies, its size, kind, encoding or syntax, a ragged row):
    the user may not know which file a table is read from."""
    first_row = True
    for i in range(before, len(problems)):
        whole = problems[i].startswith(f"{path}:")
        if (whole or first_row and problems[i].startswith(f"{path},")) and field not in problems[i]:
            problems[i] += f" (the file {field} names in {named_in})"
            first_row = first_row and whole


def _read_yaml(path: Path, problems: list[str], within: Path | None = None) -> dict | None:
    return read_yaml(path, problems, within)


def _read_csv(
    path: Path,
    row_model: type[BaseModel],
    problems: list[str],
    within: Path | None = None,
    max_rows: int = MAX_TABLE_ROWS,
    may_be_empty: bool = False,
    edits: Sequence[overrides_module.TableEdit] = (),
) -> tuple | None:
    """Rows of a CSV file validated one by one, after any `--set` edits of its cells; empty
    cells count as missing."""
    text = read_text(path, problems, within)
    table = None if text is None else csv_rows(path, text, problems, max_rows)
    if table is None:
        return None
    header, cells = table
    columns = {(f.alias or n): f for n, f in row_model.model_fields.items()}
    if header and not set(header) & set(columns):  # not this table: quote nothing from it
        for sep in (";", "\t", "|"):
            named = [c.strip() for c in sep.join(header).split(sep)]
            if len(named) > 1 and set(named) & set(columns):  # this table, other separators
                problems.append(f"{path}: its first line {show(','.join(header))} separates the "
                                f"columns by {sep!r}; aidopt reads comma-separated tables "
                                f"(columns {listing(columns)})")  # fmt: skip
                return None
        problems.append(f"{path}: its first line names none of the columns {listing(columns)}")
        return None
    required = [c for c, f in columns.items() if f.is_required()]
    bad = [f"unknown column '{clip(c)}'" for c in header if c not in columns]
    bad += [f"missing column '{c}'" for c in required if c not in header]
    if bad:
        more = [f"and {len(bad) - SHOWN_NAMES} more"] if len(bad) > SHOWN_NAMES else []
        problems.append(f"{path}: {'; '.join(bad[:SHOWN_NAMES] + more)}; valid columns: "
                        f"{', '.join(columns)}")  # fmt: skip
        return None
    rows = []
    before = len(problems)
    raws = [dict(zip(header, row, strict=False)) for row in cells]
    if edits:
        try:
            overrides_module.apply_to_rows(list(edits), header, raws, path)
        except overrides_module.OverrideError as exc:
            problems.append(str(exc))
            return None
    for line, (row, raw) in enumerate(zip(cells, raws, strict=True), start=2):
        if too_many(problems, before, path, line):
            break
        if len(row) > len(header):
            problems.append(f"{path}, line {line}: more cells than the {len(header)} columns")
            continue
        data = {k: v for k, v in raw.items() if v.strip() != ""}
        label = f" (id={clip(raw['id'], 40)})" if raw.get("id") else ""
        row = _validate(row_model, data, f"{path}, line {line}{label}", problems)
        rows.append(row)
    if not rows and len(problems) == before and not may_be_empty:
        problems.append(f"{path}: no rows")
    return tuple(rows) if len(problems) == before else None


# --- overrides -------------------------------------------------------------------------------


def apply_override(raw: dict, assignment: str) -> None:
    """Set `a.b.c=value` in the raw scenario mapping; the path must name a schema field."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ScenarioError([f"--set {show(assignment)}: expected KEY=VALUE, e.g. epidemic.r0=2.5"])
    key = clip(key)
    parts = key.strip().split(".")
    model: object = ScenarioConfig
    node = raw
    for depth, part in enumerate(parts):
        assert isinstance(model, type) and issubclass(model, BaseModel)
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        if part not in fields:
            under = ".".join(parts[:depth]) or "the top level"
            raise ScenarioError(
                [
                    f"--set {key}: scenario.yaml has no field '{'.'.join(parts[: depth + 1])}'"
                    f"{did_you_mean(part, fields)}; valid under {under}: {', '.join(fields)}"
                ]
            )
        if depth == len(parts) - 1:
            try:
                node[part] = parse_yaml(text) if text.strip() else None
            except (yaml.YAMLError, RecursionError):
                node[part] = text
            return
        model = _submodel(fields[part].annotation)
        if model is None:
            raise ScenarioError([f"--set {key}: '{'.'.join(parts[: depth + 1])}' has no subfields"])
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError([f"--set {key}: '{part}' in scenario.yaml is not a mapping"])
        node = child


def expand_overrides(overrides: Sequence[str]) -> list[str]:
    """Replace each `@FILE` by one KEY=VALUE per field the YAML file sets (nested sections
    become dotted keys), so a saved set of overrides is applied like typed ones."""
    expanded = []
    for item in overrides:
        if not item.startswith("@"):
            expanded.append(item)
            continue
        path = Path(item[1:])
        problems: list[str] = []
        data = _read_yaml(path, problems)
        if data is None:
            raise ScenarioError([f"--set {item}: " + "; ".join(problems)])
        expanded += [f"{key}={value}" for key, value in _leaves(data, ScenarioConfig, "")]
    return expanded


def _leaves(data: dict, model: type[BaseModel], prefix: str):
    """(dotted key, YAML text) for every value, descending into sub-models only."""
    fields = {(f.alias or n): f for n, f in model.model_fields.items()}
    for key, value in data.items():
        sub = _submodel(fields[key].annotation) if key in fields else None
        if (
            isinstance(value, dict)
            and isinstance(sub, type)
            and not _is_mapping_field(fields[key].annotation)
        ):
            yield from _leaves(value, sub, f"{prefix}{key}.")
        else:
            text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
            yield f"{prefix}{key}", text.removesuffix("...").strip()


def _is_mapping_field(annotation: object) -> bool:
    """True for dict-typed fields, whose keys are data, not sub-fields."""
    if typing.get_origin(annotation) is dict:
        return True
    return any(_is_mapping_field(a) for a in typing.get_args(annotation))


# --- cross-table checks ----------------------------------------------------------------------


def _unknown(kind: str, value: str, valid: Iterable[str]) -> str:
    """Suggest the closest valid value where one is close; else list the valid ones (the
    first of them if many)."""
    options = sorted(valid)
    guess = did_you_mean(value, options)
    if guess:
        return f"'{clip(value)}' is not a known {kind}{guess}"
    return f"'{clip(value)}' is not a known {kind}; valid: {listing(options)}"


def check_unique_ids(tables: dict[str, tuple], files: dict[str, Path]) -> list[str]:
    """Node ids are unique across provinces, depots and crossings; commodity and arc ids
    within their tables."""
    problems = []
    seen: dict[str, str] = {}
    for name in ("provinces", "depots", "crossings"):
        for line, row in enumerate(tables[name], start=2):
            where = f"{files[name]}, line {line}"
            if row.id in seen:
                problems.append(f"{where}: id '{row.id}' is already used at {seen[row.id]}")
            seen.setdefault(row.id, where)
    for name in ("commodities", "arcs"):
        first: dict[str, int] = {}
        for line, row in enumerate(tables[name], start=2):
            if row.id in first:
                problems.append(
                    f"{files[name]}, line {line}: id '{row.id}' repeats line {first[row.id]}"
                )
            first.setdefault(row.id, line)
    return problems


def check_arcs(arcs: tuple[ArcRow, ...], nodes: set[str], path: Path) -> list[str]:
    problems = []
    for line, arc in enumerate(arcs, start=2):
        where = f"{path}, line {line} (id={arc.id})"
        for column, node in (("from", arc.from_), ("to", arc.to)):
            if node not in nodes:
                problems.append(f"{where}, column '{column}': {_unknown('node', node, nodes)}")
        if arc.from_ == arc.to:
            problems.append(f"{where}: 'from' and 'to' are both '{arc.to}'")
        if arc.open_from and arc.open_until and arc.open_from > arc.open_until:
            problems.append(f"{where}: open_from {arc.open_from} is after open_until")
    return problems


def check_supply(scn: dict, files: dict[str, Path]) -> list[str]:
    problems = []
    depots = {d.id for d in scn["depots"]}
    commodities = {c.id for c in scn["commodities"]}
    pairs: Counter[tuple[str, str]] = Counter()
    for line, row in enumerate(scn["supply"], start=2):
        where = f"{files['supply']}, line {line}"
        if row.depot not in depots:
            problems.append(f"{where}, column 'depot': {_unknown('depot', row.depot, depots)}")
        if row.commodity not in commodities:
            problems.append(
                f"{where}, column 'commodity': {_unknown('commodity', row.commodity, commodities)}"
            )
        pairs[(row.depot, row.commodity)] += 1
    problems += [
        f"{files['supply']}: ({d}, {c}) appears {n} times; one row per depot and commodity"
        for (d, c), n in pairs.items()
        if n > 1
    ]
    return problems


BED_DRIVERS = ("severe_bed", "critical_bed", "hospital_bed")


def check_consumption(scn: dict, path: Path) -> list[str]:
    """Rates name known commodities and drivers, once per pair; durables, which are in use
    rather than consumed, are sized by beds in use only."""
    problems = []
    commodities = {c.id: c for c in scn["commodities"]}
    pairs: Counter[tuple[str, str]] = Counter()
    for line, row in enumerate(scn["consumption"], start=2):
        where = f"{path}, line {line}"
        item = commodities.get(row.commodity)
        if item is None:
            problems.append(
                f"{where}, column 'commodity': {_unknown('commodity', row.commodity, commodities)}"
            )
        if row.driver not in DRIVERS:
            problems.append(f"{where}, column 'driver': {_unknown('driver', row.driver, DRIVERS)}")
        elif item is not None and item.durable and row.driver not in BED_DRIVERS:
            problems.append(
                f"{where}, column 'driver': '{row.driver}' sizes a consumable flow, but "
                f"'{row.commodity}' is durable (in use, not consumed); valid for durables: "
                f"{', '.join(BED_DRIVERS)}"
            )
        pairs[(row.commodity, row.driver)] += 1
    problems += [
        f"{path}: ({c}, {d}) appears {n} times; one row per commodity and driver"
        for (c, d), n in pairs.items()
        if n > 1
    ]
    return problems
    return problems


def check_sanctions(scn: dict, config: ScenarioConfig, files: dict[str, Path]) -> list[str]:
    problems = []
    sanctions: Sanctions = scn["sanctions"]
    arcs = {a.id: a for a in scn["arcs"]}
    country = scn["node_country"]
    where = files["sanctions"]
    for arc_id in sanctions.rok_route_approvals.routes:
        arc = arcs.get(arc_id)
        if arc is None:
            problems.append(f"{where}, rok_route_approvals.routes: {_unknown('arc', arc_id, arcs)}")
        elif not (country.get(arc.from_) == ROK and country.get(arc.to) == DPRK):
            problems.append(
                f"{where}, rok_route_approvals.routes: arc '{arc_id}' does not cross from the "
                f"ROK into the DPRK ({arc.from_} -> {arc.to})"
            )
    commodities = {c.id for c in scn["commodities"]}
    problems += [
        f"{where}, unscr_2397.lifted_for: {_unknown('commodity', c, commodities)}"
        for c in sanctions.unscr_2397.lifted_for
        if c not in commodities
    ]
    for ex in sanctions.exemptions:
        for c in ex.commodities:
            if c not in commodities:
                problems.append(
                    f"{where}, exemption '{ex.id}': {_unknown('commodity', c, commodities)}"
                )
    ids = Counter(e.id for e in sanctions.exemptions)
    problems += [
        f"{where}, exemptions: id '{ex_id}' appears {n} times; ids must be unique"
        for ex_id, n in ids.items()
        if n > 1
    ]
    options = set(ids)
    for ex_id in config.exemptions_requested:
        if ex_id not in options:
            problems.append(
                f"scenario.yaml, exemptions_requested: {_unknown('exemption', ex_id, options)} "
                f"(from {where})"
            )
    return problems


def check_epidemic(scn: dict, config: ScenarioConfig) -> list[str]:
    provinces = {p.id for p in scn["provinces"]}
    problems = [
        f"scenario.yaml, epidemic.initial_infections: {_unknown('province', p, provinces)}"
        for p in (config.epidemic and config.epidemic.initial_infections or {})
        if p not in provinces
    ]
    problems += [
        f"scenario.yaml, epidemic.initial_infections.{p}: {v} is invalid; valid: persons >= 0"
        for p, v in (config.epidemic and config.epidemic.initial_infections or {}).items()
        if v < 0
    ]
    epi = config.epidemic
    if epi is not None:  # more people infected at day 0 than live there: S would go negative
        seeds = epi.initial_infections or {}
        for p in scn["provinces"]:
            exposed = epi.initial_infections_factor * seeds.get(p.id, p.initial_infections)
            if exposed > p.population:
                problems.append(
                    f"scenario.yaml, epidemic.initial_infections_factor: "
                    f"{epi.initial_infections_factor:g} x {seeds.get(p.id, p.initial_infections):g}"
                    f" initial infections in {p.id} is {exposed:,.0f} people, more than its "
                    f"population {p.population:,}; valid: at most the population"
                )
                break
    for name, (low, high) in config.calibration.bounds.items():
        floor = -CALIBRATION_LIMITS[name] if name == "weekday" else 0
        if not floor <= low < high <= CALIBRATION_LIMITS[name]:
            problems.append(
                f"scenario.yaml, calibration.bounds.{name}: [{low}, {high}] is invalid; "
                f"valid: {floor:g} <= lower < upper <= {CALIBRATION_LIMITS[name]:g}"
            )
    return problems


def check_staff(scn: dict, config: ScenarioConfig) -> list[str]:
    depots = {d.id for d in scn["depots"]}
    return [
        f"scenario.yaml, staff.origins: {_unknown('depot', o, depots)}"
        for o in config.staff.origins
        if o not in depots
    ]


def check_needs(needs: tuple[NeedRow, ...], scn: dict, config: ScenarioConfig, path: Path):
    problems = []
    provinces = {p.id for p in scn["provinces"]}
    items = {c.id for c in scn["commodities"]} | {TEAM}
    keys: Counter[tuple[int, str, str]] = Counter()
    for line, row in enumerate(needs, start=2):
        where = f"{path}, line {line}"
        if row.week >= config.horizon_weeks:
            problems.append(
                f"{where}, column 'week': {row.week} is outside the horizon; "
                f"valid: 0 to {config.horizon_weeks - 1}"
            )
        if row.province not in provinces:
            problems.append(
                f"{where}, column 'province': {_unknown('province', row.province, provinces)}"
            )
        if row.commodity not in items:
            problems.append(
                f"{where}, column 'commodity': {_unknown('commodity', row.commodity, items)}"
            )
        keys[(row.week, row.province, row.commodity)] += 1
    problems += [f"{path}: {k} appears {n} times" for k, n in keys.items() if n > 1]
    if config.coupling.mode != "one-way":
        problems.append(
            f"scenario.yaml, coupling.mode: 'closed-loop' needs the epidemic model, but the "
            f"scenario brings its own needs ({path}); valid with needs: one-way"
        )
    return problems


def _read_mobility(
    path: Path, provinces: list[str], problems: list[str], within: Path | None = None
) -> np.ndarray | None:
    """A row-stochastic matrix: rows are residents' provinces, columns where they mix."""
    text = read_text(path, problems, within)
    table = None if text is None else csv_rows(path, text, problems)
    if table is None:
        return None
    header, rows = table
    if header[1:] != provinces or [r[0] for r in rows] != provinces:
        problems.append(
            f"{path}: rows and columns must be the provinces in the order of provinces.csv: "
            f"{listing(provinces)}"
        )
        return None
    matrix = np.zeros((len(provinces), len(provinces)))
    before = len(problems)
    for i, row in enumerate(rows):
        where = f"{path}, line {i + 2} ({row[0]})"
        if len(row) != len(header):
            problems.append(
                f"{where}: {len(row) - 1} shares; expected one per province ({len(provinces)})"
            )
            continue
        for j, cell in enumerate(row[1:]):
            try:
                matrix[i, j] = float(cell)
            except ValueError:
                matrix[i, j] = np.nan
            if not 0 <= matrix[i, j] <= 1:  # also false for NaN
                problems.append(
                    f"{where}, column '{header[j + 1]}': {_show(cell)} is invalid; "
                    f"valid: a share from 0 to 1"
                )
        if len(problems) == before and abs(matrix[i].sum() - 1) > 1e-6:
            problems.append(
                f"{where}: shares must be >= 0 and add to 1, got sum {matrix[i].sum():.6g}"
            )
    return matrix if len(problems) == before else None


def check_size(scn: dict, config: ScenarioConfig) -> list[str]:
    """The LP's index sets are dense over (commodity, arc or node, week): bound their size, so
    a scenario that would not fit in memory is refused before anything is built."""
    nodes = len(scn["provinces"]) + len(scn["depots"]) + len(scn["crossings"])
    cells = len(scn["commodities"]) * (len(scn["arcs"]) + nodes) * config.horizon_weeks
    if cells <= MAX_PLAN_CELLS:
        return []
    return [
        f"scenario.yaml: {len(scn['commodities'])} commodities x ({len(scn['arcs'])} arcs + "
        f"{nodes} nodes) x {config.horizon_weeks} weeks = {cells:,} cells; at most "
        f"{MAX_PLAN_CELLS:,}: shorten the horizon or merge commodities or routes"
    ]


# --- entry point -----------------------------------------------------------------------------

TABLE_ROWS: dict[str, type[BaseModel]] = {
    "provinces": ProvinceRow,
    "commodities": CommodityRow,
    "consumption": ConsumptionRow,
    "depots": DepotRow,
    "crossings": CrossingRow,
    "supply": SupplyRow,
    "arcs": ArcRow,
}


MAY_BE_EMPTY = ("crossings", "consumption")
"""Tables that may hold a header alone: a network with no foreign nodes, and (with needs.csv)
no consumption rates."""


def load_scenario(folder: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read and validate a scenario folder, or raise ScenarioError naming every problem."""
    folder = Path(folder)
    scenario_file = folder / "scenario.yaml"
    if not os.path.lexists(scenario_file):
        raise ScenarioError([f"{folder}: no scenario.yaml here; a scenario is a folder with one"])
    problems: list[str] = []
    raw = _read_yaml(scenario_file, problems, within=folder)
    if raw is None:
        raise ScenarioError(problems)
    overrides = expand_overrides(overrides)
    table_edits: dict[str, list] = {}
    table_sets: dict[str, list[str]] = {}  # the --set text behind each table's edits
    sanction_edits = []
    for assignment in overrides:
        if not overrides_module.is_table_override(assignment):
            apply_override(raw, assignment)
            continue
        try:
            edit = overrides_module.parse(assignment)
        except overrides_module.OverrideError as exc:
            raise ScenarioError([str(exc)]) from None
        if isinstance(edit, overrides_module.TableEdit):
            table_edits.setdefault(edit.table, []).append(edit)
            table_sets.setdefault(edit.table, []).append(assignment)
        else:
            sanction_edits.append(edit)
    where = str(scenario_file) + (f" (with --set {clip(' '.join(overrides))})" if overrides else "")
    config = _validate(ScenarioConfig, raw, where, problems)
    if config is None:
        raise ScenarioError(problems)

    files = {name: folder / getattr(config.tables, name) for name in (*TABLE_ROWS, "sanctions")}
    scn: dict = {}
    rows_left = MAX_TABLE_ROWS  # one budget for all tables, so memory stays bounded
    for name, model in TABLE_ROWS.items():
        before = len(problems)
        scn[name] = _read_csv(
            files[name],
            model,
            problems,
            within=folder,
            max_rows=rows_left,
            may_be_empty=name in MAY_BE_EMPTY,
            edits=table_edits.get(name, ()),
        )
        _named_by(problems, before, files[name], f"tables.{name}", scenario_file)
        if len(problems) > before and name in table_sets:
            # The cells an override changed are reported like the file's own: say which.
            problems.append(f"{files[name]}: read with --set "
                            f"{clip(' '.join(table_sets[name]))}")  # fmt: skip
        rows_left -= len(scn[name] or ())
    before = len(problems)
    sanctions_raw = _read_yaml(files["sanctions"], problems, within=folder)
    _named_by(problems, before, files["sanctions"], "tables.sanctions", scenario_file)
    for path_parts, value in sanction_edits:
        try:
            if sanctions_raw is not None:
                overrides_module.apply_to_sanctions(
                    sanctions_raw, path_parts, value, files["sanctions"]
                )
        except overrides_module.OverrideError as exc:
            problems.append(str(exc))
    if sanctions_raw is not None:
        scn["sanctions"] = _validate(Sanctions, sanctions_raw, str(files["sanctions"]), problems)
    if problems:
        raise ScenarioError(problems)

    scn["node_country"] = node_countries(scn["provinces"], scn["depots"], scn["crossings"])
    problems += check_unique_ids(scn, files)
    problems += check_arcs(scn["arcs"], set(scn["node_country"]), files["arcs"])
    problems += check_supply(scn, files)
    problems += check_consumption(scn, files["consumption"])
    problems += check_sanctions(scn, config, files)
    problems += check_staff(scn, config)
    problems += check_epidemic(scn, config)
    problems += check_size(scn, config)

    province_ids = [p.id for p in scn["provinces"]]
    mobility = needs = None
    if config.tables.mobility:
        files["mobility"] = folder / config.tables.mobility
        before = len(problems)
        mobility = _read_mobility(files["mobility"], province_ids, problems, within=folder)
        _named_by(problems, before, files["mobility"], "tables.mobility", scenario_file)
    if config.tables.needs:
        files["needs"] = folder / config.tables.needs
        before = len(problems)
        needs = _read_csv(files["needs"], NeedRow, problems, folder, max(rows_left, 0))
        _named_by(problems, before, files["needs"], "tables.needs", scenario_file)
        if needs is not None:
            problems += check_needs(needs, scn, config, files["needs"])
    warm = None
    if config.coupling.warm_start is not None and not problems:
        from optimiser.warm_start import FIELD, read_warm_start

        if needs is not None:
            problems.append(f"{FIELD}: a scenario with its own needs ({files['needs']}) has no "
                            f"epidemic loop to start; leave it out")  # fmt: skip
        else:
            warm = read_warm_start(config.coupling.warm_start, province_ids,
                                   config.horizon_weeks, problems)  # fmt: skip
    if problems:
        raise ScenarioError(problems)

    digest = hashlib.sha256()
    for path in [scenario_file, *files.values()]:
        data = read_bytes(path, problems, within=folder)
        if data is None:  # changed since it was read a moment ago
            raise ScenarioError(problems)
        digest.update(path.name.encode() + b"\0" + data)
    for assignment in overrides:
        digest.update(b"--set " + assignment.encode())
    if warm is not None:
        digest.update(b"warm_start\0" + warm.sha256.encode())
    return Scenario(
        folder=folder,
        config=config,
        provinces=scn["provinces"],
        commodities=scn["commodities"],
        consumption=scn["consumption"],
        depots=scn["depots"],
        crossings=scn["crossings"],
        supply=scn["supply"],
        arcs=scn["arcs"],
        sanctions=scn["sanctions"],
        mobility=mobility,
        needs=needs,
        overrides=tuple(overrides),
        inputs_sha256=digest.hexdigest(),
        warm_start=warm,
    )


def week_of(config: ScenarioConfig, day: dt.date) -> int:
    """Plan week containing a date (negative before the start)."""
    return (day - config.start_date).days // 7
