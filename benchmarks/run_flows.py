"""Side-by-side flow benchmarks: reelflow against the latest Metaflow, same machine, same run.

    .venv/bin/python benchmarks/run_flows.py            # everything, 3 repeats
    .venv/bin/python benchmarks/run_flows.py --quick --only linear,dataframe

Creates ``benchmarks/.venv-metaflow`` with the latest Metaflow when missing, runs each benchmark
``--repeat`` times per system (alternating which system goes first), prints markdown tables of
medians and writes every raw figure to ``benchmarks/results/flows-<time>.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchlib.benches import (
    Metrics,
    Settings,
    bench_dataframe,
    bench_plain_io,
    bench_resume,
    bench_tasks,
    prewarm_memory,
    workdir,
)
from benchlib.imports import bench_import
from benchlib.procs import MB, BenchError, check_ok, run_command
from benchlib.report import (
    Results,
    errors_text,
    gist,
    plain_table,
    side_by_side,
    targets_table,
    write_json,
)
from benchlib.tools import (
    BENCH_DIR,
    METAFLOW_VENV,
    REPO_DIR,
    Tool,
    compile_reelflow,
    ensure_metaflow_venv,
    metaflow_tool,
    network_isolation,
    package_version,
    reelflow_tool,
)

BENCHES = ("linear", "foreach", "dataframe", "resume", "import")
FLOW_BENCHES = ("linear", "foreach", "dataframe", "resume")
# The figure shown on each progress line.
HEADLINE = {
    "linear": "wall_s",
    "foreach": "wall_s",
    "dataframe": "save_load_s",
    "resume": "wall_s",
    "import": "import_ms",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="measurements per system (3)")
    parser.add_argument(
        "--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}"
    )
    parser.add_argument("--tools", default="metaflow,reelflow", help="systems to measure")
    parser.add_argument("--quick", action="store_true", help="1M-row DataFrame (40 MB)")
    parser.add_argument("--rows", type=int, help="DataFrame rows (default 10M, --quick 1M)")
    parser.add_argument(
        "--max-workers",
        type=int,
        default=os.cpu_count() or 2,
        help="--max-workers for both systems (default: cores; 0: their defaults)",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds per command (900)")
    parser.add_argument(
        "--sample-every", type=float, default=0.02, help="RSS sampling period in seconds (0.02)"
    )
    parser.add_argument("--import-reps", type=int, default=7, help="interpreters per import figure")
    parser.add_argument("--reelflow", help="path of the reelflow command (default: next to python)")
    parser.add_argument(
        "--isolate-network",
        action="store_true",
        help="run every flow under `unshare --net` (no network; needs root or user namespaces)",
    )
    parser.add_argument(
        "--upgrade-metaflow",
        action="store_true",
        help="pip install --upgrade metaflow pandas pyarrow in .venv-metaflow",
    )
    parser.add_argument(
        "--prewarm-mb",
        type=int,
        help="memory touched before each measurement (default: max(2000, 8 x DataFrame); 0: off)",
    )
    parser.add_argument("--work-root", type=Path, help="where the fresh work dirs go ($TMPDIR)")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHES}")
    return args


def pick_tools(args: argparse.Namespace) -> list[Tool]:
    """The systems named by ``--tools``, Metaflow's virtualenv created first when needed."""
    workers = args.max_workers or None
    try:
        wrapper = network_isolation() if args.isolate_network else ()
    except RuntimeError as err:
        raise SystemExit(str(err)) from err
    tools: list[Tool] = []
    for name in args.tools.split(","):
        if name == "metaflow":
            try:
                ensure_metaflow_venv(args.upgrade_metaflow)
            except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
                raise SystemExit(f"cannot set up {METAFLOW_VENV}: {err}") from err
            tools.append(metaflow_tool(workers, wrapper))
        elif name == "reelflow":
            compile_reelflow()
            tools.append(reelflow_tool(workers, args.reelflow, wrapper))
        else:
            raise SystemExit(f"unknown tool {name!r}: use metaflow and/or reelflow")
    return tools


def smoke_test(tool: Tool, settings: Settings) -> str | None:
    """Run the linear flow once, untimed (warms caches); the reason it cannot run, or None."""
    if not tool.ready():
        return f"{tool.launcher[0]} does not exist yet"
    with workdir(settings, f"{tool.name}-smoke") as wd:
        try:
            result = run_command(
                tool.run_cmd("linear"),
                cwd=wd,
                env=tool.env(wd),
                log=wd / "smoke.log",
                timeout=settings.timeout,
            )
            check_ok(result, f"{tool.name} run linear")
        except BenchError as err:
            return str(err)
    return None


