"""Where a store lives: ``REELFLOW_HOME`` / ``REELFLOW_DB`` / ``REELFLOW_ARTIFACTS``, a
``reelflow.toml``, or ``.reelflow/``.

Precedence, highest first: environment variables, then ``reelflow.toml`` in the working directory
(``[store] home = "..."``, ``db = "..."`` and ``artifacts = "..."``), then the embedded default:
artifacts and a SQLite database under ``.reelflow/`` in the working directory. ``artifacts`` moves
the objects elsewhere (``s3://bucket/prefix`` for a cluster); ``home`` still holds what is local
to one machine (live logs, caches, reports).
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
    """The local root, the metadata database URL and where the artifacts live, of one store."""

    home: Path
    db_url: str
    artifacts: str | None = None  # None: under ``home``

    @classmethod
    def at(
        cls, home: str | os.PathLike[str], db_url: str | None = None, artifacts: str | None = None
    ) -> StoreConfig:
        root = Path(home).expanduser().resolve()
        return cls(
            home=root, db_url=db_url or f"sqlite:///{root / 'metadata.db'}", artifacts=artifacts
        )

    @property
    def artifacts_location(self) -> str:
        """Where the objects are: the ``artifacts`` URL, or ``home``."""
        return self.artifacts or str(self.home)


def resolve_config(cwd: str | os.PathLike[str] | None = None) -> StoreConfig:
    """The store configuration that applies in ``cwd`` (the working directory by default)."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    file_settings = _read_config_file(base / CONFIG_FILE)
    home = os.environ.get("REELFLOW_HOME") or file_settings.get("home") or DEFAULT_HOME
    db_url = os.environ.get("REELFLOW_DB") or file_settings.get("db")
    artifacts = os.environ.get("REELFLOW_ARTIFACTS") or file_settings.get("artifacts")
    home_path = Path(home).expanduser()
    if not home_path.is_absolute():
        home_path = base / home_path
    return StoreConfig.at(home_path, _anchored(db_url, base), _artifacts(artifacts, base))


def _artifacts(location: str | None, base: Path) -> str | None:
    """An artifacts URL as given, or a local folder made absolute from ``base``."""
    if not location:
        return None
    if "://" in location:
        scheme = location.partition("://")[0]
        if not scheme.replace("+", "").replace("-", "").isalnum():
            raise ConfigError(f"artifacts location {location!r} has no valid scheme; use s3://...")
        rest = location.partition("://")[2]
        if scheme in ("file", "local"):
            location = rest
        else:
            if not rest.strip("/"):
                raise ConfigError(
                    f"artifacts location {location!r} names no bucket; use {scheme}://BUCKET/PREFIX"
                )
            if "@" in rest.split("/", 1)[0]:
                raise ConfigError(
                    f"artifacts location {scheme}://...@... carries credentials: remove them from "
                    "the URL and give them to the filesystem (for S3: AWS_* variables, ~/.aws, "
                    "an instance role)"
                )
            return location.rstrip("/")
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


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
        raise ConfigError(f"{path}: [store] must be a table of 'home', 'db' and 'artifacts'")
    unknown = sorted(set(section) - {"home", "db", "artifacts"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting [store] {unknown[0]}; use 'home', 'db' or 'artifacts'"
        )
    return {k: str(v) for k, v in section.items()}
