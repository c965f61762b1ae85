"""Time `aidopt asks` on the shipped scenarios and print what it finds.

    python benchmarks/bench_asks.py [SCENARIO ...] [--workers N] [--keep DIR]

For each scenario (default: korea-2020 and dprk-2022), as a user runs them, in their own
processes: the wall time of `aidopt asks`, against the number of runs (asks and the reference)
x one re-solve (the reference replayed alone with `aidopt run`), and the cold base's own time;
the warm start from the base's own plan against the base; the top ten asks. On dprk-2022 also
the rows for refusing the generator exemption, lifting UNSCR 2397 and doubling the air route's
capacity against the same scenarios run separately from no aid (`aidopt run --set ...`, no warm
start).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ENV = {**os.environ, **{v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                         "MKL_NUM_THREADS")}}  # fmt: skip
SEPARATE = {
    "exemption-drop:generators-for-isolation-wards": ["exemptions_requested=[]"],
    "lift:unscr-2397": ["sanctions.unscr_2397.hs_chapters=[]"],
    "capacity-x2:incheon-pyongyang-air": ["arcs.incheon-pyongyang-air.capacity_t_per_week=*2"],
}
"""dprk-2022's rows checked against separately run scenarios, with their own overrides."""


def aidopt(*args: str) -> float:
    """Run aidopt in its own process; its wall time [s]."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "optimiser", *args], check=True, env=ENV,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def top_ten(df: pd.DataFrame) -> str:
    ranked = df[df["rank"].notna()].head(10)
    lines = ["| rank | ask | deaths averted | dual predicted |", "|---:|---|---:|---:|"]
    for _, r in ranked.iterrows():
        dual = "" if pd.isna(r["dual_deaths_averted"]) else f"{r['dual_deaths_averted']:,.0f}"
        lines.append(f"| {int(r['rank'])} | {r['words']} | {r['deaths_averted']:,.0f} | {dual} |")
    return "\n".join(lines)


def separately(scenario: str, base: dict, df: pd.DataFrame, tmp: Path) -> None:
    """The three rows of issue 12 against cold runs of the changed scenario."""
    print("  rows against separately run scenarios (cold, no warm start):")
    print(f"  {'ask':<48} {'row':>9} {'separate':>9} {'difference':>10}")
    rows = df.set_index("ask")
    for ask, sets in SEPARATE.items():
        if ask not in rows.index:
            print(f"  {ask:<48} not asked (its rule does not bind here)")
            continue
        out = tmp / ask.replace(":", "-")
        aidopt("run", scenario, "--out", str(out), "-q", "--allow-unconverged",
               *(x for s in sets for x in ("--set", s)))  # fmt: skip
        cold = base["deaths_with_plan"] - summary(out)["deaths_with_plan"]
        row = rows.loc[ask, "deaths_averted"]
        print(f"  {ask:<48} {row:>9,.0f} {cold:>9,.0f} {row - cold:>+10,.0f}")


def bench(scenario: str, workers: int | None, tmp: Path) -> None:
    out = tmp / f"{scenario}-asks"
    wall = aidopt("asks", scenario, "--out", str(out), "-q",
                  *(["--workers", str(workers)] if workers else []))  # fmt: skip
    s, df = summary(out), pd.read_csv(out / "asks.csv")
    base = summary(out / "base")
    replay = json.loads(df.loc[0, "overrides"])
    one = aidopt("run", scenario, "--out", str(tmp / f"{scenario}-one"), "-q",
                 *(x for o in replay for x in ("--set", o)))  # fmt: skip
    runs, t = s["timings_s"]["runs"], s["timings_s"]
    print(f"{scenario}: {s['asks']} asks + the reference = {runs} runs on {t['workers']} "
          f"worker(s)")  # fmt: skip
    print(f"  aidopt asks, wall:                  {wall:8.1f} s")
    print(f"  of which the cold base:             {t['base']:8.1f} s "
          f"({base['coupling']['iterations']} iterations)")  # fmt: skip
    print(f"  one re-solve (the reference alone): {one:8.1f} s")
    print(f"  runs x one re-solve:                {runs * one:8.1f} s; wall / that = "
          f"{wall / (runs * one):.2f} (workers: {t['workers']})")  # fmt: skip
    ref = s["reference"]
    print(f"  warm start from the base's own plan: {ref['iterations']} iterations, deaths "
          f"{ref['deaths_with_plan']:,.1f} against {base['deaths_with_plan']:,.1f} cold "
          f"({ref['deaths_with_plan'] - base['deaths_with_plan']:+,.1f}); the loop's band "
          f"{s['band']['loop']:,.1f}")  # fmt: skip
    b = s["band"]
    print(
        f"  band {s['band_deaths']:,.1f} deaths: loop {b['loop']:,.1f}, paths "
        f"{b['paths']:,.1f}, wrong sign {b['wrong_sign']:,.1f} ({b['wrong_sign_ask']})"
    )
    print(f"  counts: {s['counts']}")
    print(top_ten(df))
    if scenario == "dprk-2022":
        separately(scenario, base, df, tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=["korea-2020", "dprk-2022"])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--keep", type=Path, help="keep the results in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        for scenario in args.scenarios:
            bench(scenario, args.workers, where)


if __name__ == "__main__":
    main()
