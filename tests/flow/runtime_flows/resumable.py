import os
import signal
from pathlib import Path

from reelflow import Flow, Parameter, step


class ResumableFlow(Flow):
    """Five steps; step four dies by SIGKILL while the file named by ``marker`` exists."""

    marker = Parameter("marker", default="")

    @step
    def start(self):
        self.items = list(range(4))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.sq = self.input**2
        print(f"square {self.input}")
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.squares = [i.sq for i in inputs]
        self.next(self.fragile)

    @step
    def fragile(self):
        if self.marker and Path(self.marker).exists():
            os.kill(os.getpid(), signal.SIGKILL)
        self.total = sum(self.squares)
        self.next(self.end)

    @step
    def end(self):
        self.result = self.total + 1