def measure(bench: str, tool: Tool, settings: Settings, import_reps: int) -> Metrics:
    """One measurement of ``bench`` on ``tool``."""
    runners: dict[str, Callable[[], Metrics]] = {
        "linear": lambda: bench_tasks(tool, "linear", settings),
        "foreach": lambda: bench_tasks(tool, "foreach", settings),
        "dataframe": lambda: bench_dataframe(tool, settings),
        "resume": lambda: bench_resume(tool, settings),
        "import": lambda: bench_import(tool, import_reps),
    }
    return runners[bench]()


def run_repeat(
    rep: int,
    args: argparse.Namespace,
    benches: list[str],
    tools: dict[str, Tool],
    settings: Settings,
    res: Results,
) -> None:
    """One repeat of every selected benchmark; the first system alternates between repeats."""
    order = list(tools.values()) if rep % 2 == 0 else list(tools.values())[::-1]
    for bench in benches:
        for tool in order:
            if res.failed(bench, tool.name) or (bench in FLOW_BENCHES and not tool.ready()):
                continue
            one(
                rep,
                args,
                settings,
                bench,
                tool.name,
                functools.partial(measure, bench, tool, settings, args.import_reps),
                res,
            )
        if bench == "dataframe":
            one(
                rep,
                args,
                settings,
                bench,
                "plain",
                functools.partial(bench_plain_io, settings),
                res,
            )


def one(
    rep: int,
    args: argparse.Namespace,
    settings: Settings,
    bench: str,
    name: str,
    action: Callable[[], Metrics],
    res: Results,
) -> None:
    """Run ``action``, record its figures or its error, and print a progress line."""
    tag = f"[{rep + 1}/{args.repeat}] {bench:<9} {name:<8}"
    load_before = os.getloadavg()[0]
    try:
        prewarm_memory(settings.prewarm_bytes)
        metrics = action()
    except (BenchError, subprocess.CalledProcessError) as err:
        res.fail(bench, name, str(err))
        print(f"{tag} FAILED: {gist(str(err))}", flush=True)
        return
    res.add(bench, name, metrics | {"load_before": load_before})
    key = "write_read_s" if name == "plain" else HEADLINE[bench]
    print(f"{tag} {key}={metrics[key]:.3f}", flush=True)


def metadata(
    args: argparse.Namespace, tools: dict[str, Tool], settings: Settings
) -> dict[str, object]:
    """Machine, versions and settings, stored with the results."""
    versions = {
        f"{tool.name}:{pkg}": package_version(tool.python, pkg)
        for tool in tools.values()
        for pkg in (tool.name, "numpy", "pandas", "pyarrow")
    }
    return {
        "argv": sys.argv,
        "python": sys.version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "max_workers": args.max_workers or "tool default",
        "rows": settings.rows,
        "prewarm_bytes": settings.prewarm_bytes,
        "repeat": args.repeat,
        "versions": versions,
        "isolate_network": args.isolate_network,
        "openblas": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "git": _git_head(),
        "loadavg_at_end": os.getloadavg(),
    }


def _git_head() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(REPO_DIR), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def main(argv: list[str] | None = None) -> None:
    """Measure, print the tables, write the JSON."""
    args = parse_args(argv)
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    prewarm_mb = args.prewarm_mb if args.prewarm_mb is not None else max(2000, rows * 40 * 8 // MB)
    settings = Settings(rows, args.timeout, args.sample_every, args.work_root, prewarm_mb * MB)
    benches = [b for b in BENCHES if b in args.only.split(",")]
    tools = {tool.name: tool for tool in pick_tools(args)}
    print(
        f"rows={rows:,} repeat={args.repeat} max-workers={args.max_workers or 'tool default'} "
        f"prewarm={prewarm_mb} MB tools={','.join(tools)} benches={','.join(benches)}",
        flush=True,
    )
    res = Results()
    if any(b in FLOW_BENCHES for b in benches):
        for tool in tools.values():
            problem = smoke_test(tool, settings)
            print(f"smoke test {tool.name}: {problem or 'ok'}", flush=True)
            if problem:
                for bench in set(FLOW_BENCHES) & set(benches):
                    res.fail(bench, tool.name, f"smoke test failed: {problem}")
    for rep in range(args.repeat):
        run_repeat(rep, args, benches, tools, settings, res)
    path = write_json(res, metadata(args, tools, settings), args.results_dir)
    print(f"\nMedians of {args.repeat} repeats, DataFrame {rows:,} x 5 float64; raw: {path}\n")
    tables = (side_by_side(res), plain_table(res), targets_table(res))
    print(*(table for table in tables if table), sep="\n\n")
    if rows < 10_000_000:
        print("\nNote: with a small DataFrame the peak-RSS ratios mostly measure the interpreter.")
    if res.errors:
        print("\n" + errors_text(res))


if __name__ == "__main__":
    main()
