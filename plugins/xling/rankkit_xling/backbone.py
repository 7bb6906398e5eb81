"""Backbones: which model a language or ranking adapter belongs to, its kind, and fingerprints.

An adapter only means something on the exact weights it was trained on, and
with the tokenizer that produced its inputs. Every adapter therefore records
two fingerprints of its backbone: one of the weights and configuration, one of
the tokenizer files. Loading an adapter onto another backbone is refused with
both fingerprints in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rankkit.errors import ConfigError, RankkitError
from rankkit.models import TOKENIZER_FILES, WEIGHT_FILES, ModelRef


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

    The fingerprints are the core's :meth:`~rankkit.models.ModelRef.files_fingerprint` of
    :data:`~rankkit.models.WEIGHT_FILES` and of :data:`~rankkit.models.TOKENIZER_FILES`.

    Raises:
        ConfigError: For a model that is neither a masked-LM encoder nor a causal-LM decoder, or a name the
            core cannot resolve.
    """
    ref = ModelRef.resolve(name)
    return Backbone(name, ref.load_name, backbone_kind(ref.load_name, name), ref.files_fingerprint(WEIGHT_FILES),
                    ref.files_fingerprint(TOKENIZER_FILES))


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
