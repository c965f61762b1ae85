"""Shared fixtures: the shipped scenario, and tiny scenarios small enough to solve on paper."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = ROOT / "inputs" / "korea-2020"


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def commodity(id: str, **changes) -> dict:
    row = dict(
        id=id, name=id, unit="unit", mass_kg_per_unit=1.0, hs_code="300490", durable="false",
        source="test",
    )  # fmt: skip
    row.update(changes)
    return row


def arc(id: str, frm: str, to: str, **changes) -> dict:
    row = {
        "id": id, "from": frm, "to": to, "mode": "road", "distance_km": 10,
        "capacity_t_per_week": 1000, "cost_per_t": 10, "transit_weeks": 0,
        "personnel": "true", "open_from": "", "open_until": "", "source": "test",
    }  # fmt: skip
    row.update(changes)
    return row


def tiny_scenario(
    folder: Path,
    *,
    provinces=("x", "y"),
    depots=("a", "b"),
    commodities=None,
    supply=None,
    arcs=None,
    crossings=(),
    consumption=None,
    approvals=None,
    exemptions=(),
    requested=(),
    horizon_weeks=1,
    **config_changes,
) -> Path:
    """Write a small, complete scenario folder and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        folder / "provinces.csv",
        [
            dict(id=p, name=p, population=1_000_000, latitude=39 + i, longitude=126,
                 hospital_beds=1000, doctors=100, initial_infections=100, genexpert_modules=4,
                 source="test")
            for i, p in enumerate(provinces)
        ],
    )  # fmt: skip
    write_csv(
        folder / "depots.csv",
        [dict(id=d, name=d, latitude=37, longitude=127, source="test") for d in depots],
    )
    rows = list(crossings) or [
        dict(id="far", name="far", country="CHN", latitude=40, longitude=124, source="test")
    ]
    write_csv(folder / "crossings.csv", rows)
    commodities = commodities or [commodity("kit")]
    write_csv(folder / "commodities.csv", commodities)
    # By default nothing is consumed: needs come from the test itself.
    consumption = consumption or [
        dict(commodity=c["id"], driver="hospital_bed" if c["durable"] == "true" else "test",
             rate=0, source="test")
        for c in commodities
    ]  # fmt: skip
    write_csv(folder / "consumption.csv", consumption)
    supply = supply or [
        dict(depot=d, commodity=c["id"], units_per_week=100, procurement_usd_per_unit=0,
             source="test")
        for d in depots
        for c in commodities
    ]  # fmt: skip
    write_csv(folder / "supply.csv", supply)
    arcs = arcs or [arc(f"{d}-{p}", d, p) for d in depots for p in provinces]
    write_csv(folder / "arcs.csv", arcs)
    if approvals is None:
        approvals = {a["id"]: 0 for a in arcs if a["from"] in depots and a["to"] in provinces}
    sanctions = {
        "unscr_2397": {"source": "test", "hs_chapters": list(range(72, 90))},
        "rok_route_approvals": {"source": "test", "routes": approvals},
        "exemptions": list(exemptions),
    }
    (folder / "sanctions.yaml").write_text(yaml.safe_dump(sanctions))
    config = {
        "name": "tiny",
        "start_date": "2020-04-06",
        "horizon_weeks": horizon_weeks,
        "tables": {
            "provinces": "provinces.csv", "commodities": "commodities.csv",
            "depots": "depots.csv", "supply": "supply.csv", "crossings": "crossings.csv",
            "arcs": "arcs.csv", "sanctions": "sanctions.yaml",
            "consumption": "consumption.csv",
        },
        "epidemic": {
            "r0": 2.0, "latent_days": 4.0, "infectious_days": 7.0, "hospital_share": 0.03,
            "stay_days": 9.0, "fatality_care": 0.2, "fatality_no_care": 0.6,
            "detection_base_per_day": 0.02, "detection_max_per_day": 0.2,
            "mobility": {"outside_share": 0.0, "distance_exponent": 2.0},
        },
        "staff": {
            "teams_per_week": 0, "staff_per_team": 10, "patients_per_team": 10,
            "deployment_weeks": 1, "origins": [depots[0]],
            "cost_usd_per_team_week": 0.0,
        },
        "exemptions_requested": list(requested),
        "objective": {"usd_per_death_averted": 1.0e6},
        "coupling": {"mode": "one-way", "max_iterations": 1, "tolerance": 0.01},
    }  # fmt: skip
    for key, value in config_changes.items():
        config[key] = value
    (folder / "scenario.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


@pytest.fixture
def default_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped scenario."""
    target = tmp_path / "korea-2020"
    shutil.copytree(DEFAULT_SCENARIO, target)
    return target


def run_aidopt(*args: str):
    """The command line in this process, as a user calls it."""
    from click.testing import CliRunner

    from optimiser.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="session")
def one_way_result(tmp_path_factory) -> Path:
    """The shipped scenario planned one-way (one LP against the epidemic without aid)."""
    out = tmp_path_factory.mktemp("one-way") / "korea-2020"
    done = run_aidopt("run", DEFAULT_SCENARIO, "--out", out, "--set", "coupling.mode=one-way")
    assert done.exit_code == 0, done.output
    return out


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """`aidopt run` on the shipped scenario, as a user runs it, in its own process (shared by
    test_cli.py and test_rules.py)."""
    out = tmp_path_factory.mktemp("run") / "korea"
    done = subprocess.run(
        [sys.executable, "-m", "optimiser", "run", str(DEFAULT_SCENARIO), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(outlook):" in done.stdout
    return out
