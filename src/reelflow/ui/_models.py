"""What the registry pages show: models, versions with lineage and metrics, aliases, and the
audit history of every alias move with the evidence of the promotion that decided it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from reelflow._errors import RegistryError
from reelflow.guards import GuardResult
from reelflow.registry import ModelVersion, Registry
from reelflow.store._guards import GuardResultStore, result_fields
from reelflow.ui._params import NotFound, whole


def model_list(registry: Registry) -> list[dict[str, Any]]:
    return sorted(registry.models(), key=lambda m: str(m["name"]))


def model_detail(registry: Registry, name: str) -> dict[str, Any]:
    """Every version (newest first), the aliases, the history and each promotion's results."""
    try:
        versions = registry.versions(name)
    except RegistryError:
        raise NotFound(f"no model named {name!r} in the registry") from None
    promotions = {p["id"]: p for p in registry.promotions(name)}
    results = _promotion_results(registry, list(promotions))
    history = []
    for event in reversed(registry.history(name)):
        promotion = promotions.get(event["promotion_id"]) if event["promotion_id"] else None
        history.append({**event, "promotion": _promotion(promotion, results)})
    refused = [
        {
            "created_at": p["created_at"],
            "alias": p["alias"],
            "from_version": p["champion_version"],
            "to_version": p["version"],
            "action": p["status"],
            "actor": p["actor"],
            "reason": p["reason"],
            "promotion_id": p["id"],
            "promotion": _promotion(p, results),
        }
        for p in promotions.values()
        if p["status"] not in ("promoted", "forced")
    ]
    events = sorted(history + refused, key=lambda e: -float(e["created_at"]))
    aliases = {a: v.version for v in versions for a in v.aliases}
    return {"name": name, "aliases": aliases, "versions": [version_summary(v) for v in versions],
            "history": events}  # fmt: skip


def version_summary(version: ModelVersion) -> dict[str, Any]:
    data = asdict(version)
    data.pop("files")
    data["ref"] = version.ref
    data["files"] = len(version.files) or None  # versions() lists them without their files
    data["bytes"] = sum(f[2] for f in version.files) or None
    data["run_id"] = whole(version.lineage.get("run_id"))
    return data


def _promotion_results(registry: Registry, ids: list[int]) -> dict[int, list[GuardResult]]:
    """The gate results of every promotion in ``ids``, read in one query."""
    if not ids:
        return {}
    rows = GuardResultStore(registry.store.metadata).query(subjects=[f"promotion:{i}" for i in ids])
    found: dict[int, list[GuardResult]] = {}
    for row in rows:
        number = whole(str(row["subject"]).partition(":")[2])
        if number is not None:
            found.setdefault(number, []).append(GuardResult.from_record(result_fields(row)))
    return found


def _promotion(
    promotion: dict[str, Any] | None, results: dict[int, list[GuardResult]]
) -> dict[str, Any] | None:
    if promotion is None:
        return None
    return {
        **promotion,
        "results": [
            {
                "name": r.name,
                "status": r.status,
                "value": r.value,
                "threshold": r.threshold,
                "message": r.message,
            }
            for r in results.get(int(promotion["id"]), [])
        ],
    }
