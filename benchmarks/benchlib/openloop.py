"""An open-loop (constant-rate) HTTP/1.1 load generator, run in its own process.

Request ``i`` is *scheduled* at ``start + i / rate`` whatever happened to earlier requests, and
its latency is measured from that scheduled time to the last byte of the response, so a server
that stalls is charged for the requests queued behind the stall (no coordinated omission, as in
wrk2). A pool of keep-alive connections sends the requests; when every connection is busy, due
requests wait in a queue (and that wait counts in their latency). The generator's own delay is
reported too: ``send_lag`` is the time from a request's scheduled instant to its write.

Usage (prints one JSON object on stdout)::

    python openloop.py --port 8000 --rate 500 --duration 20 --users users.txt [--post]

Connections are ``asyncio.Protocol`` objects that parse responses in ``data_received`` (no
stream objects or tasks per request), so the generator costs little CPU per request; its cost is
reported (``generator_cpu_s``).

``--users`` holds one user id per line; requests rotate over them in order. ``GET
/recommendations/{id}?k=K`` by default, ``--post`` sends ``POST /recommend`` with the JSON body
``{"user_id": id, "k": K}`` (BentoML's style). ``--versions`` reads each response's ``version``
field and reports how many answers each version gave and when the answering version changed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

clock = time.perf_counter  # uvloop's loop.time() has 1 ms resolution and is cached
VERSION = re.compile(rb'"version":\s*(\d+)')
FALLBACK = re.compile(rb'"fallback":\s*(null|"[^"]*")')


def build_requests(users: list[str], host: str, k: int, post: bool) -> list[bytes]:
    out = []
    for user in users:
        if post:
            body = json.dumps({"user_id": user, "k": k}, separators=(",", ":")).encode()
            head = (
                f"POST /recommend HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            out.append(head.encode() + body)
        else:
            out.append(
                f"GET /recommendations/{user}?k={k} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            )
    return out


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(n - 1, max(0, round(q / 100.0 * n + 0.5) - 1))]

    return {
        "p50": at(50),
        "p90": at(90),
        "p99": at(99),
        "p999": at(99.9),
        "max": ordered[-1],
        "mean": sum(ordered) / n,
    }


class Connection(asyncio.Protocol):
    """One keep-alive connection: sends one request at a time and parses its response
    (status line, Content-Length, body) straight from ``data_received``."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.need = -1  # total bytes of the response being read (-1: headers not parsed)
        self.body_at = 0
        self.status = 0
        self.current: tuple[int, float, float] | None = None  # seq, scheduled, sent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.gen.idle.append(self)
        self.gen.pump()

    def send(self, seq: int, scheduled: float, now: float) -> None:
        assert self.transport is not None
        self.current = (seq, scheduled, now)
        self.transport.write(self.gen.requests[seq % len(self.gen.requests)])

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            if self.need < 0:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buffer[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"content-length:")
                if at < 0:
                    self.fail("no Content-Length")
                    return
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15 : line_end if line_end >= 0 else len(head)])
                self.body_at, self.need = end + 4, end + 4 + length
            if len(buffer) < self.need:
                return
            body = bytes(buffer[self.body_at : self.need])
            del buffer[: self.need]
            self.need = -1
            current, self.current = self.current, None
            if current is not None:
                self.gen.done(self, current, self.status, body)

    def fail(self, why: str) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.gen.errors[why] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self, exc)


