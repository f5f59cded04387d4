"""reelflow: a 5-step flow whose step4 fails while FAIL_AT_STEP4=1, for timing `resume`."""

import json
import os
import time

from reelflow import Flow, step


def mark(key, value=None):
    """Record one event: a wall-clock stamp (``value`` None) or a measured value."""
    value = time.time() if value is None else value
    print(f"BENCH {key}={value!r}", flush=True)
    path = os.environ.get("BENCH_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "value": value}) + "\n")


class ResumeFlow(Flow):
    """start -> step2 -> step3 -> step4 (fails on demand) -> end."""

    @step
    def start(self):
        self.value = 1
        self.next(self.step2)

    @step
    def step2(self):
        self.value += 1
        self.next(self.step3)

    @step
    def step3(self):
        self.value += 1
        self.next(self.step4)

    @step
    def step4(self):
        if os.environ.get("FAIL_AT_STEP4") == "1":
            raise RuntimeError("step4 fails on purpose (FAIL_AT_STEP4=1)")
        self.value += 1
        self.next(self.end)

    @step
    def end(self):
        mark("resume_value", self.value)
