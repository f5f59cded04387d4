from reelflow import Flow, step
from reelflow.data import generate_interactions


class DataFlow(Flow):
    """An Interactions artifact handed from one step to the next."""

    @step
    def start(self):
        self.log = generate_interactions(50, 40, 500, seed=1).interactions
        self.next(self.count)

    @step
    def count(self):
        self.shape = (self.log.n_users, self.log.n_items, len(self.log))
        self.next(self.end)

    @step
    def end(self):
        pass
