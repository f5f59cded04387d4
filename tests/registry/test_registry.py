"""The registry: versions with lineage, loads without pickle, gated promotion, rollback, audit
history, and alias consistency under concurrent promotions."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reelflow._errors import PromotionRefusedError, RegistryError
from reelflow.data import Split, generate_interactions, per_user_holdout
from reelflow.guards import (
    GuardResult,
    beats_champion,
    coverage_at_least,
    latency,
    loads_in_fresh_process,
    no_nan_scores,
    not_degenerate,
    not_worse_than_champion,
)
from reelflow.models import EASE, MostPopular, Random
from reelflow.registry import Registry
from reelflow.store import Store

# the tests that write what the registry's tables hold also run with the metadata in PostgreSQL
on_every_backend = pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)


@pytest.fixture(scope="module")
def split() -> Split:
    log = generate_interactions(n_users=300, n_items=120, n_interactions=9000, seed=1)
    return per_user_holdout(log.interactions, test_fraction=0.25, seed=0)


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


@on_every_backend
def test_register_numbers_versions_and_loads_them_back(registry: Registry, split: Split) -> None:
    model = EASE(l2=50.0).fit(split.train)
    first = registry.register(
        "recs", model, metrics={"ndcg@10": 0.3}, data=split.train, verify=False
    )
    second = registry.register("recs", MostPopular().fit(split.train), verify=False)
    assert (first.version, second.version) == (1, 2)
    assert first.model_class == "EASE" and first.params["l2"] == 50.0
    assert first.data_fingerprint == split.train.fingerprint
    assert first.metrics == {"ndcg@10": 0.3}
    assert registry.get("recs").version == 2, "a bare name is the latest version"
    loaded = registry.load("recs:1")
    users = split.train.users.ids[:20]
    np.testing.assert_array_equal(
        loaded.recommend(users, k=5).items, model.recommend(users, k=5).items
    )
    assert [v.version for v in registry.versions("recs")] == [2, 1]


def test_lineage_has_the_code_version(registry: Registry, split: Split) -> None:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    version = registry.register(
        "recs", MostPopular().fit(split.train), lineage={"note": "x"}, verify=False
    )
    # the store fixture runs in a temporary folder: outside a repository no commit is claimed
    assert "git_commit" not in version.lineage and version.lineage["note"] == "x"
    from reelflow.registry._lineage import git_state

    assert git_state(repo)["git_commit"] == commit


def test_a_model_that_does_not_load_in_a_fresh_process_is_not_registered(
    registry: Registry, split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = MostPopular().fit(split.train)
    original = type(model).save

    def broken_save(self: MostPopular, path: str | Path) -> Path:
        folder = original(self, path)
        (Path(folder) / "arrays.npz").write_bytes(b"not a zip")
        return Path(folder)

    monkeypatch.setattr(MostPopular, "save", broken_save)
    with pytest.raises(RegistryError, match="does not load in a fresh process"):
        registry.register("recs", model)
    with pytest.raises(RegistryError, match="no model named 'recs'"):
        registry.versions("recs")


def test_verified_registration_passes_for_a_sound_model(registry: Registry, split: Split) -> None:
    version = registry.register("recs", MostPopular().fit(split.train))
    assert version.version == 1


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("../etc", "model name '../etc' is invalid"),
        ("recs@", "alias '' is invalid"),
        ("recs:0", "version '0' in 'recs:0' is invalid"),
        ("recs:x", "version 'x' in 'recs:x' is invalid"),
        ("nothere", "no model named 'nothere'"),
        ("recs@champion", "recs@champion is not set"),
        ("recs:9", "model recs has no version 9"),
    ],
)
def test_bad_references_are_one_line_errors(
    registry: Registry, split: Split, ref: str, message: str
) -> None:
    registry.register("recs", MostPopular().fit(split.train), verify=False)
    with pytest.raises(RegistryError, match=message.replace("(", r"\(")):
        registry.get(ref)


def _two_versions(registry: Registry, split: Split) -> None:
    registry.register("recs", EASE(l2=50.0).fit(split.train), verify=False)
    registry.register("recs", Random(random_state=0).fit(split.train), verify=False)


def test_first_promotion_has_no_champion_to_beat(registry: Registry, split: Split) -> None:
    _two_versions(registry, split)
    promotion = registry.promote("recs", 1, gates=[beats_champion("ndcg@10")], data=split)
    assert promotion.status == "promoted" and promotion.champion_version is None
    assert registry.get("recs@champion").version == 1
    assert "nothing to beat" in promotion.results[0].message


@on_every_backend
def test_a_worse_candidate_is_refused_and_nothing_moves(registry: Registry, split: Split) -> None:
    _two_versions(registry, split)
    registry.promote("recs", 1, data=split)
    with pytest.raises(PromotionRefusedError, match="refused recs:2 for champion"):
        registry.promote("recs", 2, gates=[not_worse_than_champion("ndcg@10")], data=split)
    assert registry.get("recs@champion").version == 1
    refused = registry.promotions("recs")[-1]
    assert refused["status"] == "refused"
    (result,) = registry.promotion_results(refused["id"])
    assert not result.passed and result.details["plot"]["kind"] == "comparison"
    assert [e["to_version"] for e in registry.history("recs")] == [1]


def test_beats_champion_promotes_a_better_model(registry: Registry, split: Split) -> None:
    registry.register("recs", Random(random_state=0).fit(split.train), verify=False)
    registry.register("recs", EASE(l2=50.0).fit(split.train), verify=False)
    registry.promote("recs", 1)
    promotion = registry.promote(
        "recs", 2, gates=[beats_champion("ndcg@10", min_delta=0.01)], data=split
    )
    assert promotion.promoted and promotion.results[0].value > 0.01


@on_every_backend
def test_force_needs_a_reason_which_is_recorded(registry: Registry, split: Split) -> None:
    _two_versions(registry, split)
    registry.promote("recs", 1)
    gate = not_worse_than_champion("ndcg@10")
    with pytest.raises(RegistryError, match="needs a reason"):
        registry.promote("recs", 2, gates=[gate], data=split, force=True)
    promotion = registry.promote(
        "recs", 2, gates=[gate], data=split, force=True, reason="A/B test needs it live"
    )
    assert promotion.status == "forced"
    last = registry.history("recs")[-1]
    assert (last["action"], last["reason"], last["to_version"]) == (
        "forced",
        "A/B test needs it live",
        2,
    )
    assert last["promotion_id"] == promotion.id and last["actor"]


def test_sanity_gates_on_a_sound_model(registry: Registry, split: Split) -> None:
    registry.register("recs", EASE(l2=50.0).fit(split.train), verify=False)
    gates = [
        no_nan_scores(),
        not_degenerate(),
        coverage_at_least(0.05),
        latency(p99_ms=10_000),
        loads_in_fresh_process(),
    ]
    promotion = registry.promote("recs", 1, gates=gates)
    assert promotion.promoted, [r.summary() for r in promotion.results]
    assert {r.name for r in promotion.results} == {
        "no_nan_scores",
        "not_degenerate",
        "coverage",
        "latency_p99",
        "loads_in_fresh_process",
    }


def test_degenerate_lists_and_missing_data_fail_their_gates(
    registry: Registry, split: Split
) -> None:
    registry.register("recs", MostPopular().fit(split.train), verify=False)
    promotion = registry.promote(
        "recs",
        1,
        gates=[beats_champion()],
        raise_on_refusal=False,
    )
    assert promotion.status == "promoted", "no champion: beats_champion passes"
    registry.register("recs", MostPopular().fit(split.train), verify=False)
    promotion = registry.promote(
        "recs",
        2,
        gates=[not_degenerate(max_top_item_share=0.2), beats_champion()],
        raise_on_refusal=False,
    )
    assert promotion.status == "refused"
    degenerate, no_data = promotion.results  # popularity leads ~45% of lists with one item
    assert not degenerate.passed and degenerate.value > 0.2
    assert "needs evaluation data" in no_data.message


@on_every_backend
def test_rollback_walks_back_through_promotions(registry: Registry, split: Split) -> None:
    for _ in range(3):
        registry.register("recs", MostPopular().fit(split.train), verify=False)
    for version in (1, 2, 3):
        registry.promote("recs", version)
    assert registry.rollback("recs", reason="bad metrics") == 2
    assert registry.rollback("recs") == 1
    with pytest.raises(RegistryError, match="no earlier version"):
        registry.rollback("recs")
    actions = [(e["action"], e["from_version"], e["to_version"]) for e in registry.history("recs")]
    assert actions == [
        ("promote", None, 1),
        ("promote", 1, 2),
        ("promote", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 2, 1),
    ]


@on_every_backend
def test_two_promotions_at_once_leave_one_winner(store: Store, split: Split) -> None:
    for _ in range(2):
        Registry(store).register("recs", MostPopular().fit(split.train), verify=False)
    barrier = threading.Barrier(2, timeout=30)

    def wait_for_the_other(context: object) -> GuardResult:
        barrier.wait()  # both have read the (empty) champion before either decides
        return GuardResult("together", True)

    outcomes: dict[int, str] = {}

    def promote(version: int) -> None:
        registry = Registry(Store.open(store.config.home.parent))
        promotion = registry.promote(
            "recs", version, gates=[wait_for_the_other], raise_on_refusal=False
        )
        outcomes[version] = promotion.status

    threads = [threading.Thread(target=promote, args=(v,)) for v in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "promoted"]
    winner = next(v for v, status in outcomes.items() if status == "promoted")
    registry = Registry(store)
    assert registry.get("recs@champion").version == winner
    assert len(registry.history("recs")) == 1


CRASHING_PROMOTION = """
import sys, time
from reelflow.guards import GuardResult
from reelflow.registry import Registry

