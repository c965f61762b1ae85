"""Output folders that never lose data: claim the folder, check it, write aside, swap in.

Every command that writes a folder (`run`, `evaluate`, `calibrate`, `asks`, `sweep`) goes through
`prepare_output` before it computes anything and `Output.write` once it has its result:

* `--out` may be a new folder, an empty one, or an earlier aidopt result: a folder whose marker
  `.aidopt-result.json` lists every file in it, each unchanged since aidopt wrote it. Anything
  else is refused, naming the files aidopt did not write.
* Never the working folder or its ancestors, the home folder, or a folder holding the inputs.
* The parent must be (or become) a folder this user can write in, checked before computing.
* One writer at a time: a lock file `.NAME.aidopt-lock` beside the folder (`flock`) is held from
  the checks until the result is installed; a second writer is refused at once.
* A result is written into a hidden `.NAME.partial-*` folder beside the target and then swapped
  with it in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`), so the path always holds one
  whole result, old or new. Where the exchange is missing, two renames are used (the old result
  goes to `.NAME.old-*` first) and the next start-up brings it back if a kill fell between them.
* On start-up, under the lock, stale `.NAME.partial-*` and `.NAME.old-*` folders are cleared by
  deleting only the files their marker lists, so a file aidopt did not write is never deleted.

A marker entry may name a folder (a Zarr store): its digest covers every file in it by relative
path, size and SHA-256, and it is deleted whole only while that digest still matches.

A long command that fills its folder item by item (`aidopt sweep`) claims it with
`prepare_live_output` instead: the folder must be new or empty, or (to continue) one the same
command left unfinished; the marker says `writing` in the folder itself until `finish_in_place`
digests everything and marks it `complete`. Such a command never replaces an earlier result,
since it could not keep the earlier one whole while it works.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from optimiser.reading import listing, show

MARKER = ".aidopt-result.json"
"""Names the command, version, time and every file (with size and SHA-256) aidopt wrote."""
MARKER_TMP = MARKER + ".tmp"
AT_FDCWD, RENAME_EXCHANGE = -100, 2


class OutputError(Exception):
    """`--out` cannot be used as asked; nothing was written. Exit status 2."""

    status = 2


class WriteError(OutputError):
    """Writing a result failed (disk full, permission); any earlier result is intact. Exit 1."""

    status = 1


Writers = dict[str, Callable[[Path], None]]
ADDED_BEFORE = frozenset({"report.html", "report.pdf", "plan.xlsx", "indices.csv", "indices.png",
                          "tornado.png", "scatter.png"})  # fmt: skip
"""Files `write_file` added to result folders before markers said so (`added_by`): a marker
entry of one of these names, from an earlier aidopt, is still one aidopt may replace."""


def _claim(out_dir: str | Path, command: str, inputs: Iterable[Path]) -> Output:
    """Refuse a protected folder, make its parents, lock it and finish any install a killed
    run left half done; the caller closes the returned output if what follows fails."""
    given = Path(out_dir)
    target = _target(given)
    _refuse_protected(given, target, inputs)
    created = _make_parents(given, target.parent)
    try:
        lock_fd = _lock(target)
    except BaseException:
        _remove_empty(created)
        raise
    output = Output(given, target, command, lock_fd, created)
    try:
        _recover(target)
        clear_stale(target.parent, keep=target.name)
    except BaseException:
        output.close()
        raise
    return output


def prepare_output(out_dir: str | Path, command: str, inputs: Iterable[Path] = ()) -> Output:
    """Claim `out_dir` for one command before computing anything, or raise OutputError.

    `inputs` are the files and folders the command reads: the output may not be or hold them.
    Use the returned `Output` as a context manager; its `write` installs the result."""
    output = _claim(out_dir, command, inputs)
    try:
        _pause("locked")
        output.check()
    except BaseException:
        output.close()
        raise
    return output


RESUMABLE = {"sweep": "aidopt sweep ... --resume completes it; "}
"""Commands that can continue an unfinished folder, and how."""


def prepare_live_output(out_dir: str | Path, command: str, inputs: Iterable[Path] = (),
                        resume: bool = False) -> tuple[Output, str]:  # fmt: skip
    """Claim a folder that `command` fills in place (see the module docstring), or raise
    OutputError. Returns the claimed output and what it holds: "new" (absent or empty),
    "unfinished" or "complete" (the last two only with `resume`, and only if `command` left
    them so, with nothing in them aidopt did not write)."""
    output = _claim(out_dir, command, inputs)
    try:
        state = _live_state(output, resume)
    except BaseException:
        output.close()
        raise
    return output, state


def _live_state(output: Output, resume: bool) -> str:
    if not os.path.lexists(output.target):
        return "new"
    output._check_is_folder()
    try:
        names = sorted(os.listdir(output.target))
    except OSError as exc:
        raise OutputError(f"--out {output.given}: cannot be read ({exc.strerror})") from None
    if not names:
        return "new"
    marker = _read_marker(output.target)
    if marker is None or marker.get("command") != output.command:
        output.check()  # names what is in the way
        raise OutputError(f"--out {output.given}: holds an earlier aidopt result; aidopt "
                          f"{output.command} fills its folder as it goes and never replaces one: "
                          f"choose a new folder")  # fmt: skip
    state = "complete" if marker.get("state") == "complete" else "unfinished"
    if not resume:
        what = "an unfinished" if state == "unfinished" else "a complete"
        hint = "add --resume to complete it, or " if state == "unfinished" else ""
        raise OutputError(f"--out {output.given}: holds {what} aidopt {output.command}; "
                          f"{hint}choose a new folder")  # fmt: skip
    foreign = [n for n in names if n not in marker["files"] and n not in (MARKER, MARKER_TMP)]
    changed: list[str] = []
    if state == "complete":
        foreign, changed = foreign_files(output.target)
    if foreign or changed:
        held = [f"files aidopt did not write ({listing(foreign)})"] * bool(foreign)
        held += [f"files changed since aidopt wrote them ({listing(changed)})"] * bool(changed)
        raise OutputError(f"--out {output.given}: holds {' and '.join(held)}; move them out to "
                          f"continue")  # fmt: skip
    return state


def write_atomically(out_dir: str | Path, writers: Writers, command: str) -> list[Path]:
    """Claim `out_dir`, write a result with `writers` and install it: all or nothing."""
    with prepare_output(out_dir, command) as output:
        return output.write(writers)


def write_file(path: str | Path, write: Callable[[Path], None], command: str) -> Path:
    """Write one file atomically (a report, a workbook, a comparison): aside, then renamed into
    place. In an aidopt result folder it is written under the folder's lock and entered in its
    marker, so the folder stays one aidopt may replace; elsewhere a hidden `.NAME.aidopt` beside
    it records its SHA-256, so that aidopt may write it again while nobody has changed it. A
    file that exists and that aidopt did not write, or that was changed since, is never
    overwritten, nor is one of a result folder's own files (see `check_writable`)."""
    path = Path(path)
    folder = path.parent
    check_writable(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot make the folder {folder} ({exc.strerror})") from None
    for parent in (folder, folder.parent):  # beside the file, and beside its result folder
        clear_stale(parent)
    marker = _read_marker(folder)
    lock = _lock(folder) if marker is not None else None
    tmp = folder / f".{path.name}.partial-{os.getpid()}"
    try:
        check_writable(path)  # again, under the folder's lock
        try:
            write(tmp)
            os.replace(tmp, path)
        except (OSError, RuntimeError) as exc:
            reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200]
            raise WriteError(f"{path}: cannot be written ({reason}); nothing was changed") from None
        finally:
            tmp.unlink(missing_ok=True)
        if marker is not None:
            marker = _read_marker(folder) or marker
            entry = {**_digest(path, sync=True), "added_by": command}
            _write_marker(folder, str(marker.get("command", command)),
                          {**marker["files"], path.name: entry})  # fmt: skip
        else:
            _record_alone(path, command)
    finally:
        if lock is not None:
            _unlock(folder, lock)
    return path


