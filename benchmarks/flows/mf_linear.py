"""Metaflow: a linear flow of 10 trivial steps (start, s1..s8, end)."""

from bench_events import mark
from metaflow import FlowSpec, step


class LinearFlow(FlowSpec):
    """Ten steps that do nothing but hand over to the next one."""

    @step
    def start(self):
        self.next(self.s1)

    @step
    def s1(self):
        self.next(self.s2)

    @step
    def s2(self):
        self.next(self.s3)

    @step
    def s3(self):
        self.next(self.s4)

    @step
    def s4(self):
        self.next(self.s5)

    @step
    def s5(self):
        self.next(self.s6)

    @step
    def s6(self):
        self.next(self.s7)

    @step
    def s7(self):
        self.next(self.s8)

    @step
    def s8(self):
        self.next(self.end)

    @step
    def end(self):
        mark("linear_done", 1)


if __name__ == "__main__":
    LinearFlow()
