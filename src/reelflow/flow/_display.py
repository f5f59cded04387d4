"""What a run shows while it goes: a Rich live view in a terminal, plain lines otherwise.

Task output is streamed line by line, prefixed with ``step/task``, in both modes.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table


class Display(Protocol):
    """Receives the run's events; the scheduler calls it from its single thread."""

    def start(self, flow_name: str, run_id: int, steps: list[str]) -> None: ...
    def task_started(self, step: str, task_id: int, attempt: int) -> None: ...
    def task_finished(self, step: str, task_id: int, status: str, detail: str = "") -> None: ...
    def log(self, step: str, task_id: int, stream: str, line: str) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


@dataclass
class _StepProgress:
    done: int = 0
    running: int = 0
    failed: int = 0
    started: float | None = None
    ended: float | None = None


@dataclass
class PlainDisplay:
    """One line per event, for logs and pipes."""

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    quiet_tasks: bool = False

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def start(self, flow_name: str, run_id: int, steps: list[str]) -> None:
        self._print(f"{_stamp()} {flow_name} run {run_id} started")

    def task_started(self, step: str, task_id: int, attempt: int) -> None:
        if not self.quiet_tasks:
            retry = f" (retry {attempt})" if attempt else ""
            self._print(f"{_stamp()} [{step}/{task_id}] started{retry}")

    def task_finished(self, step: str, task_id: int, status: str, detail: str = "") -> None:
        if not self.quiet_tasks or status != "succeeded":
            suffix = f": {detail}" if detail else ""
            self._print(f"{_stamp()} [{step}/{task_id}] {status}{suffix}")

    def log(self, step: str, task_id: int, stream: str, line: str) -> None:
        self._print(f"[{step}/{task_id}] {line}")

    def message(self, text: str) -> None:
        self._print(text)

    def stop(self) -> None:
        return None


class RichDisplay:
    """A live table of steps (done, running, failed, elapsed) with task output above it."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self._steps: dict[str, _StepProgress] = {}
        self._live: Live | None = None
        self._title = ""

    def start(self, flow_name: str, run_id: int, steps: list[str]) -> None:
        self._title = f"{flow_name} run {run_id}"
        self._steps = {name: _StepProgress() for name in steps}
        self._live = _live()(self._render(), console=self.console, refresh_per_second=8)
        self._live.start()

    def task_started(self, step: str, task_id: int, attempt: int) -> None:
        progress = self._steps.setdefault(step, _StepProgress())
        progress.running += 1
        progress.started = progress.started or time.monotonic()
        self._refresh()

    def task_finished(self, step: str, task_id: int, status: str, detail: str = "") -> None:
        progress = self._steps.setdefault(step, _StepProgress())
        progress.running = max(0, progress.running - 1)
        if status in ("succeeded", "caught", "resumed"):
            progress.done += 1
        else:
            progress.failed += 1
        progress.ended = time.monotonic()
        if detail and status not in ("succeeded", "resumed"):
            self.console.print(f"[red][{_escape(step)}/{task_id}] {status}: {_escape(detail)}[/]")
        self._refresh()

    def log(self, step: str, task_id: int, stream: str, line: str) -> None:
        style = "red" if stream == "stderr" else "dim"
        self.console.print(f"[{style}]\\[{_escape(step)}/{task_id}][/] {_escape(line)}")

    def message(self, text: str) -> None:
        self.console.print(text)

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Table:
        from rich.table import Table

        table = Table(title=self._title, title_justify="left", box=None, pad_edge=False)
        for column in ("step", "done", "running", "failed", "elapsed"):
            table.add_column(column, justify="left" if column == "step" else "right")
        now = time.monotonic()
        for name, p in self._steps.items():
            elapsed = (
                ""
                if p.started is None
                else f"{(p.ended if not p.running and p.ended else now) - p.started:.1f}s"
            )
            failed = f"[red]{p.failed}[/]" if p.failed else "0"
            table.add_row(name, str(p.done), str(p.running), failed, elapsed)
        return table


def _live() -> type[Live]:
    from rich.live import Live

    return Live


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def make_display(
    *, quiet_tasks: bool = False, force_plain: bool = False, out: Any = None
) -> Display:
    """Rich live view in an interactive terminal, plain lines otherwise."""
    stream = out or sys.stdout
    if not force_plain and stream.isatty():
        from rich.console import Console

        return RichDisplay(Console(file=stream))
    return PlainDisplay(out=stream, quiet_tasks=quiet_tasks)


def _stamp() -> str:
    return time.strftime("%H:%M:%S")
