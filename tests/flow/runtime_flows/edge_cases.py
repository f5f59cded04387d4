import time

from reelflow import Flow, Parameter, step


class EdgeFlow(Flow):
    """An empty foreach after upstream artifacts; a retrying step that loses to a fast failure."""

    mode = Parameter("mode", default="empty")

    @step
    def start(self):
        self.upstream = 41
        self.items = []
        self.next(self.each, foreach="items")

    @step
    def each(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.split)

    @step
    def split(self):
        self.next(self.fast_fail, self.slow_retry)

    @step
    def fast_fail(self):
        if self.mode == "fail":
            raise ValueError("fails at once")
        self.next(self.meet)

    @step(retries=1, retry_delay=60)
    def slow_retry(self):
        if self.mode == "fail":
            time.sleep(0.5)
            raise ValueError("would retry in a minute")
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        self.result = self.upstream + 1
