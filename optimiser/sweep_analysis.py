"""`aidopt sweep analyse DIR`: how much each parameter moves each scalar output.

- sobol designs: Sobol' first-order (S1) and total (ST) indices by SALib, with 95 % bootstrap
  intervals; they need every run of the design (a failed run falls back to rank correlations);
- morris designs: mu* (mean absolute elementary effect, in output units per whole range of
  the parameter) with its 95 % interval, and sigma; trajectories with a failed run are left out;
- other designs: partial rank correlation coefficients (PRCC), with 95 % intervals from Fisher's
  z with n - 2 - D degrees of freedom.

Runs whose status is not `ok` are left out (not-converged ones too, unless asked). Writes
indices.csv (output, parameter, method, measure, value, low_95, high_95) and three plots:
indices.png (the indices with their intervals), tornado.png (mean output over the runs in the
lowest and the highest fifth of each parameter) and scatter.png (the output against its three
most influential parameters).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from optimiser import output_folder
from optimiser.reading import reason, show
from optimiser.sweep_spec import SweepFile, output_name, parse_output
from optimiser.sweep_store import STORE, load

log = logging.getLogger(__name__)
FILES = ("indices.csv", "indices.png", "tornado.png", "scatter.png")
TOP = 3
"""Parameters shown against each output in scatter.png."""
TORNADO_SHARE = 0.2
"""tornado.png compares the runs in the lowest and highest fifth of each parameter."""
RANK_BY = {"sobol": "ST", "morris": "mu_star", "prcc": "prcc"}


class AnalysisError(Exception):
    """The folder holds no sweep that can be analysed; the message says why."""


def analyse_folder(folder: Path, out: Path | None, include_not_converged: bool = False):
    """Indices and plots of the sweep in `folder`, written into `out` (default: the sweep's
    own folder, entered in its marker). Returns a printable table and the files written."""
    store = folder / STORE
    if not store.is_dir():
        raise AnalysisError(f"{folder}: no {STORE} here; give a folder aidopt sweep wrote (for "
                            f"a job array: the one aidopt sweep collect wrote)")  # fmt: skip
    if out is None:
        for n in FILES:  # every file checked before any is computed or written: all or none
            output_folder.check_writable(folder / n)
    ds = load([store], keep=_analysed)[0]
    try:
        table = indices(ds, include_not_converged)
        if table.empty:
            raise AnalysisError(f"{folder}: no output could be analysed (see the warnings): "
                                f"too few runs ok, or every output the same in all of "
                                f"them")  # fmt: skip
        contents = {  # made whole before anything is written
            "indices.csv": table.to_csv(index=False, float_format="%.6g").encode(),
            "indices.png": _png(plot_indices(table)),
            "tornado.png": _png(plot_tornado(ds, table, include_not_converged)),
            "scatter.png": _png(plot_scatter(ds, table, include_not_converged)),
        }
    except (KeyError, ValueError, TypeError, IndexError) as exc:  # pydantic's too: ValueError
        part = f"no {show(exc.args[0])}" if isinstance(exc, KeyError) and exc.args else reason(exc)
        raise AnalysisError(f"{store}: not as aidopt sweep writes it ({part}); run the sweep "
                            f"again") from None  # fmt: skip
    writers = {n: _bytes_writer(data) for n, data in contents.items()}
    if out is None:
        files = [output_folder.write_file(folder / n, w, "sweep") for n, w in writers.items()]
    else:
        with output_folder.prepare_output(out, "sweep analyse", (folder,)) as output:
            files = output.write(writers)
    return format_table(table), files


def _analysed(name: str, dims: tuple[str, ...]) -> bool:
    """The variables the analysis reads: one value per run (the parameters, the scalar
    outputs, the status), the design and its labels; never an array output's values."""
    return dims in ((), ("run",), ("parameter",)) or name == "design_unit"


def sweep_of(ds: xr.Dataset) -> SweepFile:
    return SweepFile.model_validate_json(ds.attrs["sweep_json"])


def parameter_names(ds: xr.Dataset) -> list[str]:
    """The parameters in the design's order (the columns of `design_unit`)."""
    return [str(n) for n in ds["parameter"].values]


def scalar_outputs(ds: xr.Dataset) -> list[str]:
    """The outputs with one value per run, in the sweep file's order."""
    names = [output_name(parse_output(o)) for o in sweep_of(ds).outputs]
    return [n for n in names if n in ds.data_vars and ds[n].dims == ("run",)]


def usable(ds: xr.Dataset, include_not_converged: bool) -> np.ndarray:
    status = ds["status"].values.astype(object)
    keep = status == "ok"
    return keep | (status == "not-converged") if include_not_converged else keep


def design_matrix(ds: xr.Dataset) -> np.ndarray:
    """(runs, parameters): the design in [0, 1] where SALib made it (every distribution maps it
    monotonically, so ranks agree), else the values (text as category codes)."""
    if "design_unit" in ds:
        return np.asarray(ds["design_unit"].values, dtype=float)
    columns = []
    for name in parameter_names(ds):
        values = ds[name].values
        if values.dtype.kind == "f":
            columns.append(values)
        else:
            columns.append(pd.factorize(values.astype(object))[0].astype(float))
    return np.column_stack(columns)


