"""Model references as users write them: ``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reelflow._errors import RegistryError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a name with at most one of an alias or a version."""

    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name if self.version is None else f"{self.name}:{self.version}"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RegistryError(
            f"model name {name!r} is invalid; use letters, digits, '.', '_' or '-' "
            "(up to 200, starting with a letter or digit)"
        )
    return name


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias):
        raise RegistryError(
            f"alias {alias!r} is invalid; use letters, digits, '_' or '-', starting with a letter"
        )
    return alias


def parse_ref(text: str) -> ModelRef:
    """``recs``, ``recs@champion`` or ``recs:3``, checked."""
    if not isinstance(text, str):
        raise RegistryError(
            f"model reference {text!r} is not a string; write NAME[@ALIAS|:VERSION]"
        )
    if "@" in text:
        name, alias = text.split("@", 1)
        return ModelRef(check_name(name), alias=check_alias(alias))
    if ":" in text:
        name, version = text.split(":", 1)
        if not version.isdigit() or int(version) < 1:
            raise RegistryError(
                f"version {version!r} in {text!r} is invalid; write NAME:VERSION with VERSION >= 1"
            )
        return ModelRef(check_name(name), version=int(version))
    return ModelRef(check_name(text))
