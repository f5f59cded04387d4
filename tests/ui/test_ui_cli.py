"""`reelflow ui` on the command line: a missing store is one clear line before any port opens,
and the host check (always on) answers loopback names, the address it listens on and the
names given with --allowed-host."""

from __future__ import annotations

import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reelflow.cli._app import load_commands
from reelflow.cli._ui import _allowed_hosts
from reelflow.ui import create_app


def test_ui_without_a_store_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("REELFLOW_HOME", "REELFLOW_DB", "REELFLOW_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(load_commands(), ["ui", "--port", "0"])
    assert result.exit_code == 1 and "no reelflow store" in result.output
    assert not (tmp_path / ".reelflow").exists()


LOOPBACK = ["127.0.0.1", "localhost", "[::1]"]


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("127.0.0.1", LOOPBACK),
        ("::1", LOOPBACK),
        ("localhost", LOOPBACK),
        ("127.0.0.2", [*LOOPBACK, "127.0.0.2"]),
        ("10.1.2.3", [*LOOPBACK, "10.1.2.3"]),
        ("fe80::1", [*LOOPBACK, "[fe80::1]"]),
        ("UI.Example", [*LOOPBACK, "ui.example"]),
    ],
)
def test_the_host_check_answers_loopback_and_the_address_listened_on(
    host: str, answered: list[str]
) -> None:
    assert _allowed_hosts(host) == answered


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_wildcard_address_answers_this_machines_name_never_any(host: str) -> None:
    names = _allowed_hosts(host, ["ui.example", "10.0.0.9"])
    assert "*" not in names and names[:3] == LOOPBACK
    assert socket.gethostname().lower() in names
    assert names[-2:] == ["ui.example", "10.0.0.9"]


def test_an_allowed_host_cannot_be_a_wildcard() -> None:
    with pytest.raises(click.BadParameter):
        _allowed_hosts("0.0.0.0", ["*"])
    with pytest.raises(ValueError, match="no '\\*'"):
        create_app(None, allowed_hosts=["*"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "ok", "refused"),
    [
        ([], ["127.0.0.1:8080", "localhost", "[::1]:8080"], ["evil.example", "127.0.0.2"]),
        (["--host", "127.0.0.2"], ["127.0.0.2:8080", "localhost"], ["evil.example"]),
        (["--host", "0.0.0.0"], [socket.gethostname(), "0.0.0.0:8080"], ["evil.example"]),
        (["--host", "::"], [socket.gethostname(), "[::]:8080"], ["evil.example"]),
        (
            ["--host", "0.0.0.0", "--allowed-host", "ui.example", "--allowed-host", "10.0.0.9"],
            ["ui.example:8080", "10.0.0.9"],
            ["evil.example", "other.example"],
        ),
    ],
)
def test_reelflow_ui_checks_the_host_header_whatever_it_listens_on(
    flow_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    ok: list[str],
    refused: list[str],
) -> None:
    """What `reelflow ui ARGS` would serve, asked with each Host header."""
    import uvicorn
    from starlette.testclient import TestClient

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))
    monkeypatch.chdir(flow_home)
    for name in ("REELFLOW_HOME", "REELFLOW_DB", "REELFLOW_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(load_commands(), ["ui", *args])
    assert result.exit_code == 0, result.output
    app, options = served[0]
    assert options["host"] == (args[1] if args else "127.0.0.1")
    with TestClient(app) as client:
        for host in ok:
            assert client.get("/api/runs", headers={"host": host}).status_code == 200, host
        for host in refused:
            assert client.get("/api/runs", headers={"host": host}).status_code == 400, host
