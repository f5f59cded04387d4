"""A disk that fills up mid-write: the step fails clearly, nothing stored is damaged, and the
run resumes once there is room. Uses a real tmpfs of a few MB (needs root to mount)."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reelflow import Client
from reelflow._errors import StepFailedError
from reelflow.flow import resume_run, run_flow
from reelflow.flow._display import PlainDisplay
from reelflow.store import Store, StoreConfig

FLOWS = Path(__file__).parent / "runtime_flows"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_step_and_the_run_resumes(tiny_disk: Path, tmp_path: Path) -> None:
    store = Store(StoreConfig.at(tiny_disk, f"sqlite:///{tmp_path / 'meta.db'}"))
    display = PlainDisplay(out=io.StringIO())
    with pytest.raises(StepFailedError, match="disk full"):
        run_flow(str(FLOWS / "bigwrite.py"), store=store, display=display)
    report = store.check()
    assert report.ok and not report.corrupt
    failed = Client(store).runs()[0]
    assert failed["start"].task["small"] == list(range(10))
    assert not list((tiny_disk / "objects").rglob("*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=128m", str(tiny_disk)], check=True)
    outcome = resume_run(failed.id, store=store, display=display)
    assert Client(store).run(outcome.run_id).data.total == 4_000_045.0
    assert store.check().ok
