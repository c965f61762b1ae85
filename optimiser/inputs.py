"""Read a scenario folder, apply `--set` overrides, validate everything, and cross-check tables.

Every problem is collected before anything runs, and each message names the file, the line or
key, the value, and what would be valid. `load_scenario` either returns a whole `Scenario` or
raises one `ScenarioError` listing all problems.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
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

from optimiser.schema import (
    LEVERS,
    TEAM,
    ArcRow,
    CommodityRow,
    CrossingRow,
    DepotRow,
    NeedRow,
    ProvinceRow,
    Sanctions,
    ScenarioConfig,
    SupplyRow,
)
from optimiser.suggest import did_you_mean

DPRK, ROK = "DPRK", "ROK"


class _Loader(yaml.SafeLoader):
    """YAML loader that leaves dates as text, so pydantic parses them and names the key."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str) -> object:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


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
    depots: tuple[DepotRow, ...]
    crossings: tuple[CrossingRow, ...]
    supply: tuple[SupplyRow, ...]
    arcs: tuple[ArcRow, ...]
    sanctions: Sanctions
    mobility: np.ndarray | None
    needs: tuple[NeedRow, ...] | None
    overrides: tuple[str, ...]
    inputs_sha256: str

    @property
    def n_weeks(self) -> int:
        return self.config.horizon_weeks

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


def _describe(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The description of the field at `loc`, following nested models."""
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
    return description


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
    if value is None or value == "":
        return "(empty)"
    return repr(value)


def _validate(model: type[BaseModel], data: object, where: str, problems: list[str]):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc)
            what = _describe(model, loc)
            hint = f"; expected {what}" if what else ""
            if err["type"] == "extra_forbidden":
                names = [(f.alias or n) for n, f in model.model_fields.items()]
                guess = did_you_mean(key, names)
                problems.append(f"{where}: unknown key '{key}'{guess}; valid: {', '.join(names)}")
            elif err["type"] == "missing":
                problems.append(f"{where}: '{key}' is missing{hint}")
            elif not loc:
                problems.append(f"{where}: {err['msg']}")
            else:
                problems.append(
                    f"{where}, '{key}': {_show(err.get('input'))} is invalid: {err['msg']}{hint}"
                )
        return None


def _read_yaml(path: Path, problems: list[str]) -> dict | None:
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read as UTF-8 text ({exc})")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{path}: not valid YAML: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
        return None
    return data


def _read_csv(path: Path, row_model: type[BaseModel], problems: list[str]) -> tuple | None:
    """Rows of a CSV file validated one by one; empty cells count as missing."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read as UTF-8 text ({exc})")
        return None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    columns = {(f.alias or n): f for n, f in row_model.model_fields.items()}
    required = [c for c, f in columns.items() if f.is_required()]
    bad = [f"unknown column '{c}'" for c in header if c not in columns]
    bad += [f"missing column '{c}'" for c in required if c not in header]
    if bad:
        problems.append(f"{path}: {'; '.join(bad)}; valid columns: {', '.join(columns)}")
        return None
    rows = []
    before = len(problems)
    for line, raw in enumerate(reader, start=2):
        if None in raw:
            problems.append(f"{path}, line {line}: more cells than the {len(header)} columns")
            continue
        data = {k: v for k, v in raw.items() if v is not None and v.strip() != ""}
        label = f" (id={raw['id']})" if raw.get("id") else ""
        row = _validate(row_model, data, f"{path}, line {line}{label}", problems)
        rows.append(row)
    if not rows and len(problems) == before:
        problems.append(f"{path}: no rows")
    return tuple(rows) if len(problems) == before else None


# --- overrides -------------------------------------------------------------------------------


