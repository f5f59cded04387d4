import numpy as np

from reelflow import Flow, step


class BigWriteFlow(Flow):
    """A small artifact, then one larger than a tiny disk can hold."""

    @step
    def start(self):
        self.small = list(range(10))
        self.next(self.big)

    @step
    def big(self):
        self.array = np.ones(4_000_000)  # 32 MB
        self.next(self.end)

    @step
    def end(self):
        self.total = float(self.array.sum()) + sum(self.small)
