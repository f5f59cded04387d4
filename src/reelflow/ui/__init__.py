"""The web UI: runs, artifacts, guard rails, the registry, the leaderboard and monitoring,
served from a store by ``reelflow ui`` (read-only unless started with ``--allow-writes``)."""

from reelflow.ui._app import create_app

__all__ = ["create_app"]
