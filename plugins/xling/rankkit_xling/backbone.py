"""Backbones: which model a language or ranking adapter belongs to, its kind, and fingerprints.

An adapter only means something on the exact weights it was trained on, and
with the tokenizer that produced its inputs. Every adapter therefore records
two fingerprints of its backbone: one of the weights and configuration, one of
the tokenizer files. Loading an adapter onto another backbone is refused with
both fingerprints in the message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rankkit.errors import ConfigError, RankkitError
from rankkit.files import content_digest
from rankkit.models import resolve_model_name

#: Files that make up a tokenizer (whichever of them a folder has).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "sentencepiece.bpe.model", "spiece.model", "merges.txt", "vocab.json", "tokenizer.model")
WEIGHT_FILES = ("config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class AdapterMismatchError(RankkitError):
    """An adapter trained for another backbone or tokenizer, or for another language than asked."""


@dataclass(frozen=True)
class Backbone:
    """A resolved backbone.

    Attributes:
        name: The name as the user wrote it.
        path: Local folder (or hub id) transformers loads.
        kind: ``encoder`` (adapted with masked-LM) or ``decoder`` (causal LM).
        fingerprint: Hash of the weights and configuration.
        tokenizer_fingerprint: Hash of the tokenizer files.
    """

    name: str
    path: str
    kind: str
    fingerprint: str
    tokenizer_fingerprint: str

    @property
    def language_modelling(self) -> str:
        """``mlm`` for encoders, ``clm`` for decoders."""
        return "mlm" if self.kind == "encoder" else "clm"


def resolve_backbone(name: str) -> Backbone:
    """Resolve a backbone name (folder, ``package:``, ``rankkit:`` or hub id) and fingerprint it.

    Raises:
        ConfigError: For a model that is neither a masked-LM encoder nor a causal-LM decoder.
    """
    path = resolve_model_name(name)
    return Backbone(name, path, backbone_kind(path, name), files_hash(path, WEIGHT_FILES),
                    files_hash(path, TOKENIZER_FILES))


def backbone_kind(path: str, name: str) -> str:
    """``encoder`` or ``decoder``, from the model's configuration.

    Raises:
        ConfigError: When the architecture has neither a masked-LM nor a causal-LM head class.
    """
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=Path(path).is_dir())
    except (OSError, ValueError) as error:
        raise ConfigError(f"xling: cannot read the configuration of backbone {name!r}: {error}") from None
    model_type = config.model_type
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "encoder"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    raise ConfigError(f"xling: backbone {name!r} ({model_type}) has neither a masked-LM nor a causal-LM head; "
                      "language adapters need one of them (use an encoder like XLM-R/mBERT or a decoder LM)")


def files_hash(path: str, names: tuple[str, ...]) -> str:
    """A 16-hex hash of the named files of a folder that exist (of the name, for a hub id)."""
    folder = Path(path)
    if not folder.is_dir():
        return hashlib.sha256(f"hub:{path}".encode()).hexdigest()[:16]
    return content_digest(folder, [n for n in names if (folder / n).is_file()])


def cross_encoder_kwargs(backbone: Backbone) -> dict:
    """``CrossEncoder`` arguments that load the backbone with a one-logit sequence-classification head.

    sentence-transformers loads ``*ForCausalLM`` checkpoints as yes/no generative
    rerankers; adapters need the ``*ForSequenceClassification`` class instead.
    """
    if backbone.kind != "decoder":
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(backbone.path, local_files_only=Path(backbone.path).is_dir())
    causal = (config.architectures or [""])[0]
    if not causal.endswith("ForCausalLM"):
        return {}
    return {"config_kwargs": {"architectures": [causal.replace("ForCausalLM", "ForSequenceClassification")]}}
