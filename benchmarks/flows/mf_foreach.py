"""Metaflow: a foreach of 100 trivial tasks plus a join (103 tasks in all)."""

import json
import os
import time

from metaflow import FlowSpec, step


def mark(key, value=None):
    """Record one event: a wall-clock stamp (``value`` None) or a measured value."""
    value = time.time() if value is None else value
    print(f"BENCH {key}={value!r}", flush=True)
    path = os.environ.get("BENCH_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "value": value}) + "\n")


class ForeachFlow(FlowSpec):
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


if __name__ == "__main__":
    ForeachFlow()
