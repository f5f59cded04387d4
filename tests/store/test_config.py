"""Where the store lives: environment, reelflow.toml, or the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow._errors import ConfigError
from reelflow.store import resolve_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REELFLOW_HOME", raising=False)
    monkeypatch.delenv("REELFLOW_DB", raising=False)


def test_default_is_dot_reelflow_with_sqlite(tmp_path: Path) -> None:
    config = resolve_config(tmp_path)
    assert config.home == tmp_path / ".reelflow"
    assert config.db_url == f"sqlite:///{tmp_path / '.reelflow' / 'metadata.db'}"


def test_config_file_then_environment_take_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "reelflow.toml").write_text('[store]\nhome = "shared"\ndb = "sqlite:///x.db"\n')
    config = resolve_config(tmp_path)
    assert (config.home, config.db_url) == (tmp_path / "shared", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("REELFLOW_HOME", str(tmp_path / "env"))
    monkeypatch.setenv("REELFLOW_DB", "sqlite:////data/y.db")
    config = resolve_config(tmp_path)
    assert (config.home, config.db_url) == (tmp_path / "env", "sqlite:////data/y.db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[store\nhome=1", "fix the TOML syntax"),
        ('[store]\nroot = "x"\n', "unknown setting \\[store\\] root"),
        ('store = "x"\n', "must be a table"),
    ],
)
def test_bad_config_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "reelflow.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve_config(tmp_path)


def test_a_relative_sqlite_path_is_anchored_like_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REELFLOW_DB", "sqlite:///meta/runs.db")
    assert resolve_config(tmp_path).db_url == f"sqlite:///{tmp_path / 'meta' / 'runs.db'}"
    monkeypatch.setenv("REELFLOW_DB", "sqlite:////abs/runs.db")
    assert resolve_config(tmp_path).db_url == "sqlite:////abs/runs.db"