def check_writable(path: str | Path) -> None:
    """Raise OutputError unless `write_file` may write `path`: absent, or written there by an
    earlier `write_file` and unchanged since (its digest in the folder's marker, or in the
    `.NAME.aidopt` beside it, still matches); never one of a result folder's own files (those
    its command installed: plan.nc, summary.json, the CSVs, a sweep's store) or its marker;
    and in a folder this user can write in. A command that writes several files calls it for
    each before writing any, so that either all are written or none."""
    path = Path(path)
    folder = path.parent
    if path.name in ("", ".", "..") or path.name.startswith(MARKER):
        raise OutputError(f"{path}: is aidopt's record of the folder; choose another file")
    marker = _read_marker(folder) if folder.is_dir() else None
    entry = marker["files"].get(path.name, False) if marker is not None else False
    added = isinstance(entry, dict) and ("added_by" in entry or path.name in ADDED_BEFORE)
    if entry is not False and not added:
        raise OutputError(f"{path}: is one of the files of the aidopt "
                          f"{(marker or {}).get('command', '')} result in {folder}; aidopt never "
                          f"replaces it with another file: choose another file")  # fmt: skip
    if os.path.lexists(path):
        if path.is_dir() and not path.is_symlink():
            raise OutputError(f"{path}: is a folder; give a file name")
        if marker is not None:
            ours = not path.is_symlink() and path.is_file() and _same(path, entry)
            changed = entry is not False
        else:
            ours = _written_alone(path)
            changed = _sidecar(path).is_file()
        if not ours:
            raise OutputError(f"{path}: exists and " + ("was changed since aidopt wrote it"
                              if changed else "aidopt did not write it") + "; choose another "
                              "file (it is kept as it is)")  # fmt: skip
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in {existing} (permission denied)")


