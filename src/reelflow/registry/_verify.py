"""Load a saved model in a fresh Python process and ask it for recommendations.

Run as ``python -m reelflow.registry._verify FOLDER``; prints one JSON line and exits 0 when the
model loads and answers, 1 (with the reason) otherwise. The registry runs it before it publishes
a version, so a model that cannot be loaded is never published.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

TIMEOUT_S = 300.0


def check_loads(folder: Path, *, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """(True, how) when a new interpreter loads ``folder`` and recommends; (False, why) if not."""
    command = [sys.executable, "-m", "reelflow.registry._verify", str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return False, f"loading the model in a fresh process took over {timeout:g} s"
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        report = {}
    if done.returncode == 0 and report.get("ok"):
        return True, (
            f"a fresh process loaded the {report['class']} and recommended to "
            f"{report['users']} users in {report['seconds']:.2f} s"
        )
    reason = report.get("error") or (done.stderr.strip().splitlines() or ["no output"])[-1]
    return False, f"the saved model does not load in a fresh process: {reason}"


def sample_context(model: Any, n: int) -> dict[str, Any]:
    """``recommend`` keyword arguments for a model that needs a context value per user
    (``MostPopular(by="region")``): its most common training context, for every user."""
    if getattr(model, "by", None) is None or not len(getattr(model, "contexts_", ())):
        return {}
    counts = np.asarray(model.context_counts_.sum(axis=1)).ravel()
    return {"context": [model.contexts_[int(np.argmax(counts))]] * n}


def _main(folder: str) -> int:
    import time

    start = time.perf_counter()
    try:
        from reelflow.models import Recommender

        model = Recommender.load(folder)
        users = model.users_.ids[:5]
        recs = model.recommend(users, k=5, **sample_context(model, len(users)))
        if len(recs.items) != len(users):
            raise RuntimeError("recommend returned the wrong number of lists")
    except Exception as exc:  # reported to the parent, which decides
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    seconds = time.perf_counter() - start
    report = {"ok": True, "class": type(model).__name__, "users": len(users), "seconds": seconds}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
