"""Parameters declared once: dataclass fields that carry their help, choices, bounds and keying.

A component's settings are a dataclass whose fields are made with :func:`param`::

    @dataclass(frozen=True)
    class Bm25Settings:
        index: str = param(help="built bm25 index folder (or a name in rankkit's index cache)")
        k1: float = param(0.9, help="BM25 k1 (term-frequency saturation)", minimum=0)
        b: float = param(0.4, help="BM25 b (length normalisation)", minimum=0, maximum=1)

:func:`schema` derives the :class:`~rankkit.components.Param` schema from it
(the type from the annotation), so validation, ``rankkit plugins``, the docs
tables and fingerprints all read the one declaration. Put settings in a module
that imports nothing heavy: the registry reads them when plugins register.
:func:`lazy_factory` turns a ``"module:Class"`` import path into a factory that
imports the module only when the component is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError

_REQUIRED = object()  # the default of a required parameter


@dataclass(frozen=True)
class Param:
    """One parameter of a component factory.

    Attributes:
        name: Keyword the factory takes.
        type: Expected Python type (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``).
        default: Default value; leave unset for a required parameter.
        help: One line for ``rankkit plugins`` and error messages.
        choices: Allowed values, when the parameter is an enumeration.
        keyed: Whether the value is part of fingerprints and training keys. ``False`` for a parameter that
            cannot change what the component produces (how often a trainer checkpoints, say), so changing it
            neither invalidates a cached run nor retrains a model. ``"unless-default"`` for a parameter added to a
            component whose default reproduces what the component did before it existed: it enters keys only
            when set to something else, so runs and models made before it stay valid (changing such a default
            later is a change of the component's version).
        minimum: The smallest value allowed (numbers), or ``None``.
        maximum: The largest value allowed (numbers), or ``None``.
        exclusive_minimum: Whether the minimum itself is refused.
        exclusive_maximum: Whether the maximum itself is refused.
    """

    name: str
    type: type
    default: Any = _REQUIRED
    help: str = ""
    choices: tuple[Any, ...] | None = None
    keyed: bool | str = True
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    @property
    def required(self) -> bool:
        """Whether the parameter has no default."""
        return self.default is _REQUIRED

    def describe(self) -> str:
        """``name: type = default`` for error messages and listings."""
        text = f"{self.name}: {self.type.__name__}"
        if not self.required:
            text += f" = {self.default!r}"
        if self.choices:
            text += f" (one of {', '.join(map(repr, self.choices))})"
        if self.bounds:
            text += f" ({self.bounds})"
        return text

    @property
    def bounds(self) -> str:
        """``>= 1``, ``> 0``, ``<= 0.5``, ``in [0, 1]`` or ``in [0, 1)`` when the parameter has bounds, else ``""``."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"in {'(' if self.exclusive_minimum else '['}{low:g}, {high:g}{')' if self.exclusive_maximum else ']'}"
        if low is not None:
            return f"{'>' if self.exclusive_minimum else '>='} {low:g}"
        if high is not None:
            return f"{'<' if self.exclusive_maximum else '<='} {high:g}"
        return ""

    def within(self, value: float) -> bool:
        """Whether ``value`` respects the bounds."""
        low, high = self.minimum, self.maximum
        if low is not None and (value <= low if self.exclusive_minimum else value < low):
            return False
        return not (high is not None and (value >= high if self.exclusive_maximum else value > high))


def keyed_values(params: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the parameters that are not part of keys (:attr:`Param.keyed` false, or
    ``"unless-default"`` at its default)."""
    schema = {p.name: p for p in params}

    def keyed(name: str, value: Any) -> bool:
        param = schema.get(name)
        if param is None or param.keyed is True:
            return True
        return param.keyed == "unless-default" and value != param.default

    return {name: value for name, value in values.items() if keyed(name, value)}


#: The metadata key of a field made by :func:`param`.
_KEY = "rankkit"
_TYPES = (str, int, float, bool, list, dict, Path)


def param(
    default: Any = _REQUIRED,
    *,
    help: str = "",  # noqa: A002 - the word users read in the schema
    choices: tuple[Any, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    keyed: bool | str = True,
) -> Any:
    """A settings field that is also a component parameter (see :class:`~rankkit.components.Param`).

    Args:
        default: The default; leave unset for a required parameter. Lists and dicts are copied per instance.
        help: One line for ``rankkit plugins``, the docs and error messages.
        choices: The allowed values, for an enumeration.
        minimum: The smallest number allowed.
        maximum: The largest number allowed.
        exclusive_minimum: The minimum itself is not allowed (``> 0`` rather than ``>= 0``).
        exclusive_maximum: The maximum itself is not allowed (``< 1``).
        keyed: Whether the value enters fingerprints and training keys (``False``, or ``"unless-default"``).
    """
    info = {"help": help, "choices": tuple(choices) if choices is not None else None, "minimum": minimum,
            "maximum": maximum, "exclusive_minimum": exclusive_minimum, "exclusive_maximum": exclusive_maximum,
            "keyed": keyed}
    metadata = {_KEY: info}
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, (list, dict)):
        copy = type(default)
        return dataclasses.field(default_factory=lambda: copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def schema(settings: type) -> tuple[Param, ...]:
    """The parameter schema of a settings dataclass: one :class:`Param` per field made with :func:`param`.

    Raises:
        TypeError: For a class that is not a dataclass, or a field whose type is not one a parameter can have
            (str, int, float, bool, list, dict, Path, or one of them ``| None``).
    """
    if not dataclasses.is_dataclass(settings):
        raise TypeError(f"{settings!r} is not a dataclass; declare component settings as a @dataclass")
    hints = typing.get_type_hints(settings)
    params = []
    for field in dataclasses.fields(settings):
        info = field.metadata.get(_KEY)
        if info is None:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = _REQUIRED
        params.append(Param(field.name, _param_type(settings, field.name, hints[field.name]), default, info["help"],
                            info["choices"], info["keyed"], info["minimum"], info["maximum"],
                            info["exclusive_minimum"], info["exclusive_maximum"]))
    return tuple(params)


def _param_type(settings: type, name: str, hint: Any) -> type:
    """The plain type of an annotation: ``list`` for ``list[str]``, ``str`` for ``str | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) == 1:
            hint = options[0]
    plain = typing.get_origin(hint) or hint
    if plain not in _TYPES:
        raise TypeError(f"{settings.__name__}.{name}: a parameter's type must be one of "
                        f"{', '.join(t.__name__ for t in _TYPES)} (optionally | None), got {hint!r}")
    return plain


def check_value(param: Param, value: Any, where: str) -> None:
    """Check ``value`` against ``param``'s choices and bounds (numbers must also be finite).

    Raises:
        ConfigError: Naming ``where``, the parameter and what is allowed.
    """
    if param.choices is not None and value not in param.choices:
        raise ConfigError(
            f"{where}: parameter {param.name!r} = {value!r} is not one of {', '.join(map(repr, param.choices))}"
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{where}: parameter {param.name!r} must be a finite number, got {value!r}")
        if not param.within(value):
            raise ConfigError(f"{where}: parameter {param.name!r} = {value!r} is out of range: it must be {param.bounds}")


class Settings:
    """Base of settings dataclasses: checks every :func:`param` field's choices and bounds when an instance is
    made, however it is made (the registry, or Python code building a component directly).

    A subclass with rules across fields adds them in its own ``__post_init__`` after calling this one's.
    """

    def __post_init__(self) -> None:
        where = type(self).__name__
        for item in schema(type(self)):
            check_value(item, getattr(self, item.name), where)


def lazy_factory(target: str, settings: type | None = None) -> Callable[..., Any]:
    """A factory that imports ``"module:attribute"`` when called and builds the component.

    With ``settings``, the component gets one settings object (``Class(settings(**params))``); else the
    parameters as keywords. A ``registry`` keyword (:attr:`~rankkit.components.ComponentSpec.needs_registry`)
    is passed as a keyword either way. The attribute may be dotted (``"pkg.mod:Class.from_settings"``).
    """
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"target {target!r} must be an import path 'package.module:Class'")

    def factory(**params: Any) -> Any:
        built: Any = importlib.import_module(module)
        for part in attribute.split("."):
            built = getattr(built, part)
        extra = {"registry": params.pop("registry")} if "registry" in params else {}
        if settings is None:
            return built(**params, **extra)
        return built(settings(**params), **extra)

    factory.__qualname__ = factory.__name__ = f"lazy<{target}>"
    return factory
