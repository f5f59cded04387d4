import ctypes
import os
import time

from reelflow import Flow, Parameter, current, step


class OptionsFlow(Flow):
    """Retries, catch, timeouts and a crashing worker, steered by parameters and variables.

    ``crash`` is a parameter, not an environment variable, so that it reaches workers that were
    not started by the test's process (a shared Ray instance's).
    """

    crash = Parameter("crash", default="")

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
        if self.crash == "segfault":
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
