"""The scenarios that ship with the package, found by name from any folder.

They live in the repository's `inputs/` and install as `optimiser/scenarios/` (package data,
see pyproject.toml); an editable install reads `inputs/` itself. A command's SCENARIO is a
folder if one exists at that path, else the name of a shipped scenario.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from optimiser.inputs import ScenarioError
from optimiser.output_folder import MARKER, write_atomically
from optimiser.reading import MAX_TABLE_BYTES
from optimiser.suggest import did_you_mean

DEFAULT = "korea-2020"
_PACKAGE = Path(__file__).resolve().parent


def shipped_folder() -> Path:
    """Where the shipped scenarios are: installed package data, or the source tree's inputs/."""
    for folder in (_PACKAGE / "scenarios", _PACKAGE.parent / "inputs"):
        if folder.is_dir():
            return folder
    raise ScenarioError(["the shipped scenarios are missing from this installation of aidopt"])


def shipped_names() -> list[str]:
    folder = shipped_folder()
    return sorted(p.name for p in folder.iterdir() if (p / "scenario.yaml").is_file())


def resolve(scenario: str | Path | None) -> Path:
    """The folder SCENARIO names: an existing folder, else a shipped scenario's name."""
    if scenario is None:
        return shipped_folder() / DEFAULT
    path = Path(scenario)
    if path.is_dir():
        return path
    names = shipped_names()
    if str(scenario) in names:
        return shipped_folder() / str(scenario)
    if path.exists():  # a file (a scenario.yaml, say), or a device: not a scenario folder
        hint = f"; give its folder {path.parent}" if path.name == "scenario.yaml" else ""
        raise ScenarioError([f"{scenario}: is a file, not a scenario folder{hint} (a scenario "
                             f"is a folder holding scenario.yaml and its tables)"])  # fmt: skip
    guess = did_you_mean(str(scenario), names)
    raise ScenarioError(
        [
            f"{scenario}: no such folder, nor a shipped scenario{guess}; "
            f"shipped: {', '.join(names)} (or give a scenario folder)"
        ]
    )


def copy_scenario(source: Path, target: Path) -> list[Path]:
    """Copy a scenario folder's files into a new or empty `target`, all or nothing."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScenarioError([f"{target}: exists and is not an empty folder; choose a new one"])
    if not (source / "scenario.yaml").is_file():
        raise ScenarioError([f"--from {source}: holds no scenario.yaml, so it is not a scenario "
                             f"folder (an aidopt result is not one either); give a scenario "
                             f"folder or a shipped scenario's name"])  # fmt: skip
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    problems: list[str] = []
    for p in files:  # the same bounds as reading the scenario: contained, regular, capped
        read_problems: list[str] = []
        if check_copyable(p, source, read_problems):
            continue
        problems += read_problems
    if problems:
        raise ScenarioError(problems)

    def copier(source_file: Path) -> Callable[[Path], None]:
        def copy(staged: Path) -> None:
            if source_file.name == "scenario.yaml":
                staged.write_text(renamed(source_file.read_text(encoding="utf-8"), target.name),
                                  encoding="utf-8")  # fmt: skip
            else:
                shutil.copyfile(source_file, staged)

        return copy

    written = write_atomically(target, {p.name: copier(p) for p in files}, "init")
    # The copy is the user's to edit, not an aidopt result: it carries no result marker.
    (target / MARKER).unlink(missing_ok=True)
    return written


def check_copyable(path: Path, folder: Path, problems: list[str]) -> bool:
    """Whether `path` is a regular file inside `folder` within the tables' size cap (a link out
    of the folder, a device or a huge file is not copied, as it would not be read)."""
    before = len(problems)
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        problems.append(f"{path}: lies outside the scenario folder {folder}; a scenario's files "
                        f"are copied only from inside it")  # fmt: skip
        return False
    try:
        size = path.stat().st_size
    except OSError as exc:
        problems.append(f"{path}: cannot be read ({exc.strerror})")
        return False
    if size > MAX_TABLE_BYTES:
        problems.append(f"{path}: {size:,} bytes; at most {MAX_TABLE_BYTES:,} are copied")
    return len(problems) == before


NAME_LINE = re.compile(r"^name:[^\n]*$", re.MULTILINE)


def renamed(text: str, name: str) -> str:
    """scenario.yaml's text with its top-level `name:` set to `name` (the copy's folder), so
    that an edited copy is not reported under the name of the scenario it came from; the rest
    of the file, comments included, is kept."""
    line = f"name: {json.dumps(name)}  # the folder's name, set by aidopt init"
    if NAME_LINE.search(text):
        return NAME_LINE.sub(lambda _: line, text, count=1)
    return f"{line}\n{text}"
