"""The OpenAPI spec fuzzed with schemathesis: no 5xx, and answers that match the spec.

Operations are driven through schemathesis' strategies with Hypothesis directly (its pytest
plugin does not run under this pytest version)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from reelflow.serve._app import create_app
from reelflow.serve._service import Service

from .conftest import TOKEN

FUZZED = ["GET /recommendations/{user_id}", "POST /recommendations", "GET /ready", "GET /health"]


@pytest.mark.parametrize("label", FUZZED)
def test_the_api_matches_its_spec_and_never_answers_5xx(service: Service, label: str) -> None:
    service.start()
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(service, token=TOKEN))
    operations = {op.ok().label: op.ok() for op in schema.get_all_operations()}
    assert set(FUZZED) <= set(operations), sorted(operations)

    @given(case=operations[label].as_strategy())
    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate()

    fuzz()
