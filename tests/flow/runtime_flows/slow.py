import time

from reelflow import Flow, step


class SlowFlow(Flow):
    """A step that overruns its timeout."""

    @step(timeout=0.5)
    def start(self):
        time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        pass
