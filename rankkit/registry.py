"""The typed door to the plugin manager.

This is the only module that calls ``pm.hook``. Everything else asks a
:class:`Registry` for components by kind and name, and gets typed results and
errors that name the plugin, the valid choices and the fix.

One registry is passed down, never a second one loaded: the CLI creates it (honouring
``--disable-plugin`` and ``--strict``) and components that need it get it as
``registry=`` (``needs_registry=True``). For model names (``rankkit:NAME``) resolved
deep inside a plugin, :meth:`Registry.build` and :meth:`Registry.active` make the
registry *active* for the current context; :func:`active_registry` returns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rankkit.components import KINDS, ComponentKind, ComponentSpec, Param, fingerprint, keyed_values
from rankkit.errors import ConfigError, DuplicateComponentError, PluginError, UnknownComponentError
from rankkit.params import check_value
from rankkit.plugins import LoadedPlugins, PluginLoadFailure, PluginOrigin, PluginSettings, load_plugins
from rankkit.versions import distribution_version, library_versions

if TYPE_CHECKING:  # pragma: no cover
    import click

    from rankkit.components import DatasetProvider

_HOOK_OF_KIND: dict[ComponentKind, str] = {
    "retriever": "rankkit_retrievers",
    "reranker": "rankkit_rerankers",
    "scorer": "rankkit_scorers",
    "trainer": "rankkit_trainers",
    "index_builder": "rankkit_index_builders",
    "dataset_provider": "rankkit_dataset_providers",
    "model": "rankkit_models",
}

#: The registry that is building a component, or that a command made active (:meth:`Registry.active`).
_ACTIVE: ContextVar[Registry | None] = ContextVar("rankkit_active_registry", default=None)
#: The version collectors of the builds under way in this context, outermost first: a component built while
#: another is being built (a trainer wrapping a trainer) adds its versions to the outer one's fingerprint.
_BUILDING: ContextVar[tuple[dict[str, str], ...]] = ContextVar("rankkit_building", default=())


def active_registry() -> Registry:
    """The registry active in this context: the one whose :meth:`Registry.build` is running a factory, or
    the one made active with ``with registry.active():`` (the ``rankkit`` command does, for the whole command).

    Raises:
        ConfigError: When no registry is active, saying how to make one so.
    """
    registry = _ACTIVE.get()
    if registry is None:
        raise ConfigError(
            "model reference rankkit:NAME needs the plugin registry: resolve it while building through a Registry "
            "(registry.build) or inside `with registry.active():`"
        )
    return registry


@dataclass(frozen=True)
class RegisteredComponent:
    """A component spec together with the plugin that registered it."""

    spec: ComponentSpec
    origin: PluginOrigin

    @property
    def kind(self) -> ComponentKind:
        """The component kind."""
        return self.spec.kind

    @property
    def name(self) -> str:
        """The component name."""
        return self.spec.name

    def versions(self) -> dict[str, str]:
        """What the component's results depend on besides its parameters: the versions of rankkit, of the
        plugin's distribution and of the backend libraries it declares (:attr:`ComponentSpec.libraries`)."""
        return {"rankkit": distribution_version("rankkit"), self.origin.distribution: self.origin.version,
                **library_versions(self.spec.libraries)}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description, as ``rankkit plugins --json`` prints it."""
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.origin.name,
            "distribution": self.origin.distribution,
            "version": self.origin.version,
            "summary": self.spec.summary,
            "params": [p.describe() for p in self.spec.params],
            "libraries": list(self.spec.libraries),
        }


class Registry:
    """Typed facade over a loaded plugin manager.

    Args:
        plugins: The result of :func:`rankkit.plugins.load_plugins`.
    """

    def __init__(self, plugins: LoadedPlugins) -> None:
        self._plugins = plugins
        self._by_kind: dict[ComponentKind, dict[str, RegisteredComponent]] = {}
        self._hookspec_modules: list[object] = []

    @classmethod
    def load(cls, settings: PluginSettings | None = None) -> Registry:
        """Load every installed plugin into a fresh registry."""
        return cls(load_plugins(settings))

    @property
    def failures(self) -> list[PluginLoadFailure]:
        """Plugins that failed to load (each with its message and fix)."""
        return list(self._plugins.failures)

    @property
    def origins(self) -> Mapping[str, PluginOrigin]:
        """Loaded plugins by name."""
        return dict(self._plugins.origins)

    def components(self, kind: ComponentKind) -> dict[str, RegisteredComponent]:
        """All components of one kind, by name, in registration order.

        Raises:
            DuplicateComponentError: When two plugins register the same name.
            PluginError: When a plugin's hook raises or returns something invalid.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; valid: {', '.join(KINDS)}")
        if kind not in self._by_kind:
            self._by_kind[kind] = self._collect(kind)
        return self._by_kind[kind]

    def all_components(self) -> list[RegisteredComponent]:
        """Every component of every kind."""
        return [c for kind in KINDS for c in self.components(kind).values()]

    def get(self, kind: ComponentKind, name: str) -> RegisteredComponent:
        """Look up one component.

        Raises:
            UnknownComponentError: Naming the valid choices.
        """
        available = self.components(kind)
        if name not in available:
            choices = ", ".join(sorted(available)) or "none installed"
            broken = "".join(f"; it may come from a plugin that failed to load: {f.message}" for f in self.failures)
            raise UnknownComponentError(f"unknown {kind} {name!r}; available {kind}s: {choices}{broken}")
        return available[name]

    def build(self, kind: ComponentKind, name: str, /, **params: Any) -> Any:
        """Validate ``params`` against the component's schema and build it.

        The built object's ``fingerprint`` attribute covers its kind, name, validated parameters (less those
        not keyed) and :meth:`RegisteredComponent.versions`, with those of every component built while it was
        (a wrapped trainer's); a component that sets its own fingerprint gets the versions mixed into it. While the factory runs, this registry is the :func:`active_registry`.

        Raises:
            UnknownComponentError: For an unknown name.
            ConfigError: For unknown, missing or mistyped parameters.
        """
        component = self.get(kind, name)
        values = validate_params(component.spec, params, where=f"{kind} {name!r}")
        extra = {"registry": self} if component.spec.needs_registry else {}
        nested: dict[str, str] = {}   # versions of the components this one builds while it is built
        building = _BUILDING.set((*_BUILDING.get(), nested))
        try:
            with self.active():
                built = component.spec.factory(**values, **extra)
        finally:
            _BUILDING.reset(building)
        versions = {**nested, **component.versions()}
        for outer in _BUILDING.get():
            outer.update(versions)
        own = getattr(built, "fingerprint", None)
        described = {"own": own} if own is not None else {"params": keyed_values(component.spec.params, values)}
        try:
            built.fingerprint = fingerprint(kind, name, {**described, "versions": dict(sorted(versions.items()))})
        except AttributeError:
            pass   # a read-only fingerprint (a property) or an object without attributes: keys use it as it is
        return built

    @contextmanager
    def active(self) -> Iterator[Registry]:
        """Make this registry the :func:`active_registry` of the current context until the block ends.

        :meth:`build` does so while a factory runs, so model references a component resolves while it is
        built see the registry that builds it.
        """
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def dataset_providers(self) -> list[DatasetProvider]:
        """Built dataset providers, in registration order."""
        return [self.build("dataset_provider", name) for name in self.components("dataset_provider")]

    def add_cli_commands(self, cli: click.Group) -> None:
        """Let every plugin add subcommands to ``cli`` (``rankkit_cli``)."""
        core = dict(cli.commands)
        for impl in self._plugins.manager.hook.rankkit_cli.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as error:  # noqa: BLE001
                raise PluginError(f"plugin {impl.plugin_name!r} failed in rankkit_cli: {error}") from error
            clobbered = [name for name, command in core.items() if cli.commands.get(name) is not command]
            if clobbered:
                raise PluginError(f"plugin {impl.plugin_name!r} removed core commands {sorted(clobbered)}")

    def call_plugin_hook(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook that a plugin declared itself (``pm.add_hookspecs``).

        Returns:
            ``(plugin name, result)`` pairs in registration order.

        Raises:
            PluginError: When no plugin declared ``hook``.
        """
        caller = getattr(self._plugins.manager.hook, hook, None)
        if caller is None or caller.spec is None:
            raise PluginError(f"no plugin declares the hook {hook!r}; is the plugin that defines it installed?")
        return [(impl.plugin_name, impl.function(**kwargs)) for impl in caller.get_hookimpls()]

    def add_hookspecs(self, module: object) -> None:
        """Declare additional hookspecs (for plugins that offer hooks of their own).

        Declaring the same module again is a no-op, so a plugin can declare its
        hooks each time it needs them.
        """
        if any(module is m for m in self._hookspec_modules):
            return
        self._plugins.manager.add_hookspecs(module)
        self._hookspec_modules.append(module)

    def _collect(self, kind: ComponentKind) -> dict[str, RegisteredComponent]:
        caller = getattr(self._plugins.manager.hook, _HOOK_OF_KIND[kind])
        found: dict[str, RegisteredComponent] = {}
        for impl in caller.get_hookimpls():
            origin = self._plugins.origins[impl.plugin_name]
            try:
                specs = impl.function()
            except Exception as error:  # noqa: BLE001
                raise PluginError(
                    f"plugin {origin.name!r} ({origin.distribution}) raised in {_HOOK_OF_KIND[kind]}: "
                    f"{type(error).__name__}: {error}; fix or disable it (--disable-plugin {origin.name})"
                ) from error
            for spec in _check_specs(specs, kind, origin):
                if spec.name in found:
                    first = found[spec.name].origin
                    raise DuplicateComponentError(
                        f"{kind} {spec.name!r} is registered by two plugins: {first.name!r} ({first.distribution}) "
                        f"and {origin.name!r} ({origin.distribution}); uninstall or disable one of them "
                        f"(--disable-plugin NAME)"
                    )
                found[spec.name] = RegisteredComponent(spec, origin)
        return found


def _check_specs(specs: Any, kind: ComponentKind, origin: PluginOrigin) -> Iterable[ComponentSpec]:
    if specs is None:
        return []
    if not isinstance(specs, (list, tuple)) or not all(isinstance(s, ComponentSpec) for s in specs):
        raise PluginError(
            f"plugin {origin.name!r} ({origin.distribution}) must return a list of ComponentSpec "
            f"from {_HOOK_OF_KIND[kind]}, got {specs!r}"
        )
    for spec in specs:
        if spec.kind != kind:
            raise PluginError(
                f"plugin {origin.name!r} returned {spec.kind} {spec.name!r} from {_HOOK_OF_KIND[kind]}; "
                f"register it in the hook for {spec.kind}s"
            )
    return specs


def validate_params(spec: ComponentSpec, params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``params`` against ``spec.params`` and fill in defaults.

    Args:
        spec: The component spec.
        params: User-given values.
        where: Context for messages (e.g. ``"eval/scifact.toml: pipelines.bm25.stages[0]"``).

    Returns:
        The complete parameter dict.

    Raises:
        ConfigError: Naming the bad key and the valid parameters.
    """
    schema = {p.name: p for p in spec.params}
    valid = "; ".join(p.describe() for p in spec.params) or "none"
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {valid}")
    values: dict[str, Any] = {}
    for param in spec.params:
        if param.name not in params:
            if param.required:
                raise ConfigError(f"{where}: missing required parameter {param.describe()}")
            values[param.name] = param.default
            continue
        values[param.name] = _coerce(param, params[param.name], where)
    if spec.settings is not None:
        try:   # the settings' own rules across fields (their __post_init__), checked before any work
            spec.settings(**values)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
    return values


def _coerce(param: Param, value: Any, where: str) -> Any:
    expected = param.type
    ok = isinstance(value, expected) and not (expected in (int, float) and isinstance(value, bool))
    if not ok and expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok and expected.__name__ == "Path" and isinstance(value, str):
        value, ok = expected(value), True
    if not ok and value is None and param.default is None:
        ok = True
    if not ok:
        raise ConfigError(
            f"{where}: parameter {param.name!r} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    check_value(param, value, where)
    return value
