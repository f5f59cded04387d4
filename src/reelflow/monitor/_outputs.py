"""Checks on what went out: scores, popularity of served items, catalogue coverage, and served
items the training data never had.

The profile describes the model's top-k for a uniform sample of training users. Served traffic
leans towards active users, and a model's answers depend on how active a user is (EASE's scores
grow with it), so the window is compared user for user: each known user's first answer by the
model, reweighted (scores, popularity) or sampled (coverage) so that the users' training
activity follows the training users' distribution. What remains is a change in how the model
answers the same kind of users; a change in which users come is ``drift:user_activity``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from reelflow.guards import GuardResult, column_drift
from reelflow.monitor._activity import Activity, bin_codes, matched_sample, matching_weights
from reelflow.monitor._settings import Settings
from reelflow.monitor._traffic import Traffic

DRAWS = 10_000  # answer lists drawn (with the matching weights) for the score and popularity
SEED = 0


@dataclass(frozen=True)
class Answers:
    """One row per distinct known user the model answered (their first answer in the window)."""

    rows: np.ndarray
    codes: np.ndarray | None  # each row's training-activity bin; None when activity is unknown
    target: np.ndarray | None  # the training users' share of each bin
    k: int  # list positions compared
    profile_k: int

    @property
    def matched(self) -> bool:
        return self.codes is not None

    def drawn(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """Rows drawn to follow the training activity (all rows when it is unknown), and the
        share of training users in activity bins no served user fell in."""
        if self.codes is None or self.target is None or len(self.rows) == 0:
            return self.rows, 0.0
        weights, missing = matching_weights(self.codes, self.target)
        return rng.choice(self.rows, size=DRAWS, p=weights / weights.sum()), missing


def first_answers(
    traffic: Traffic, activity: Activity | None, profile: Mapping[str, Any]
) -> Answers:
    """The rows the output checks read, with the positions they compare."""
    eligible = traffic.answered & traffic.known
    counts = activity.of(traffic.user) if activity is not None else None
    if counts is not None:
        eligible &= counts >= 0
    rows = np.flatnonzero(eligible)
    rows = rows[np.argsort(traffic.time[rows], kind="stable")]
    _, first = np.unique(traffic.user[rows].astype(str), return_index=True)
    rows = np.sort(rows[first])
    profile_k = int(profile.get("k") or 0)
    lengths = traffic.items.lengths[rows]
    served = int(np.bincount(lengths).argmax()) if len(lengths) else profile_k
    codes = bin_codes(counts[rows]) if counts is not None else None
    target = activity.user_shares if activity is not None else None
    return Answers(rows, codes, target, max(min(profile_k, served), 1), profile_k)


def output_checks(
    traffic: Traffic, answers: Answers, profile: Mapping[str, Any], settings: Settings
) -> list[GuardResult]:
    """``drift:scores``, ``drift:recommended_popularity``, ``monitor:coverage``, ``skew:items``."""
    popularity = np.asarray(profile.get("item_counts", []), dtype=np.float64)
    rng = np.random.default_rng(SEED)
    drawn, missing = answers.drawn(rng)
    scores_ref = _reference(profile.get("scores", []), profile, answers.k)
    values, valid = traffic.scores.top(drawn, answers.k)
    scores_cur = values[valid].astype(np.float64)
    served, valid = traffic.items.top(drawn, answers.k)
    found = served[valid]
    popularity_cur = np.where(found >= 0, popularity[np.maximum(found, 0)], 0.0)
    popularity_ref = _reference(profile.get("recommended_popularity", []), profile, answers.k)
    return [
        _drift(
            "scores", scores_ref, scores_cur[np.isfinite(scores_cur)], "wasserstein",
            answers, missing, settings,
        ),
        _drift(
            "recommended_popularity", np.log1p(popularity_ref), np.log1p(popularity_cur), "psi",
            answers, missing, settings,
        ),
        coverage_check(traffic, answers, profile, settings, rng),
        unknown_items_check(traffic, settings),
    ]  # fmt: skip


def _reference(values: Any, profile: Mapping[str, Any], k: int) -> np.ndarray:
    """The profile's per-slot values, cut to the first ``k`` positions when they line up."""
    array = np.asarray(values, dtype=np.float64)
    users, profile_k = int(profile.get("sample_users") or 0), int(profile.get("k") or 0)
    if k < profile_k and len(array) == users * profile_k:
        return array.reshape(users, profile_k)[:, :k].ravel()
    return array


