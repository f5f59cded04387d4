"""How long ``import reelflow`` (and ``import metaflow``) takes in a fresh interpreter."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

from benchlib.procs import BenchError
from benchlib.tools import REPO_DIR, Tool


def import_env(tool: Tool) -> dict[str, str]:
    """The environment for the import probe; reelflow falls back to ``src/`` if not installed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if not _importable(tool.python, tool.name, env):
        env["PYTHONPATH"] = str(REPO_DIR / "src")
        if not _importable(tool.python, tool.name, env):
            raise BenchError(f"cannot import {tool.name} with {tool.python}")
    return env


def _importable(python: Path, module: str, env: dict[str, str]) -> bool:
    done = subprocess.run(
        [str(python), "-c", f"import {module}"], env=env, capture_output=True, check=False
    )
    return done.returncode == 0


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit of ``cmd``, which must succeed."""
    start = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def _importtime_us(python: Path, module: str, env: dict[str, str]) -> float:
    """The cumulative microseconds ``-X importtime`` reports for ``module`` itself."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in reversed(done.stderr.splitlines()):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[2] == module:
            return float(parts[1])
    raise BenchError(f"-X importtime printed no line for {module}")


def bench_import(tool: Tool, reps: int = 7) -> dict[str, float]:
    """Medians over ``reps``: ``python -c 'import X'`` minus ``python -c pass``; importtime."""
    env = import_env(tool)
    python = str(tool.python)
    _wall([python, "-c", f"import {tool.name}"], env)  # warm the bytecode cache
    bare, loaded, cumulative = [], [], []
    for _ in range(reps):
        bare.append(_wall([python, "-c", "pass"], env))
        loaded.append(_wall([python, "-c", f"import {tool.name}"], env))
        cumulative.append(_importtime_us(tool.python, tool.name, env))
    return {
        "import_ms": (statistics.median(loaded) - statistics.median(bare)) * 1000,
        "importtime_ms": statistics.median(cumulative) / 1000,
        "from_src": float("PYTHONPATH" in env),
    }
