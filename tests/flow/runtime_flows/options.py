import ctypes
import os
import time

from reelflow import Flow, current, step


class OptionsFlow(Flow):
    """Retries, catch, timeouts and a crashing worker, steered by environment variables."""

    @step
    def start(self):
        self.next(self.flaky, self.fragile)

    @step(retries=2, retry_delay=0)
    def flaky(self):
        self.attempt_seen = current.attempt
        if current.attempt < 1:
            raise RuntimeError("first attempt always fails")
        self.next(self.meet)

    @step(catch="failure")
    def fragile(self):
        if os.environ.get("RF_CRASH") == "segfault":
            ctypes.string_at(0)
        if os.environ.get("RF_SLEEP"):
            time.sleep(float(os.environ["RF_SLEEP"]))
        if not os.environ.get("RF_FRAGILE_OK"):
            raise ValueError("fragile broke")
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.caught = str(inputs.fragile.failure)
        self.attempt_seen = inputs.flaky.attempt_seen
        self.next(self.end)

    @step
    def end(self):
        pass
