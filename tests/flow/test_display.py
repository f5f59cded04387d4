"""What a run shows: plain lines without a terminal, a Rich live table in one."""

from __future__ import annotations

import io

from rich.console import Console

from reelflow.flow._display import PlainDisplay, RichDisplay, make_display


def _drive(display) -> None:
    display.start("TrainFlow", 7, ["start", "train", "end"])
    display.task_started("start", 1, 0)
    display.log("start", 1, "stdout", "hello [not markup]")
    display.task_finished("start", 1, "succeeded", "0.01s")
    display.task_started("train", 2, 1)
    display.task_finished("train", 2, "failed", "ValueError: bad")
    display.stop()


def test_plain_lines_carry_the_task_prefix_and_attempt() -> None:
    out = io.StringIO()
    _drive(PlainDisplay(out=out))
    text = out.getvalue()
    assert "TrainFlow run 7 started" in text
    assert "[start/1] hello [not markup]" in text
    assert "[train/2] started (retry 1)" in text
    assert "[train/2] failed: ValueError: bad" in text


def test_rich_view_renders_steps_counts_and_escaped_logs() -> None:
    out = io.StringIO()
    display = RichDisplay(Console(file=out, force_terminal=True, width=100, color_system=None))
    _drive(display)
    text = out.getvalue()
    assert "TrainFlow run 7" in text
    assert "hello [not markup]" in text
    assert "failed: ValueError: bad" in text
    last_table = text[text.rfind("TrainFlow run 7") :]
    assert "train" in last_table and "end" in last_table


def test_make_display_picks_plain_without_a_terminal() -> None:
    assert isinstance(make_display(out=io.StringIO()), PlainDisplay)
    assert isinstance(make_display(force_plain=True), PlainDisplay)