def _added_by(entry: object) -> dict:
    """The `added_by` of a marker entry `write_file` made, to carry into a new digest."""
    return {"added_by": entry["added_by"]} if isinstance(entry, dict) and "added_by" in entry \
        else {}  # fmt: skip


def _same(path: Path, entry: object) -> bool:
    """Whether `path` still has the size and SHA-256 a marker entry recorded for it."""
    if not isinstance(entry, dict):
        return False
    if path.is_file() and "files" not in entry and path.stat().st_size != entry.get("bytes"):
        return False  # changed, and known so without reading it (it may be huge)
    now = _digest(path)
    return all(entry.get(k) == v for k, v in now.items())


def _sidecar(path: Path) -> Path:
    """The hidden record beside a file aidopt wrote outside a result folder."""
    return path.with_name(f".{path.name}.aidopt")


def _record_alone(path: Path, command: str) -> None:
    side = _sidecar(path)
    staged = side.with_name(f"{side.name}.partial-{os.getpid()}")
    try:
        staged.write_text(json.dumps({"written_by": "aidopt", "command": command,
                                      **_digest(path, sync=True)}) + "\n")  # fmt: skip
        os.replace(staged, side)
    except OSError as exc:
        raise WriteError(f"{side}: cannot be written ({exc.strerror}); {path} is written, but "
                         f"aidopt will not overwrite it") from None  # fmt: skip
    finally:
        staged.unlink(missing_ok=True)


def _written_alone(path: Path) -> bool:
    """Whether `path` is a file aidopt wrote outside a result folder, unchanged since."""
    side = _sidecar(path)
    try:
        if side.is_symlink() or not side.is_file() or side.stat().st_size > 10_000:
            return False
        record = json.loads(side.read_text(encoding="utf-8"))
        if not path.is_file() or path.is_symlink():
            return False
        return (isinstance(record, dict) and record.get("written_by") == "aidopt"
                and record.get("sha256") == _digest(path)["sha256"])  # fmt: skip
    except (OSError, ValueError):
        return False


