"""`--set` for the scenario's tables: any cell of any table, by row and column.

    TABLE.ROW.COLUMN=VALUE      provinces, commodities, depots, crossings, arcs (ROW is the id),
                                supply (ROW is DEPOT:COMMODITY), consumption (COMMODITY:DRIVER)
    sanctions.unscr_2397.hs_chapters=[84, 85]
    sanctions.rok_route_approvals.routes.ARC=LEAD    (null closes the route)
    sanctions.exemptions.ID.FIELD=VALUE

ROW may be `*` (every row), and either half of a pair may be `*` (`supply.*:pcr_test`). VALUE is
read as YAML, or, written `*FACTOR`, multiplies the number already there:
`--set supply.*.units_per_week=*0.5` halves every depot's supply. Edits apply to the raw cells
before validation, so an edited value is checked like any other; a row, column or exemption that
does not exist is an error that names what does.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from optimiser.reading import clip, listing
from optimiser.suggest import did_you_mean

ROW_KEYS = {
    "provinces": ("id",),
    "commodities": ("id",),
    "depots": ("id",),
    "crossings": ("id",),
    "arcs": ("id",),
    "supply": ("depot", "commodity"),
    "consumption": ("commodity", "driver"),
}
"""The tables `--set` reaches by row, and the columns that name a row."""
TABLES = (*ROW_KEYS, "sanctions")


class OverrideError(ValueError):
    """A `--set` that names no table cell; the message says what would."""


def _valid(value: str, names: list[str]) -> str:
    """The close names if there are any, else the valid ones (the first of them if many)."""
    return did_you_mean(value, names) or f"; valid: {listing(names)}"


@dataclass(frozen=True)
class TableEdit:
    """One `--set` on a table: the rows it selects, the column, and the new value."""

    table: str
    row: tuple[str, ...]  # a value per ROW_KEYS column, `*` for any
    column: str
    value: str  # YAML text, or `*FACTOR`
    text: str  # the assignment as typed, for messages

    def matches(self, cells: dict[str, str]) -> bool:
        keys = ROW_KEYS[self.table]
        return all(
            want in ("*", cells.get(k, "").strip()) for want, k in zip(self.row, keys, strict=True)
        )


def is_table_override(assignment: str) -> bool:
    return assignment.partition("=")[0].strip().split(".")[0] in TABLES


def parse(assignment: str) -> TableEdit | tuple[list[str], str]:
    """A table edit for the CSV tables, or (YAML path, value text) for sanctions.yaml."""
    key, _, value = assignment.partition("=")
    parts = key.strip().split(".")
    table = parts[0]
    if table == "sanctions":
        if len(parts) < 2:
            raise OverrideError(f"--set {clip(assignment)}: name a field of sanctions.yaml, e.g. "
                                f"sanctions.exemptions.ID.quota_t=80")  # fmt: skip
        return parts[1:], value
    if len(parts) != 3:
        raise OverrideError(
            f"--set {clip(assignment)}: a table cell is TABLE.ROW.COLUMN=VALUE, e.g. "
            f"arcs.incheon-nampo-sea.capacity_t_per_week=0 or supply.*.units_per_week=*0.5"
        )
    row = tuple(parts[1].split(":")) if parts[1] != "*" else ("*",) * len(ROW_KEYS[table])
    if len(row) != len(ROW_KEYS[table]):
        names = ":".join(k.upper() for k in ROW_KEYS[table])
        raise OverrideError(f"--set {clip(assignment)}: a row of {table} is named {names}")
    return TableEdit(table, row, parts[2], value, assignment)


def _new_value(edit: TableEdit, old: str, where: str) -> str:
    text = edit.value.strip()
    if not text.startswith("*"):
        return text
    try:
        factor = float(text[1:])
        return repr(float(old) * factor)
    except ValueError:
        raise OverrideError(
            f"--set {clip(edit.text)}: {where}: '*{clip(text[1:])}' scales a number, and "
            f"'{clip(old)}' or the factor is not one"
        ) from None


def apply_to_rows(edits: list[TableEdit], header: list[str], rows: list[dict[str, str]],
                  path: object) -> None:  # fmt: skip
    """Apply every edit of one table to its raw rows, in order; each must touch a cell."""
    for edit in edits:
        if edit.column not in header or edit.column in ROW_KEYS[edit.table]:
            valid = [c for c in header if c not in ROW_KEYS[edit.table]]
            raise OverrideError(
                f"--set {clip(edit.text)}: {path} has no column '{clip(edit.column)}'"
                f"{_valid(edit.column, valid)}"
            )
        hits = [r for r in rows if edit.matches(r)]
        if not hits:
            ids = [":".join(r.get(k, "") for k in ROW_KEYS[edit.table]) for r in rows]
            wanted = ":".join(edit.row)
            raise OverrideError(
                f"--set {clip(edit.text)}: {path} has no row '{clip(wanted)}'{_valid(wanted, ids)}"
            )
        for r in hits:
            r[edit.column] = _new_value(edit, r.get(edit.column, ""), f"{path}")


def apply_to_sanctions(raw: dict, path_parts: list[str], value: str, where: object) -> None:
    """Set a field of sanctions.yaml; exemptions are addressed by id (`*` for all)."""
    text = "sanctions." + ".".join(path_parts) + "=" + value
    head, rest = path_parts[0], path_parts[1:]
    if head == "exemptions" and len(rest) == 2:
        listed = raw.get("exemptions") or []
        hits = [e for e in listed if isinstance(e, dict) and rest[0] in ("*", e.get("id"))]
        if not hits:
            ids = [str(e.get("id")) for e in listed if isinstance(e, dict)]
            raise OverrideError(f"--set {clip(text)}: {where} has no exemption '{clip(rest[0])}'"
                                f"{_valid(rest[0], ids)}")  # fmt: skip
        for e in hits:
            e[rest[1]] = _yaml_or_scaled(value, e.get(rest[1]), text)
        return
    node = raw
    for part in path_parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            mappings = [k for k, v in node.items() if isinstance(v, dict)]
            raise OverrideError(
                f"--set {clip(text)}: {where} has no mapping '{clip(part)}'; "
                f"valid: {listing(mappings)}"
            )
        node = child
    new = _yaml_or_scaled(value, node.get(path_parts[-1]), text)
    if new is None:  # `=null` removes the entry: e.g. a route approval, closing the route
        node.pop(path_parts[-1], None)
    else:
        node[path_parts[-1]] = new


def _yaml_or_scaled(value: str, old: object, text: str) -> object:
    value = value.strip()
    if value.startswith("*"):
        try:
            return float(old) * float(value[1:])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise OverrideError(
                f"--set {clip(text)}: '*FACTOR' scales a number, and {clip(repr(old))} or the "
                f"factor is not one"
            ) from None
    try:
        return yaml.safe_load(value) if value else None
    except yaml.YAMLError:
        return value
