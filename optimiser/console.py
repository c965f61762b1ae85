"""What the command line shows while it works: Python logging, a one-line progress display on a
terminal, and usage errors that suggest what was meant.

The package reports its steps as log records (`logging.getLogger("optimiser....").info(...)`);
this module decides how they are shown:

- default: on a terminal, each step replaces the last on one line of stderr, with the time
  since the start; off a terminal (a pipe, a file, CI) nothing but warnings and errors;
- `-v`: every step as its own line on stderr (`-vv` adds debug records);
- `-q`: warnings and errors only, and no printed summary.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import click

from optimiser.suggest import did_you_mean

LOGGER = "optimiser"


class ProgressLine(logging.Handler):
    """Shows each INFO record in place of the previous one on a terminal line."""

    def __init__(self, stream: IO[str]):
        super().__init__(level=logging.INFO)
        self.stream = stream
        self.start = time.perf_counter()
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.clear()
            self.stream.write(f"{record.levelname.lower()}: {record.getMessage()}\n")
        else:
            elapsed = time.perf_counter() - self.start
            width = shutil.get_terminal_size().columns
            text = f"{elapsed:6.1f} s  {record.getMessage()}"
            self.stream.write("\r\x1b[K" + text[: max(width - 1, 20)])
            self.shown = True
        self.stream.flush()

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@contextlib.contextmanager
def reporting(verbosity: int, stream: IO[str] | None = None) -> Iterator[None]:
    """Route the package's log records for one command: -1 quiet, 0 default, 1+ verbose."""
    stream = stream or sys.stderr
    logger = logging.getLogger(LOGGER)
    handler: logging.Handler
    if verbosity > 0:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        level = logging.INFO if verbosity == 1 else logging.DEBUG
    elif verbosity == 0 and stream.isatty():
        handler = ProgressLine(stream)
        level = logging.INFO
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        level = logging.WARNING
    saved = logger.level, logger.propagate
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        if isinstance(handler, ProgressLine):
            handler.clear()
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def verbosity_options(command: Any) -> Any:
    """-q/--quiet and -v/--verbose (repeatable) on a command, passed on as `verbosity`."""
    command = click.option(
        "-v", "--verbose", count=True, help="show each step on its own line (-vv: debug)"
    )(command)
    return click.option("-q", "--quiet", is_flag=True, help="print only warnings and errors")(
        command
    )


def verbosity_of(quiet: bool, verbose: int) -> int:
    return -1 if quiet else verbose


class Commands(click.Group):
    """A command group whose usage errors say what was probably meant."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            guess = did_you_mean(name, self.list_commands(ctx))
            raise click.UsageError(
                f"no command '{name}'{guess}; commands: {', '.join(self.list_commands(ctx))}",
                ctx,
            )
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        check_set_options(args, ctx)
        return super().parse_args(ctx, args)


def check_set_options(args: list[str], ctx: click.Context | None = None) -> None:
    """`--set KEY VALUE` (a space for the `=`) would take VALUE as the scenario: say so first."""
    for i, arg in enumerate(args[:-1]):
        if arg != "--set":
            continue
        key = args[i + 1]
        if "=" in key or key.startswith("@"):
            continue
        value = args[i + 2] if i + 2 < len(args) and not args[i + 2].startswith("-") else None
        shown = f"--set {key}={value}" if value is not None else f"--set {key}=VALUE"
        given = f"--set {key} {value}" if value is not None else f"--set {key}"
        raise click.UsageError(
            f"'{given}': write the setting as KEY=VALUE with no space: {shown}", ctx
        )
