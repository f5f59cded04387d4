"""A registry holding recs:1 (EASE, registered with its training data, champion) and a request
log with one day like training and one drifted day."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from reelflow.data import Interactions, generate_interactions, per_user_holdout
from reelflow.models import EASE, Recommender
from reelflow.registry import Registry
from reelflow.store import Store

from .traffic import drifted_rows, healthy_rows, write


@dataclass(frozen=True)
class Trained:
    train: Interactions
    model: Recommender


@dataclass(frozen=True)
class Logged:
    registry: Registry
    healthy: list[dict[str, Any]]
    drifted: list[dict[str, Any]]


@pytest.fixture(scope="session")
def trained() -> Trained:
    log = generate_interactions(n_users=300, n_items=120, n_interactions=9000, seed=1)
    train = per_user_holdout(log.interactions, test_fraction=0.25, seed=0).train
    return Trained(train, EASE(l2=50.0).fit(train))


@pytest.fixture(scope="session")
def rows(trained: Trained) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return healthy_rows(trained.model, trained.train), drifted_rows(trained.model, trained.train)


@pytest.fixture
def logged(
    store: Store, trained: Trained, rows: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> Logged:
    registry = Registry(store)
    registry.register("recs", trained.model, data=trained.train, verify=False)
    registry.promote("recs", 1)
    healthy, drifted = rows
    write(store.config.home, healthy, seq=0)
    write(store.config.home, drifted, seq=1)
    return Logged(registry, healthy, drifted)