class Generator:
    """The schedule, the connections and what was measured."""

    def __init__(self, args: argparse.Namespace, requests: list[bytes]) -> None:
        self.args, self.requests = args, requests
        self.loop = asyncio.get_running_loop()
        self.pending: collections.deque[tuple[int, float]] = collections.deque()
        # first in, first out: every connection stays in use (as in wrk), none sits idle past the
        # server's keep-alive timeout (uvicorn: 5 s) to race its close with a new request
        self.idle: collections.deque[Connection] = collections.deque()
        self.busy: set[Connection] = set()
        self.latencies: list[float] = []  # ms from the scheduled instant to the response
        self.service: list[float] = []  # ms from the write to the response
        self.lags: list[float] = []  # ms from the scheduled instant to the write
        self.enqueue_lags: list[float] = []  # ms from the scheduled instant to queueing it
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.versions: Counter[int] = Counter()
        self.fallbacks: Counter[str] = Counter()
        self.changes: list[tuple[float, int]] = []
        self.last_version: int | None = None
        self.per_second: dict[int, list[float]] = {}
        self.start = 0.0
        self.open_connections = 0
        self.closing = False

    async def connect(self) -> None:
        try:
            await self.loop.create_connection(
                lambda: Connection(self), self.args.host, self.args.port
            )
            self.open_connections += 1
        except OSError as exc:
            self.errors[f"connect: {type(exc).__name__}"] += 1

    def pump(self) -> None:
        now = clock()
        while self.pending and self.idle:
            conn = self.idle.popleft()
            seq, scheduled = self.pending.popleft()
            self.busy.add(conn)
            conn.send(seq, scheduled, now)

    def done(
        self, conn: Connection, current: tuple[int, float, float], status: int, body: bytes
    ) -> None:
        _, scheduled, sent = current
        finished = clock()
        self.statuses[status] += 1
        latency = (finished - scheduled) * 1000.0
        self.latencies.append(latency)
        self.service.append((finished - sent) * 1000.0)
        self.lags.append((sent - scheduled) * 1000.0)
        found = FALLBACK.search(body)
        if found is not None and found.group(1) != b"null":
            self.fallbacks[found.group(1).strip(b'"').decode()] += 1
        if self.args.timeline:
            self.per_second.setdefault(int(scheduled - self.start), []).append(latency)
        if self.args.versions:
            match = VERSION.search(body)
            version = int(match.group(1)) if match else -1
            self.versions[version] += 1
            if version != self.last_version:
                self.last_version = version
                if len(self.changes) < 2000:
                    self.changes.append((round(finished - self.start, 4), version))
        self.busy.discard(conn)
        self.idle.append(conn)
        self.pump()

    def lost(self, conn: Connection, exc: Exception | None) -> None:
        self.open_connections -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.current is not None:  # a request in flight: it failed
            self.errors[f"connection lost: {type(exc).__name__ if exc else 'closed'}"] += 1
            self.busy.discard(conn)
        if not self.closing:
            self.loop.create_task(self.connect())

    def watchdog(self) -> None:
        """Abort connections whose request has waited longer than the timeout."""
        now = clock()
        for conn in list(self.busy):
            if conn.current is not None and now - conn.current[2] > self.args.timeout:
                conn.current = None
                self.errors["timeout"] += 1
                self.busy.discard(conn)
                if conn.transport is not None:
                    conn.transport.abort()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    users = [u for u in Path(args.users).read_text().split() if u]
    requests = build_requests(users, f"{args.host}:{args.port}", args.k, args.post)
    gen = Generator(args, requests)
    await asyncio.gather(*(gen.connect() for _ in range(args.connections)))
    gen.start = start = clock() + 0.2
    end = start + args.duration
    total = int(args.duration * args.rate)
    sent_count = 0
    last_watch = start
    while sent_count < total:
        now = clock()
        due = min(int((now - start) * args.rate) + 1, total) if now >= start else 0
        while sent_count < due:
            scheduled = start + sent_count / args.rate
            gen.pending.append((sent_count, scheduled))
            gen.enqueue_lags.append(max(0.0, now - scheduled) * 1000.0)
            sent_count += 1
        gen.pump()
        if now - last_watch > 0.5:
            gen.watchdog()
            last_watch = now
        next_at = start + sent_count / args.rate
        await asyncio.sleep(max(0.0, next_at - clock()))
    finished_scheduling = clock()
    deadline = finished_scheduling + args.timeout + 1.0
    while (gen.pending or gen.busy) and clock() < deadline:
        await asyncio.sleep(0.01)
        gen.watchdog()
    gen.closing = True
    dropped = len(gen.pending)
    wall = clock() - start
    for conn in [*gen.idle, *gen.busy]:
        if conn.transport is not None:
            conn.transport.close()
    statuses = gen.statuses
    ok = sum(v for s, v in statuses.items() if 200 <= s < 300)
    return {
        "target_rate": args.rate,
        "duration_s": args.duration,
        "scheduled": sent_count,
        "completed": sum(statuses.values()),
        "ok": ok,
        "non_2xx": sum(statuses.values()) - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(gen.errors),
        "never_sent": dropped,
        "failed": sent_count - ok,
        "achieved_rate": sum(statuses.values()) / max(wall, 1e-9),
        "scheduling_overrun_s": max(0.0, finished_scheduling - end),
        "latency_ms": percentiles(gen.latencies),
        "service_ms": percentiles(gen.service),
        "send_lag_ms": percentiles(gen.lags),
        "scheduler_lag_ms": percentiles(gen.enqueue_lags),
        "fallback_answers": dict(gen.fallbacks),
        "versions": {str(k): v for k, v in sorted(gen.versions.items())},
        "version_changes": gen.changes,
        "connections": args.connections,
        "timeline": [
            {"second": sec, "n": len(v), **percentiles(v)}
            for sec, v in sorted(gen.per_second.items())
        ],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--users", required=True, help="file of user ids, one per line")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--post", action="store_true", help="POST /recommend (BentoML)")
    parser.add_argument("--versions", action="store_true", help="track the 'version' field")
    parser.add_argument("--timeline", action="store_true", help="latency per scheduled second")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    began = time.process_time()
    result = runner(run(args))
    result["event_loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    result["generator_cpu_s"] = time.process_time() - began
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
