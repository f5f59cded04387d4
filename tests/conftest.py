"""Shared fixtures: a fresh store per test, and helpers to run the flows under tests/flow."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reelflow.store import Store

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """An empty store in a temporary working directory (the embedded default layout)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REELFLOW_HOME", raising=False)
    monkeypatch.delenv("REELFLOW_DB", raising=False)
    return Store.open(tmp_path)


@pytest.fixture
def output() -> io.StringIO:
    return io.StringIO()
