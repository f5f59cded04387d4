"""The serving settings: what to serve, the limits requests are held to, the time budget."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from reelflow._errors import UsageError

SETTINGS_ENV = "REELFLOW_SERVE_SETTINGS"
TOKEN_ENV = "REELFLOW_ADMIN_TOKEN"


@dataclass(frozen=True)
class ServeSettings:
    """Everything a server process needs; passed to worker processes as JSON in the
    environment (the admin token travels separately, in ``REELFLOW_ADMIN_TOKEN``)."""

    model: str
    store_home: str
    store_db: str
    store_artifacts: str | None = None
    fallback: str | None = None
    default_k: int = 10
    max_k: int = 100
    max_batch: int = 256
    max_body_bytes: int = 256 * 1024
    budget_ms: float = 50.0
    poll_seconds: float = 10.0
    log_sample: float = 0.1
    log_flush_rows: int = 5000
    log_flush_seconds: float = 5.0
    log_queue_rows: int = 100_000
    smoke_users: int = 50
    model_threads: int = 2
    precompute_mb: int = 512

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.default_k <= self.max_k, "default_k must be between 1 and max_k"),
            (1 <= self.max_k <= 10_000, "max_k must be between 1 and 10000"),
            (1 <= self.max_batch <= 100_000, "max_batch must be between 1 and 100000"),
            (self.max_body_bytes >= 1024, "max_body_bytes must be at least 1024"),
            (self.budget_ms > 0, "budget_ms must be positive"),
            (self.poll_seconds > 0, "poll_seconds must be positive"),
            (0.0 <= self.log_sample <= 1.0, "log_sample must be between 0 and 1"),
            (self.log_flush_rows >= 1 and self.log_queue_rows >= 1, "log sizes must be >= 1"),
            (self.model_threads >= 1, "model_threads must be >= 1"),
            (self.precompute_mb >= 0, "precompute_mb must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(f"serve settings: {message}")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise UsageError(f"{SETTINGS_ENV} is not set; start the server with 'reelflow serve'")
        values: dict[str, Any] = json.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def admin_token() -> str | None:
    """The token admin endpoints require (None: admin endpoints are disabled)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None
