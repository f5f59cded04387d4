"""The ``reelflow`` command group and its errors: one line, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from reelflow import __version__
from reelflow._errors import ReelflowError


class ReelflowGroup(click.Group):
    """A click group that turns reelflow's errors into one clear line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReelflowError as exc:
            click.echo(f"error: {one_line(str(exc))}", err=True)
            if os.environ.get("REELFLOW_DEBUG"):
                raise
            sys.exit(exc.exit_code)


@click.group(cls=ReelflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reelflow")
def cli() -> None:
    """reelflow: flows, artifacts and runs for personalization ML.

    Runs keep their artifacts and metadata in the store of the working directory
    (.reelflow/, or REELFLOW_HOME, REELFLOW_DB and REELFLOW_ARTIFACTS, or reelflow.toml).
    """


def one_line(text: str) -> str:
    """The first line of a message, marked when more was cut, so errors stay one line."""
    lines = text.strip().splitlines() or [""]
    return lines[0] + (" (…)" if len(lines) > 1 else "")


def load_commands() -> click.Group:
    """The ``reelflow`` group with every command registered (the modules register on import)."""
    from reelflow.cli import _bench, _inspect, _models, _monitor, _report, _run, _serve, _store, _ui  # noqa: F401

    return cli


def main() -> None:
    load_commands()(prog_name="reelflow")
