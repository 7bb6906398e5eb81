"""TOML loading with errors that name the file, plus the user's cache locations."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CACHE_ENV = "RANKKIT_CACHE"


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file.

    Raises:
        ConfigError: Naming the file (and tomllib's line and column) when it is missing or invalid.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


def cache_dir() -> Path:
    """Root of rankkit's caches: ``$RANKKIT_CACHE``, else ``$XDG_CACHE_HOME/rankkit``, else ``~/.cache/rankkit``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rankkit"


def require(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    """``table[key]``, checked to be present and of type ``kind``.

    Raises:
        ConfigError: Naming ``where`` and the key.
    """
    if key not in table:
        raise ConfigError(f"{where}: missing required key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: key {key!r} must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value
