"""`sweep.zarr`: a sweep's runs along one `run` dimension, written run by run.

Made whole when the sweep starts: one variable per parameter (named by its `--set` path, the
value each run is given), `design_unit` (the design in [0, 1]), `status` ("pending" until the
run is written), `message`, timings, the worker and the run's inputs hash; the attributes carry
the sweep file and provenance. One variable per output: scalars from the start, arrays of
plan.nc when a first run brings their labels.

A run is written in one process (the sweep's), its values first and its status last, each chunk
replaced atomically by Zarr: a kill loses only runs whose status is still "pending", and
`--resume` runs exactly those again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from optimiser.reading import MAX_JSON_BYTES, ReadError, json_kind, listing, read_json, reason, show
from optimiser.sweep_design import Runs
from optimiser.sweep_worker import RunResult

STORE = "sweep.zarr"
PENDING = "pending"
RUN_CHUNK = 4096
"""Runs per Zarr chunk: few files even for 100,000 runs, and a chunk rewrite stays cheap."""
TIMINGS = ("wall_s", "cpu_s", "epidemic_s", "gradient_s", "build_s", "solve_s")
TIMING_NAMES = {
    "wall_s": "wall-clock time of the run in its worker",
    "cpu_s": "CPU time of the run in its worker",
    "epidemic_s": "the run's epidemic integrations",
    "gradient_s": "the run's harm gradients",
    "build_s": "building the run's LP",
    "solve_s": "the run's LP solves",
}
TEXT = ("status", "message", "worker", "inputs_sha256", "finished_utc")
ZARR_PARTIAL = re.compile(r"\.[0-9a-f]{32}\.partial$")
"""Zarr writes a chunk as NAME.<uuid>.partial and renames it; a kill can leave one behind."""


def _text(values) -> np.ndarray:
    """Text as object arrays: Zarr v3 stores them as variable-length strings."""
    return np.asarray(values, dtype=object)


def create(path: Path, runs: Runs, outputs: list[str], attrs: dict[str, Any]) -> None:
    """Make the store for every run of the sweep, all pending."""
    ds = template(runs, outputs, attrs)
    chunk = min(max(runs.count, 1), RUN_CHUNK)
    encoding = {v: {"chunks": (chunk,) + ds[v].shape[1:]} for v in ds.data_vars}
    ds.to_zarr(path, mode="w-", consolidated=False, encoding=encoding)


def template(runs: Runs, outputs: list[str], attrs: dict[str, Any]) -> xr.Dataset:
    """The store's contents before any run: the design, every run pending."""
    n = runs.count
    data: dict[str, Any] = {}
    for name, values in zip(runs.names, runs.values, strict=True):
        text = values.dtype == object
        data[name] = ("run", _text(values) if text else values,
                      {"long_name": f"--set {name}", "role": "parameter"})  # fmt: skip
    coords: dict[str, Any] = {"run": np.arange(n), "parameter": _text(runs.names)}
    if runs.unit is not None:
        data["design_unit"] = (("run", "parameter"), runs.unit,
                               {"long_name": "the design in the unit hypercube"})  # fmt: skip
    for name in outputs:
        data[name] = ("run", np.full(n, np.nan), {"role": "output"})
    data["status"] = ("run", _text([PENDING] * n), {"long_name": "ok, failed, not-converged "
                                                    "or pending"})  # fmt: skip
    for name in TEXT[1:]:
        data[name] = ("run", _text([""] * n))
    for name in TIMINGS:
        data[name] = ("run", np.full(n, np.nan), {"units": "s", "long_name": TIMING_NAMES[name]})
    return xr.Dataset(data, coords=coords, attrs=attrs)


MAX_STORE_BYTES = 256 * 2**20
"""Most bytes a command reads from sweep stores at once, known from the arrays' shapes before
any chunk is read (256 MiB, assumption: 100,000 runs of 30 scalar outputs take 24 MB, and the
reviewers' ceiling is 2 GB a command, which a merge's copies must fit in)."""
MAX_CHUNK_BYTES = 256 * 2**20
"""Largest chunk read [bytes] (256 MiB, assumption: aidopt writes chunks of 4,096 runs)."""
ATTRIBUTES = ("sweep_json", "inputs_sha256", "runs_sha256")
"""Attributes every sweep store carries, as text."""