def _drift(
    name: str,
    reference: np.ndarray,
    current: np.ndarray,
    method: str,
    answers: Answers,
    missing: float,
    settings: Settings,
) -> GuardResult:
    if len(reference) == 0 or len(current) == 0:
        side = "the profile has" if len(reference) == 0 else "the window has"
        return GuardResult(
            f"drift:{name}",
            passed=True,
            severity=settings.severity(name),
            message=f"not compared: {side} no model answer to a known user",
            details={"compared": False},
        )
    result = column_drift(
        reference,
        current,
        method=method,
        threshold=settings.threshold(name),
        name=name,
        severity=settings.severity(name),
    )
    users = len(answers.rows)
    how = ", matched on training activity" if answers.matched else ""
    note = f"; top-{answers.k} answers to {users:,} known user(s){how}"
    if missing >= 0.05:
        note += f" ({missing:.0%} of training users are in activity bins no served user is in)"
    details = dict(result.details) | {
        "users": users,
        "k": answers.k,
        "matched_on_activity": answers.matched,
        "unmatched_share": missing,
    }
    if name == "recommended_popularity":
        details["scale"] = "log(1 + training interactions of the item)"
    return dataclasses.replace(result, message=result.message + note, details=details)


def coverage_check(
    traffic: Traffic,
    answers: Answers,
    profile: Mapping[str, Any],
    settings: Settings,
    rng: np.random.Generator,
) -> GuardResult:
    """``monitor:coverage``: distinct items in the top-k of as many users as the profile
    sampled (drawn to follow the training activity), as a ratio of the profile's coverage."""
    wanted, reference = int(profile.get("sample_users") or 0), float(profile.get("coverage") or 0)
    rows, limit = answers.rows, settings.threshold("coverage")
    why = None
    if answers.k < answers.profile_k:
        why = f"served lists are shorter ({answers.k}) than the profile's ({answers.profile_k})"
    elif len(rows) < wanted / 2 or len(rows) == 0:
        why = f"{len(rows):,} known user(s) answered; at least {max(wanted // 2, 1):,} needed"
    elif reference <= 0:
        why = "the profile's coverage is 0"
    if why is not None:
        details = {"compared": False, "users": len(rows), "reference": reference}
        return GuardResult(
            "monitor:coverage", True, settings.severity("coverage"), None, limit,
            f"not compared: {why}", details,
        )  # fmt: skip
    if answers.codes is not None and answers.target is not None:
        sample = rows[matched_sample(answers.codes, answers.target, wanted, rng)]
    else:
        sample = rng.choice(rows, min(wanted, len(rows)), replace=False)
    served, valid = traffic.items.top(sample, answers.k)
    found = served[valid]
    coverage = np.unique(found[found >= 0]).size / max(int(profile.get("n_items") or 1), 1)
    ratio = coverage / reference
    text = (
        f"the top-{answers.k} lists of {len(sample):,} users cover {coverage:.1%} of the catalogue,"
        f" {ratio:.2f}x the {reference:.1%} at registration"
    )
    text += f"; below {limit:g}x" if ratio < limit else ""
    return GuardResult(
        "monitor:coverage",
        passed=ratio >= limit,
        severity=settings.severity("coverage"),
        value=ratio,
        threshold=limit,
        message=text,
        details={
            "coverage": coverage,
            "reference": reference,
            "users": len(sample),
            "k": answers.k,
            "plot": {
                "kind": "comparison",
                "labels": ["at registration", "window"],
                "values": [reference, coverage],
            },
        },
    )


def unknown_items_check(traffic: Traffic, settings: Settings) -> GuardResult:
    """``skew:items``: the share of items the model served (no fallback) that its training
    data did not have: another item index, or ids formatted differently, at serving."""
    import pyarrow as pa

    rows = np.flatnonzero(traffic.answered)
    longest = int(traffic.items.lengths[rows].max(initial=0))
    positions, valid = traffic.items.positions(rows, longest)
    flat = positions[valid]
    unknown_at = flat[traffic.items.values[flat] < 0] if len(flat) else flat
    unknown = len(unknown_at)
    share, limit = unknown / max(len(flat), 1), settings.threshold("unknown_items")
    examples: list[str] = []
    if unknown:
        taken = traffic.item_ids.take(pa.array(unknown_at[:100])).to_pylist()
        examples = list(dict.fromkeys(str(v) for v in taken))[:5]
    text = f"{unknown:,} of {len(flat):,} items the model served are not in its training data"
    text += f", e.g. {', '.join(map(repr, examples))}" if examples else ""
    return GuardResult(
        "skew:items",
        passed=share <= limit,
        severity=settings.severity("unknown_items"),
        value=share,
        threshold=limit,
        message=text,
        details={"served": len(flat), "unknown": unknown, "examples": examples},
    )
