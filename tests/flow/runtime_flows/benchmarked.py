"""A step that keeps a BenchmarkResult as its `benchmark` artifact; later steps inherit it."""

import functools

from reelflow import Flow, step
from reelflow.bench import benchmark
from reelflow.data import generate_interactions, per_user_holdout
from reelflow.models import ItemKNN, MostPopular


class BenchmarkedFlow(Flow):
    @step
    def start(self):
        log = generate_interactions(150, 60, 3_000, seed=1).interactions
        split = functools.partial(per_user_holdout, test_fraction=0.25, seed=0)
        models = {"popular": MostPopular(), "knn": ItemKNN(k=10)}
        self.benchmark = benchmark(models, log, split, ["ndcg@10"], n_bootstrap=50, progress=False)
        self.next(self.end)

    @step
    def end(self):
        pass
