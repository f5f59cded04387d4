"""reelflow: a 5-step flow whose step4 fails while FAIL_AT_STEP4=1, for timing `resume`."""

import os

from bench_events import mark

from reelflow import Flow, step


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
