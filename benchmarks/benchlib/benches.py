"""One measurement of one benchmark on one system, each in a fresh working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchlib.procs import MB, BenchError, RunResult, Sample, check_ok, read_events, run_command
from benchlib.tools import BENCH_DIR, Tool

Metrics = dict[str, float]

# Tasks each flow runs: start, s1..s8, end; start, 100 branches, join, end.
TASKS = {"linear": 10, "foreach": 103}
# The event each flow's end step records, and the value that proves the flow ran correctly.
EXPECTED = {
    "linear": ("linear_done", 1.0),
    "foreach": ("foreach_total", 4950.0),
    "resume": ("resume_value", 4.0),
}
DATAFRAME_EVENTS = (
    "start_end_at",
    "make_begin_at",
    "make_compute_s",
    "artifact_bytes",
    "make_end_at",
    "consume_begin_at",
    "consume_access_s",
    "consume_load_sum_s",
    "consume_resum_s",
    "consume_end_at",
    "make_base_rss",
    "consume_base_rss",
)


@dataclass(frozen=True)
class Settings:
    """What every measurement shares: rows, time limit, sampling period, work root, pre-warming."""

    rows: int
    timeout: float
    sample_every: float
    work_root: Path | None
    prewarm_bytes: int = 0


def prewarm_memory(nbytes: int) -> None:
    """Touch ``nbytes`` of memory in a throwaway process, then free it.

    On a VM whose balloon hands idle guest memory back to the host (this machine does), the
    first touch of such memory is several times slower than later ones, and one measurement
    would pay it and the next not, depending on what ran before. Touching a few GB first puts
    every measurement, of either system and of the plain-I/O floor, on warm memory.
    """
    if nbytes > 0:
        code = f"import numpy; numpy.ones({nbytes // 8}, dtype=numpy.float64)"
        subprocess.run([sys.executable, "-c", code], check=True)


@contextmanager
def workdir(settings: Settings, label: str) -> Iterator[Path]:
    """A fresh, empty directory used as cwd, HOME and store root; removed afterwards."""
    with tempfile.TemporaryDirectory(
        prefix=f"rf-bench-{label}-", dir=settings.work_root, ignore_cleanup_errors=True
    ) as name:
        yield Path(name)


def _launch(
    tool: Tool,
    cmd: list[str],
    wd: Path,
    settings: Settings,
    log: str,
    extra_env: dict[str, str] | None = None,
    sample: bool = False,
) -> RunResult:
    env = tool.env(wd) | {"BENCH_EVENTS": str(wd / "events.jsonl")} | (extra_env or {})
    every = settings.sample_every if sample else None
    return run_command(
        cmd, cwd=wd, env=env, log=wd / log, timeout=settings.timeout, sample_every=every
    )


def _expect(wd: Path, bench: str, result: RunResult) -> dict[str, float]:
    """The flow's events, after checking its end step recorded the expected value."""
    events = read_events(wd / "events.jsonl")
    key, want = EXPECTED[bench]
    if events.get(key) != want:
        raise BenchError(
            f"{bench}: expected {key}={want}, got {events.get(key)}; log tail:\n{result.tail()}"
        )
    return events


def bench_tasks(tool: Tool, bench: str, settings: Settings) -> Metrics:
    """Benchmarks 1 and 2: wall time of the whole run, and that time per task."""
    with workdir(settings, f"{tool.name}-{bench}") as wd:
        result = _launch(tool, tool.run_cmd(bench), wd, settings, "run.log")
        check_ok(result, f"{tool.name} {bench}")
        _expect(wd, bench, result)
    return {"wall_s": result.wall_s, "per_task_s": result.wall_s / TASKS[bench]}


def bench_resume(tool: Tool, settings: Settings) -> Metrics:
    """Benchmark 4: a run that fails at step4, then the timed resume with the failure off."""
    with workdir(settings, f"{tool.name}-resume") as wd:
        failed = _launch(
            tool,
            tool.run_cmd("resume"),
            wd,
            settings,
            "failed.log",
            extra_env={"FAIL_AT_STEP4": "1"},
        )
        if failed.returncode == 0:
            raise BenchError(f"{tool.name} resume: the FAIL_AT_STEP4=1 run did not fail")
        resumed = _launch(tool, tool.resume_cmd("resume"), wd, settings, "resume.log")
        check_ok(resumed, f"{tool.name} resume")
        _expect(wd, "resume", resumed)
    return {"wall_s": resumed.wall_s, "failed_run_s": failed.wall_s}


