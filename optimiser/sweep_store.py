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


def open_dataset(path: Path) -> xr.Dataset:
    return xr.open_zarr(path, consolidated=False)


def status(path: Path) -> np.ndarray:
    import zarr

    return np.asarray(zarr.open_array(path / "status", mode="r")[:], dtype=object)


def attributes(path: Path) -> dict[str, Any]:
    import zarr

    return dict(zarr.open_group(path, mode="r").attrs)


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
    parts = [open_dataset(p).load() for p in stores]
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
