"""A long-lived worker process: runs task after task, its imports paid once.

Started by the local executor as ``python -m reelflow.flow._worker FD STORE_HOME [ARTIFACTS]``
(``ARTIFACTS``: where the objects live when not under the store's home); it talks to
the scheduler over the socket ``FD`` and sends each task's stdout/stderr, at the file-descriptor
level, to that task's log files.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from reelflow.flow._loader import load_flow
from reelflow.flow._spec import TaskResult, TaskSpec
from reelflow.flow._task import run_task
from reelflow.store._objects import Objects
from reelflow.store._remote import open_objects

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    fd, store_home = int(argv[0]), argv[1]
    artifacts = argv[2] if len(argv) > 2 else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    conn = Connection(fd)
    objects = open_objects(store_home, artifacts)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            spec = conn.recv()
        except (EOFError, OSError):
            return 0
        if spec is None:
            return 0
        started = functools.partial(conn.send, ("started", spec.task_id))
        conn.send(run_captured(spec, objects, started))
        _release_memory()


def run_captured(
    spec: TaskSpec, objects: Objects, started: Callable[[], None] | None = None
) -> TaskResult:
    """Run the task with fd 1 and 2 pointing at its log files (a failure's traceback included).

    ``started`` is called once the flow's module is imported, so that a step's timeout counts
    the step, not the worker's start-up and imports.
    """
    with _redirected(1, spec.stdout_path), _redirected(2, spec.stderr_path):
        flow_cls = None
        with contextlib.suppress(Exception):
            flow_cls = load_flow(spec.flow_file, spec.flow_class)  # errors resurface in run_task
        if started is not None:
            started()
        result = run_task(spec, objects, flow_cls)
        if result.error is not None and result.error.traceback:
            sys.stderr.write(result.error.traceback)  # so `reelflow logs` shows it
        return result


@contextlib.contextmanager
def _redirected(fd: int, path: str) -> Iterator[None]:
    stream = sys.stdout if fd == 1 else sys.stderr
    stream.flush()
    saved = os.dup(fd)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, fd)
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(target)


def _release_memory() -> None:
    """Give back what the last task freed, so the next task starts from a small footprint.

    Arrow's allocator keeps freed buffers for reuse; a 400 MB table converted for storage would
    otherwise stay resident into the next task.
    """
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker if the scheduler dies, so no orphan keeps running."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
