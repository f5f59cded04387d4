"""A small flow that shows reelflow's building blocks: parameters, foreach, joins, artifacts.

Run it with ``reelflow run examples/hello_flow.py``, then look at it with ``reelflow show``.
"""

from reelflow import Flow, Parameter, current, step


class TrainFlow(Flow):
    """Fit a tiny per-region popularity model and keep the best region's numbers."""

    alpha = Parameter("alpha", default=0.5, help="smoothing added to every count")
    top_k = Parameter("top_k", default=3, help="items kept per region")

    @step
    def start(self):
        self.regions = ["us", "ca", "latam"]
        print(f"run {current.run_id}: {len(self.regions)} regions, alpha={self.alpha}")
        self.next(self.train, foreach="regions")

    @step(retries=2, timeout="10m", cpu=1, memory="512M")
    def train(self):
        self.region = self.input
        views = {"us": [5, 3, 9, 1], "ca": [2, 8, 1, 4], "latam": [7, 7, 2, 6]}[self.region]
        smoothed = [(v + self.alpha) / (sum(views) + self.alpha * len(views)) for v in views]
        ranked = sorted(range(len(views)), key=lambda i: -smoothed[i])
        self.top_items = ranked[: self.top_k]
        self.coverage = sum(smoothed[i] for i in self.top_items)
        print(f"{self.region}: top items {self.top_items}, coverage {self.coverage:.3f}")
        self.next(self.join)

    @step
    def join(self, inputs):
        self.by_region = {i.region: i.coverage for i in inputs}
        self.best_region = max(self.by_region, key=self.by_region.get)
        self.merge_artifacts(inputs, exclude=["region", "top_items", "coverage"])
        self.next(self.end)

    @step
    def end(self):
        print(f"best region: {self.best_region} ({self.by_region[self.best_region]:.3f})")
