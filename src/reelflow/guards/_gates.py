"""Model gates: the checks a candidate passes before the registry promotes it.

A gate is a callable taking a :class:`GateContext` (what the registry knows about the candidate
and the current champion) and returning a :class:`GuardResult`. The registry builds the
context; gates only read it, so they can be tested with any object that has the same methods.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from reelflow.guards._result import GuardResult, Severity

LOWER_IS_BETTER = frozenset({"popularity_bias", "rmse", "mae"})
"""Metrics where a smaller value is better: the gates compare them the other way round."""


class GateContext(Protocol):
    """What a gate may ask about a promotion."""

    candidate_label: str
    champion_label: str | None

    def metric_values(self, which: str, metric: str) -> np.ndarray:
        """Per-user values of ``metric`` for ``candidate`` or ``champion``, on the same users."""
        ...

    def recommendations(self, which: str) -> Any:
        """The candidate's or champion's top-k for a sample of users (``Recommendations``)."""
        ...

    def catalogue_size(self) -> int: ...

    def latencies_ms(self, which: str) -> np.ndarray:
        """Seconds-to-milliseconds latencies of single-user ``recommend`` calls on a sample."""
        ...

    def load_in_fresh_process(self, which: str) -> tuple[bool, str]:
        """Whether the saved model loads and answers in a new Python process, and how."""
        ...

    def importance(self, which: str) -> Any:
        """The feature importance stored with the version (a mapping), or None."""
        ...


Gate = Callable[[GateContext], GuardResult | Sequence[GuardResult]]


def beats_champion(
    metric: str = "ndcg@10",
    *,
    min_delta: float = 0.0,
    alpha: float = 0.05,
    severity: Severity = "block",
) -> Gate:
    """The candidate's mean ``metric`` exceeds the champion's by more than ``min_delta``,
    significantly (one-sided paired t-test over users at level ``alpha``)."""

    def gate(context: GateContext) -> GuardResult:
        name = f"beats_champion:{metric}"
        if context.champion_label is None:
            return GuardResult(name, True, severity, message="no champion yet: nothing to beat")
        diff, plot = _paired(context, metric)
        p_value = _one_sided_p(diff - min_delta)
        mean = float(np.mean(diff))
        passed = mean > min_delta and p_value < alpha
        verb = "beats" if passed else "does not beat"
        message = (
            f"{context.candidate_label} {verb} {context.champion_label} on {metric} by more than "
            f"{min_delta:g}: difference {mean:+.4f} over {diff.size:,} users (p={p_value:.3g}, "
            f"alpha {alpha:g})"
        )
        details = {"metric": metric, "p_value": p_value, "users": int(diff.size), "plot": plot}
        return GuardResult(name, passed, severity, mean, min_delta, message, details)

    return gate


def not_worse_than_champion(
    metric: str = "ndcg@10",
    *,
    tolerance: float = 0.01,
    confidence: float = 0.95,
    severity: Severity = "block",
) -> Gate:
    """Non-inferiority: the lower confidence bound of (candidate - champion) on ``metric`` is
    above ``-tolerance``."""

    def gate(context: GateContext) -> GuardResult:
        name = f"not_worse_than_champion:{metric}"
        if context.champion_label is None:
            return GuardResult(name, True, severity, message="no champion yet: nothing to match")
        diff, plot = _paired(context, metric)
        low = _lower_bound(diff, confidence)
        passed = low > -tolerance
        message = (
            f"{context.candidate_label} vs {context.champion_label} on {metric}: difference "
            f"{float(np.mean(diff)):+.4f}, {confidence:.0%} lower bound {low:+.4f} "
            f"{'>' if passed else '<='} -{tolerance:g}"
        )
        details = {"metric": metric, "users": int(diff.size), "plot": plot}
        return GuardResult(name, passed, severity, low, -tolerance, message, details)

    return gate


def no_nan_scores(*, severity: Severity = "block") -> Gate:
    """Every score the candidate returns on the sample is finite."""

    def gate(context: GateContext) -> GuardResult:
        recs = context.recommendations("candidate")
        scores = np.asarray(recs.scores, dtype=np.float64)[np.asarray(recs.valid)]
        bad = int(np.count_nonzero(~np.isfinite(scores)))
        message = (
            f"all {scores.size:,} scores are finite"
            if bad == 0
            else f"{bad:,} of {scores.size:,} scores are NaN or infinite"
        )
        return GuardResult("no_nan_scores", bad == 0, severity, bad, 0, message)

    return gate


def not_degenerate(*, max_top_item_share: float = 0.5, severity: Severity = "block") -> Gate:
    """Lists differ between users: no single item is first for more than the given share."""

    def gate(context: GateContext) -> GuardResult:
        recs = context.recommendations("candidate")
        valid = np.asarray(recs.valid)
        first = np.asarray(recs.items)[valid[:, 0], 0] if valid.size else np.array([])
        if first.size == 0:
            return GuardResult(
                "not_degenerate", False, severity, message="the candidate recommended nothing"
            )
        _, counts = np.unique(first.astype(str), return_counts=True)
        share = float(counts.max() / first.size)
        passed = share <= max_top_item_share
        message = (
            f"the most common first item leads {share:.0%} of {first.size:,} lists "
            f"({'<=' if passed else '>'} {max_top_item_share:.0%})"
        )
        return GuardResult("not_degenerate", passed, severity, share, max_top_item_share, message)

    return gate


def coverage_at_least(floor: float = 0.01, *, severity: Severity = "block") -> Gate:
    """The sample's lists use at least ``floor`` of the catalogue."""

    def gate(context: GateContext) -> GuardResult:
        recs = context.recommendations("candidate")
        used = np.unique(np.asarray(recs.items)[np.asarray(recs.valid)].astype(str)).size
        coverage = used / max(context.catalogue_size(), 1)
        passed = coverage >= floor
        message = (
            f"recommended {used:,} distinct items, {coverage:.1%} of the catalogue "
            f"({'>=' if passed else '<'} {floor:.1%})"
        )
        return GuardResult("coverage", passed, severity, coverage, floor, message)

    return gate