@dataclass
class Output:
    """A claimed output folder: the lock is held until `close` (or the end of a with-block)."""

    given: Path
    """the path as the user wrote it, for messages"""
    target: Path
    """the same path with its parent resolved"""
    command: str
    lock_fd: int | None
    created: list[Path] = field(default_factory=list)
    """parent folders made by `prepare_output`, removed again if nothing is installed"""
    installed: bool = False

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self) -> None:
        """Raise OutputError unless the target is absent, empty or an unchanged aidopt result."""
        if not os.path.lexists(self.target):
            return
        self._check_is_folder()
        unfinished = _read_marker(self.target)
        if unfinished is not None and unfinished.get("state") == "writing":
            raise OutputError(f"--out {self.given}: holds an unfinished aidopt "
                              f"{unfinished.get('command', '')} (stopped, or still running); "
                              f"{RESUMABLE.get(str(unfinished.get('command')), '')}"
                              f"choose a new folder")  # fmt: skip
        try:
            foreign, changed = foreign_files(self.target)
        except OSError as exc:
            raise OutputError(f"--out {self.given}: cannot be read ({exc.strerror})") from None
        held = [f"files that are not an aidopt result ({listing(foreign)})"] * bool(foreign)
        held += [f"files changed since aidopt wrote them ({listing(changed)})"] * bool(changed)
        if held:
            raise OutputError(
                f"--out {self.given}: holds {' and '.join(held)}; aidopt replaces only a folder "
                f"it wrote whole (marked by {MARKER}): choose an empty or new folder"
            )

    def _check_is_folder(self) -> None:
        if self.target.is_symlink() or not self.target.is_dir():
            kind = "a symbolic link" if self.target.is_symlink() else "not a folder"
            raise OutputError(f"--out {self.given}: exists and is {kind}; aidopt writes a "
                              f"folder there: choose a new folder")  # fmt: skip

    def begin_in_place(self, names: Sequence[str]) -> None:
        """Mark the claimed folder as being filled in place with `names` (a live command)."""
        self.target.mkdir(exist_ok=True)
        marker = _read_marker(self.target)
        listed = dict(marker["files"]) if marker else {}
        _write_marker(self.target, self.command, {**listed, **{n: None for n in names}})
        _fsync(self.target)

    def finish_in_place(self) -> None:
        """Digest every item the marker lists and mark the folder complete."""
        marker = _read_marker(self.target)
        names = marker["files"] if marker else {}
        _write_marker(self.target, self.command,
                      {n: {**_digest(self.target / n, sync=True), **_added_by(entry)}
                       for n, entry in names.items()})  # fmt: skip
        self.installed = True

    def discard_in_place(self) -> None:
        """Undo `begin_in_place` on a folder this command made: delete what the marker lists
        (and the folder and its new parents if that empties them)."""
        marker = _read_marker(self.target)
        for n in marker["files"] if marker else ():
            path = self.target / n
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        (self.target / MARKER).unlink(missing_ok=True)
        _remove_empty([*self.created, self.target])

    def write(self, writers: Writers) -> list[Path]:
        """Write every file into a staging folder, then swap it with the target in one step.

        A failure removes the staging folder and leaves any earlier result as it was."""
        if self.lock_fd is None:
            raise RuntimeError("Output.write after close")
        staging = _hidden_folder(self.target, "partial")
        try:
            _write_marker(staging, self.command, {n: None for n in writers})
            _pause("staged")
            for n, write in writers.items():
                try:
                    write(staging / n)
                except (OSError, RuntimeError) as exc:  # netCDF4 reports a full disk as Runtime
                    raise self._write_error(self.given / n, exc) from None
                _pause(f"wrote {n}")
            digests = {n: _digest(staging / n, sync=True) for n in writers}
            _write_marker(staging, self.command, digests)
            os.chmod(staging, 0o777 & ~_umask())
            _fsync(staging)
            _pause("complete")
            earlier = self._install(staging)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)  # still our own new, partial folder
            if isinstance(exc, OSError):
                raise self._write_error(self.given, exc) from None
            raise
        self.installed = True
        _pause("installed")
        try:
            if earlier is not None:
                _remove_ours(earlier)
            _fsync(self.target.parent)
        except OSError:
            pass  # the result is in place; the next start-up clears what is left aside
        return [self.given / n for n in writers]

    def _write_error(self, where: Path, exc: Exception) -> WriteError:
        reason = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:200]
        return WriteError(
            f"{where}: cannot be written ({reason}); nothing was changed at {self.given}"
        )

    def _install(self, staging: Path) -> Path | None:
        """Put the staging folder at the target; returns where the earlier result now is."""
        if not os.path.lexists(self.target):
            try:
                os.rename(staging, self.target)
                return None
            except OSError as exc:  # a folder appeared meanwhile: check it like any other
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        self.check()  # again: files may have arrived while the result was computed
        if _exchange(staging, self.target):
            return staging
        # No atomic exchange here: the path is missing between these two renames, and a
        # kill there is repaired by the next start-up, which renames the earlier result back.
        retired = _hidden_folder(self.target, "old")
        os.rename(self.target, retired)  # onto the empty folder just made: atomic
        _pause("retired")
        try:
            os.rename(staging, self.target)
        except BaseException:
            os.rename(retired, self.target)
            raise
        return retired

    def close(self) -> None:
        """Release the lock; remove the parents made for a result that was never installed."""
        if self.lock_fd is None:
            return
        _unlock(self.target, self.lock_fd)
        self.lock_fd = None
        if not self.installed:
            _remove_empty(self.created)


