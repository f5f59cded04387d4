"""Where a store lives: ``REELFLOW_HOME`` / ``REELFLOW_DB``, a ``reelflow.toml``, or ``.reelflow/``.

Precedence, highest first: environment variables, then ``reelflow.toml`` in the working directory
(``[store] home = "..."`` and ``db = "..."``), then the embedded default: artifacts and a SQLite
database under ``.reelflow/`` in the working directory.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reelflow._errors import ConfigError

CONFIG_FILE = "reelflow.toml"
DEFAULT_HOME = ".reelflow"


@dataclass(frozen=True)
class StoreConfig:
    """The artifact root and the metadata database URL of one store."""

    home: Path
    db_url: str

    @classmethod
    def at(cls, home: str | os.PathLike[str], db_url: str | None = None) -> StoreConfig:
        root = Path(home).expanduser().resolve()
        return cls(home=root, db_url=db_url or f"sqlite:///{root / 'metadata.db'}")


def resolve_config(cwd: str | os.PathLike[str] | None = None) -> StoreConfig:
    """The store configuration that applies in ``cwd`` (the working directory by default)."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    file_settings = _read_config_file(base / CONFIG_FILE)
    home = os.environ.get("REELFLOW_HOME") or file_settings.get("home") or DEFAULT_HOME
    db_url = os.environ.get("REELFLOW_DB") or file_settings.get("db")
    home_path = Path(home).expanduser()
    if not home_path.is_absolute():
        home_path = base / home_path
    return StoreConfig.at(home_path, _anchored(db_url, base))


def _anchored(db_url: str | None, base: Path) -> str | None:
    """A SQLite URL with a relative path made absolute from ``base``, as ``home`` is."""
    prefix = "sqlite:///"
    if db_url is None or not db_url.startswith(prefix) or db_url.startswith(prefix + "/"):
        return db_url
    path, query = db_url[len(prefix) :].partition("?")[::2]
    if not path or path == ":memory:":
        return db_url
    anchored = f"{prefix}{(base / path).resolve()}"
    return f"{anchored}?{query}" if query else anchored


def _read_config_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix the TOML syntax") from None
    section = data.get("store", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [store] must be a table with 'home' and/or 'db'")
    unknown = sorted(set(section) - {"home", "db"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting [store] {unknown[0]}; use 'home' or 'db'")
    return {k: str(v) for k, v in section.items()}
