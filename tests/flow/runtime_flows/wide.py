from reelflow import Flow, Parameter, step


class WideFlow(Flow):
    """A wide foreach of trivial tasks."""

    n = Parameter("n", default=1000)

    @step
    def start(self):
        self.items = range(self.n)
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.out = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.out for i in inputs)
        self.count = len(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass
