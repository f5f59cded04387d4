import time

from reelflow import Flow, step


class HeavyFlow(Flow):
    """Three tasks that each ask for two cores: on two cores they must run one at a time."""

    @step
    def start(self):
        self.items = [0, 1, 2]
        self.next(self.work, foreach="items")

    @step(cpu=2)
    def work(self):
        began = time.time()
        time.sleep(0.3)
        self.span = (began, time.time())
        self.next(self.join)

    @step
    def join(self, inputs):
        self.spans = sorted(i.span for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