class StoreError(ReadError):
    """A sweep store that is not as aidopt writes it; the message names the store and the part."""


def check(path: Path) -> dict[str, Any]:
    """Every array of the store at `path` by name, once its metadata is read and checked
    (nothing of its chunks), or StoreError naming the part that is wrong: the store's own
    zarr.json, an array's, the `status` array the commands need, or the attributes."""
    import zarr

    where = f"{path}"
    if path.is_symlink() or not path.is_dir():
        what = "no such folder" if not os.path.lexists(path) else "not a folder"
        raise StoreError(f"{where}: {what}; a sweep store is the folder {STORE} aidopt sweep "
                         f"writes")  # fmt: skip
    _check_json(path / "zarr.json", "the store's metadata")
    try:
        group = zarr.open_group(path, mode="r")
        attrs = dict(group.attrs)
    except Exception as exc:  # zarr raises its own kinds, and JSON's and the file system's
        raise StoreError(f"{where}: not a Zarr store aidopt wrote ({reason(exc)})") from None
    arrays: dict[str, Any] = {}
    for child in sorted(os.listdir(path)):
        if child == "zarr.json" or ZARR_PARTIAL.search(child):
            continue
        item = path / child
        if not item.is_dir():
            continue
        _check_json(item / "zarr.json", f"the metadata of array {show(child)}")
        try:
            arrays[child] = zarr.open_array(item, mode="r")
        except Exception as exc:
            raise StoreError(f"{where}: array {show(child)} cannot be opened "
                             f"({reason(exc)})") from None  # fmt: skip
    for name in ("status", "run"):
        if name not in arrays:
            raise StoreError(f"{where}: has no {show(name)} array; the store is damaged (aidopt "
                             f"sweep writes one in every store): run the sweep again")  # fmt: skip
    n = arrays["status"].shape[0] if arrays["status"].ndim == 1 else -1
    for name, array in arrays.items():
        if name not in ("parameter", "province") and array.ndim and array.shape[0] != n \
                and name not in _coordinates(arrays):  # fmt: skip
            raise StoreError(f"{where}: array {show(name)} has shape {array.shape} where the "
                             f"store has {n} runs")  # fmt: skip
        chunk = int(np.prod(array.chunks, dtype=np.int64)) * array.dtype.itemsize \
            if hasattr(array.dtype, "itemsize") else 0  # fmt: skip
        if chunk > MAX_CHUNK_BYTES:
            raise StoreError(f"{where}: array {show(name)} has chunks of {chunk:,} bytes; at "
                             f"most {MAX_CHUNK_BYTES:,} are read at once")  # fmt: skip
    wrong = [k for k in ATTRIBUTES if not isinstance(attrs.get(k), str)]
    if wrong:
        raise StoreError(f"{where}: attribute(s) {listing(wrong)} missing or not text; aidopt "
                         f"sweep writes them in every store")  # fmt: skip
    return arrays


def _coordinates(arrays: dict[str, Any]) -> set[str]:
    """Arrays that label an output's second dimension (written when a first run brings them)."""
    names: set[str] = set()
    for array in arrays.values():
        dims = array.metadata.dimension_names or ()
        names.update(d for d in dims[1:] if d)
    return names


def _check_json(path: Path, what: str) -> None:
    problems: list[str] = []
    data = read_json(path, problems, MAX_JSON_BYTES)
    if problems:
        raise StoreError(f"{path.parent}: {what} ({path.name}) cannot be read: "
                         f"{problems[0].removeprefix(f'{path}: ')}")  # fmt: skip
    if not isinstance(data, dict):
        raise StoreError(f"{path.parent}: {what} ({path.name}) holds {json_kind(data)}, not "
                         f"an object")  # fmt: skip


def _declared_bytes(arrays: dict[str, Any], names: list[str] | None = None) -> int:
    return sum(int(a.nbytes) for n, a in arrays.items() if names is None or n in names)


def load(paths: list[Path], keep=None) -> list[xr.Dataset]:
    """The stores at `paths`, checked (`check`) and read chunk by chunk, every variable or those
    `keep(name, dims)` keeps, while together they declare at most MAX_STORE_BYTES; a chunk that
    cannot be read (truncated, garbage) is a StoreError naming the store and the variable."""
    checked = [check(p) for p in paths]
    opened = []
    for path in paths:
        try:
            opened.append(xr.open_zarr(path, consolidated=False, chunks=None))
        except Exception as exc:
            raise StoreError(f"{path}: not a Zarr store aidopt wrote ({reason(exc)})") from None
    selected = [[n for n in ds.variables if keep is None or keep(n, ds[n].dims)] for ds in opened]
    total = sum(_declared_bytes(a, names) for a, names in zip(checked, selected, strict=True))
    if total > MAX_STORE_BYTES:
        shown = paths[0] if len(paths) == 1 else f"{paths[0].parent.parent} ({len(paths)} stores)"
        raise StoreError(f"{shown}: the arrays to read hold {total:,} bytes; at most "
                         f"{MAX_STORE_BYTES:,} are read at once")  # fmt: skip
    loaded = []
    for path, ds, names in zip(paths, opened, selected, strict=True):
        ds = ds[[n for n in names if n in ds.data_vars]]
        for name in list(ds.variables):
            try:
                ds[name].load()
            except Exception as exc:
                raise StoreError(f"{path}: variable {show(name)} cannot be read "
                                 f"({reason(exc)}); the store is damaged") from None  # fmt: skip
        if "parameter" in ds.coords:
            names = [str(n) for n in ds["parameter"].values]
            _check_parameters(path, names, {str(n) for n in ds.variables})
        loaded.append(ds)
    return loaded


def open_dataset(path: Path) -> xr.Dataset:
    """The store at `path`, every variable read (see `load`)."""
    return load([path])[0]


def status(path: Path) -> np.ndarray:
    """Each run's status, read chunk by chunk from a checked store (StoreError if it cannot)."""
    array = check(path)["status"]
    try:
        values = np.asarray(array[:], dtype=object)
    except Exception as exc:
        raise StoreError(f"{path}: variable 'status' cannot be read ({reason(exc)}); the store "
                         f"is damaged") from None  # fmt: skip
    bad = [v for v in values if not isinstance(v, str)]
    if array.ndim != 1 or bad:
        raise StoreError(f"{path}: variable 'status' is not one text per run")
    return values


def attributes(path: Path) -> dict[str, Any]:
    """The store's attributes, checked (see `check`)."""
    import zarr

    check(path)
    return dict(zarr.open_group(path, mode="r").attrs)


def verify(path: Path) -> None:
    """Read every chunk of every array once (within MAX_CHUNK_BYTES each), so that a store a
    sweep is to write into again is known whole before any run: StoreError names the first
    array that cannot be read."""
    arrays = check(path)
    for name, array in arrays.items():
        step = array.chunks[0] if array.ndim else 1
        try:
            if not array.ndim:
                array[...]
            for start in range(0, array.shape[0] if array.ndim else 0, step):
                array[start : start + step]
        except Exception as exc:
            raise StoreError(
                f"{path}: variable {show(name)} cannot be read ({reason(exc)}); "
                f"the store is damaged: run the sweep into a new folder"
            ) from None
    if "parameter" in arrays:
        _check_parameters(path, [str(n) for n in arrays["parameter"][:]], set(arrays))


def _check_parameters(path: Path, names: list[str], present: set[str]) -> None:
    """Every parameter the `parameter` coordinate names has its array of values."""
    missing = [n for n in names if n not in present]
    if missing:
        raise StoreError(f"{path}: has no array for the parameter(s) {listing(missing)}; the "
                         f"store is damaged: run the sweep into a new folder")  # fmt: skip


def remove_partial_chunks(path: Path) -> int:
    """Delete chunk files a killed write left half-done (all of them are this store's own)."""
    removed = 0
    for root, _, files in os.walk(path):
        for n in files:
            if ZARR_PARTIAL.search(n):
                os.unlink(os.path.join(root, n))
                removed += 1
    return removed


