"""One promotion: run the gates against the alias's current holder, record every result, and
move the alias in one transaction only if the gates allow it (or it is forced, with a reason)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from reelflow._errors import RegistryError
from reelflow.guards import GuardResult
from reelflow.registry._context import PromotionContext
from reelflow.registry._versions import ModelVersion, Promotion

if TYPE_CHECKING:
    from reelflow.guards._gates import Gate
    from reelflow.registry._registry import Registry


def run_promotion(
    registry: Registry,
    candidate: ModelVersion,
    gates: Sequence[Gate],
    alias: str,
    data: Any,
    force: bool,
    reason: str | None,
    actor: str | None,
) -> Promotion:
    """Evaluate, record and decide; the returned ``Promotion`` says what happened."""
    tables = registry._tables
    name = candidate.name
    champion_version = tables.alias_version(name, alias)
    if champion_version == candidate.version:
        raise RegistryError(f"{candidate.ref} already is {name}@{alias}")
    champion = None if champion_version is None else registry.get(f"{name}:{champion_version}")
    promotion_id = tables.start_promotion(
        {
            "name": name,
            "version": candidate.version,
            "alias": alias,
            "champion_version": champion_version,
            "forced": int(force),
            "reason": reason,
            "actor": actor,
        }
    )
    context = PromotionContext(
        candidate, champion, load=registry.load, folder=registry.folder, data=data
    )
    results = tuple(result for gate in gates for result in _run_gate(gate, context))
    _record(registry, promotion_id, results)
    blocked = any(r.blocking for r in results)
    if blocked and not force:
        tables.finish_promotion(promotion_id, "refused")
        status = "refused"
    else:
        status = "forced" if blocked else "promoted"
        moved = tables.move_alias(
            name,
            alias,
            expected=champion_version,
            to=candidate.version,
            action=status if status == "forced" else "promote",
            actor=actor,
            reason=reason,
            promotion=(promotion_id, status),
        )
        status = status if moved else "conflict"
    return Promotion(
        promotion_id, name, candidate.version, alias, champion_version, status, results, reason
    )


def _run_gate(gate: Gate, context: PromotionContext) -> list[GuardResult]:
    """The gate's results; a gate that raises fails (blocking) with the reason, never crashes."""
    try:
        outcome = gate(context)
    except Exception as exc:  # a gate's bug or missing evidence must not crash the promotion
        name = getattr(gate, "__qualname__", type(gate).__name__).split(".")[0]
        message = f"the gate could not run: {type(exc).__name__}: {exc}"
        return [GuardResult(name, False, "block", message=message)]
    return [outcome] if isinstance(outcome, GuardResult) else list(outcome)


def _record(registry: Registry, promotion_id: int, results: Sequence[GuardResult]) -> None:
    from reelflow.store._guards import GuardResultStore

    store = GuardResultStore(registry.store.metadata)
    store.add([r.to_record() for r in results], subject=f"promotion:{promotion_id}")