def apply_override(raw: dict, assignment: str) -> None:
    """Set `a.b.c=value` in the raw scenario mapping; the path must name a schema field."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ScenarioError([f"--set {assignment!r}: expected KEY=VALUE, e.g. epidemic.r0=2.5"])
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
            except yaml.YAMLError:
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
    """Name the closest valid values first; the whole list too unless it is long."""
    options = sorted(valid)
    guess = did_you_mean(value, options)
    listing = f"; valid: {', '.join(options)}" if not guess or len(options) <= 12 else ""
    return f"'{value}' is not a known {kind}{guess}{listing}"


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


def check_lever_shares(scn: dict, config: ScenarioConfig, path: Path) -> list[str]:
    """Shares within each lever must add to one, so coverage stays in [0, 1]."""
    problems = []
    for lever in LEVERS:
        shares = {c.id: c.lever_share for c in scn["commodities"] if c.lever == lever}
        if lever == "care":
            shares[f"{TEAM} (staff.care_share)"] = config.staff.care_share
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-6:
            listing = ", ".join(f"{k}={v}" for k, v in shares.items())
            problems.append(
                f"{path}: lever_share of the '{lever}' lever adds to {total:.6g}, not 1 ({listing})"
            )
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
        for p in (config.epidemic.initial_infections or {})
        if p not in provinces
    ]
    problems += [
        f"scenario.yaml, epidemic.initial_infections.{p}: {v} is invalid; valid: persons >= 0"
        for p, v in (config.epidemic.initial_infections or {}).items()
        if v < 0
    ]
    for name, (low, high) in config.calibration.bounds.items():
        if not 0 <= low < high:
            problems.append(
                f"scenario.yaml, calibration.bounds.{name}: [{low}, {high}] is invalid; "
                f"valid: 0 <= lower < upper"
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


def _read_mobility(path: Path, provinces: list[str], problems: list[str]) -> np.ndarray | None:
    """A row-stochastic matrix: rows are residents' provinces, columns where they mix."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read as UTF-8 text ({exc})")
        return None
    header = rows[0][1:] if rows else []
    if header != provinces or [r[0] for r in rows[1:]] != provinces:
        problems.append(
            f"{path}: rows and columns must be the provinces in the order of provinces.csv: "
            f"{', '.join(provinces)}"
        )
        return None
    matrix = np.zeros((len(provinces), len(provinces)))
    for i, row in enumerate(rows[1:]):
        for j, cell in enumerate(row[1:]):
            try:
                matrix[i, j] = float(cell)
            except ValueError:
                problems.append(
                    f"{path}, line {i + 2}, column '{header[j]}': {_show(cell)} is not a number"
                )
                return None
        if (matrix[i] < 0).any() or abs(matrix[i].sum() - 1) > 1e-6:
            problems.append(
                f"{path}, line {i + 2} ({row[0]}): shares must be >= 0 and add to 1, "
                f"got sum {matrix[i].sum():.6g}"
            )
    return matrix


# --- entry point -----------------------------------------------------------------------------

TABLE_ROWS: dict[str, type[BaseModel]] = {
    "provinces": ProvinceRow,
    "commodities": CommodityRow,
    "depots": DepotRow,
    "crossings": CrossingRow,
    "supply": SupplyRow,
    "arcs": ArcRow,
}


def load_scenario(folder: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read and validate a scenario folder, or raise ScenarioError naming every problem."""
    folder = Path(folder)
    scenario_file = folder / "scenario.yaml"
    if not scenario_file.is_file():
        raise ScenarioError([f"{folder}: no scenario.yaml here; a scenario is a folder with one"])
    problems: list[str] = []
    raw = _read_yaml(scenario_file, problems)
    if raw is None:
        raise ScenarioError(problems)
    overrides = expand_overrides(overrides)
    for assignment in overrides:
        apply_override(raw, assignment)
    where = str(scenario_file) + (f" (with --set {' '.join(overrides)})" if overrides else "")
    config = _validate(ScenarioConfig, raw, where, problems)
    if config is None:
        raise ScenarioError(problems)

    files = {name: folder / getattr(config.tables, name) for name in (*TABLE_ROWS, "sanctions")}
    scn: dict = {
        name: _read_csv(files[name], model, problems) for name, model in TABLE_ROWS.items()
    }
    sanctions_raw = _read_yaml(files["sanctions"], problems)
    if sanctions_raw is not None:
        scn["sanctions"] = _validate(Sanctions, sanctions_raw, str(files["sanctions"]), problems)
    if problems:
        raise ScenarioError(problems)

    scn["node_country"] = node_countries(scn["provinces"], scn["depots"], scn["crossings"])
    problems += check_unique_ids(scn, files)
    problems += check_arcs(scn["arcs"], set(scn["node_country"]), files["arcs"])
    problems += check_supply(scn, files)
    problems += check_lever_shares(scn, config, files["commodities"])
    problems += check_sanctions(scn, config, files)
    problems += check_staff(scn, config)
    problems += check_epidemic(scn, config)

    province_ids = [p.id for p in scn["provinces"]]
    mobility = needs = None
    if config.tables.mobility:
        files["mobility"] = folder / config.tables.mobility
        mobility = _read_mobility(files["mobility"], province_ids, problems)
    if config.tables.needs:
        files["needs"] = folder / config.tables.needs
        needs = _read_csv(files["needs"], NeedRow, problems)
        if needs is not None:
            problems += check_needs(needs, scn, config, files["needs"])
    if problems:
        raise ScenarioError(problems)

    digest = hashlib.sha256()
    for path in [scenario_file, *files.values()]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for assignment in overrides:
        digest.update(b"--set " + assignment.encode())
    return Scenario(
        folder=folder,
        config=config,
        provinces=scn["provinces"],
        commodities=scn["commodities"],
        depots=scn["depots"],
        crossings=scn["crossings"],
        supply=scn["supply"],
        arcs=scn["arcs"],
        sanctions=scn["sanctions"],
        mobility=mobility,
        needs=needs,
        overrides=tuple(overrides),
        inputs_sha256=digest.hexdigest(),
    )


def week_of(config: ScenarioConfig, day: dt.date) -> int:
    """Plan week containing a date (negative before the start)."""
    return (day - config.start_date).days // 7
