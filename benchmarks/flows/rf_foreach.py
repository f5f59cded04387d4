"""reelflow: a foreach of 100 trivial tasks plus a join (103 tasks in all)."""

from bench_events import mark

from reelflow import Flow, step


class ForeachFlow(Flow):
    """Fan out over 100 items, do nothing in each branch, sum the items in the join."""

    @step
    def start(self):
        self.items = list(range(100))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.x = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(inp.x for inp in inputs)
        self.next(self.end)

    @step
    def end(self):
        mark("foreach_total", self.total)
