"""Executors side by side: a foreach of 200 tasks of 50 ms of CPU work each.

    .venv/bin/python benchmarks/executors.py              # 3 repeats
    .venv/bin/python benchmarks/executors.py --repeat 5 --tasks 200

Each repeat runs, in a rotating order, the same flow through the command line:

- ``local``: reelflow's local executor (worker processes);
- ``ray``: ``--executor ray`` with no address, so the run starts and stops its own Ray instance;
- ``ray-attached``: ``--executor ray --ray-address`` to a Ray instance this script keeps running,
  which leaves out Ray's start-up and shows what Ray costs per task;
- ``metaflow``: Metaflow's local runtime, when ``benchmarks/.venv-metaflow`` exists
  (``run_flows.py`` creates it).

All use ``--max-workers`` = the number of cores. Prints a markdown table of medians and Ray's
overhead per task against the local executor; raw figures go to
``benchmarks/results/executors-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
METAFLOW_PYTHON = BENCH_DIR / ".venv-metaflow" / "bin" / "python"

_BODY = """
    @step
    def start(self):
        self.items = list(range({tasks}))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        deadline = time.perf_counter() + {seconds}
        while time.perf_counter() < deadline:
            pass
        self.x = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(inp.x for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        assert self.total == sum(range({tasks}))
"""

REELFLOW_FLOW = "import time\n\nfrom reelflow import Flow, step\n\n\nclass WorkFlow(Flow):\n"
METAFLOW_FLOW = (
    "import time\n\nfrom metaflow import FlowSpec, step\n\n\nclass WorkFlow(FlowSpec):\n"
)
METAFLOW_MAIN = '\n\nif __name__ == "__main__":\n    WorkFlow()\n'

_HOLDER = """
import logging, sys, ray
ray.init(num_cpus={cpus}, object_store_memory=128 << 20, include_dashboard=False,
         log_to_driver=False, logging_level=logging.WARNING)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per system (default 3)")
    parser.add_argument("--tasks", type=int, default=200, help="foreach width (default 200)")
    parser.add_argument("--work-ms", type=float, default=50.0, help="CPU work per task (ms)")
    parser.add_argument(
        "--systems", default="local,ray,ray-attached,metaflow", help="what to measure"
    )
    return parser.parse_args(argv)


def write_flows(folder: Path, tasks: int, seconds: float) -> tuple[Path, Path]:
    body = _BODY.format(tasks=tasks, seconds=seconds)
    rf, mf = folder / "rf_work.py", folder / "mf_work.py"
    rf.write_text(REELFLOW_FLOW + body)
    mf.write_text(METAFLOW_FLOW + body + METAFLOW_MAIN)
    return rf, mf


def command(system: str, rf: Path, mf: Path, workers: int, address: str | None) -> list[str]:
    reelflow = [sys.executable, "-m", "reelflow", "run", str(rf), "--plain"]
    reelflow += ["--max-workers", str(workers)]
    if system == "local":
        return reelflow
    if system == "ray":
        return [*reelflow, "--executor", "ray"]
    if system == "ray-attached":
        assert address is not None
        return [*reelflow, "--executor", "ray", "--ray-address", address]
    if system == "metaflow":
        mf_run = [str(METAFLOW_PYTHON), str(mf), "--no-pylint", "run", "--max-num-splits", "10000"]
        return [*mf_run, "--max-workers", str(workers)]
    raise SystemExit(f"unknown system {system!r}")


def timed(cmd: list[str], cwd: Path) -> float:
    # RAY_AUTH_MODE=token: Ray's token authentication (on by default) for the attached runs
    env = {**os.environ, "METAFLOW_HOME": str(cwd), "RAY_AUTH_MODE": "token"}
    env.setdefault("USERNAME", "bench")  # Metaflow refuses to run without a user name
    began = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return wall


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    if "metaflow" in systems and not METAFLOW_PYTHON.exists():
        print(f"(no {METAFLOW_PYTHON}: run benchmarks/run_flows.py once to create it)")
        systems.remove("metaflow")
    cores = os.cpu_count() or 1
    walls: dict[str, list[float]] = {s: [] for s in systems}
    holder = None
    address = None
    with tempfile.TemporaryDirectory(prefix="rf-executors-") as tmp:
        root = Path(tmp)
        rf, mf = write_flows(root, args.tasks, args.work_ms / 1000)
        if "ray-attached" in systems:
            holder = subprocess.Popen(
                [sys.executable, "-c", _HOLDER.format(cpus=cores)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=root,
            )
            assert holder.stdout is not None
            address = holder.stdout.readline().strip()
        try:
            for rep in range(args.repeat):
                order = systems[rep % len(systems) :] + systems[: rep % len(systems)]
                for system in order:
                    cwd = root / f"{system}-{rep}"
                    cwd.mkdir()
                    wall = timed(command(system, rf, mf, cores, address), cwd)
                    walls[system].append(wall)
                    print(f"repeat {rep + 1}: {system:<13} {wall:6.2f} s", flush=True)
        finally:
            if holder is not None:
                holder.communicate("", timeout=60)
    report(walls, args, cores)


def report(walls: dict[str, list[float]], args: argparse.Namespace, cores: int) -> None:
    tasks = args.tasks + 3  # start, join and end
    ideal = args.tasks * args.work_ms / 1000 / cores
    medians = {s: statistics.median(w) for s, w in walls.items()}
    print(f"\n{args.tasks} tasks x {args.work_ms:g} ms on {cores} cores; ideal {ideal:.2f} s; ")
    print(f"medians of {args.repeat}\n")
    print("| system | wall (median) | per task | over ideal |")
    print("|---|---:|---:|---:|")
    for system, wall in medians.items():
        print(f"| {system} | {wall:.2f} s | {wall / tasks * 1000:.1f} ms | {wall - ideal:+.2f} s |")
    local = medians.get("local")
    if local is not None:
        for system in ("ray", "ray-attached"):
            if system in medians:
                extra = (medians[system] - local) / tasks * 1000
                print(f"\n{system}: {extra:+.1f} ms per task over the local executor")
    out = BENCH_DIR / "results" / f"executors-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    figures = {"args": vars(args), "cores": cores, "walls": walls, "medians": medians}
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nraw figures: {out}")


if __name__ == "__main__":
    main()
