from reelflow import Flow, step


class ConflictFlow(Flow):
    """Two branches that disagree on x, merged without saying what to do with it."""

    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x = 1
        self.next(self.join)

    @step
    def b(self):
        self.x = 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)  # line 23
        self.next(self.end)

    @step
    def end(self):
        pass
