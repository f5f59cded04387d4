"""Train in one step and register the model: the registry records the task as its lineage."""

from reelflow import Flow, step
from reelflow.data import generate_interactions
from reelflow.guards import GuardResult
from reelflow.models import MostPopular
from reelflow.registry import Registry


class RegisteringFlow(Flow):
    @step
    def start(self):
        self.train = generate_interactions(n_users=50, n_items=30, n_interactions=800).interactions
        self.next(self.register)

    @step
    def register(self):
        model = MostPopular().fit(self.train)
        checks = [GuardResult("rows", True, value=len(self.train), message="enough rows")]
        self.check(checks)
        version = Registry().register("popular", model, data=self.train, guard_results=checks)
        self.version = version.version
        self.next(self.end)

    @step
    def end(self):
        pass