def bench_dataframe(tool: Tool, settings: Settings) -> Metrics:
    """Benchmark 3: save and load of a DataFrame artifact, and peak memory while doing it."""
    with workdir(settings, f"{tool.name}-dataframe") as wd:
        result = _launch(
            tool,
            tool.run_cmd("dataframe"),
            wd,
            settings,
            "run.log",
            extra_env={"BENCH_ROWS": str(settings.rows)},
            sample=True,
        )
        check_ok(result, f"{tool.name} dataframe")
        events = read_events(wd / "events.jsonl")
    missing = [key for key in DATAFRAME_EVENTS if key not in events]
    if missing:
        raise BenchError(
            f"{tool.name} dataframe: missing events {missing}; log tail:\n{result.tail()}"
        )
    return dataframe_metrics(events, result.samples, result.wall_s)


def dataframe_metrics(ev: dict[str, float], samples: list[Sample], wall_s: float) -> Metrics:
    """Turn the flow's events and the memory samples into the reported figures."""
    size = ev["artifact_bytes"]
    handoff_s = ev["make_begin_at"] - ev["start_end_at"]
    save_s = (ev["consume_begin_at"] - ev["make_end_at"]) - handoff_s
    load_s = ev["consume_load_sum_s"] - ev["consume_resum_s"]
    save_phase = _peak(samples, ev["make_end_at"], ev["consume_begin_at"])
    load_phase = _peak(samples, ev["consume_begin_at"], ev["consume_end_at"])
    return {
        "wall_s": wall_s,
        "compute_s": ev["make_compute_s"],
        "handoff_s": handoff_s,
        "save_s": save_s,
        "load_s": load_s,
        "load_sum_s": ev["consume_load_sum_s"],
        "sum_s": ev["consume_resum_s"],
        "save_load_s": save_s + load_s,
        "artifact_mb": size / MB,
        "peak_rss_mb": _peak(samples, 0.0, float("inf")).max_rss / MB,
        "peak_tree_mb": _peak(samples, 0.0, float("inf")).tree_rss / MB,
        "peak_ratio": _peak(samples, 0.0, float("inf")).max_rss / size,
        "peak_save_ratio": save_phase.max_rss / size,
        "peak_load_ratio": load_phase.max_rss / size,
        "peak_save_excess_ratio": (save_phase.max_rss - ev["make_base_rss"]) / size,
        "peak_load_excess_ratio": (load_phase.max_rss - ev["consume_base_rss"]) / size,
        "make_base_rss_mb": ev["make_base_rss"] / MB,
        "consume_base_rss_mb": ev["consume_base_rss"] / MB,
        "samples": float(len(samples)),
    }


def _peak(samples: list[Sample], begin: float, end: float) -> Sample:
    """Largest single-process and summed RSS among the samples taken in ``[begin, end]``."""
    inside = [s for s in samples if begin <= s.at <= end]
    return Sample(
        at=begin,
        tree_rss=max((s.tree_rss for s in inside), default=0),
        max_rss=max((s.max_rss for s in inside), default=0),
    )


def bench_plain_io(settings: Settings) -> Metrics:
    """The floor: write the DataFrame's bytes to a file (fsync) and read them back, timed."""
    with workdir(settings, "plain-io") as wd:
        cmd = [
            sys.executable,
            str(BENCH_DIR / "plain_io.py"),
            "--rows",
            str(settings.rows),
            "--dir",
            str(wd),
        ]
        log = wd / "plain.log"
        result = run_command(cmd, cwd=wd, env=dict(os.environ), log=log, timeout=settings.timeout)
        check_ok(result, "plain file I/O")
        return dict(json.loads(log.read_text(encoding="utf-8").splitlines()[-1]))
