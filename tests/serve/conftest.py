"""A registry with a served model, a regional popularity fallback, and a service around them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from reelflow.data import Interactions, generate_interactions
from reelflow.models import EASE, MostPopular
from reelflow.registry import Registry
from reelflow.serve._app import create_app
from reelflow.serve._service import Service
from reelflow.serve._settings import ServeSettings
from reelflow.store import Store

TOKEN = "s3cret-token"


@pytest.fixture(scope="session")
def log() -> Interactions:
    return generate_interactions(
        n_users=400, n_items=150, n_interactions=12000, seed=3
    ).interactions


@pytest.fixture
def registry(store: Store, log: Interactions) -> Registry:
    registry = Registry(store)
    registry.register("recs", EASE(l2=100.0).fit(log), data=log, verify=False)
    registry.register("popular", MostPopular(by="region").fit(log), verify=False)
    registry.promote("recs", 1)
    return registry


def settings_for(store: Store, **overrides: Any) -> ServeSettings:
    values: dict[str, Any] = {
        "model": "recs@champion",
        "store_home": str(store.config.home),
        "store_db": store.config.db_url,
        "fallback": "popular:1",
        "poll_seconds": 3600.0,
        "log_sample": 0.0,
        "budget_ms": 2000.0,
        **overrides,
    }
    return ServeSettings(**values)


@pytest.fixture
def service(store: Store, registry: Registry) -> Service:
    return Service(settings_for(store), registry)


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service, token=TOKEN)) as test_client:
        yield test_client


def known_user(log: Interactions) -> str:
    return str(log.users.ids[0])


def user_seen(log: Interactions, user: str) -> set[str]:
    index = int(log.users.indices([int(user)])[0])
    return {str(log.items.ids[i]) for i in log.item[log.user == index]}


def store_path(store: Store) -> Path:
    return store.config.home
