"""The service's OpenAPI 3.1 description, written out so the contract is explicit (and fuzzed
by schemathesis in the tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reelflow.serve._settings import ServeSettings

ID = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\x00-\\x1f\\x7f]+$"}
ERROR = {
    "description": "The request is malformed or out of bounds.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            }
        }
    },
}


def _list_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["user_id", "items", "scores", "fallback"],
        "properties": {
            "user_id": {"type": "string"},
            "items": {"type": "array", "items": {"type": "string"}},
            "scores": {"type": "array", "items": {"type": "number"}},
            "fallback": {
                "type": ["string", "null"],
                "enum": ["cold_start", "timeout", "error", None],
                "description": "Why the popularity fallback answered; null when the model did.",
            },
        },
    }


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_spec(settings: ServeSettings, regions: frozenset[str] | None = None) -> dict[str, Any]:
    """The spec, with the configured limits as bounds and the known regions as an enum."""
    region = ID if regions is None else {"type": "string", "enum": sorted(regions)}
    k = {"type": "integer", "minimum": 1, "maximum": settings.max_k, "default": settings.default_k}
    model = {"model": {"type": "string"}, "version": {"type": "integer"}}
    one = {**_list_schema()}
    one["properties"] = {**model, **one["properties"]}
    one["required"] = [*one["required"], "model", "version"]
    batch_body = {
        "type": "object",
        "required": ["users"],
        "additionalProperties": False,
        "properties": {
            "users": {"type": "array", "items": ID, "minItems": 1, "maxItems": settings.max_batch},
            "k": k,
            "context": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"region": region},
            },
            "exclude": {"type": "array", "items": ID, "maxItems": settings.max_k * 10},
        },
    }
    batch_answer = {
        "type": "object",
        "required": ["model", "version", "recommendations"],
        "properties": {**model, "recommendations": {"type": "array", "items": _list_schema()}},
    }
    errors = {"400": ERROR, "413": ERROR, "422": ERROR}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"reelflow: {settings.model}", "version": "1"},
        "paths": {
            "/recommendations/{user_id}": {
                "get": {
                    "summary": "Top-k items for one user",
                    "parameters": [
                        {"name": "user_id", "in": "path", "required": True, "schema": ID},
                        {"name": "k", "in": "query", "required": False, "schema": k},
                        {"name": "region", "in": "query", "required": False, "schema": region},
                        {
                            "name": "exclude",
                            "in": "query",
                            "required": False,
                            "description": "Comma-separated item ids to leave out (POST "
                            "/recommendations takes longer lists).",
                            "schema": {
                                "type": "string",
                                "maxLength": 256,
                                "pattern": "^[^\\x00-\\x1f\\x7f]*$",
                            },
                        },
                    ],
                    "responses": {"200": _ok(one, "The list and who answered it."), **errors},
                }
            },
            "/recommendations": {
                "post": {
                    "summary": "Top-k items for a batch of users",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": batch_body}},
                    },
                    "responses": {"200": _ok(batch_answer, "One list per user."), **errors},
                }
            },
            "/health": {
                "get": {
                    "summary": "The process is up",
                    "responses": {"200": _ok({"type": "object"}, "Up.")},
                }
            },
            "/ready": {
                "get": {
                    "summary": "A model is loaded and warmed up",
                    "responses": {
                        "200": _ok({"type": "object"}, "Ready."),
                        "503": {"description": "Not ready yet."},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "Exposition text.", "content": {"text/plain": {}}}
                    },
                }
            },
        },
    }
