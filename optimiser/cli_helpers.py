"""What every `aidopt` command shares: exit statuses, the one-line error report, the scenario
folder and its loading, and the output folder claimed before anything is computed.

The commands (`optimiser.cli`, `optimiser.asks_cli`, `optimiser.sweep_cli`) import these; this
module imports none of them, so the command modules form no circle.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from optimiser import scenarios
from optimiser.inputs import Scenario, ScenarioError, load_scenario
from optimiser.output_folder import OutputError, prepare_output
from optimiser.reading import clip

INVALID_INPUT, SOLVER_FAILED, NOT_CONVERGED = 2, 1, 3
MAX_PROBLEMS_SHOWN, MAX_PROBLEM_CHARS, MAX_REPORT_CHARS = 50, 1000, 8000
"""Bounds on an error report, whatever the input: problems listed, characters in each, and
characters in all."""


def fail(problems: list[str], status: int) -> None:
    click.echo(f"error: {len(problems)} problem(s):" if len(problems) > 1 else "error:", err=True)
    lines: list[str] = []
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        line = f"  {clip(problem, MAX_PROBLEM_CHARS)}"
        if lines and sum(map(len, lines)) + len(line) > MAX_REPORT_CHARS:
            break
        lines.append(line)
    for line in lines:
        click.echo(line, err=True)
    if len(problems) > len(lines):
        click.echo(f"  ... and {len(problems) - len(lines)} more problem(s)", err=True)
    sys.exit(status)


def scenario_folder(scenario: str | None) -> Path:
    """SCENARIO as a folder: a path, or the name of a shipped scenario."""
    try:
        return scenarios.resolve(scenario)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
        raise  # unreachable: fail exits


def load_or_fail(scenario: Path, overrides: tuple[str, ...]) -> Scenario:
    try:
        return load_scenario(scenario, overrides)
    except ScenarioError as exc:
        fail(exc.problems, INVALID_INPUT)
        raise  # unreachable: fail exits



def claim_output(out: Path, command: str, inputs: tuple[Path, ...]):
    """The output folder, checked and locked before anything is computed (or exit 2)."""
    try:
        return prepare_output(out, command, inputs)
    except OutputError as exc:
        fail([str(exc)], exc.status)
        raise  # unreachable: fail exits


def written(write):
    """Run a write step; a file that cannot be written is one line and exit status 1."""
    try:
        return write()
    except OutputError as exc:
        fail([str(exc)], exc.status)
