"""Sampled request logging, off the request path: a bounded in-memory queue drained by a
background thread into Parquet partitions. A full disk or a slow write drops log rows (counted),
never a request."""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reelflow.serve._log_format import write_request_log

log = logging.getLogger("reelflow.serve")


class RequestLogger:
    """Keeps a ``sample`` share of requests and writes them every ``flush_seconds`` or
    ``flush_rows`` rows, whichever comes first."""

    def __init__(
        self,
        home: Path,
        model: str,
        *,
        sample: float,
        flush_rows: int,
        flush_seconds: float,
        max_rows: int,
        on_drop: Callable[[int, str], None] = lambda n, why: None,
        writer: Callable[..., Any] = write_request_log,
    ) -> None:
        self.home, self.model, self.sample = home, model, sample
        self.flush_rows, self.flush_seconds, self.max_rows = flush_rows, flush_seconds, max_rows
        self._queue: collections.deque[Mapping[str, Any]] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._on_drop, self._writer = on_drop, writer
        self._seq = 0
        self._last_error = 0.0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="reelflow-request-log", daemon=True)

    def start(self) -> None:
        if self.sample > 0:
            self._thread.start()

    def wanted(self) -> bool:
        """Whether to log this request (drawn at random with the sampling rate)."""
        return self.sample > 0 and (self.sample >= 1.0 or random.random() < self.sample)

    def add(self, row: Mapping[str, Any]) -> None:
        """Queue one row; when the queue is full the row is dropped and counted."""
        if len(self._queue) >= self.max_rows:
            self._on_drop(1, "queue_full")
            return
        self._queue.append(row)
        if len(self._queue) >= self.flush_rows:
            self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the writer thread (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._flush()
        self._flush()

    def _flush(self) -> None:
        rows = [self._queue.popleft() for _ in range(len(self._queue))]
        if not rows:
            return
        try:
            self._writer(self.home, self.model, rows, seq=self._seq)
            self._seq += 1
            self.written += len(rows)
        except Exception as exc:  # a full disk, a read-only folder: drop the rows, keep serving
            self._on_drop(len(rows), "write_failed")
            now = time.monotonic()
            if now - self._last_error > 60:
                self._last_error = now
                log.warning("request log: dropped %d rows: %s", len(rows), exc)
