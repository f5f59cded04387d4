from dataclasses import dataclass

from reelflow import Flow, step


@dataclass
class Point:
    x: int


class DashedFlow(Flow):
    """A flow file whose name is not a module name, with a class of its own as an artifact."""

    @step
    def start(self):
        self.p = Point(1)
        self.next(self.a, self.b)

    @step
    def a(self):
        self.xa = self.p.x
        self.next(self.join)

    @step
    def b(self):
        self.xb = self.p.x + 1
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = inputs.a.xa + inputs.b.xb
        self.next(self.end)

    @step
    def end(self):
        pass
