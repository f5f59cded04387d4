"""PersonalizationFlow: from a raw interaction log to a gated, registered, servable champion.

    reelflow quickstart                       # this flow on the synthetic log (the default)
    reelflow run examples/personalization.py -p source=movielens:ml-100k
    reelflow run examples/personalization.py -p source=events.parquet -p size=0
    reelflow run examples/personalization.py -p engine=spark    # the features on Spark

Steps: ingest, validate (data guards), features (DuckDB, or Spark with -p engine=spark), split
(temporal), train candidates in parallel (algorithms x a small grid, global vs per-region, a
re-ranker on features), benchmark them on one protocol, gate the best against the champion and
promote it or keep the champion, and print what happened.
"""

from reelflow import Flow, Parameter, current, step
from reelflow.examples import _personalization as lib


class PersonalizationFlow(Flow):
    """Train, compare and promote a recommender, with guard rails at every stage."""

    source = Parameter(
        "source",
        default="synthetic",
        help="synthetic, movielens:NAME_OR_PATH, or a CSV/Parquet log with user_id, item_id, "
        "timestamp",
    )
    catalogue = Parameter(
        "catalogue", default="", help="a CSV/Parquet catalogue with item_id (default: the source's)"
    )
    size = Parameter("size", default=200_000, help="interactions of the synthetic log")
    candidates = Parameter(
        "candidates",
        default=lib.DEFAULT_CANDIDATES,
        help="comma-separated candidates, each NAME[:PARAM=V|V...], e.g. ease:l2=100|500",
    )
    model = Parameter("model", default="recs", help="registry name of the model")
    test_days = Parameter("test_days", default=14, help="days at the end of the log kept for test")
    metric = Parameter("metric", default="ndcg@10", help="the metric candidates are chosen by")
    budget = Parameter(
        "budget",
        default=1800.0,
        help="seconds each candidate may take to fit and validate (0: no limit)",
    )
    min_gain = Parameter("min_gain", default=0.0, help="gain over the champion needed to promote")
    seed = Parameter("seed", default=0, help="seed of the synthetic log and the models")
    corrupt = Parameter(
        "corrupt",
        default="none",
        help="rehearse the guard rails on a faulty log: duplicates, item-ids or shift",
    )
    engine = Parameter(
        "engine",
        default="duckdb",
        help="where the features are computed: duckdb, or spark (a local session; "
        'pip install "reelflow[spark]", Java 17+)',
    )

    @step
    def start(self):
        """Ingest the interaction log and the catalogue (after checking the features' engine)."""
        lib.check_engine(self.engine)
        self.log, self.items = lib.ingest(
            self.source, self.size, self.seed, self.catalogue, self.corrupt
        )
        print(lib.describe(self.log))
        self.next(self.validate)

    @step
    def validate(self):
        """Data guards: schema, personalization checks, and the previous run's data as reference."""
        data = {name: getattr(self, name) for name in lib.DATA_PARAMETERS}
        previous = lib.previous_log(current.flow_name, current.run_id, data)
        self.check(lib.data_guards(self.log, self.items, previous))
        self.next(self.features)

    @step
    def features(self):
        """User and item features on the run's engine as of the end of the log, kept with the
        run (the re-ranker computes the same definitions on each part it trains on)."""
        self.user_features, self.item_features = lib.snapshot_features(self.log, self.engine)
        self.next(self.split)

    @step
    def split(self):
        """A temporal split as production sees it, and a validation split carved from train."""
        self.train, self.test, self.inner, self.valid = lib.temporal_splits(
            self.log, self.test_days
        )
        self.specs = lib.parse_candidates(self.candidates)
        print(f"{len(self.specs)} candidates: {', '.join(s.label for s in self.specs)}")
        self.next(self.train_candidate, foreach="specs")

    @step(retries=1, cpu=1)
    def train_candidate(self):
        """Fit one candidate on the inner training part and score it on validation, within the
        budget."""
        self.spec = self.input
        self.result, budget = lib.validate_candidate(
            self.spec, self.inner, self.valid, self.seed, self.budget, self.engine
        )
        self.check(budget)  # a candidate over budget is left out, with a warning
        self.next(self.choose)

    @step
    def choose(self, inputs):
        """The leaderboard on validation; refit the best on all training data, test it."""
        self.merge_artifacts(inputs, include=["log", "train", "test", "items"])
        self.benchmark = lib.rank_candidates([i.result for i in inputs], self.metric)
        self.left_out = [i.spec.label for i in inputs if i.result is None]
        self.leaderboard = lib.leaderboard(self.benchmark, self.metric)
        self.best = lib.best_spec([i.spec for i in inputs], self.leaderboard, self.metric)
        self.model_fit, self.test_result = lib.refit_and_test(
            self.best, self.train, self.test, self.seed, self.engine
        )
        self.next(self.promote)

    @step
    def promote(self):
        """Register the best, gate it against the champion on the test split, promote or not."""
        self.decision = lib.register_and_gate(
            self.model, self.model_fit, self.best, self.train, self.test, self.test_result,
            self.metric, self.min_gain,
        )  # fmt: skip
        self.check(self.decision.results)  # warnings and refusals are recorded, never raised
        self.next(self.end)

    @step
    def end(self):
        """The summary: leaderboard, guards, decision, report and the command that serves."""
        print(
            lib.summary(current.run_id, self.leaderboard, self.decision, self.model, self.left_out)
        )
