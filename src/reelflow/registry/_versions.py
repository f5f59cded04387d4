"""What the registry returns: a model version, a promotion's decision, an alias move."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reelflow.guards import GuardResult, verdict


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: its lineage, metrics, files in the store and current aliases."""

    name: str
    version: int
    created_at: float
    model_class: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    data_fingerprint: str | None
    importance: dict[str, float] | None
    profile_key: str | None
    description: str
    user: str | None
    aliases: tuple[str, ...] = ()
    files: tuple[tuple[str, str, int], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @classmethod
    def from_row(cls, row: dict[str, Any], aliases: tuple[str, ...] = ()) -> ModelVersion:
        return cls(
            name=row["name"],
            version=int(row["version"]),
            created_at=float(row["created_at"]),
            model_class=row["model_class"],
            params=row["params"],
            metrics=row["metrics"],
            lineage=row["lineage"],
            data_fingerprint=row["data_fingerprint"],
            importance=row["importance"],
            profile_key=row.get("profile_key"),
            description=row["description"],
            user=row["user"],
            aliases=aliases,
            files=tuple((str(p), str(k), int(s)) for p, k, s in row.get("files", ())),
        )


@dataclass(frozen=True)
class Promotion:
    """The outcome of ``Registry.promote``: every gate's result and what was decided.

    ``status`` is ``promoted``, ``forced`` (promoted past a failed gate, with a reason),
    ``refused`` (a blocking gate failed) or ``conflict`` (the alias moved during evaluation).
    """

    id: int
    name: str
    version: int
    alias: str
    champion_version: int | None
    status: str
    results: tuple[GuardResult, ...] = field(default_factory=tuple)
    reason: str | None = None

    @property
    def promoted(self) -> bool:
        return self.status in ("promoted", "forced")

    @property
    def verdict(self) -> str:
        return verdict(self.results)

    def summary(self) -> str:
        """One sentence a person reads: what happened and, when refused, the first reason."""
        target = f"{self.name}:{self.version}"
        if self.status == "promoted":
            return f"promoted {target} to {self.alias} ({len(self.results)} gates passed)"
        if self.status == "forced":
            return f"forced {target} to {self.alias} past failed gates: {self.reason}"
        failed = [r for r in self.results if r.blocking]
        why = failed[0].summary() if failed else (self.reason or "")
        if self.status == "conflict":
            return f"not promoted: {self.alias} moved while {target} was evaluated; run it again"
        return f"refused {target} for {self.alias}: {why}"
