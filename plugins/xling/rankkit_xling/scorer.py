"""The cross-lingual scorer: a backbone with a ranking adapter and the language adapter(s) of choice.

It is the cross-encoder plugin's scorer (same batching, activation, score
cache, fingerprints) with the model composed on load:

* ``language = "doc"``: the document language's adapter (the paper's main setting);
* ``"query"``: the query language's; ``"both"``: both at half scale; ``"none"``: none;
* ``"source"``: the adapter the ranking adapter was trained under (no transfer).

A ranking folder made by ``xling-full`` is a complete model and takes no
language adapter. By default (``merge = true``) LoRA adapters are folded into the
weights once loaded: the same scores without the composition cost at inference
(unmerged adapters cost about 35% on CPU, ``benchmarks/bench_xling.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankkit.components import fingerprint
from rankkit.errors import ConfigError
from rankkit_crossencoder.models import check_tokenizer, content_hash, pick_device
from rankkit_crossencoder.scorer import CrossEncoderScorer
from rankkit_xling.backbone import cross_encoder_kwargs, resolve_backbone
from rankkit_xling.compose import Composer
from rankkit_xling.library import AdapterLibrary, check_language_code, read_adapter

logger = logging.getLogger(__name__)
LANGUAGE_CHOICES = ("doc", "query", "both", "none", "source")


class CrossLingualScorer(CrossEncoderScorer):
    """Scores (query, document) pairs with RA + LA composed on a backbone.

    Args:
        ranking: Folder of a ranking adapter (``xling-ranking``) or a fully fine-tuned model (``xling-full``).
        library: Language-adapter folders and/or directories of them.
        language: Which language adapter(s): ``doc``, ``query``, ``both``, ``none`` or ``source``.
        query_lang: Language code of the queries.
        doc_lang: Language code of the documents.
        backbone: The backbone (default: the one the ranking adapter records).
        merge: Fold LoRA adapters into the weights after loading (default; ``False`` keeps them active).
        batch_size: Pairs per forward pass.
        max_length: Truncation length in tokens (0: the model's own).
        device: ``auto`` or a torch device.
        activation: ``none``, ``sigmoid`` or ``model``.
    """

    def __init__(self, ranking: str, library: Sequence[str] = (), language: str = "doc", query_lang: str = "",
                 doc_lang: str = "", backbone: str = "", merge: bool = True, batch_size: int = 32,
                 max_length: int = 256, device: str = "auto", activation: str = "none") -> None:
        self.ranking = read_adapter(ranking)
        if language not in LANGUAGE_CHOICES:
            raise ConfigError(f"scorer 'xling': language must be one of {LANGUAGE_CHOICES}, got {language!r}")
        self.backbone = resolve_backbone(backbone or self.ranking.backbone)
        self.ranking.check_backbone(self.backbone)
        self.languages = self._languages(AdapterLibrary(library), language, query_lang, doc_lang)
        for info, _ in self.languages:
            info.check_backbone(self.backbone)
        self.language, self.merge = language, merge
        self.model_name = f"{self.backbone.name} + {self.ranking.path.name}"
        self.path = self.backbone.path
        self.batch_size, self.max_length, self.device, self.activation = batch_size, max_length, device, activation
        self._model: Any = None
        self._composer: Composer | None = None
        parts = [content_hash(str(self.ranking.path))] + [f"{content_hash(str(i.path))}x{s}" for i, s in self.languages]
        self.fingerprint = fingerprint("scorer", "xling", {
            "backbone": self.backbone.fingerprint, "adapters": parts, "max_length": max_length,
            "activation": activation})

    def _languages(self, library: AdapterLibrary, language: str, query_lang: str, doc_lang: str) -> list[tuple[Any, float]]:
        if self.ranking.kind == "full":
            if language not in ("none", "source"):
                raise ConfigError(f"scorer 'xling': {self.ranking.path} is a fully fine-tuned model; it takes no "
                                  "language adapter (set language = \"none\")")
            return []
        trained = self.ranking.language_adapter
        if language == "none":
            return []
        if language == "source":
            if trained is None:
                return []
            info = read_adapter(trained["path"])
            return [(info, 1.0)]
        codes = {"doc": [doc_lang], "query": [query_lang], "both": [query_lang, doc_lang]}[language]
        for code, name in zip(codes, ("doc_lang" if language == "doc" else "query_lang", "doc_lang")):
            if not code:
                raise ConfigError(f"scorer 'xling': language = {language!r} needs {name}")
            check_language_code(code, f"scorer 'xling': {name}")
        if language == "both" and codes[0] == codes[1]:
            codes = codes[:1]
        if trained is not None and trained.get("method") != self.ranking.method:
            raise ConfigError(f"scorer 'xling': {self.ranking.path} is a {self.ranking.method} ranking adapter")
        scale = 1.0 / len(codes)
        adapters = [(library.get(code, "scorer 'xling'"), scale) for code in codes]
        for info, _ in adapters:
            if info.method != self.ranking.method:
                raise ConfigError(f"scorer 'xling': language adapter {info.path} is {info.method} but the ranking "
                                  f"adapter {self.ranking.path} is {self.ranking.method}; compose like with like")
        return adapters

    def _load(self) -> Any:
        from sentence_transformers.cross_encoder import CrossEncoder

        device = pick_device(self.device)
        kwargs: dict[str, Any] = {"device": device, "num_labels": 1}
        if self.ranking.kind != "full":
            kwargs.update(cross_encoder_kwargs(self.backbone))
        if self.max_length:
            kwargs["max_length"] = self.max_length
        source = str(self.ranking.path) if self.ranking.kind == "full" else self.backbone.path
        if os.environ.get("HF_HUB_OFFLINE") == "1" or Path(source).is_dir():
            kwargs["local_files_only"] = True
        model = CrossEncoder(source, **kwargs)
        check_tokenizer(model, f"xling backbone {self.backbone.name!r}")
        if self.ranking.kind != "full":
            composer = Composer(model.model)
            for info, scale in self.languages:
                composer.add_language(info, scale)
            composer.add_ranking(self.ranking)
            composer.activate()
            if self.merge:
                composer.merge()
            self._composer = composer
        model.to(device)
        model.eval()
        logger.info("xling scorer: %s with %s on %s", self.ranking.path,
                    ", ".join(f"{i.lang} x{s:g}" for i, s in self.languages) or "no language adapter", device)
        return model

    def export_merged(self, output: Path) -> None:
        """Save the composed model, adapters folded into the weights, as a plain cross-encoder folder (atomically)."""
        from rankkit.staging import build_folder

        model = self.model
        if self._composer is not None and self._composer.peft is not None:
            self._composer.peft.merge_and_unload()  # in place: LoRA layers become plain merged layers

        def fill(staging: Path) -> dict[str, Any]:
            model.save(str(staging))
            return {"ranking": str(self.ranking.path), "languages": [[str(i.path), s] for i, s in self.languages],
                    "backbone": self.backbone.name, "backbone_fingerprint": self.backbone.fingerprint}

        build_folder(Path(output), "xling-export.json", fill)
        self._model = None  # the in-memory model was unloaded from its adapters

    def __repr__(self) -> str:
        langs = ",".join(i.lang for i, _ in self.languages) or "-"
        return f"CrossLingualScorer({self.ranking.path.name!r}, language={self.language!r} [{langs}], merge={self.merge})"