def slow(context):
    print("evaluating", flush=True)
    time.sleep(60)
    return GuardResult("slow", True)

Registry(sys.argv[1]).promote("recs", 2, gates=[slow])
"""


@on_every_backend
def test_a_crash_mid_promotion_leaves_the_previous_state(store: Store, split: Split) -> None:
    registry = Registry(store)
    for _ in range(2):
        registry.register("recs", MostPopular().fit(split.train), verify=False)
    registry.promote("recs", 1)
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_PROMOTION, str(store.config.home.parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "evaluating"
    child.kill()
    child.wait(timeout=30)
    time.sleep(0.1)
    assert registry.get("recs@champion").version == 1
    assert [p["status"] for p in registry.promotions("recs")] == ["promoted", "evaluating"]
    assert registry.promote("recs", 2).promoted, "the store is usable after the crash"


@on_every_backend
def test_registering_with_data_keeps_a_reference_profile(registry: Registry, split: Split) -> None:
    model = EASE(l2=50.0).fit(split.train)
    with_data = registry.register("recs", model, data=split.train, verify=False)
    without = registry.register("recs", model, verify=False)
    profile = registry.profile(with_data)
    assert profile is not None and registry.profile(without) is None
    assert profile["n_interactions"] == len(split.train)
    assert sum(profile["item_counts"]) == len(split.train)
    assert len(profile["items"]) == len(profile["item_counts"]) == split.train.n_items
    active = np.count_nonzero(np.bincount(split.train.user, minlength=split.train.n_users))
    assert sum(profile["user_activity"]["counts"]) == active
    categorical = {n for n, c in split.train.context.items() if c.dtype.kind not in "f"}
    assert set(profile["contexts"]) == categorical and "region" in categorical
    for shares in profile["contexts"].values():
        assert sum(shares.values()) == pytest.approx(1.0)
    assert len(profile["scores"]) == profile["sample_users"] * profile["k"]
    assert 0 < profile["coverage"] <= 1
    assert registry.store.check().orphans == [], "the profile object is referenced"


def test_importance_history_and_the_stability_gate(registry: Registry, split: Split) -> None:
    from reelflow.guards import importance_stable

    model = MostPopular().fit(split.train)
    registry.register("recs", model, importance={"a": 0.7, "b": 0.3}, verify=False)
    registry.register("recs", model, verify=False)  # no importance: skipped in the history
    registry.register("recs", model, importance={"a": 0.1, "b": 0.2, "c": 0.7}, verify=False)
    history = registry.importance_history("recs")
    assert [h["version"] for h in history] == [1, 3]
    assert history[1]["importance"] == {"a": 0.1, "b": 0.2, "c": 0.7}
    registry.promote("recs", 1)
    promotion = registry.promote(
        "recs", 3, gates=[importance_stable(severity="block")], raise_on_refusal=False
    )
    assert promotion.status == "refused"
    names = {r.name: r for r in promotion.results}
    assert not names["feature_importance:rank_correlation"].passed
    assert "c" in names["feature_importance:appeared"].message
