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

import numpy as np

from rankkit.components import fingerprint
from rankkit.datasets.mixed import split_language
from rankkit.errors import ConfigError
from rankkit.models import ModelRef, resolve_device
from rankkit_crossencoder.models import check_tokenizer
from rankkit_crossencoder.scorer import CrossEncoderScorer
from rankkit_xling.backbone import cross_encoder_kwargs, resolve_backbone
from rankkit_xling.compose import Composer
from rankkit_xling.library import AdapterLibrary, check_language_code, read_adapter
from rankkit_xling.settings import ScorerSettings

logger = logging.getLogger(__name__)
#: ``doc_lang`` value: each document's language is the ``LANG:`` prefix of its id.
BY_ID = "id"


class CrossLingualScorer(CrossEncoderScorer):
    """Scores (query, document) pairs with RA + LA composed on a backbone.

    When documents differ in language (``doc_lang = "id"``: a ``LANG:`` prefix of each document id, as in
    ``mixed:`` collections) or the library holds several adapters of a language (cross-fitting: each document
    is scored with the adapter that never read it, see :mod:`rankkit_xling.library`), the scorer composes
    one model per combination of adapters and scores each document with its own (``by_document``).

    Args:
        settings: The ranking adapter (``xling-ranking``) or fully fine-tuned model (``xling-full``) folder, the
            language-adapter library (folders and/or directories of them), which language adapter(s) to compose
            (``language``, ``query_lang``, ``doc_lang``: a code, or ``id`` for each document id's ``LANG:`` prefix),
            ``held_out``, the backbone (default: the one the ranking adapter records), ``merge``, and batching,
            truncation, device and activation as the cross-encoder scorer's
            (:class:`~rankkit_xling.settings.ScorerSettings`).
    """

    def __init__(self, settings: ScorerSettings) -> None:
        s = self.settings = settings
        self.ranking = read_adapter(s.ranking)
        self.backbone = resolve_backbone(s.backbone or self.ranking.backbone)
        self.ranking.check_backbone(self.backbone)
        self.language, self.merge, self.held_out, self.cross_query = s.language, s.merge, s.held_out, False
        self.library = AdapterLibrary(s.library)
        codes = self._codes(s.language, s.query_lang, s.doc_lang)
        self.codes = codes
        self.by_document = s.doc_lang == BY_ID and s.language in ("doc", "both") or s.held_out or any(
            len(self.library.adapters(c, "scorer 'xling'")) > 1 for c in codes if c != BY_ID)
        self.languages = [] if self.by_document else self._fixed(codes)
        candidates = self._candidates(codes)
        for info in candidates:
            info.check_backbone(self.backbone)
        self.model_name = f"{self.backbone.name} + {self.ranking.path.name}"
        self.path = self.backbone.path
        self.batch_size, self.max_length, self.device, self.activation = s.batch_size, s.max_length, s.device, s.activation
        self._model: Any = None
        self._composer: Composer | None = None
        self._models: dict[tuple[tuple[str, float], ...], Any] = {}
        if self.by_document:
            parts = [_content(self.ranking.path)] + sorted(f"{i.lang}:{_content(i.path)}" for i in candidates)
            chosen = {"language": s.language, "query_lang": s.query_lang, "doc_lang": s.doc_lang, "held_out": s.held_out}
        else:
            parts = [_content(self.ranking.path)] + [f"{_content(i.path)}x{scale}" for i, scale in self.languages]
            chosen = {}
        self.fingerprint = fingerprint("scorer", "xling", {
            "backbone": self.backbone.fingerprint, "adapters": parts, "max_length": s.max_length,
            "activation": s.activation, **chosen})

    def _codes(self, language: str, query_lang: str, doc_lang: str) -> list[str]:
        """The language codes the composition needs (``id``: each document's own)."""
        if self.ranking.kind == "full":
            if language not in ("none", "source"):
                raise ConfigError(f"scorer 'xling': {self.ranking.path} is a fully fine-tuned model; it takes no "
                                  "language adapter (set language = \"none\")")
            return []
        if language in ("none", "source"):
            return []
        trained = self.ranking.language_adapter
        if trained is not None and trained.get("method") != self.ranking.method:
            raise ConfigError(f"scorer 'xling': {self.ranking.path} is a {self.ranking.method} ranking adapter")
        codes = {"doc": [doc_lang], "query": [query_lang], "both": [query_lang, doc_lang]}[language]
        for code, name in zip(codes, ("doc_lang" if language == "doc" else "query_lang", "doc_lang")):
            if not code:
                raise ConfigError(f"scorer 'xling': language = {language!r} needs {name}")
            if code == BY_ID and name == "doc_lang":
                continue
            check_language_code(code, f"scorer 'xling': {name}")
        return codes[:1] if language == "both" and codes[0] == codes[1] else codes

    def _fixed(self, codes: list[str]) -> list[tuple[Any, float]]:
        """The adapters (and scales) every document shares."""
        if self.ranking.kind != "full" and self.language == "source":
            trained = self.ranking.language_adapter
            return [] if trained is None else [(read_adapter(trained["path"]), 1.0)]
        return self._checked([(self.library.get(code, "scorer 'xling'"), 1.0 / len(codes)) for code in codes])

    def _candidates(self, codes: list[str]) -> list[Any]:
        """Every language adapter a document may be scored with."""
        if not self.by_document:
            return [info for info, _ in self.languages]
        if BY_ID in codes:
            return [i for infos in self.library.language.values() for i in infos] + [
                i for c in codes if c != BY_ID for i in self.library.adapters(c, "scorer 'xling'")]
        return [i for c in codes for i in self.library.adapters(c, "scorer 'xling'")]

    def _checked(self, adapters: list[tuple[Any, float]]) -> list[tuple[Any, float]]:
        for info, _ in adapters:
            if info.method != self.ranking.method:
                raise ConfigError(f"scorer 'xling': language adapter {info.path} is {info.method} but the ranking "
                                  f"adapter {self.ranking.path} is {self.ranking.method}; compose like with like")
        return adapters

    def adapters_for(self, doc_id: str) -> list[tuple[Any, float]]:
        """The language adapters (and scales) that score document ``doc_id``.

        Raises:
            ConfigError: When the document's language has no adapter, or (``held_out``, cross-fitting) every
                adapter of it was trained on the document.
        """
        if not self.by_document:
            return self.languages
        lang, base_id = split_language(doc_id)
        codes = self.codes
        if BY_ID in codes and not lang:
            raise ConfigError(f"scorer 'xling': doc_lang = \"id\" reads each document's language from a LANG: prefix "
                              f"of its id, and {doc_id!r} has none (see the mixed: datasets)")
        where = "scorer 'xling'"
        return self._checked([(self.library.for_document(lang if c == BY_ID else c, base_id, self.held_out, where),
                               1.0 / len(codes)) for c in codes])

    def score(self, query: str, documents: Sequence[str], doc_ids: Sequence[str] | None = None) -> np.ndarray:
        """One score per document; with ``by_document``, each with the adapters its id selects."""
        if not self.by_document:
            return super().score(query, documents)
        if doc_ids is None or len(doc_ids) != len(documents):
            raise ConfigError("scorer 'xling': with per-document language adapters (doc_lang = \"id\", held_out, "
                              "or several adapters of a language) it needs each document's id; use it as a pipeline "
                              "stage, which passes them")
        groups: dict[tuple[tuple[str, float], ...], list[int]] = {}
        chosen: dict[tuple[tuple[str, float], ...], list[tuple[Any, float]]] = {}
        for i, doc_id in enumerate(doc_ids):
            adapters = self.adapters_for(doc_id)
            key = tuple((str(info.path), scale) for info, scale in adapters)
            groups.setdefault(key, []).append(i)
            chosen[key] = adapters
        scores = np.zeros(len(documents), dtype=np.float32)
        for key, members in groups.items():
            if key not in self._models:
                self._models[key] = self._compose(chosen[key])[0]
            scores[members] = self.predict(self._models[key], [(query, documents[i]) for i in members])
        return scores

    def _load(self) -> Any:
        if self.by_document:
            raise ConfigError("scorer 'xling': it composes one model per document language; score through a pipeline "
                              "(or export with one fixed doc_lang)")
        model, self._composer = self._compose(self.languages)
        return model

    def _compose(self, languages: list[tuple[Any, float]]) -> tuple[Any, Composer | None]:
        """A cross-encoder of the backbone with the ranking adapter and ``languages`` (folded in when ``merge``)."""
        from sentence_transformers.cross_encoder import CrossEncoder

        device = resolve_device(self.device, where="scorer 'xling'")
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
        composer = None
        if self.ranking.kind != "full":
            composer = Composer(model.model)
            for info, scale in languages:
                composer.add_language(info, scale)
            composer.add_ranking(self.ranking)
            composer.activate()
            if self.merge:
                composer.merge()
        model.to(device)
        model.eval()
        logger.info("xling scorer: %s with %s on %s", self.ranking.path,
                    ", ".join(f"{i.lang} x{s:g}" for i, s in languages) or "no language adapter", device)
        return model, composer

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
        langs = "per document" if self.by_document else ",".join(i.lang for i, _ in self.languages) or "-"
        return f"CrossLingualScorer({self.ranking.path.name!r}, language={self.language!r} [{langs}], merge={self.merge})"


def _content(folder: Path) -> str:
    """The core's fingerprint of an adapter folder (:meth:`rankkit.models.ModelRef.fingerprint`)."""
    return ModelRef.resolve(str(folder)).fingerprint()
