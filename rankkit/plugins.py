"""Plugin manager factory: entry-point loading, blocking and named load errors.

Nothing here runs at import time. :func:`load_plugins` builds a fresh
:class:`pluggy.PluginManager` every call, so tests and embedding applications
never share plugin state.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from rankkit import hookspecs
from rankkit.errors import PluginError

DISABLE_AUTOLOAD_ENV = "RANKKIT_DISABLE_PLUGIN_AUTOLOAD"
DISABLE_PLUGINS_ENV = "RANKKIT_DISABLE_PLUGINS"
CORE_PLUGIN_NAME = "rankkit"


@dataclass(frozen=True)
class PluginSettings:
    """How plugins are loaded.

    Attributes:
        disabled: Entry-point names to block.
        autoload: Load the ``rankkit`` entry-point group at all.
        strict: Turn any plugin load failure into an error.
    """

    disabled: frozenset[str] = frozenset()
    autoload: bool = True
    strict: bool = False

    @classmethod
    def from_env(cls, disabled: Iterable[str] = (), strict: bool = False) -> PluginSettings:
        """Settings from arguments plus the environment.

        ``RANKKIT_DISABLE_PLUGIN_AUTOLOAD=1`` stops autoloading;
        ``RANKKIT_DISABLE_PLUGINS=a,b`` blocks plugins by name.
        """
        env_disabled = {n.strip() for n in os.environ.get(DISABLE_PLUGINS_ENV, "").split(",") if n.strip()}
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").lower() not in {"1", "true", "yes"}
        return cls(frozenset(disabled) | env_disabled, autoload, strict)


@dataclass(frozen=True)
class PluginOrigin:
    """Where a registered plugin came from."""

    name: str
    distribution: str
    version: str


@dataclass(frozen=True)
class PluginLoadFailure:
    """A plugin that could not be loaded, with the reason and the fix."""

    name: str
    distribution: str
    error: BaseException

    @property
    def message(self) -> str:
        """One paragraph naming the plugin, the cause and the fix."""
        return (
            f"plugin {self.name!r} (distribution {self.distribution}) failed to load: "
            f"{type(self.error).__name__}: {self.error}. Fix the plugin or its installation "
            f"(e.g. `pip install -U {self.distribution}`), or skip it with "
            f"`--disable-plugin {self.name}` / {DISABLE_PLUGINS_ENV}={self.name}."
        )


@dataclass
class LoadedPlugins:
    """A plugin manager together with what was loaded and what failed."""

    manager: pluggy.PluginManager
    origins: dict[str, PluginOrigin] = field(default_factory=dict)
    failures: list[PluginLoadFailure] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def _core_version() -> str:
    try:
        return metadata.version("rankkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def load_plugins(
    settings: PluginSettings | None = None,
    extra: Sequence[tuple[str, ModuleType | object]] = (),
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> LoadedPlugins:
    """Build a fresh plugin manager with the core and every installed plugin.

    Args:
        settings: Loading settings; defaults to :meth:`PluginSettings.from_env`.
        extra: ``(name, plugin)`` pairs registered after the entry points
            (used by tests and by applications that embed rankkit).
        entry_points: Entry points to load instead of the installed
            ``rankkit`` group (for tests).

    Returns:
        The manager, the origin of each plugin, and the failures.

    Raises:
        PluginError: In strict mode, when any plugin failed to load.
    """
    from rankkit import builtin

    settings = settings or PluginSettings.from_env()
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)
    manager.register(builtin, name=CORE_PLUGIN_NAME)
    loaded.origins[CORE_PLUGIN_NAME] = PluginOrigin(CORE_PLUGIN_NAME, "rankkit", _core_version())
    if settings.autoload or entry_points is not None:
        eps = entry_points if entry_points is not None else metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
        for ep in sorted(eps, key=lambda e: e.name):
            _load_entry_point(loaded, ep, settings)
    for name, plugin in extra:
        _register(loaded, name, plugin, PluginOrigin(name, "<embedded>", "0"))
    if settings.strict and loaded.failures:
        raise PluginError("\n".join(f.message for f in loaded.failures))
    return loaded


def _load_entry_point(loaded: LoadedPlugins, ep: metadata.EntryPoint, settings: PluginSettings) -> None:
    dist = getattr(ep, "dist", None)
    dist_name = dist.metadata["Name"] if dist is not None else "<unknown distribution>"
    version = dist.version if dist is not None else "0"
    if ep.name in settings.disabled:
        loaded.manager.set_blocked(ep.name)
        loaded.blocked.append(ep.name)
        return
    try:
        plugin = ep.load()
    except Exception as error:  # noqa: BLE001 - any import failure is reported, not fatal
        loaded.failures.append(PluginLoadFailure(ep.name, dist_name, error))
        return
    _register(loaded, ep.name, plugin, PluginOrigin(ep.name, dist_name, version))


def _register(loaded: LoadedPlugins, name: str, plugin: Any, origin: PluginOrigin) -> None:
    if name in loaded.origins:
        other = loaded.origins[name]
        error = PluginError(
            f"plugin name {name!r} is already taken by distribution {other.distribution}; "
            "one of the two must rename its entry point"
        )
        loaded.failures.append(PluginLoadFailure(name, origin.distribution, error))
        return
    try:
        loaded.manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as error:
        loaded.failures.append(PluginLoadFailure(name, origin.distribution, error))
        return
    loaded.origins[name] = origin