def latency(p99_ms: float = 50.0, *, severity: Severity = "block") -> Gate:
    """The 99th percentile of single-user ``recommend`` calls on a sample is under budget."""

    def gate(context: GateContext) -> GuardResult:
        samples = context.latencies_ms("candidate")
        p50, p99 = (float(v) for v in np.percentile(samples, [50, 99]))
        passed = p99 <= p99_ms
        message = (
            f"recommend p99 {p99:.2f} ms ({'<=' if passed else '>'} {p99_ms:g} ms budget), "
            f"p50 {p50:.2f} ms over {samples.size} calls"
        )
        details = {"p50_ms": p50, "p99_ms": p99, "calls": int(samples.size)}
        return GuardResult("latency_p99", passed, severity, p99, p99_ms, message, details)

    return gate


def loads_in_fresh_process(*, severity: Severity = "block") -> Gate:
    """The saved model loads and answers in a new Python process (as the server will)."""

    def gate(context: GateContext) -> GuardResult:
        ok, how = context.load_in_fresh_process("candidate")
        return GuardResult("loads_in_fresh_process", ok, severity, message=how)

    return gate


def importance_stable(
    *, min_rank_correlation: float = 0.7, max_jump: float = 0.15, severity: Severity = "warn"
) -> Gate:
    """Feature importance of the candidate against the champion's (see compare_importance)."""

    def gate(context: GateContext) -> list[GuardResult]:
        from reelflow.guards._importance import compare_importance

        current = context.importance("candidate")
        if current is None:
            return [
                GuardResult(
                    "feature_importance",
                    True,
                    "warn",
                    message="the candidate has no stored feature importance to compare",
                )
            ]
        previous = None if context.champion_label is None else context.importance("champion")
        return compare_importance(
            current,
            previous,
            min_rank_correlation=min_rank_correlation,
            max_jump=max_jump,
            severity=severity,
        )

    return gate


def default_gates(metric: str = "ndcg@10", *, tolerance: float = 0.0) -> list[Gate]:
    """A sensible set for automated promotion: not worse than the champion, finite scores,
    diverse lists, a load check in a fresh process."""
    return [
        not_worse_than_champion(metric, tolerance=tolerance),
        no_nan_scores(),
        not_degenerate(),
        loads_in_fresh_process(),
    ]


def _paired(context: GateContext, metric: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-user improvements (candidate over champion, sign flipped for lower-is-better
    metrics) on users defined for both, and a plot of both means with 95% CIs."""
    candidate = np.asarray(context.metric_values("candidate", metric), dtype=np.float64)
    champion = np.asarray(context.metric_values("champion", metric), dtype=np.float64)
    both = ~(np.isnan(candidate) | np.isnan(champion))
    candidate, champion = candidate[both], champion[both]
    sign = -1.0 if metric.split("@")[0].strip().lower() in LOWER_IS_BETTER else 1.0
    means = [float(np.mean(champion)), float(np.mean(candidate))]
    halves = [_half_width(champion), _half_width(candidate)]
    plot = {
        "kind": "comparison",
        "labels": [str(context.champion_label), context.candidate_label],
        "values": means,
        "low": [m - h for m, h in zip(means, halves, strict=True)],
        "high": [m + h for m, h in zip(means, halves, strict=True)],
        "metric": metric,
    }
    return sign * (candidate - champion), plot


def _half_width(values: np.ndarray, z: float = 1.96) -> float:
    if values.size < 2:
        return 0.0
    return float(z * np.std(values, ddof=1) / math.sqrt(values.size))


def _one_sided_p(diff: np.ndarray) -> float:
    """p-value of a paired t-test that the mean of ``diff`` is above 0."""
    from scipy import stats

    if diff.size < 2 or np.ptp(diff) <= 1e-9 * max(1.0, float(np.abs(diff).max())):
        return 0.0 if diff.size and float(np.mean(diff)) > 0 else 1.0  # no variance: no doubt
    return float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)


def _lower_bound(diff: np.ndarray, confidence: float) -> float:
    """One-sided lower confidence bound of the mean of ``diff`` (t distribution)."""
    from scipy import stats

    if diff.size < 2:
        return float(diff.mean()) if diff.size else -math.inf
    se = float(np.std(diff, ddof=1) / math.sqrt(diff.size))
    return float(np.mean(diff) - stats.t.ppf(confidence, diff.size - 1) * se)
