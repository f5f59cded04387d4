"""`reelflow ui` on the command line: a missing store is one clear line before any port opens,
and the host check follows the address it listens on."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reelflow.cli._app import load_commands
from reelflow.cli._ui import _allowed_hosts


def test_ui_without_a_store_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("REELFLOW_HOME", "REELFLOW_DB", "REELFLOW_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(load_commands(), ["ui", "--port", "0"])
    assert result.exit_code == 1 and "no reelflow store" in result.output
    assert not (tmp_path / ".reelflow").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_addresses_answer_loopback_names_only(host: str, loopback: bool) -> None:
    assert (_allowed_hosts(host) is not None) == loopback
