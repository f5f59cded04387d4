"""Save and load fitted models: a directory with ``params.json`` and ``arrays.npz``, no pickle.

``params.json`` records the class, the reelflow version, the constructor parameters and how each
learned array is stored; ``arrays.npz`` holds the arrays (read back with ``allow_pickle=False``).
Object-dtype ids (Python ints or strings) are stored as int64 or unicode arrays with their kind
recorded, so int and str ids come back exactly, as object arrays again.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from reelflow._errors import ModelError

if TYPE_CHECKING:
    from reelflow.models._base import Recommender

FORMAT = 1
PARAMS = "params.json"
ARRAYS = "arrays.npz"
BASE_STATE = ("users_", "items_", "seen_", "item_counts_")


def save_model(model: Recommender, path: Path) -> Path:
    """Write ``model`` into directory ``path`` (created if needed) and return the path."""
    arrays: dict[str, np.ndarray] = {}
    kinds = {name: _pack(name, getattr(model, name), arrays) for name in _state_names(model)}
    meta = {
        "format": FORMAT,
        "class": type(model).__name__,
        "module": type(model).__module__,
        "reelflow_version": _version(),
        "params": model.get_params(),
        "arrays": kinds,
    }
    try:
        text = json.dumps(meta, indent=2, sort_keys=True, default=_json_scalar)
    except TypeError:
        raise ModelError(
            f"{type(model).__name__} parameters {model.get_params()} cannot be saved; "
            "use numbers, strings, booleans or None"
        ) from None
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / ARRAYS, **arrays)  # type: ignore[arg-type]  # stubs reserve allow_pickle
    (path / PARAMS).write_text(text + "\n", encoding="utf-8")
    return path


def load_model(
    cls: type[Recommender], path: Path, registry: dict[str, type[Recommender]]
) -> Recommender:
    """Read the model in ``path``; ``cls`` must be its class, or the base ``Recommender``."""
    meta = _read_meta(path)
    target = _resolve_class(meta, registry)
    if cls.__name__ in registry and cls is not target:
        raise ModelError(
            f"{path} holds a {target.__name__}, not a {cls.__name__}; "
            f"load it with {target.__name__}.load or Recommender.load"
        )
    if cls is not target and "load" in vars(target):
        return target.load(path)  # a model with its own layout (a reranker)
    model = target(**meta["params"])
    model._check_params()
    kinds: dict[str, str] = meta["arrays"]
    missing = [name for name in _state_names(model) if name not in kinds]
    if missing:
        raise ModelError(f"{path / PARAMS} lists no {missing[0]}; save the model again")
    try:
        with np.load(path / ARRAYS, allow_pickle=False) as stored:
            for name in _state_names(model):
                setattr(model, name, _unpack(name, kinds[name], stored))
    except (KeyError, ValueError, OSError) as exc:
        raise ModelError(f"{path / ARRAYS} is damaged ({exc}); save the model again") from None
    return model


def _state_names(model: Recommender) -> tuple[str, ...]:
    return (*BASE_STATE, *model._learned)


# --- packing -----------------------------------------------------------------------------------


def _pack(name: str, value: Any, arrays: dict[str, np.ndarray]) -> str:
    from reelflow.data import IdIndex

    if isinstance(value, IdIndex):
        arrays[name], kind = _pack_labels(name, value.ids)
        return f"ids:{kind}"
    if sp.issparse(value):
        matrix = sp.csr_matrix(value)
        arrays[f"{name}.data"] = matrix.data
        arrays[f"{name}.indices"] = matrix.indices
        arrays[f"{name}.indptr"] = matrix.indptr
        arrays[f"{name}.shape"] = np.asarray(matrix.shape, dtype=np.int64)
        return "csr"
    array = np.asarray(value)
    if array.dtype == object:
        arrays[name], kind = _pack_labels(name, array)
        return f"labels:{kind}"
    arrays[name] = array
    return "array"


def _pack_labels(name: str, values: np.ndarray) -> tuple[np.ndarray, str]:
    if values.dtype != object:
        return values, "native"
    items = values.tolist()
    if all(isinstance(v, str) for v in items):
        return np.asarray(items, dtype=np.str_), "str"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        try:
            return np.asarray(items, dtype=np.int64), "int"
        except OverflowError:
            pass
    kinds = sorted({type(v).__name__ for v in items})
    raise ModelError(
        f"'{name}' holds ids of type {', '.join(kinds)}, which cannot be saved without pickle; "
        "use int or str ids"
    )


def _unpack(name: str, kind: str, stored: Any) -> Any:
    from reelflow.data import IdIndex

    if kind == "csr":
        shape = tuple(int(n) for n in stored[f"{name}.shape"])
        parts = (stored[f"{name}.data"], stored[f"{name}.indices"], stored[f"{name}.indptr"])
        return sp.csr_matrix(parts, shape=shape)
    if kind == "array":
        return stored[name]
    family, _, label_kind = kind.partition(":")
    labels = _unpack_labels(stored[name], label_kind)
    return IdIndex(labels) if family == "ids" else labels


def _unpack_labels(values: np.ndarray, kind: str) -> np.ndarray:
    if kind == "native":
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = values.tolist()
    return out


# --- metadata ----------------------------------------------------------------------------------


def _read_meta(path: Path) -> dict[str, Any]:
    if not (path / PARAMS).is_file() or not (path / ARRAYS).is_file():
        raise ModelError(
            f"{path} holds no saved model ({PARAMS} or {ARRAYS} is missing); "
            "pass a directory written by model.save"
        )
    meta: dict[str, Any] = json.loads((path / PARAMS).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ModelError(
            f"{path} uses save format {meta.get('format')!r}, this reelflow reads {FORMAT}; "
            "save the model again with this version"
        )
    return meta


def _resolve_class(
    meta: dict[str, Any], registry: dict[str, type[Recommender]]
) -> type[Recommender]:
    name, module = meta.get("class"), str(meta.get("module", ""))
    if name not in registry and module.startswith("reelflow.models."):
        importlib.import_module(module)  # reelflow's own models register on import
    if name not in registry:
        raise ModelError(
            f"the saved model's class {name!r} is not known; import the module defining it "
            "before loading"
        )
    return registry[name]


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _version() -> str:
    from reelflow import __version__

    return __version__
