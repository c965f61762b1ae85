"""Reading input files safely: contained, regular, bounded; CSV by the csv module; strict YAML.

Every reader appends full-sentence problems to a list instead of raising, so the caller can
report all of them. Messages quote values clipped to `SHOWN_CHARS` and lists of names cut at
`SHOWN_NAMES`, and never quote a file that does not look like the table it should be.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import yaml

MAX_TABLE_BYTES = 4 * 2**20
"""Largest CSV table read [bytes] (4 MiB; the shipped tables are under 20 kB)."""
MAX_YAML_BYTES = 2**20
"""Largest YAML file read [bytes] (1 MiB)."""
MAX_TABLE_ROWS = 30_000
"""Most data rows a scenario's CSV tables hold together, or an observed file (a 52-week needs
table for 13 provinces and 9 items has 6,084)."""
MAX_FILE_PROBLEMS = 100
"""A table stops being checked row by row after this many problems."""
MAX_YAML_ALIASES = 100
"""Most aliases (`*name`) in one YAML document."""
MAX_YAML_VALUES = 100_000
"""Most values a YAML document may hold once its aliases are expanded."""
SHOWN_CHARS, SHOWN_NAMES = 80, 20
"""A quoted value is clipped to this many characters; a list of names to this many names."""


MAX_JSON_BYTES = 16 * 2**20
"""Largest summary.json or other JSON file aidopt reads back [bytes] (16 MiB, assumption: the
shipped scenarios' summaries are under 100 kB)."""
MAX_PLAN_BYTES = 512 * 2**20
"""Largest plan.nc read back, on disk and once decompressed [bytes] (512 MiB, assumption: the
shipped scenarios' are under 2 MB, and the reviewers' ceiling is 2 GB a command)."""


class ReadError(Exception):
    """A file aidopt reads back (a result, a store, a warm start) is missing, too large or not
    as aidopt writes it; the message names the file and the part. Exit status 2."""

    status = 2


def reason(exc: BaseException) -> str:
    """A library's error as one short line: its type and first words (no traceback)."""
    text = " ".join(str(exc).split())
    return clip(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 2 * SHOWN_CHARS)


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters, marked with '...' where cut, with characters that are
    not printable (line breaks, terminal escapes) shown as escapes."""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def show(value: object) -> str:
    """A value as an error message quotes it: repr, clipped; '(empty)' for nothing."""
    if value is None or value == "":
        return "(empty)"
    return clip(repr(value))


def listing(names: Iterable[object], limit: int = SHOWN_NAMES) -> str:
    """Names joined by commas, at most `limit` of them, then 'and N more'."""
    shown = [clip(str(n)) for n in names]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def too_many(problems: list[str], before: int, path: Path, line: int) -> bool:
    """True, with a closing note, once a file has given MAX_FILE_PROBLEMS problems."""
    if len(problems) - before < MAX_FILE_PROBLEMS:
        return False
    problems.append(f"{path}: stopped at line {line} after {MAX_FILE_PROBLEMS} problems")
    return True


# --- files -------------------------------------------------------------------------------------


def read_bytes(
    path: Path, problems: list[str], within: Path | None = None, max_bytes: int = MAX_TABLE_BYTES
) -> bytes | None:
    """The bytes of a regular file of at most `max_bytes`, inside the folder `within` if given.

    Symbolic links are followed only if they end inside `within`; FIFOs, devices and folders
    are refused before they are opened for reading, so nothing blocks or streams forever."""
    resolved = path.resolve()
    if within is not None and not resolved.is_relative_to(within.resolve()):
        problems.append(
            f"{path}: lies outside the scenario folder {within}; a table must be a file inside it"
        )
        return None
    try:
        info = os.stat(resolved)
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{path}: is {_kind(info.st_mode)}, not a regular file")
            return None
        if info.st_size > max_bytes:
            problems.append(f"{path}: {info.st_size:,} bytes; at most {max_bytes:,} are read")
            return None
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not os.path.samestat(info, os.fstat(f.fileno())):
                problems.append(f"{path}: changed while it was read")
                return None
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
        return None
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
        return None
    if len(data) > max_bytes:
        problems.append(f"{path}: more than {max_bytes:,} bytes; at most {max_bytes:,} are read")
        return None
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_text(
    path: Path, problems: list[str], within: Path | None = None, max_bytes: int = MAX_TABLE_BYTES
) -> str | None:
    """A bounded, contained file decoded as UTF-8 (a byte-order mark is dropped)."""
    data = read_bytes(path, problems, within, max_bytes)
    if data is None:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: cannot be read as UTF-8 text ({exc.reason} at byte {exc.start})")
        return None


# --- CSV ---------------------------------------------------------------------------------------


def csv_rows(
    path: Path, text: str, problems: list[str], max_rows: int = MAX_TABLE_ROWS
) -> tuple[list[str], list[list[str]]] | None:
    """Header and data rows, split by the csv module alone (so a line break inside a quoted
    cell, or a Unicode line separator in any cell, stays in its cell). Blank lines are skipped;
    the first data row is line 2. The header must not repeat a name."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
        rows: list[list[str]] = []
        for cells in reader:
            if not cells:
                continue
            if len(rows) == max_rows:
                problems.append(
                    f"{path}: more than {max_rows:,} rows; a scenario's tables may hold "
                    f"{MAX_TABLE_ROWS:,} rows together, an observed file as many"
                )
                return None
            rows.append(cells)
    except csv.Error as exc:
        problems.append(f"{path}, line {reader.line_num}: not valid CSV ({exc})")
        return None
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        problems.append(
            f"{path}: column(s) {listing(repeated)} appear more than once in the header"
        )
        return None
    return header, rows


# --- YAML --------------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """Safe YAML with dates left as text (pydantic parses them and names the key), no duplicate
    keys, and aliases held to a budget so a small file cannot expand into a huge one."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"more than {MAX_YAML_ALIASES} aliases",
                    self.peek_event().start_mark,
                )
        return super().compose_node(parent, index)

    def compose_document(self):
        node = super().compose_document()
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {MAX_YAML_VALUES:,} values", node.start_mark
            )
        return node

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first: dict[object, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = self.construct_object(key_node)
                if key in first:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {show(key)} repeats line {first[key] + 1}",
                        key_node.start_mark,
                    )  # fmt: skip
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in a node tree with every alias expanded (memoised on shared nodes)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, sizes) for v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


