"""``Registry``: register model versions, move aliases only through gates, keep the history."""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelflow._errors import PromotionRefusedError, RegistryError
from reelflow.guards import GuardResult
from reelflow.registry._files import CACHE_DIR, materialize, store_model_files
from reelflow.registry._lineage import current_lineage
from reelflow.registry._refs import ModelRef, check_alias, check_name, parse_ref
from reelflow.registry._versions import ModelVersion, Promotion
from reelflow.store import Store

if TYPE_CHECKING:
    from reelflow.guards._gates import Gate
    from reelflow.models import Recommender
    from reelflow.store._registry import RegistryTables

CHAMPION = "champion"


class Registry:
    """The model registry of a store (the working directory's by default)."""

    def __init__(self, store: Store | str | Path | None = None) -> None:
        self.store = store if isinstance(store, Store) else Store.open(store)

    @property
    def _tables(self) -> RegistryTables:
        from reelflow.store._registry import RegistryTables

        return RegistryTables(self.store.metadata)

    # --- versions ------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model: Recommender,
        *,
        metrics: Mapping[str, float] | None = None,
        data: Any = None,
        importance: Mapping[str, float] | None = None,
        guard_results: Iterable[GuardResult] = (),
        description: str = "",
        lineage: Mapping[str, Any] | None = None,
        verify: bool = True,
    ) -> ModelVersion:
        """Store a fitted model as the next version of ``name`` and return it.

        ``data`` (the training ``Interactions``) gives the data fingerprint; lineage (flow,
        run, step, task, git commit) is filled in automatically inside a flow step. With
        ``verify`` the saved model must load and answer in a fresh process first, so a model
        that cannot be loaded is never published.
        """
        check_name(name)
        files = store_model_files(model, self.store.objects)
        if verify:
            self._verify_files(name, files)
        row = {
            "model_class": type(model).__name__,
            "params": _json_params(model),
            "metrics": {str(k): float(v) for k, v in (metrics or {}).items()},
            "lineage": {**current_lineage(), **(lineage or {})},
            "data_fingerprint": getattr(data, "fingerprint", None) if data is not None else None,
            "importance": None if importance is None else _importance(importance),
            "profile_key": None if data is None else self._store_profile(model, data),
            "description": description,
            "user": _user(),
        }
        version = self._tables.add_version(name, row, files)
        records = [r.to_record() for r in guard_results]
        if records:
            from reelflow.store._guards import GuardResultStore

            GuardResultStore(self.store.metadata).add(records, subject=f"model:{name}:{version}")
        return self.get(f"{name}:{version}")

    def get(self, ref: str, *, version: int | None = None) -> ModelVersion:
        """The version ``ref`` names: ``NAME:VERSION``, ``NAME@ALIAS`` or ``NAME`` (latest)."""
        parsed = parse_ref(ref)
        if version is not None:
            parsed = ModelRef(parsed.name, version=version)
        number = self._resolve(parsed)
        row = self._tables.get_version(parsed.name, number)
        if row is None:
            raise RegistryError(f"model {parsed.name} has no version {number}")
        return ModelVersion.from_row(row, self._aliases_of(parsed.name, number))

    def load(self, ref: str | ModelVersion) -> Recommender:
        """The fitted model of a version, read from the store (no pickle)."""
        from reelflow.models import Recommender

        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        return Recommender.load(self.folder(version))

    def folder(self, version: ModelVersion) -> Path:
        """A local folder holding the version's saved files (verified, cached under the store)."""
        if not version.files:
            version = self.get(version.ref)
        return materialize(version.files, self.store.objects, self.store.config.home / CACHE_DIR)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        check_name(name)
        rows = self._tables.list_versions(name)
        if not rows:
            raise RegistryError(
                f"no model named {name!r} in the registry; see 'reelflow models list'"
            )
        aliases = self._alias_map(name)
        return [ModelVersion.from_row(r, aliases.get(int(r["version"]), ())) for r in rows]

    def models(self) -> list[dict[str, Any]]:
        """One line per model name: latest version, its count of versions and its aliases."""
        summary: dict[str, dict[str, Any]] = {}
        for row in self._tables.list_versions():
            entry = summary.setdefault(
                row["name"], {"name": row["name"], "latest": row["version"], "versions": 0}
            )
            entry["versions"] += 1
            entry["latest"] = max(entry["latest"], row["version"])
        for alias in self._tables.aliases():
            summary[alias["name"]].setdefault("aliases", {})[alias["alias"]] = alias["version"]
        return [{"aliases": {}, **entry} for entry in summary.values()]

    def importance_history(self, name: str) -> list[dict[str, Any]]:
        """Each version's stored feature importance, oldest first (versions without skipped)."""
        rows = reversed(self._tables.list_versions(check_name(name)))
        return [
            {"version": r["version"], "created_at": r["created_at"], "importance": r["importance"]}
            for r in rows
            if r["importance"]
        ]

    # --- aliases -------------------------------------------------------------------------------

    def promote(
        self,
        name: str,
        version: int,
        *,
        gates: Sequence[Gate] = (),
        alias: str = CHAMPION,
        data: Any = None,
        force: bool = False,
        reason: str | None = None,
        raise_on_refusal: bool = True,
    ) -> Promotion:
        """Run ``gates`` on ``name:version`` against the current holder of ``alias`` and move the
        alias only if no blocking gate failed (or ``force`` with a ``reason``, recorded).

        Every result and the decision are recorded. Two promotions at once: the alias moves only
        if it still points where it pointed when the gates ran, so exactly one wins.
        """
        from reelflow.registry._promote import run_promotion

        check_alias(alias)
        if force and not (reason and reason.strip()):
            raise RegistryError("--force needs a reason; say why the gates are overridden")
        promotion = run_promotion(
            self, self.get(f"{name}:{version}"), gates, alias, data, force, reason, _user()
        )
        if raise_on_refusal and not promotion.promoted:
            raise PromotionRefusedError(promotion.summary())
        return promotion

    def rollback(self, name: str, *, alias: str = CHAMPION, reason: str | None = None) -> int:
        """Move ``alias`` back to the version it pointed at before its last move; returns it."""
        check_name(name)
        current = self._tables.alias_version(name, check_alias(alias))
        if current is None:
            raise RegistryError(f"{name}@{alias} is not set; there is nothing to roll back")
        previous = _previous_version(self._tables.alias_events(name, alias), current)
        if previous is None:
            raise RegistryError(f"{name}@{alias} has no earlier version to roll back to")
        moved = self._tables.move_alias(
            name,
            alias,
            expected=current,
            to=previous,
            action="rollback",
            actor=_user(),
            reason=reason,
        )
        if not moved:
            raise RegistryError(f"{name}@{alias} moved during the rollback; run it again")
        return previous

    def set_alias(
        self, name: str, alias: str, version: int | None, *, reason: str | None = None
    ) -> None:
        """Point ``alias`` at a version (None removes it) without gates; not for ``champion``."""
        if check_alias(alias) == CHAMPION:
            raise RegistryError("the champion alias moves only by promote or rollback")
        if version is not None:
            self.get(f"{name}:{version}")
        current = self._tables.alias_version(check_name(name), alias)
        self._tables.move_alias(
            name, alias, expected=current, to=version, action="set", actor=_user(), reason=reason
        )

    def history(self, name: str, *, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias move of ``name`` (who, when, why, from and to, the promotion's evidence),
        oldest first."""
        return self._tables.alias_events(check_name(name), alias)

    def promotions(self, name: str) -> list[dict[str, Any]]:
        """Every promotion attempted for ``name``, with its status, oldest first."""
        return self._tables.promotions(check_name(name))

    def promotion_results(self, promotion_id: int) -> list[GuardResult]:
        """The gate results recorded for one promotion."""
        from reelflow.store._guards import GuardResultStore, result_fields

        rows = GuardResultStore(self.store.metadata).query(subject=f"promotion:{promotion_id}")
        return [GuardResult.from_record(result_fields(row)) for row in rows]

    def profile(self, ref: str | ModelVersion) -> dict[str, Any] | None:
        """The reference profile stored with a version (registered with ``data=``), or None:
        training item popularity, user activity, context shares, and the model's answers on a
        sample (what ``reelflow monitor`` compares served traffic with)."""
        from reelflow.registry._profile import loads_profile

        version = ref if isinstance(ref, ModelVersion) else self.get(ref)
        if version.profile_key is None:
            return None
        return loads_profile(self.store.objects.read_bytes(version.profile_key))

    # --- helpers -------------------------------------------------------------------------------

    def _store_profile(self, model: Any, data: Any) -> str:
        from reelflow.registry._profile import dumps_profile, reference_profile

        return self.store.objects.put_bytes(dumps_profile(reference_profile(model, data))).key

    def _resolve(self, ref: ModelRef) -> int:
        if ref.version is not None:
            return ref.version
        if ref.alias is not None:
            number = self._tables.alias_version(ref.name, ref.alias)
            if number is None:
                raise RegistryError(f"{ref} is not set; promote a version to {ref.alias} first")
            return number
        rows = self._tables.list_versions(ref.name)
        if not rows:
            raise RegistryError(f"no model named {ref.name!r} in the registry")
        return int(rows[0]["version"])

    def _alias_map(self, name: str) -> dict[int, tuple[str, ...]]:
        mapping: dict[int, list[str]] = {}
        for row in self._tables.aliases(name):
            mapping.setdefault(int(row["version"]), []).append(row["alias"])
        return {version: tuple(aliases) for version, aliases in mapping.items()}

    def _aliases_of(self, name: str, version: int) -> tuple[str, ...]:
        return self._alias_map(name).get(version, ())

    def _verify_files(self, name: str, files: Sequence[tuple[str, str, int]]) -> None:
        from reelflow.registry._verify import check_loads

        folder = materialize(files, self.store.objects, self.store.config.home / CACHE_DIR)
        ok, how = check_loads(folder)
        if not ok:
            raise RegistryError(f"{name} was not registered: {how}")


def _previous_version(events: list[dict[str, Any]], current: int) -> int | None:
    """The version the alias held before it was promoted (or set) to ``current``; rollbacks
    are skipped, so rolling back twice walks two steps back instead of swapping."""
    for event in reversed(events):
        if event["to_version"] == current and event["action"] != "rollback":
            return None if event["from_version"] is None else int(event["from_version"])
    return None


def _json_params(model: Any) -> dict[str, Any]:
    params = model.get_params() if hasattr(model, "get_params") else {}
    return {
        k: v if isinstance(v, str | int | float | bool | None) else repr(v)
        for k, v in params.items()
    }


def _importance(values: Mapping[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.items()}


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