# --- checks before anything is computed ------------------------------------------------------


def _target(given: Path) -> Path:
    """The output path with its parent resolved but not the folder itself (so a symbolic link
    there is seen, not followed); '.', '..' and the like resolve whole."""
    if given.name in ("", ".", ".."):
        return given.resolve()
    return given.parent.resolve() / given.name


def _refuse_protected(given: Path, target: Path, inputs: Iterable[Path]) -> None:
    cwd = Path.cwd().resolve()
    if cwd.is_relative_to(target):
        what = "the working folder" if cwd == target else f"an ancestor of the working folder {cwd}"
        raise OutputError(f"--out {show(str(given))}: is {what}; aidopt would replace it whole: "
                          f"choose a new folder, e.g. --out results/NAME")  # fmt: skip
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):
        home = None
    if home is not None and home.is_relative_to(target):
        what = "the home folder" if home == target else f"an ancestor of the home folder {home}"
        raise OutputError(f"--out {show(str(given))}: is {what}; choose a new folder")
    for item in inputs:
        resolved = Path(item).resolve()
        if resolved.is_relative_to(target):
            raise OutputError(
                f"--out {show(str(given))}: is or holds the input {item}; choose a folder "
                f"outside it"
            )


def _make_parents(given: Path, parent: Path) -> list[Path]:
    """Make the missing folders above the target; the nearest existing one must be a folder
    this user may write in. Returns the folders made, outermost first."""
    missing = []
    existing = parent
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"--out {given}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"--out {given}: cannot write in {existing} (permission denied)")
    created: list[Path] = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except OSError as exc:
            _remove_empty(created)
            raise OutputError(f"--out {given}: cannot make {folder} ({exc.strerror})") from None
        created.append(folder)
    return created


