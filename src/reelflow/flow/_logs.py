"""Task output: written by workers to per-attempt files, streamed live, then kept in the store."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reelflow.store._objects import Objects

if TYPE_CHECKING:
    from reelflow.flow._display import Display
    from reelflow.flow._plan import Pending

_STREAMS = ("stdout", "stderr")
_CHUNK = 256 * 1024


def store_logs(
    objects: Objects, stdout: str | os.PathLike[str], stderr: str | os.PathLike[str]
) -> tuple[str | None, str | None]:
    """Store an attempt's two log files as objects (an empty or missing one as None), delete
    them, and return their keys."""
    keys: list[str | None] = []
    for path in (stdout, stderr):
        key = None
        with contextlib.suppress(FileNotFoundError):
            if os.path.getsize(path) > 0:
                key = objects.put_file(path).key
            os.unlink(path)
        keys.append(key)
    return keys[0], keys[1]


@dataclass
class LogTail:
    """Follows one attempt's two log files and forwards complete lines to the display."""

    step: str
    task_id: int
    stdout_path: Path
    stderr_path: Path
    display: Display
    _offsets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_STREAMS, 0))
    _partial: dict[str, bytes] = field(default_factory=lambda: dict.fromkeys(_STREAMS, b""))

    @classmethod
    def for_attempt(cls, home: Path, run_id: int, pending: Pending, display: Display) -> LogTail:
        folder = home / "running" / str(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        assert pending.task_id is not None
        stem = f"{pending.task_id}.{pending.attempt}"
        return cls(
            pending.step,
            pending.task_id,
            folder / f"{stem}.out",
            folder / f"{stem}.err",
            display,
        )

    def _path(self, stream: str) -> Path:
        return self.stdout_path if stream == "stdout" else self.stderr_path

    def pump(self, *, final: bool = False) -> None:
        """Show the lines written since the last call (and a trailing partial line if final)."""
        for stream in _STREAMS:
            chunk = self._read_new(stream, final=final)
            text = self._partial[stream] + chunk
            lines = text.split(b"\n")
            self._partial[stream] = b"" if final else lines.pop()
            for line in lines:
                if line or not final:
                    self.display.log(
                        self.step,
                        self.task_id,
                        stream,
                        line.decode("utf-8", errors="replace").rstrip("\r"),
                    )

    def replay(self, objects: Objects, keys: tuple[str | None, str | None]) -> None:
        """Show the stored logs of an attempt that ran where its files could not be followed."""
        for stream, key in zip(_STREAMS, keys, strict=True):
            if key is None:
                continue
            text = objects.read_bytes(key).decode("utf-8", errors="replace")
            for line in text.rstrip("\n").split("\n"):
                self.display.log(self.step, self.task_id, stream, line.rstrip("\r"))

    def _read_new(self, stream: str, *, final: bool = False) -> bytes:
        """New bytes of ``stream``: at most a chunk per call while the task runs, so that a chatty
        task cannot stall the scheduler; everything at the end."""
        try:
            with open(self._path(stream), "rb") as handle:
                handle.seek(self._offsets[stream])
                data = handle.read(-1 if final else _CHUNK)
        except FileNotFoundError:
            return b""
        self._offsets[stream] += len(data)
        return data

    def close(self, objects: Objects) -> tuple[str | None, str | None]:
        """Flush the last lines, store both files as objects and return their keys."""
        self.pump(final=True)
        return store_logs(objects, self.stdout_path, self.stderr_path)
