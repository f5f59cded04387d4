"""The ``reelflow`` command line."""

from reelflow.cli._app import cli, main

__all__ = ["cli", "main"]
