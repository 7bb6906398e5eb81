"""LoRA adapter folders: which base model an adapter belongs to, and the check before one is applied.

The ``rank-r1-grpo`` trainer saves a PEFT LoRA adapter (``adapter_config.json``,
``adapter_model.safetensors``) with :data:`ADAPTER_INFO`, naming the base model
(as given, its resolved folder or hub id, its GGUF file) and a hash of its
content (:meth:`rankkit.models.ModelRef.fingerprint`). The reranker's local
backend applies such an adapter only on the base model it was trained on.
Nothing here imports torch or peft.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError
from rankkit.models import ModelRef

#: The file beside the adapter that names its base model.
ADAPTER_INFO = "rankkit-reasoning-adapter.json"
PEFT_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class AdapterBase:
    """The base model an adapter was trained on.

    Attributes:
        model: The model as the trainer was given it (``package:…``, a folder, a hub id).
        path: The folder or hub id it resolved to.
        gguf_file: The GGUF file read (empty for a transformers folder or hub id).
        content: The base model's :meth:`~rankkit.models.ModelRef.fingerprint`.
    """

    model: str
    path: str
    gguf_file: str
    content: str

    def describe(self) -> str:
        """``model`` (with its GGUF file), for messages."""
        return f"{self.model!r}" + (f" (GGUF {self.gguf_file})" if self.gguf_file else "")


def write_adapter_info(folder: Path, base: AdapterBase, trainer: str, extra: dict[str, Any]) -> Path:
    """Write :data:`ADAPTER_INFO` into ``folder``: the base model, the trainer and ``extra`` (settings, stats)."""
    target = folder / ADAPTER_INFO
    target.write_text(json.dumps({"trainer": trainer, "base": asdict(base), **extra}, indent=1, default=str))
    return target


def adapter_folder(adapter: str) -> Path:
    """The folder ``adapter`` names (a folder, ``train:NAME`` once substituted, or ``package:PKG/folder``).

    Raises:
        ConfigError: When it is no folder holding a PEFT adapter.
    """
    ref = ModelRef.resolve(adapter)
    folder = ref.path / ref.file if ref.path is not None else Path(ref.name)
    if not (folder / PEFT_CONFIG).is_file():
        raise ConfigError(f"adapter {adapter!r}: {folder} holds no LoRA adapter ({PEFT_CONFIG} missing); give the "
                          "folder the rank-r1-grpo trainer wrote (adapter = \"train:NAME\" in an experiment file)")
    return folder


def read_adapter_base(folder: Path) -> AdapterBase | None:
    """The base model recorded in ``folder``'s :data:`ADAPTER_INFO`, ``None`` for a folder without one."""
    path = folder / ADAPTER_INFO
    if not path.is_file():
        return None
    try:
        base = json.loads(path.read_text(encoding="utf-8"))["base"]
        return AdapterBase(str(base["model"]), str(base["path"]), str(base.get("gguf_file", "")), str(base["content"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"adapter {folder}: {ADAPTER_INFO} is unreadable ({error}); train the adapter "
                          "again") from None


def check_adapter_base(folder: Path, model: str, path: str, gguf_file: str, content: str) -> None:
    """Refuse an adapter trained on another base model than ``model``.

    With :data:`ADAPTER_INFO`, the base model's content hash must match
    ``content``. A PEFT adapter from elsewhere (no such file) must name
    ``model`` or ``path`` as its ``base_model_name_or_path``.

    Args:
        folder: The adapter folder.
        model: The reranker's model, as given.
        path: Its resolved folder or hub id.
        gguf_file: Its GGUF file (empty: none).
        content: Its fingerprint (:meth:`rankkit.models.ModelRef.fingerprint`).

    Raises:
        ConfigError: Naming the adapter's base model and the reranker's.
    """
    ours = f"{model!r}" + (f" (GGUF {gguf_file})" if gguf_file else "")
    base = read_adapter_base(folder)
    if base is not None:
        if base.content != content:
            raise ConfigError(
                f"adapter {str(folder)!r} was trained on base model {base.describe()} (content {base.content}), but "
                f"the reranker's model is {ours} (content {content}); set model (and gguf_file) to the adapter's base "
                "model, or use an adapter trained on this one"
            )
        return
    try:
        named = str(json.loads((folder / PEFT_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path") or "")
    except ValueError as error:
        raise ConfigError(f"adapter {str(folder)!r}: {PEFT_CONFIG} is not JSON ({error})") from None
    if named not in (model, path):
        raise ConfigError(
            f"adapter {str(folder)!r} has no {ADAPTER_INFO} and names base model {named or 'none'!r} in {PEFT_CONFIG}, "
            f"but the reranker's model is {ours}; set model to the adapter's base model"
        )
