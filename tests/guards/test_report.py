"""The HTML guard report: verdict, table, a plot per known kind, escaping and atomic writes."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from reelflow.guards import GuardResult
from reelflow.guards import _report as report
from reelflow.guards._report import render_guard_report

PNG = "data:image/png;base64,"

PLOTS: dict[str, dict[str, Any]] = {
    "histogram": {
        "kind": "histogram",
        "edges": [0.0, 1.0, 2.0, 3.0],
        "reference": [0.2, 0.5, 0.3],
        "current": [0.1, 0.3, 0.6],
    },
    "categories": {
        "kind": "categories",
        "labels": ["us", "ca", "latam", "$5 plan"],
        "reference": [0.5, 0.2, 0.2, 0.1],
        "current": [0.4, 0.2, 0.3, None],
    },
    "comparison": {
        "kind": "comparison",
        "labels": ["candidate", "champion"],
        "values": [0.31, 0.29],
        "low": [0.30, 0.28],
        "high": [0.32, 0.30],
    },
    "importance": {
        "kind": "importance",
        "features": ["age", "genre", "watch_minutes"],
        "current": [0.5, 0.3, 0.2],
        "previous": [0.2, 0.3, 0.5],
    },
}


def _result(name: str, plot: dict[str, Any] | None = None, **kwargs: Any) -> GuardResult:
    details = {"plot": plot} if plot is not None else {}
    return GuardResult(name, kwargs.pop("passed", True), details=details, **kwargs)


def _images(text: str) -> int:
    return text.count(PNG)


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_each_plot_kind_is_drawn(kind: str) -> None:
    text = render_guard_report([_result(f"check:{kind}", PLOTS[kind])], title="Report")
    assert _images(text) == 1
    assert f"check:{kind}" in text


def test_comparison_without_intervals_and_wide_categories_are_drawn() -> None:
    bare = {"kind": "comparison", "labels": ["a", "b"], "values": [1.0, 2.0]}
    labels = [f"country {i}" for i in range(45)]
    wide = {"kind": "categories", "labels": labels, "reference": [1 / 45] * 45}
    wide["current"] = [i / 990 for i in range(45)]
    text = render_guard_report([_result("bare", bare), _result("wide", wide)], title="T")
    assert _images(text) == 2


def test_header_table_and_order() -> None:
    results = [
        _result("rows", value=1000, threshold=10, message="1,000 rows"),
        _result("nulls", passed=False, severity="warn", value=0.07, threshold=0.05),
        _result("psi:score", PLOTS["histogram"], passed=False, value=0.31, threshold=0.2),
    ]
    text = render_guard_report(results, title="Guards", subtitle="run 3 of TrainFlow")
    assert "<span class='verdict failed'>failed</span>" in text
    assert "1 failed, 1 warnings, 1 passed" in text and "run 3 of TrainFlow" in text
    rows = re.findall(r"<tr><td class='(\w+)'>\w+</td><td>([^<]+)</td>", text)
    assert rows == [("failed", "psi:score"), ("warning", "nulls"), ("passed", "rows")]
    assert "<td class='num'>0.31</td><td class='num'>0.2</td>" in text
    warned = render_guard_report(results[:2], title="T")
    assert "<span class='verdict warning'>" in warned and _images(warned) == 0
    assert "<span class='verdict passed'>" in render_guard_report(results[:1], title="T")
    empty = render_guard_report([], title="T")
    assert "no guard results" in empty and "No guard results were recorded." in empty


def test_unknown_kinds_and_bad_plot_data_are_listed_without_a_plot() -> None:
    bad = {"kind": "histogram", "edges": [0, 1], "reference": [0.5, 0.5], "current": [1.0]}
    results = [
        _result("sankey", {"kind": "sankey", "flows": [1, 2]}),
        _result("kindless", {"values": [1]}),
        _result("broken", bad),
        _result("text", {"kind": "comparison", "labels": "ab", "values": "12"}),
    ]
    text = render_guard_report(results, title="T")
    assert _images(text) == 0
    assert "plot kind 'sankey' is not supported" in text
    assert "plot kind 'None' is not supported" in text
    assert text.count("plot could not be drawn") == 2


def test_user_strings_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    result = _result(
        evil,
        {"kind": "categories", "labels": [evil], "reference": [1.0], "current": [1.0]},
        passed=False,
        message=f"bad {evil} & more",
    )
    text = render_guard_report([result], title=evil, subtitle=evil)
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "bad &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text
    assert _images(text) == 1


def test_the_report_is_self_contained() -> None:
    text = render_guard_report([_result(k, p) for k, p in PLOTS.items()], title="T")
    assert not re.search(r"(?:src|href)=['\"](?!data:)", text)
    assert "<script" not in text and "http://" not in text and "https://" not in text


def test_figures_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "MAX_FIGURES", 2)
    results = [_result(f"c{i}", PLOTS["comparison"]) for i in range(5)]
    text = render_guard_report(results, title="T")
    assert _images(text) == 2
    assert "3 more plots not drawn (the report draws at most 2)" in text
    assert all(f"c{i}" in text for i in range(5)), "the table still lists every result"


def test_rows_from_the_store_are_grouped_by_step_and_task() -> None:
    def row(result: GuardResult, step: str | None, task: int | None) -> dict[str, Any]:
        return {**result.to_record(), "step": step, "task_id": task, "attempt": 0}

    rows = [
        row(_result("row_count", value=1000.0), "start", 1),
        row(_result("psi:a", PLOTS["histogram"], passed=False), "gate", 2),
        row(_result("psi:b", PLOTS["categories"]), "gate", 3),
        row(_result("beats_champion", PLOTS["comparison"]), None, None),
    ]
    text = render_guard_report(rows, title="Run 3")
    assert _images(text) == 3
    for heading in ("step gate, task 2", "step gate, task 3", "results of no step"):
        assert f"<h3>{heading}</h3>" in text
    assert "<td>gate/2</td>" in text and "<td>start/1</td>" in text
    assert text.index("psi:a") < text.index("row_count"), "failures come first"


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "reports" / "run-1.html"
    text = render_guard_report([_result("ok")], title="T", path=target)
    assert target.read_text(encoding="utf-8") == text
    assert target.stat().st_mode & 0o777 == 0o644, "readable by others, like any written file"
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    render_guard_report([_result("again")], title="T", path=str(target))
    assert synced and "again" in target.read_text(encoding="utf-8")

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        render_guard_report([_result("lost")], title="T", path=target)
    assert "again" in target.read_text(encoding="utf-8"), "the old report is left whole"
    assert sorted(p.name for p in target.parent.iterdir()) == ["run-1.html"], "no temp left"