def parse_yaml(text: str) -> object:
    """Parse YAML strictly; raises yaml.YAMLError (or RecursionError if nested absurdly)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, without the file's text (PyYAML's own message quotes the line)."""
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character {exc.position + 1}: {exc.reason} (#x{exc.character:04x})"
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(exc, "context", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return clip(where + (f"{context}: " if context else "") + problem, 2 * SHOWN_CHARS)


def read_yaml(path: Path, problems: list[str], within: Path | None = None) -> dict | None:
    """A YAML file that must hold a mapping, read strictly and within bounds."""
    text = read_text(path, problems, within, MAX_YAML_BYTES)
    if text is None:
        return None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        problems.append(f"{path}: not valid YAML: {yaml_problem(exc)}")
        return None
    except RecursionError:
        problems.append(f"{path}: not valid YAML: nested too deeply")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
        return None
    return data


def read_json(path: Path, problems: list[str], max_bytes: int = MAX_JSON_BYTES) -> object:
    """A bounded JSON file aidopt wrote (None with the problem named); NaN and Infinity are
    refused, as aidopt never writes them."""
    text = read_text(path, problems, max_bytes=max_bytes)
    if text is None:
        return None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg})")  # fmt: skip
    except ValueError as exc:
        problems.append(f"{path}: not valid JSON ({clip(str(exc))})")
    except RecursionError:
        problems.append(f"{path}: not valid JSON (nested too deeply)")
    return None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def check_file(path: Path, max_bytes: int) -> None:
    """Raise ReadError unless `path` is a regular file (a link to one is followed) of at most
    `max_bytes`, checked before a library opens it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ReadError(f"{path}: file not found") from None
    except OSError as exc:
        raise ReadError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ReadError(f"{path}: is {_kind(info.st_mode)}, not a regular file")
    if info.st_size > max_bytes:
        raise ReadError(f"{path}: {info.st_size:,} bytes; at most {max_bytes:,} are read")
    if not os.access(path, os.R_OK):
        raise ReadError(f"{path}: cannot be read (permission denied)")


NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")
"""The first bytes of a NetCDF-4 (HDF5) file and of the three NetCDF-3 formats."""


def load_netcdf(path: Path, max_bytes: int = MAX_PLAN_BYTES):
    """A NetCDF file aidopt wrote, loaded whole once its size on disk and its size in memory
    (the sum of its variables, known before any is read) are within `max_bytes`. Every library
    error becomes a ReadError naming the file, and the variable where one is at fault."""
    import xarray as xr

    check_file(path, max_bytes)
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.startswith(NETCDF_MAGIC):
        raise ReadError(f"{path}: not a NetCDF file (it starts with {show(head[:8])})")
    try:
        opened = xr.open_dataset(path, engine="netcdf4")
    except Exception as exc:  # netCDF4, h5py and xarray each raise their own kinds
        raise ReadError(f"{path}: cannot be read as NetCDF ({reason(exc)})") from None
    with opened:
        declared = sum(v.nbytes for v in opened.variables.values())
        if declared > max_bytes:
            raise ReadError(f"{path}: its variables hold {declared:,} bytes once read; at most "
                            f"{max_bytes:,} are read")  # fmt: skip
        for name, variable in opened.variables.items():
            try:
                variable.load()
            except Exception as exc:
                raise ReadError(f"{path}: variable {show(name)} cannot be read "
                                f"({reason(exc)})") from None  # fmt: skip
        return opened.load()


def json_attribute(path: Path, attrs: dict, name: str, kind: type, default: str) -> object:
    """The JSON text in the attribute `name` of a file's attributes, parsed and of type
    `kind`, or ReadError naming the file and the attribute."""
    text = attrs.get(name, default)
    if not isinstance(text, str) or len(text) > MAX_JSON_BYTES:
        raise ReadError(f"{path}: attribute {name} is not JSON text")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ReadError(f"{path}: attribute {name} is not valid JSON ({reason(exc)})") from None
    if not isinstance(value, kind):
        raise ReadError(f"{path}: attribute {name} holds {json_kind(value)}; aidopt writes "
                        f"{json_kind(kind())} there")  # fmt: skip
    return value


def json_kind(value: object) -> str:
    """What a JSON value is, as a message names it."""
    names = {dict: "an object {...}", list: "a list [...]", str: "text", bool: "true or false",
             type(None): "null", int: "a number", float: "a number"}  # fmt: skip
    return names.get(type(value), type(value).__name__)