class Writer:
    """Writes runs into the store as they finish."""

    def __init__(self, path: Path):
        import zarr

        self.path = path
        self.group = zarr.open_group(path, mode="r+")
        self.arrays: dict[str, Any] = dict(self.group.arrays())
        self.n_runs = self.arrays["status"].shape[0]
        self._labels: dict[str, list] = {}

    def labels(self, dim: str) -> list | None:
        """A coordinate's labels (read once: coordinates never change)."""
        if dim not in self._labels and dim in self.arrays:
            self._labels[dim] = [_plain(x) for x in self.arrays[dim][:]]
        return self._labels.get(dim)

    def _add_array(self, name: str, dims: tuple[str, ...], labels: dict[str, list]) -> None:
        """A new output variable (run, *dims), its coordinates added where missing."""
        shape = tuple(len(labels[d]) for d in dims)
        coords = {d: _text(labels[d]) if isinstance(labels[d][0], str) else labels[d]
                  for d in dims if d not in self.arrays}  # fmt: skip
        var = xr.Variable(("run", *dims), np.full((self.n_runs, *shape), np.nan),
                          attrs={"role": "output"})  # fmt: skip
        # Appending writes the dataset's attributes over the store's: carry them along.
        ds = xr.Dataset({name: var}, coords=coords, attrs=dict(self.group.attrs))
        chunk = (min(self.n_runs, RUN_CHUNK), *shape)
        ds.to_zarr(self.path, mode="a", consolidated=False, encoding={name: {"chunks": chunk}})
        self.arrays = dict(self.group.arrays())

    def write(self, result: RunResult) -> None:
        """Values first, status last: a run is done once its status is written."""
        r = result.run
        values: dict[str, Any] = dict(result.scalars)
        for name, (dims, labels, array) in result.arrays.items():
            if name not in self.arrays:
                self._add_array(name, dims, labels)
            wrong = [d for d in dims if self.labels(d) != [_plain(x) for x in labels[d]]]
            if wrong:
                result.status = "failed"
                result.message = (f"output {name}: its {', '.join(wrong)} differ from the "
                                  f"sweep's first runs; keep other dimensions")  # fmt: skip
                continue
            values[name] = array
        timings = {"wall_s": result.wall_s, "cpu_s": result.cpu_s,
                   **{f"{k}_s": v for k, v in result.timings_s.items()}}  # fmt: skip
        values |= {name: timings.get(name, np.nan) for name in TIMINGS}
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        values |= {"message": result.message, "worker": result.worker,
                   "inputs_sha256": result.inputs_sha256, "finished_utc": now}  # fmt: skip
        self._set(r, values)
        self._set(r, {"status": result.status})

    def _set(self, run: int, values: dict[str, Any]) -> None:
        """Write one run's values, all variables at once (a third of the time of one by one)."""
        from zarr.core.sync import sync

        async def write_all() -> None:
            await asyncio.gather(*(self.arrays[name].async_array.setitem(run, value)
                                   for name, value in values.items()))  # fmt: skip

        sync(write_all())


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def merge(stores: list[Path], owners: list[np.ndarray]) -> xr.Dataset:
    """One dataset from shard stores of the same sweep: each run from the shard that owns it."""
    parts = load(stores)
    merged = parts[0].copy(deep=True)
    names = list(dict.fromkeys(n for part in parts for n in part.data_vars))
    for name in names:
        source = next(part for part in parts if name in part.data_vars)
        template = source[name].copy(deep=True)
        if "run" in template.dims and template.dtype.kind == "f":
            template[:] = np.nan
        for part, owned in zip(parts, owners, strict=True):
            if name in part.data_vars and "run" in part[name].dims:
                template[{"run": owned}] = part[name][{"run": owned}]
        merged[name] = template
    merged.attrs = {**parts[0].attrs, "shard": "", "merged_from": json.dumps(
        [str(p) for p in stores])}  # fmt: skip
    return merged


def write_dataset(ds: xr.Dataset, path: Path) -> None:
    """A whole store at once (collect): text as variable-length strings, runs chunked."""
    ds = ds.copy()
    for name in list(ds.variables):
        if ds[name].dtype.kind in "OUT":
            ds[name] = ds[name].astype(object)
    n = ds.sizes["run"]
    encoding = {v: {"chunks": (min(n, RUN_CHUNK),) + ds[v].shape[1:]} for v in ds.data_vars
                if ds[v].dims[:1] == ("run",)}  # fmt: skip
    for v in ds.variables:
        ds[v].encoding = {}
    ds.to_zarr(path, mode="w-", consolidated=False, encoding=encoding)