def indices(ds: xr.Dataset, include_not_converged: bool = False) -> pd.DataFrame:
    """One row per (output, parameter, measure)."""
    names = parameter_names(ds)
    outputs = scalar_outputs(ds)
    if not names or not outputs:
        raise AnalysisError("the sweep has no parameters or no scalar outputs to analyse")
    method = sweep_of(ds).design.method
    keep = usable(ds, include_not_converged)
    x = design_matrix(ds)
    rows: list[dict] = []
    for output in outputs:
        y = np.asarray(ds[output].values, dtype=float)
        ok = keep & np.isfinite(y)
        if np.ptp(y[ok]) == 0 if ok.any() else True:
            log.warning("%s: the same in every usable run (or none is usable); no indices", output)
            continue
        if method == "sobol" and ok.all():
            rows += _sobol(ds, names, output, y)
        elif method == "morris":
            rows += _morris(ds, names, output, x, y, ok)
        else:
            if method == "sobol":
                log.warning("%s: %d of %d runs unusable; Sobol' indices need every run, so "
                            "these are rank correlations", output, (~ok).sum(),
                            ok.size)  # fmt: skip
            rows += _prcc(names, output, x[ok], y[ok])
    return pd.DataFrame(rows, columns=["output", "parameter", "method", "measure", "value",
                                       "low_95", "high_95"])  # fmt: skip


def _problem(names: list[str]) -> dict:
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def _rows(output: str, names: list[str], method: str, measure: str, value, low, high) -> list:
    return [dict(output=output, parameter=n, method=method, measure=measure, value=float(v),
                 low_95=float(lo), high_95=float(hi))
            for n, v, lo, hi in zip(names, value, low, high, strict=True)]  # fmt: skip


def _sobol(ds: xr.Dataset, names: list[str], output: str, y: np.ndarray) -> list[dict]:
    from SALib.analyze import sobol

    design = sweep_of(ds).design
    result = sobol.analyze(_problem(names), y, calc_second_order=design.second_order,
                           conf_level=0.95, seed=design.seed)  # fmt: skip
    rows = []
    for measure in ("S1", "ST"):
        v, c = np.asarray(result[measure]), np.asarray(result[f"{measure}_conf"])
        rows += _rows(output, names, "sobol", measure, v, v - c, v + c)
    return rows


def _morris(ds: xr.Dataset, names: list[str], output: str, x: np.ndarray, y: np.ndarray,
            ok: np.ndarray) -> list[dict]:  # fmt: skip
    from SALib.analyze import morris

    design = sweep_of(ds).design
    step = len(names) + 1
    whole = ok.reshape(-1, step).all(axis=1)  # trajectories with every run usable
    if not whole.any():
        log.warning("%s: no Morris trajectory has every run usable; no indices", output)
        return []
    rows_kept = np.repeat(whole, step)
    result = morris.analyze(_problem(names), x[rows_kept], y[rows_kept], conf_level=0.95,
                            num_levels=design.levels, seed=design.seed)  # fmt: skip
    mu, conf = np.asarray(result["mu_star"]), np.asarray(result["mu_star_conf"])
    sigma = np.asarray(result["sigma"])
    return _rows(output, names, "morris", "mu_star", mu, mu - conf, mu + conf) + _rows(
        output, names, "morris", "sigma", sigma, [np.nan] * len(names), [np.nan] * len(names)
    )


def prcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Partial rank correlation of y with each column of x, the others held out by linear
    regression on ranks."""
    ranks, ry = stats.rankdata(x, axis=0), stats.rankdata(y)
    n, d = ranks.shape
    result = np.full(d, np.nan)
    for j in range(d):
        others = np.column_stack([np.ones(n), np.delete(ranks, j, axis=1)])
        rx = ranks[:, j] - others @ np.linalg.lstsq(others, ranks[:, j], rcond=None)[0]
        rr = ry - others @ np.linalg.lstsq(others, ry, rcond=None)[0]
        norm = np.sqrt((rx @ rx) * (rr @ rr))
        if norm > 1e-12 * n:
            result[j] = float(np.clip(rx @ rr / norm, -1.0, 1.0))
    return result


def _prcc(names: list[str], output: str, x: np.ndarray, y: np.ndarray) -> list[dict]:
    n, d = x.shape
    if n < d + 4:
        log.warning("%s: %d usable runs for %d parameters; rank correlations need at least %d",
                    output, n, d, d + 4)  # fmt: skip
        return []
    r = prcc(x, y)
    with np.errstate(divide="ignore"):
        z, half = np.arctanh(r), 1.959964 / np.sqrt(n - 2 - d)
    return _rows(output, names, "prcc", "prcc", r, np.tanh(z - half), np.tanh(z + half))


def format_table(table: pd.DataFrame) -> str:
    """The indices as printed: one block per output, parameters by influence."""
    lines = []
    for output, block in table.groupby("output", sort=False):
        method = block["method"].iloc[0]
        wide = block.pivot(index="parameter", columns="measure", values="value")
        wide = wide.sort_values(RANK_BY[method], ascending=False, key=np.abs)
        lines.append(f"{output} ({method}):")
        lines += [f"  {p:<40} " + "  ".join(f"{m} {v:9.3g}" for m, v in row.items())
                  for p, row in wide.iterrows()]  # fmt: skip
    return "\n".join(lines) or "no indices (see the warnings)"


# --- plots -------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bytes_writer(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight",
                metadata={"Software": None})  # fmt: skip
    _pyplot().close(fig)
    return buffer.getvalue()


def _ranked(table: pd.DataFrame, output: str) -> list[str]:
    block = table[table["output"] == output]
    method = block["method"].iloc[0]
    main = block[block["measure"] == RANK_BY[method]]
    return list(main.sort_values("value", key=np.abs, ascending=False)["parameter"])


def _grid(plt, rows: int, cols: int, width: float, height: float):
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    return fig, axes


def plot_indices(table: pd.DataFrame):
    """The indices of each output with their 95 % intervals, most influential on top."""
    plt = _pyplot()
    outputs = list(dict.fromkeys(table["output"]))
    fig, axes = _grid(plt, max(len(outputs), 1), 1, 6.0, 2.4)
    for ax, output in zip(axes[:, 0], outputs, strict=False):
        block = table[table["output"] == output]
        order = _ranked(table, output)[::-1]
        measures = [m for m in ("S1", "ST", "mu_star", "prcc") if m in set(block["measure"])]
        height = 0.8 / len(measures)
        for k, measure in enumerate(measures):
            part = block[block["measure"] == measure].set_index("parameter").loc[order]
            pos = np.arange(len(order)) + (k - (len(measures) - 1) / 2) * height
            err = np.abs(np.vstack([part["value"] - part["low_95"],
                                    part["high_95"] - part["value"]]))  # fmt: skip
            ax.barh(pos, part["value"], height, xerr=err, label=measure, capsize=2)
        ax.set_yticks(np.arange(len(order)), order, fontsize=8)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(f"{output} ({block['method'].iloc[0]}, 95 % intervals)", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _x_of(ds: xr.Dataset, name: str) -> np.ndarray:
    values = ds[name].values
    if values.dtype.kind == "f":
        return values.astype(float)
    return pd.factorize(values.astype(object))[0].astype(float)


def plot_tornado(ds: xr.Dataset, table: pd.DataFrame, include_not_converged: bool):
    """Mean output over the runs in the lowest and the highest fifth of each parameter."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    outputs = list(dict.fromkeys(table["output"]))
    keep = usable(ds, include_not_converged)
    fig, axes = _grid(plt, max(len(outputs), 1), 1, 6.0, 2.4)
    for ax, output in zip(axes[:, 0], outputs, strict=False):
        y = ds[output].values.astype(float)
        ok = keep & np.isfinite(y)
        spans = []
        for name in parameter_names(ds):
            x = _x_of(ds, name)[ok]
            low, high = np.quantile(x, [TORNADO_SHARE, 1 - TORNADO_SHARE])
            below, above = y[ok][x <= low], y[ok][x >= high]
            if below.size and above.size:
                spans.append((name, below.mean(), above.mean()))
        spans.sort(key=lambda s: abs(s[2] - s[1]))
        middle = float(y[ok].mean())
        for i, (_, lo, hi) in enumerate(spans):
            ax.barh(i, lo - middle, left=middle, color="#1f6fb4")
            ax.barh(i, hi - middle, left=middle, color="#c0392b")
        ax.set_yticks(range(len(spans)), [s[0] for s in spans], fontsize=8)
        ax.axvline(middle, color="black", linewidth=0.6)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_title(f"{output}: mean over runs with the parameter in its lowest (blue) and "
                     f"highest (red) fifth", fontsize=8)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_scatter(ds: xr.Dataset, table: pd.DataFrame, include_not_converged: bool):
    """Each output against its most influential parameters."""
    plt = _pyplot()
    outputs = list(dict.fromkeys(table["output"]))
    keep = usable(ds, include_not_converged)
    n_params = min(TOP, len(parameter_names(ds)))
    fig, axes = _grid(plt, max(len(outputs), 1), n_params, 2.6, 2.2)
    for row, output in enumerate(outputs):
        y = ds[output].values.astype(float)
        ok = keep & np.isfinite(y)
        for col, name in enumerate(_ranked(table, output)[:n_params]):
            ax = axes[row, col]
            ax.scatter(_x_of(ds, name)[ok], y[ok], s=6, alpha=0.6)
            ax.set_xlabel(name, fontsize=7)
            ax.set_ylabel(output if col == 0 else "", fontsize=7)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
