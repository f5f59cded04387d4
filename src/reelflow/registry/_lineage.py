"""Where a registered model came from: the flow task that registered it and the code version."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def current_lineage() -> dict[str, Any]:
    """The flow, run, step and task when called inside a running step, and git's view of the
    code (commit and whether the tree had uncommitted changes) when there is a repository."""
    from reelflow.flow import current

    lineage: dict[str, Any] = {}
    if current.is_running:
        lineage.update(
            flow=current.flow_name,
            run_id=current.run_id,
            step=current.step_name,
            task_id=current.task_id,
        )
    lineage.update(git_state(Path.cwd()))
    return lineage


def git_state(directory: Path) -> dict[str, Any]:
    """``{"git_commit": ..., "git_dirty": ...}``, or ``{}`` outside a repository or without git."""
    try:
        commit = _git(directory, "rev-parse", "HEAD")
        if commit is None:
            return {}
        status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except OSError:
        return {}
    return {"git_commit": commit, "git_dirty": bool(status)}


def _git(directory: Path, *args: str) -> str | None:
    done = subprocess.run(
        ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None
