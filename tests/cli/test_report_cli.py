"""``reelflow report RUN``: the guard report of a run the guarded test flow recorded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelflow import Client
from reelflow._errors import StepFailedError
from reelflow.cli._app import load_commands
from reelflow.flow import run_flow
from reelflow.flow._display import PlainDisplay
from reelflow.store import Store

FLOW = str(Path(__file__).parents[1] / "flow" / "runtime_flows" / "guarded.py")


def _failed_guarded_run(store: Store, tmp_path: Path) -> int:
    """A run of GuardedFlow whose gate fails its blocking PSI guard (results are kept)."""
    gate = tmp_path / "gate"
    gate.write_text("0.31")
    display = PlainDisplay(out=io.StringIO())
    with pytest.raises(StepFailedError):
        run_flow(FLOW, {"gate_file": str(gate)}, store=store, display=display, max_workers=2)
    return Client(store).runs("GuardedFlow", limit=1)[0].id


def test_report_writes_the_runs_guards(store: Store, tmp_path: Path) -> None:
    run_id = _failed_guarded_run(store, tmp_path)
    runner = CliRunner()
    done = runner.invoke(load_commands(), ["report", str(run_id)])
    assert done.exit_code == 0, done.output
    path = Path(done.stdout.strip())
    assert path == store.config.home / "reports" / f"run-{run_id}.html"
    text = path.read_text(encoding="utf-8")
    for name in ("row_count", "null_rate:age", "psi:score"):
        assert name in text
    assert "<span class='verdict failed'>failed</span>" in text
    assert "data:image/png;base64," in text and "<h3>step gate, task" in text
    chosen = tmp_path / "out" / "guards.html"
    again = runner.invoke(load_commands(), ["report", f"GuardedFlow/{run_id}", "-o", str(chosen)])
    assert again.exit_code == 0 and again.stdout.strip() == str(chosen)
    assert "psi:score" in chosen.read_text(encoding="utf-8")


def test_a_kept_benchmark_is_plotted_once(store: Store) -> None:
    flow = str(Path(FLOW).with_name("benchmarked.py"))
    run_flow(flow, {}, store=store, display=PlainDisplay(out=io.StringIO()), max_workers=1)
    run_id = Client(store).latest_run("BenchmarkedFlow").id
    done = CliRunner().invoke(load_commands(), ["report", str(run_id)])
    assert done.exit_code == 0, done.output
    text = Path(done.stdout.strip()).read_text(encoding="utf-8")
    assert text.count("<h2>Benchmark of step start</h2>") == 1 and "step end" not in text
    assert "<td>popular</td>" in text and "data:image/png;base64," in text


def test_an_unknown_run_is_one_line_and_a_nonzero_exit(store: Store) -> None:
    assert store.metadata.list_runs(None) == []  # the store exists, with no runs
    done = CliRunner().invoke(load_commands(), ["report", "42"])
    assert done.exit_code != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no run 42" in lines[0]
    assert not (store.config.home / "reports").exists()
