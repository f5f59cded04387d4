"""Offline evaluation: metrics, protocols, the benchmark API and the leaderboard."""

from reelflow.bench._benchmark import BenchmarkResult, benchmark, combine
from reelflow.bench._business import discovery_at_k, engagement_at_k, retention_at_k
from reelflow.bench._leaderboard import Leaderboard
from reelflow.bench._metrics import (
    MetricResult,
    hit_rate_at_k,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rmse,
)
from reelflow.bench._metrics_beyond import (
    METRIC_KINDS,
    catalog_coverage,
    evaluate_topk,
    gini_index,
    item_popularity,
    novelty,
    popularity_bias,
)
from reelflow.bench._stats import bootstrap_ci, paired_test

__all__ = [
    "METRIC_KINDS",
    "BenchmarkResult",
    "Leaderboard",
    "MetricResult",
    "benchmark",
    "bootstrap_ci",
    "catalog_coverage",
    "combine",
    "discovery_at_k",
    "engagement_at_k",
    "evaluate_topk",
    "gini_index",
    "hit_rate_at_k",
    "item_popularity",
    "mae",
    "map_at_k",
    "mrr",
    "ndcg_at_k",
    "novelty",
    "paired_test",
    "popularity_bias",
    "precision_at_k",
    "recall_at_k",
    "retention_at_k",
    "rmse",
]
