import time

from reelflow import Flow, step


class TickingFlow(Flow):
    """Prints while it runs, so a page can follow it live; fans out over three items."""

    @step
    def start(self):
        self.items = ["a", "b", "c"]
        self.next(self.tick, foreach="items")

    @step
    def tick(self):
        self.item = self.input
        for i in range(8):
            print(f"tick {self.input} {i}", flush=True)
            time.sleep(0.4)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = [i.item for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass
