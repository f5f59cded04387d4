"""The ``reelflow`` command as users run it: real subprocesses on a real store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reelflow import Client
from reelflow._errors import CorruptObjectError
from reelflow.store import INTERRUPTED, SUCCEEDED, Store

FLOWS = Path(__file__).parents[1] / "flow" / "runtime_flows"
EXAMPLE = Path(__file__).parents[2] / "examples" / "hello_flow.py"


def reelflow(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "reelflow", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_run_show_logs_runs_graph_and_check(store: Store, tmp_path: Path) -> None:
    done = reelflow("run", str(EXAMPLE), "-p", "alpha=0.1", "--tag", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "run 1 of TrainFlow succeeded" in done.stdout
    assert "[train/" in done.stdout and "coverage" in done.stdout
    shown = reelflow("show", "1", cwd=tmp_path)
    assert shown.returncode == 0
    assert "by_region (dict" in shown.stdout and "alpha=0.1" in shown.stdout
    logs = reelflow("logs", "1/train", cwd=tmp_path)
    assert logs.stdout.count("coverage") == 3
    listed = reelflow("runs", "TrainFlow", cwd=tmp_path)
    assert "succeeded" in listed.stdout and "demo" in listed.stdout
    graph = reelflow("graph", str(EXAMPLE), cwd=tmp_path)
    assert "foreach regions" in graph.stdout
    check = reelflow("store", "check", cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.strip().endswith("ok")


def test_run_help_lists_the_flows_parameters(tmp_path: Path) -> None:
    shown = reelflow("run", str(EXAMPLE), "--help", cwd=tmp_path)
    assert shown.returncode == 0
    assert "Parameters of TrainFlow" in shown.stdout
    assert "alpha (float, default 0.5) smoothing" in shown.stdout


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_bad_input_gives_one_line_and_a_nonzero_exit(store: Store, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from reelflow import Flow\n\nclass X(Flow):\n    def oops(:\n        pass\n")
    assert f"{broken}:4: syntax error" in _one_line_error(
        reelflow("run", str(broken), cwd=tmp_path)
    )
    missing = _one_line_error(reelflow("run", "nope.py", cwd=tmp_path))
    assert "flow file not found: nope.py" in missing
    unknown = _one_line_error(reelflow("run", str(EXAMPLE), "-p", "alpah=1", cwd=tmp_path))
    assert "unknown parameter 'alpah'; this flow accepts: alpha, top_k" in unknown
    typed = _one_line_error(reelflow("run", str(EXAMPLE), "-p", "top_k=many", cwd=tmp_path))
    assert "parameter 'top_k' expects int" in typed
    assert "no reelflow store at" in _one_line_error(reelflow("runs", cwd=tmp_path))
    assert not (tmp_path / ".reelflow" / "metadata.db").exists()
    assert Client(store).runs() == []
    assert "no run 42" in _one_line_error(reelflow("show", "42", cwd=tmp_path))
    malformed = reelflow("show", "abc", cwd=tmp_path)
    assert malformed.returncode == 2 and "is not a run id" in _one_line_error(malformed)
    assert "RUN/STEP" in _one_line_error(reelflow("logs", "train", cwd=tmp_path))


def test_a_step_that_raises_names_the_line_and_how_to_resume(store: Store, tmp_path: Path) -> None:
    flow = tmp_path / "raising.py"
    flow.write_text(
        "from reelflow import Flow, step\n\nclass RaisingFlow(Flow):\n    @step\n"
        "    def start(self):\n        self.x = 1 / 0\n        self.next(self.end)\n\n"
        "    @step\n    def end(self):\n        pass\n"
    )
    line = _one_line_error(reelflow("run", str(flow), cwd=tmp_path))
    assert f"{flow}:6: step 'start' failed" in line
    assert "ZeroDivisionError: division by zero" in line
    assert "reelflow resume 1" in line


def executor_args(executor: str, request: pytest.FixtureRequest) -> list[str]:
    """The command-line options that run a flow on ``executor`` (Ray: the session's instance)."""
    if executor == "local":
        return []
    return ["--executor", "ray", "--ray-address", request.getfixturevalue("ray_instance")]


def test_ctrl_c_interrupts_cleanly_and_the_run_resumes(
    store: Store, tmp_path: Path, executor: str, request: pytest.FixtureRequest
) -> None:
    on = executor_args(executor, request)
    gate = tmp_path / "hold"
    gate.touch()
    flow = tmp_path / "waiting.py"
    flow.write_text(
        "import time\nfrom pathlib import Path\nfrom reelflow import Flow, step\n\n"
        "class WaitingFlow(Flow):\n    @step\n    def start(self):\n"
        "        self.first = 1\n        self.next(self.wait)\n\n"
        "    @step\n    def wait(self):\n        print('waiting', flush=True)\n"
        f"        while Path({str(gate)!r}).exists():\n            time.sleep(0.05)\n"
        "        self.next(self.end)\n\n    @step\n    def end(self):\n        pass\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelflow", "run", str(flow), "--plain", *on],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "] waiting" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "run 1 was interrupted; resume it with 'reelflow resume 1'" in err
    run = Client(store).run(1)
    assert run.status == INTERRUPTED
    assert run["wait"].task.status == INTERRUPTED
    gate.unlink()
    resumed = reelflow("resume", *on, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert Client(store).run(2).status == SUCCEEDED
    assert Client(store).run(2)["start"].task.origin_task_id == run["start"].task.id


def test_two_runs_at_once_share_one_store(store: Store, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "reelflow", "run", str(FLOWS / "wide.py"), "-p", "n=150"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    runs = Client(store).runs("WideFlow")
    assert sorted(r.status for r in runs) == [SUCCEEDED, SUCCEEDED]
    assert all(r.data.count == 150 for r in runs)
    assert reelflow("store", "check", cwd=tmp_path).returncode == 0


def test_a_corrupted_object_is_caught_on_read_and_by_store_check(
    store: Store, tmp_path: Path
) -> None:
    assert reelflow("run", str(FLOWS / "misc.py"), cwd=tmp_path).returncode == 0
    record = Client(store).run(1)["start"].task.artifacts["frame"]
    path = store.objects.path(record.key)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptObjectError, match=record.key):
        Client(store).run(1)["start"].task["frame"]
    check = reelflow("store", "check", cwd=tmp_path)
    assert check.returncode == 1
    assert f"corrupt: {record.key}" in check.stdout


def test_import_reelflow_stays_light(tmp_path: Path) -> None:
    heavy = "('pandas', 'pyarrow', 'sqlalchemy', 'rich', 'numpy', 'ray')"
    code = f"import sys, reelflow; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version(tmp_path: Path) -> None:
    shown = reelflow("--version", cwd=tmp_path)
    assert shown.returncode == 0 and "reelflow, version" in shown.stdout


def test_store_check_removes_orphans_only_when_asked(store: Store, tmp_path: Path) -> None:
    assert reelflow("run", str(EXAMPLE), cwd=tmp_path).returncode == 0
    orphan = store.objects.put_bytes(b"nobody refers to me").key
    fresh = reelflow("store", "check", "--remove-orphans", cwd=tmp_path)
    assert "removed" not in fresh.stdout and store.objects.exists(orphan)
    two_hours_ago = time.time() - 7200
    os.utime(store.objects.path(orphan), (two_hours_ago, two_hours_ago))
    listed = reelflow("store", "check", cwd=tmp_path)
    assert listed.returncode == 0
    assert "orphans: 1 objects no run refers to (remove with --remove-orphans)" in listed.stdout
    assert store.objects.exists(orphan)
    removed = reelflow("store", "check", "--remove-orphans", cwd=tmp_path)
    assert f"removed: {orphan}" in removed.stdout
    assert not store.objects.exists(orphan)
    assert Client(store).run(1).data.best_region == "us"


def test_logs_of_one_task_and_of_a_failed_attempt(store: Store, tmp_path: Path) -> None:
    assert reelflow("run", str(FLOWS / "options.py"), cwd=tmp_path).returncode == 0
    flaky = Client(store).run(1)["flaky"].task
    first = reelflow("logs", f"1/flaky/{flaky.id}", "--attempt", "0", "--stderr", cwd=tmp_path)
    assert "RuntimeError: first attempt always fails" in first.stderr
    assert "no task 999" in _one_line_error(reelflow("logs", "1/flaky/999", cwd=tmp_path))


def test_executor_errors_are_one_line(store: Store, tmp_path: Path) -> None:
    flow = str(FLOWS / "wide.py")
    line = _one_line_error(
        reelflow("run", flow, "--executor", "ray", "--ray-address", "127.0.0.1:1", cwd=tmp_path)
    )
    assert "no Ray cluster answers at 127.0.0.1:1" in line
    line = _one_line_error(reelflow("run", flow, "--ray-address", "127.0.0.1:1", cwd=tmp_path))
    assert "--ray-address needs --executor ray" in line
    line = _one_line_error(
        reelflow("run", flow, "--executor", "ray", "--ray-address", "nowhere", cwd=tmp_path)
    )
    assert "--ray-address must be HOST:PORT" in line


def test_without_ray_the_ray_executor_says_how_to_install_it(store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "noray"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ImportError('no ray here')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), os.environ.get("PYTHONPATH", "")]),
    }
    result = reelflow("run", str(FLOWS / "wide.py"), "--executor", "ray", cwd=tmp_path, env=env)
    assert 'pip install "reelflow[ray]"' in _one_line_error(result)
