"""`reelflow serve` (or `reelflow ui`) started as a user starts it, on a free loopback port, for
integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start `reelflow serve ARGS` in ``cwd`` and wait (60 s at most) until /ready answers."""
    return start_reelflow(cwd, "serve", *args, ready="/ready", env=env)


def start_reelflow(
    cwd: Path, command: str, *args: str, ready: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start `reelflow COMMAND ARGS --port PORT` in ``cwd`` on a free loopback port and wait
    (60 s at most) until GET ``ready`` answers 200; returns the process and its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reelflow", command, *args, "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited: {server.communicate()[1]}")
        try:
            if httpx.get(f"{url}{ready}", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise AssertionError("the server did not become ready in 60 s")
