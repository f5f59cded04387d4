"""Base flows whose steps are inherited by flows in other fixture files."""

from reelflow.flow._step import step


class Flow:
    """A stand-in for reelflow's Flow: the graph reader needs no base class."""


class BaseFlow(Flow):
    @step
    def start(self):
        self.next(self.train)

    @step
    def train(self):
        self.next(self.end)

    @step
    def end(self):
        pass


class BaseWithDanglingStep(Flow):
    @step
    def start(self):
        self.next(self.middle)  # !InheritsDangling

    @step
    def end(self):
        pass
