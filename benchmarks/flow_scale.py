"""The main job at scale: PersonalizationFlow on the synthetic log, its wall time, memory and steps.

    .venv/bin/python benchmarks/flow_scale.py [--sizes 1m,10m] [--repeats 3] [--twice]
        [--candidates GRID] [--max-workers N] [--rev REV] [--blas-threads N] [--json PATH]

Each run is ``reelflow run src/reelflow/examples/personalization.py -p size=N --plain`` (what
``reelflow quickstart -p size=N`` runs) in a fresh temporary directory that is its working
directory and its store (``REELFLOW_HOME``; no ``reelflow.toml`` there, ``REELFLOW_*`` of the
caller dropped), so no run sees another's champion or previous log. ``--twice`` runs the flow a
second time in the same store: what a user sees on the second run (the data guards compare with
the first run's log, the gate compares with the first run's champion).

The synthetic generator makes ``size / 40`` users and ``min(size / 100, 10,000)`` items: 1M is
25,000 users x 10,000 items, 10M is 250,000 users x 10,000 items.

Measured per run:

- wall time of the command, from spawn to exit;
- memory: every ``--sample-every`` seconds (0.2) the RSS of every process of the tree (the CLI,
  its worker processes and whatever they start, e.g. the promotion gate's fresh process): the
  peak of their sum and the peak of the largest single process;
- per step, from the run's metadata (``reelflow.Client``, read in a subprocess with the code
  under test): wall time from the first task's start to the last task's end, the number of
  tasks, the sum and the max of the task durations (a task's duration is from its hand-over to a
  worker to its recorded end, artifacts stored), and the peak RSS of the worker (and its
  children) while one of the step's tasks ran on it. Workers live for the whole run, so a task's
  figure includes what its worker kept from earlier tasks: an upper bound for that task;
- per candidate (``train_candidate``): task duration, the model's ``fit_s`` as the task recorded
  it, and the worker's peak RSS.

Figures are medians over ``--repeats``. ``--rev REV`` runs the code of a git revision
(``git archive`` into a temporary directory, put first on ``PYTHONPATH``) instead of the work
tree, which others may be editing while it runs; the flow file is re-read by every worker, so an
edit during a run can fail it. BLAS: the workers inherit this process's environment; the
``OPENBLAS_*`` variables and the pools a worker sees (threadpoolctl) are printed and stored.
``--unset-openblas`` drops ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` for the measured runs;
``--blas-threads N`` sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` for them (the flow's
``@step(cpu=1)`` on ``train_candidate`` only schedules: each worker's BLAS still uses every core).

Writes ``benchmarks/results/flow_scale-<time>.json`` (or ``--json PATH``) with every run's raw
figures, the per-process memory peaks and the settings, and prints markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib.procs import MB, BenchError, ProcessTree, RunResult, TimedOut, run_command
from benchlib.report import Results, errors_text, fmt, gist
from benchlib.tools import BENCH_DIR, REPO_DIR

FLOW = "PersonalizationFlow"
FLOW_FILE = Path("src/reelflow/examples/personalization.py")
STEPS = ("start", "validate", "features", "split", "train_candidate", "choose", "promote", "end")
_DROPPED = ("REELFLOW_", "PYTHONPATH", "VIRTUAL_ENV", "BENCH_")


def parse_size(text: str) -> int:
    """``1m`` -> 1,000,000; ``200k`` -> 200,000; plain integers as they are."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def size_label(size: int) -> str:
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    return f"{size // 1_000}k" if size % 1_000 == 0 else str(size)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1m,10m", help="interactions, e.g. 1m,10m (1m,10m)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (3)")
    parser.add_argument("--twice", action="store_true", help="also a second run in each store")
    parser.add_argument(
        "--candidates", help="the flow's candidates parameter (default: the flow's default grid)"
    )
    parser.add_argument(
        "--max-workers", type=int, help="the CLI's --max-workers (default: its own, the cores)"
    )
    parser.add_argument("--rev", help="run the code of this git revision, not the work tree")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per run (7200)")
    parser.add_argument("--sample-every", type=float, default=0.2, help="RSS sampling period (s)")
    parser.add_argument(
        "--unset-openblas",
        action="store_true",
        help="drop OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the measured runs",
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="set OPENBLAS_NUM_THREADS and OMP_NUM_THREADS for the measured runs (default: unset)",
    )
    parser.add_argument("--work-root", type=Path, help="where the fresh stores go ($TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (printed)")
    parser.add_argument("--json", type=Path, help="raw results (benchmarks/results/...)")
    parser.add_argument("--tag", default="", help="suffix of the default JSON file name")
    parser.add_argument("--report", type=Path, help="print the tables of a JSON record; no run")
    parser.add_argument("--dump-run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.size_list = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    return args


# --- the code under test -------------------------------------------------------------------------


def prepare_code(rev: str | None, root: Path) -> tuple[Path, str | None, str]:
    """The flow file, the PYTHONPATH that selects the code (None: the work tree) and a label."""
    if rev is None:
        src = REPO_DIR / "src"
        dirty = _git("status", "--porcelain", "--", "src")
        label = f"work tree at {_git('rev-parse', '--short', 'HEAD')}"
        label += " (src/ has uncommitted changes)" if dirty else ""
        pythonpath = None
    else:
        commit = _git("rev-parse", "--short", rev)
        archive = subprocess.run(
            ["git", "-C", str(REPO_DIR), "archive", rev, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        src, pythonpath, label = root / "src", str(root / "src"), f"git {rev} ({commit})"
    # bytecode, as an installed wheel has it (these machines set PYTHONDONTWRITEBYTECODE=1)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "reelflow")], check=True)
    return src.parent / FLOW_FILE, pythonpath, label


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def flow_env(home: Path, pythonpath: str | None, args: argparse.Namespace) -> dict[str, str]:
    """This process's environment, less anything that could pick another store or code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    if args.unset_openblas:
        env = {k: v for k, v in env.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    if args.blas_threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(args.blas_threads)
    env["REELFLOW_HOME"] = str(home)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def worker_threads(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The BLAS/OpenMP pools a worker sees: threadpoolctl in a process with the flow's env."""
    code = (
        "import json, numpy, scipy.linalg, sys; sys.path.insert(0, sys.argv[1]);"
        "from benchlib.threads import thread_report; print(json.dumps(thread_report()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(BENCH_DIR)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# --- reading the run back ------------------------------------------------------------------------


def dump_run() -> dict[str, Any]:
    """The newest run of the flow in this store: steps, tasks, attempts, candidates (JSON-able)."""
    from reelflow import Client

    run = Client().latest_run(FLOW, successful=False)
    specs: list[Any] = []
    with contextlib.suppress(Exception):  # a run that failed before split has none
        specs = list(run["split"].task["specs"])
    steps = []
    for step in run.steps():
        tasks = []
        for task in step.tasks:
            record = task.record
            entry: dict[str, Any] = {
                "id": task.id,
                "status": task.status,
                "started_at": record.started_at,
                "finished_at": record.finished_at,
                "attempts": [
                    {
                        "attempt": a.attempt,
                        "status": a.status,
                        "started_at": a.started_at,
                        "finished_at": a.finished_at,
                        "worker_pid": a.worker_pid,
                        "error": a.error_type,
                    }
                    for a in task.attempts()
                ],
            }
            foreach = [f for f in record.frames if f.get("kind") == "foreach"]
            if step.name == "train_candidate" and foreach and specs:
                entry["candidate"] = specs[int(foreach[-1]["index"])].label
                for name in ("result", "scores"):  # the name changed over the flow's history
                    if name in task:
                        entry["fit_s"] = _fit_s(task[name])
                        break
            tasks.append(entry)
        steps.append({"name": step.name, "tasks": tasks})
    extra: dict[str, Any] = {}
    if run.successful:
        decision = run["promote"].task["decision"]
        extra = {
            "best": run["choose"].task["best"].label,
            "promoted": bool(decision.promotion.promoted),
            "version": decision.version,
            "champion_before": decision.champion_before,
        }
    return {
        "id": run.id,
        "status": run.status,
        "params": run.params,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "steps": steps,
        **extra,
    }


def _fit_s(scores: Any) -> float:
    """The fit time a candidate recorded: a dict's ``fit_s``, or a BenchmarkResult's table's."""
    if isinstance(scores, dict):
        return float(scores.get("fit_s", float("nan")))
    table = getattr(scores, "table", None)
    if table is not None and "fit_s" in table:
        return float(table["fit_s"].iloc[0])
    return float("nan")


def read_run(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """:func:`dump_run` in a subprocess with the flow's environment (the code under test)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--dump-run"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"cannot read the run back: {done.stderr[-2000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# --- one measured run ----------------------------------------------------------------------------


def measure_run(
    cmd: list[str], env: dict[str, str], wd: Path, log: Path, args: argparse.Namespace
) -> tuple[dict[str, float], dict[str, Any]]:
    """Run the flow once; its metrics (flat, for medians) and the details kept in the JSON."""
    error = None
    try:
        result = run_command(
            cmd,
            cwd=wd,
            env=env,
            log=log,
            timeout=args.timeout,
            sample_every=args.sample_every,
            per_pid=True,
        )
    except TimedOut as err:
        result, error = err.partial, str(err)
    if error is None and result.returncode != 0:
        error = f"exited {result.returncode}; log tail:\n{result.tail()}"
    try:
        run = read_run(env, wd)
    except BenchError as err:
        if error is not None:
            raise BenchError(error) from err
        raise
    metrics, details = breakdown(result, run)
    details["log_tail"] = result.tail(40)
    if error is not None:
        details["error"] = error
        raise FlowFailed(error, metrics, details)
    return metrics, details


class FlowFailed(BenchError):
    """The flow failed or timed out; what it did until then is in ``metrics``/``details``."""

    def __init__(self, message: str, metrics: dict[str, float], details: dict[str, Any]) -> None:
        super().__init__(message)
        self.metrics, self.details = metrics, details


def breakdown(result: RunResult, run: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """Wall, memory and per-step / per-candidate figures of one run."""
    tree = result.tree
    assert tree is not None
    peak = max(result.samples, key=lambda s: s.tree_rss, default=None)
    biggest = max(
        ((rss, pid) for _, sizes in tree.samples for pid, rss in sizes.items()), default=(0, 0)
    )
    metrics: dict[str, float] = {
        "wall_s": result.wall_s,
        "peak_tree_mb": (peak.tree_rss if peak else 0) / MB,
        "peak_proc_mb": biggest[0] / MB,
    }
    if run.get("finished_at"):
        metrics["run_s"] = run["finished_at"] - run["created_at"]
    per_process = {
        str(pid): {
            "cmd": tree.cmdlines.get(pid, "?")[:200],
            "parent": tree.parents.get(pid),
            "peak_mb": tree.peak({pid}) / MB,
        }
        for pid in tree.cmdlines
    }
    steps: dict[str, Any] = {}
    for step in run["steps"]:
        name, tasks = step["name"], step["tasks"]
        starts = [t["started_at"] for t in tasks if t["started_at"] is not None]
        ends = [t["finished_at"] for t in tasks if t["finished_at"] is not None]
        durations = [t["finished_at"] - t["started_at"] for t in tasks if t["finished_at"]]
        peaks = [task_peak(tree, t) for t in tasks]
        seen = [p for p in peaks if p is not None]
        begin, end = min(starts, default=0.0), max(ends, default=time.time())
        in_step = any(begin <= at <= end for at, _ in tree.samples)
        figures = {
            "tasks": float(len(tasks)),
            "wall_s": (max(ends) - min(starts)) if ends and starts else float("nan"),
            "sum_s": sum(durations),
            "max_s": max(durations, default=float("nan")),
            "peak_mb": max(seen) / MB if seen else float("nan"),
            "tree_peak_mb": (tree.peak(set(tree.parents), begin, end) if in_step else math.nan)
            / MB,
        }
        for key, value in figures.items():
            metrics[f"step|{name}|{key}"] = value
        steps[name] = figures
        for task, task_rss in zip(tasks, peaks, strict=True):
            if "candidate" in task and task["finished_at"]:
                label = task["candidate"]
                metrics[f"cand|{label}|task_s"] = task["finished_at"] - task["started_at"]
                metrics[f"cand|{label}|attempts"] = float(len(task["attempts"]))
                if task_rss is not None:
                    metrics[f"cand|{label}|peak_mb"] = task_rss / MB
                if "fit_s" in task:
                    metrics[f"cand|{label}|fit_s"] = task["fit_s"]
    running = [
        {"step": s["name"], "task": t["id"], "candidate": t.get("candidate")}
        for s in run["steps"]
        for t in s["tasks"]
        if t["finished_at"] is None
    ]
    details = {
        "flow_run": run,
        "steps": steps,
        "processes": per_process,
        "largest_process": per_process.get(str(biggest[1]), {}).get("cmd"),
        "unfinished_tasks": running,
        "peak_tree_at": peak.at if peak else None,
    }
    return metrics, details


def task_peak(tree: ProcessTree, task: dict[str, Any]) -> int | None:
    """Peak RSS of the worker (and its children) over the task's attempts' time windows; None
    when no sample fell inside them (a task shorter than the sampling period)."""
    best = None
    for attempt in task["attempts"]:
        pid, begin = attempt["worker_pid"], attempt["started_at"]
        end = attempt["finished_at"] or float("inf")
        if pid is None or not any(begin <= at <= end for at, _ in tree.samples):
            continue
        best = max(best or 0, tree.peak(tree.descendants(pid), begin, end))
    return best


# --- the report ----------------------------------------------------------------------------------


def med(values: list[float]) -> float | None:
    values = [v for v in values if v == v]  # NaN: a task that did not finish
    return statistics.median(values) if values else None


def medians(res: Results) -> dict[str, dict[str, dict[str, float | None]]]:
    """Every metric's median over the runs that have it (a failed task leaves keys out)."""
    return {
        bench: {
            tool: {
                key: med([m[key] for m in runs if key in m])
                for key in dict.fromkeys(k for m in runs for k in m)
            }
            for tool, runs in by_tool.items()
        }
        for bench, by_tool in res.runs.items()
    }


def overview_table(res: Results, sizes: list[int], runs: list[str]) -> str:
    lines = [
        "| log | run | repeats | wall (median) | wall (min - max) | peak RSS, tree | "
        "peak RSS, largest process |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in sizes:
        bench = size_label(size)
        for tool in runs:
            done = res.runs.get(bench, {}).get(tool, [])
            if not done:
                continue
            walls = [m["wall_s"] for m in done]
            spread = f"{min(walls):.0f} - {max(walls):.0f} s"
            lines.append(
                f"| {bench} | {tool} | {len(done)} | {fmt(res.median(bench, tool, 'wall_s'), 's')}"
                f" | {spread} | {fmt(res.median(bench, tool, 'peak_tree_mb'), 'MB')} | "
                f"{fmt(res.median(bench, tool, 'peak_proc_mb'), 'MB')} |"
            )
    return "\n".join(lines)


def steps_table(res: Results, bench: str, tool: str) -> str:
    done = res.runs.get(bench, {}).get(tool, [])
    if not done:
        return ""
    names = [s for s in STEPS if any(f"step|{s}|wall_s" in m for m in done)]
    lines = [
        f"{bench}, {tool} (medians of {len(done)}):",
        "",
        "| step | tasks | wall | sum of tasks | longest task | peak RSS, a task's worker | "
        "peak RSS, tree |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:

        def m(key: str, name: str = name) -> float | None:
            return med([r[f"step|{name}|{key}"] for r in done if f"step|{name}|{key}" in r])

        tasks = m("tasks")
        lines.append(
            f"| {name} | {tasks:.0f} | {fmt(m('wall_s'), 's')} | {fmt(m('sum_s'), 's')} | "
            f"{fmt(m('max_s'), 's')} | {fmt(m('peak_mb'), 'MB')} | {fmt(m('tree_peak_mb'), 'MB')} |"
        )
    return "\n".join(lines)


def candidates_table(res: Results, bench: str, tool: str) -> str:
    done = res.runs.get(bench, {}).get(tool, [])
    labels = list(dict.fromkeys(k.split("|")[1] for m in done for k in m if k.startswith("cand|")))
    if not labels:
        return ""
    lines = [
        f"{bench}, {tool}: train_candidate tasks (medians of {len(done)}):",
        "",
        "| candidate | attempts | task | fit (`fit_s`) | task - fit (scoring, bootstrap, I/O) | "
        "peak RSS, worker |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in labels:

        def m(key: str, label: str = label) -> float | None:
            return med([r[f"cand|{label}|{key}"] for r in done if f"cand|{label}|{key}" in r])

        task, fit = m("task_s"), m("fit_s")
        rest = None if task is None or fit is None else task - fit
        tries = m("attempts")
        lines.append(
            f"| {label} | {tries or 0:.0f} | {fmt(task, 's')} | {fmt(fit, 's')} | "
            f"{fmt(rest, 's')} | {fmt(m('peak_mb'), 'MB')} |"
        )
    return "\n".join(lines)


def render(res: Results, args: argparse.Namespace, runs: list[str]) -> str:
    tools = [t for run in runs for t in (run, f"{run}, failed")]
    parts = [overview_table(res, args.size_list, tools)]
    for size in args.size_list:
        for tool in tools:
            bench = size_label(size)
            parts += [steps_table(res, bench, tool), candidates_table(res, bench, tool)]
    text = "\n\n".join(p for p in parts if p)
    return text + ("\n\n" + errors_text(res) if res.errors else "")


# --- main ----------------------------------------------------------------------------------------


def run_size(
    size: int,
    rep: int,
    args: argparse.Namespace,
    flow_file: Path,
    pythonpath: str | None,
    res: Results,
    raw: list[dict[str, Any]],
) -> None:
    """One repeat at one size: a fresh store, the flow once (twice with ``--twice``)."""
    bench = size_label(size)
    cmd = [str(Path(sys.executable).parent / "reelflow"), "run", str(flow_file)]
    cmd += ["-p", f"size={size}", "--plain"]
    if args.candidates:
        cmd += ["-p", f"candidates={args.candidates}"]
    if args.max_workers:
        cmd += ["--max-workers", str(args.max_workers)]
    wd = Path(tempfile.mkdtemp(prefix=f"rf-flow-scale-{bench}-", dir=args.work_root))
    env = flow_env(wd / "home", pythonpath, args)
    try:
        for tool in ["first run", "second run"][: 2 if args.twice else 1]:
            if res.failed(bench, tool):
                return
            tag = f"[{bench} {rep + 1}/{args.repeats} {tool}]"
            print(f"{tag} running ... (load {os.getloadavg()[0]:.1f})", flush=True)
            load = os.getloadavg()[0]
            try:
                metrics, details = measure_run(cmd, env, wd, wd / "flow.log", args)
            except FlowFailed as err:
                res.fail(bench, tool, str(err))
                res.add(bench, f"{tool}, failed", err.metrics)  # what it did until it stopped
                entry = {"size": size, "repeat": rep, "run": tool, "ok": False}
                raw.append({**entry, "metrics": err.metrics, **err.details})
                unfinished = err.details.get("unfinished_tasks")
                print(f"{tag} FAILED: {gist(str(err))}; unfinished: {unfinished}", flush=True)
                return
            except BenchError as err:
                res.fail(bench, tool, str(err))
                print(f"{tag} FAILED: {gist(str(err))}", flush=True)
                return
            metrics["load_before"] = load
            res.add(bench, tool, metrics)
            entry = {"size": size, "repeat": rep, "run": tool, "ok": True}
            raw.append({**entry, "metrics": metrics, **details})
            run = details["flow_run"]
            print(
                f"{tag} wall {metrics['wall_s']:.1f} s, peak tree {metrics['peak_tree_mb']:.0f} MB,"
                f" largest process {metrics['peak_proc_mb']:.0f} MB; best {run.get('best')}, "
                f"promoted {run.get('promoted')}",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"store kept: {wd}", flush=True)
        else:
            shutil.rmtree(wd, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.dump_run:
        print(json.dumps(dump_run()))
        return
    if args.report:
        print(report_from(args.report, args))
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.json or BENCH_DIR / "results" / f"flow_scale-{stamp}{args.tag}.json"
    code_root = Path(tempfile.mkdtemp(prefix="rf-flow-scale-code-", dir=args.work_root))
    try:
        flow_file, pythonpath, code = prepare_code(args.rev, code_root)
        threads = worker_threads(flow_env(code_root, pythonpath, args), code_root)
        runs = ["first run", "second run"][: 2 if args.twice else 1]
        meta: dict[str, Any] = {
            "argv": sys.argv,
            "code": code,
            "git": _git("rev-parse", "HEAD"),
            "python": sys.version,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "max_workers": args.max_workers or "CLI default (cores)",
            "candidates": args.candidates or "the flow's default grid",
            "threads_in_a_worker": threads,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        print(
            f"code: {code}; sizes {args.sizes}; repeats {args.repeats}; "
            f"max-workers {meta['max_workers']}; candidates: {meta['candidates']}\n"
            f"worker env: {threads.get('env')}\nworker pools: "
            + "; ".join(
                f"{p['internal_api']} {p['num_threads']} threads ({p.get('architecture')})"
                for p in threads.get("threadpools", [])
            ),
            flush=True,
        )
        res, raw = Results(), list[dict[str, Any]]()
        for rep in range(args.repeats):
            for size in args.size_list:
                run_size(size, rep, args, flow_file, pythonpath, res, raw)
                write_record(path, meta, res, raw)  # after every size: a stopped run keeps them
    finally:
        shutil.rmtree(code_root, ignore_errors=True)
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_record(path, meta, res, raw)
    print(f"\nraw: {path}\n\n{render(res, args, runs)}")


def report_from(path: Path, args: argparse.Namespace) -> str:
    """The tables of a JSON record written by an earlier run."""
    record = json.loads(path.read_text(encoding="utf-8"))
    res = Results()
    for run in record["runs"]:
        tool = run["run"] if run["ok"] else f"{run['run']}, failed"
        res.add(size_label(run["size"]), tool, run["metrics"])
        if not run["ok"]:
            res.fail(size_label(run["size"]), run["run"], run.get("error", "failed"))
    args.size_list = sorted({run["size"] for run in record["runs"]})
    meta = record["meta"]
    head = f"{meta['code']}; candidates: {meta['candidates']}; max-workers {meta['max_workers']}"
    return head + "\n\n" + render(res, args, ["first run", "second run"])


def write_record(path: Path, meta: dict[str, Any], res: Results, raw: list[dict[str, Any]]) -> None:
    """The JSON record of everything measured so far."""
    meta["loadavg_at_end"] = os.getloadavg()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"meta": meta, "medians": medians(res), "errors": res.errors, "runs": raw}
    path.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