def _remove_empty(folders: Sequence[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def foreign_files(folder: Path) -> tuple[list[str], list[str]]:
    """Names in `folder` aidopt did not write, and names it wrote that have changed since.
    Without a complete marker every name is foreign (an empty folder has none)."""
    names = sorted(os.listdir(folder))
    marker = _read_marker(folder)
    if marker is None or marker.get("state") != "complete":
        return names, []
    listed: dict = marker["files"]
    foreign, changed = [], []
    for n in names:
        path = folder / n
        if n == MARKER:
            continue
        entry = listed.get(n)
        is_tree = path.is_dir() and isinstance(entry, dict) and "files" in entry
        if entry is None or path.is_symlink() or not (path.is_file() or is_tree):
            foreign.append(n)
        elif not _same(path, listed[n]):
            changed.append(n)
    return foreign, changed


# --- the lock ----------------------------------------------------------------------------------


def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.aidopt-lock")


def _unlock(target: Path, fd: int) -> None:
    """Remove the lock file (if it is still ours) and let go of the lock."""
    lock = _lock_path(target)
    try:
        if os.path.samestat(os.stat(lock, follow_symlinks=False), os.fstat(fd)):
            lock.unlink()
    except OSError:
        pass  # someone removed it already; the lock itself goes with the descriptor
    os.close(fd)


def _lock(target: Path) -> int:
    """Hold an exclusive lock on `.NAME.aidopt-lock` beside the target, or raise OutputError."""
    path = _lock_path(target)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(10):
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise OutputError(f"--out {target}: cannot write in {target.parent} "
                              f"({exc.strerror})") from None  # fmt: skip
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 20, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise OutputError(
                f"--out {target}: another aidopt (pid {holder or '?'}) is writing this folder; "
                f"wait for it to finish or choose another --out"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise OutputError(f"--out {target}: cannot lock {path} ({exc.strerror})") from None
        # The previous holder unlinks the file as it lets go: a lock on that old inode is void.
        try:
            current = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(current, os.fstat(fd)):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise OutputError(f"--out {target}: could not take the lock {path}; try again")


# --- start-up recovery -------------------------------------------------------------------------


def clear_stale(parent: Path, keep: str = "") -> None:
    """Clear what killed aidopt commands left beside their outputs in `parent` (lock files,
    `.NAME.partial-*` and `.NAME.old-*` folders, a file's `.NAME.partial-PID`), so that a listing
    of `results/` shows results only. A folder's leftovers are cleared under its lock, taken
    without waiting (one still held is a writer at work and is left alone), with the same
    recovery as its own next start-up; a file's staged copy once its process is gone."""
    try:
        entries = [e.name for e in os.scandir(parent) if e.name.startswith(".")]
    except OSError:
        return
    targets: set[str] = set()
    for n in entries:
        if n.endswith(".aidopt-lock"):
            targets.add(n[1 : -len(".aidopt-lock")])
        for kind in (".partial-", ".old-"):
            head, sep, tail = n[1:].rpartition(kind)
            if not sep or not head:
                continue
            path = parent / n
            if kind == ".partial-" and tail.isdigit() and path.is_file() and not path.is_symlink():
                # write_file's staged copy of `head` (or of its record), its writer gone; only
                # where `head` or a marker is there, so a user's own such name is left alone
                named = parent / head.removesuffix(".aidopt")
                ours = named.exists() or (parent / MARKER).exists()
                if ours and not _alive(int(tail)):
                    path.unlink(missing_ok=True)
            elif path.is_dir() and not path.is_symlink():
                targets.add(head)
    for name in sorted(targets - {keep}):
        target = parent / name
        try:
            fd = _lock(target)
        except OutputError:
            continue  # held: a writer at work
        try:
            _recover(target)
        except OSError:
            pass  # left for the folder's own next start-up, which reports what is wrong
        finally:
            _unlock(target, fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's, or not a pid: leave it
    return True


def _hidden_folder(target: Path, kind: str) -> Path:
    """A new empty folder `.NAME.KIND-XXXXXXXX` beside the target."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-", dir=target.parent))


def _leftovers(target: Path) -> list[Path]:
    prefixes = (f".{target.name}.partial-", f".{target.name}.old-")
    return sorted(p for p in target.parent.iterdir() if p.name.startswith(prefixes))


def _recover(target: Path) -> None:
    """Bring back an earlier result a killed run left aside, then clear our stale folders.

    Runs under the lock, so no other writer owns these folders."""
    leftovers = _leftovers(target)
    if not os.path.lexists(target):
        earlier = [
            (marker.get("created", ""), p)
            for p in leftovers
            if ".old-" in p.name
            and (marker := _read_marker(p)) is not None
            and marker.get("state") == "complete"
        ]
        # Versions before the marker moved the earlier result to .NAME.old-*/previous.
        earlier += [("", p / "previous") for p in leftovers if (p / "previous").is_dir()]
        if earlier:
            os.rename(max(earlier)[1], target)
    for p in _leftovers(target):
        _remove_ours(p)


def _remove_ours(folder: Path) -> bool:
    """Delete a folder aidopt made: the files its marker lists, the marker, then the folder only
    if that leaves it empty, so nothing aidopt did not write is ever deleted."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    marker = _read_marker(folder)  # without a valid one, only its unfinished draft is ours
    names = set(marker["files"]) | {MARKER, MARKER_TMP} if marker else {MARKER_TMP}
    for n in names:
        path = folder / n
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        elif path.is_dir() and marker is not None:
            entry = marker["files"].get(n)
            if entry is None or _same(path, entry):  # being written by us, or unchanged
                shutil.rmtree(path, ignore_errors=True)
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


# --- the marker --------------------------------------------------------------------------------


def _aidopt_version() -> str:
    try:
        return version("aidopt")
    except PackageNotFoundError:
        return "unknown"


def _write_marker(folder: Path, command: str, files: Mapping[str, dict | None]) -> None:
    """Write the marker atomically: 'writing' while files are missing, 'complete' at the end."""
    complete = all(v is not None for v in files.values())
    marker = {
        "written_by": "aidopt",
        "version": _aidopt_version(),
        "command": command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "state": "complete" if complete else "writing",
        "files": dict(files),
    }
    tmp = folder / MARKER_TMP
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(marker, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, folder / MARKER)


def _read_marker(folder: Path) -> dict | None:
    """The folder's marker if it is aidopt's and well formed (file names plain), else None."""
    path = folder / MARKER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1_000_000:
            return None
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("written_by") != "aidopt":
        return None
    files = marker.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(n, str) and n == Path(n).name and n not in ("", ".", "..", MARKER)
        and (v is None or isinstance(v, dict))
        for n, v in files.items()
    ):  # fmt: skip
        return None
    return marker


def _digest(path: Path, sync: bool = False) -> dict:
    """Size and SHA-256 of a file; `sync` first makes it durable (for files just written). A
    folder's digest hashes every entry under it by relative path (and a file's own digest)."""
    if path.is_dir() and not path.is_symlink():
        return _tree_digest(path, sync)
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        if sync:
            os.fsync(f.fileno())
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return {"bytes": path.stat().st_size, "sha256": sha.hexdigest()}


def _tree_digest(folder: Path, sync: bool) -> dict:
    sha, total, count = hashlib.sha256(), 0, 0
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        base = Path(root)
        for n in sorted(files + [d for d in dirs if (base / d).is_symlink()]):
            path = base / n
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink() or not path.is_file():
                sha.update(f"{rel}\0link {os.readlink(path) if path.is_symlink() else ''}\n"
                           .encode())  # fmt: skip
                continue
            entry = _digest(path, sync)
            sha.update(f"{rel}\0{entry['sha256']}\n".encode())
            total, count = total + entry["bytes"], count + 1
    return {"bytes": total, "files": count, "sha256": sha.hexdigest()}


# --- file-system primitives --------------------------------------------------------------------


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if sys.platform != "linux" or os.environ.get("AIDOPT_TEST_NO_EXCHANGE"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # glibc before 2.28
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]  # fmt: skip
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # the file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pause(step: str) -> None:
    """Test hook: with AIDOPT_TEST_PAUSE_AT=STEP the process stops here, so a test can kill it
    at that step of installing a result."""
    if os.environ.get("AIDOPT_TEST_PAUSE_AT") == step:
        print(f"paused at {step}", file=sys.stderr, flush=True)
        time.sleep(600)
