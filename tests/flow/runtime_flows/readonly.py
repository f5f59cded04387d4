from reelflow import Flow, step


class ReadOnlyFlow(Flow):
    """A set and a dict that later steps only read, and a list one step changes in place."""

    @step
    def start(self):
        self.tags = {"drama", "comedy", "horror", "documentary"}
        self.weights = {"a": 1, "b": 2}
        self.history = [1]
        self.next(self.read)

    @step
    def read(self):
        self.count = len(self.tags) + len(self.weights)
        self.history.append(2)
        self.next(self.end)

    @step
    def end(self):
        pass
