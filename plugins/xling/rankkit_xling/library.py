"""Adapter folders, their metadata, and libraries of them by language code.

Every adapter the plugin trains is a folder holding its weights and
``xling-adapter.json``::

    {"kind": "language" | "ranking" | "full", "method": "lora" | "sft" | "full",
     "lang": "de", "backbone": "...", "backbone_fingerprint": "...",
     "tokenizer_fingerprint": "...", "language_adapter": {...} | null}

A **library** is a directory whose sub-folders are adapters (``library/de``,
``library/en``...), or any list of adapter folders (``train:NAME`` models in an
experiment); language adapters are looked up in it by language code.

A language adapter trained on a dataset's corpus lists the documents it read
in ``seen-documents.txt``. A library may hold several adapters of one language
(say, one per half of a collection, *cross-fitting*): each document is then
scored with the one that never read it, so an adapter is never evaluated on
its own training text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rankkit.errors import ConfigError
from rankkit.files import atomic_write
from rankkit_xling.backbone import AdapterMismatchError, Backbone

META = "xling-adapter.json"
SEEN = "seen-documents.txt"
KINDS = ("language", "ranking", "full")
METHODS = ("lora", "sft", "full")
#: ISO 639-1/639-3 code with an optional script or region subtag (``de``, ``zh``, ``pt-BR``, ``sr-Latn``).
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class AdapterInfo:
    """What ``xling-adapter.json`` records about an adapter folder."""

    path: Path
    kind: str
    method: str
    lang: str
    backbone: str
    backbone_fingerprint: str
    tokenizer_fingerprint: str
    language_adapter: dict[str, Any] | None = None

    def check_backbone(self, backbone: Backbone) -> None:
        """Refuse an adapter trained for other weights or another tokenizer.

        Raises:
            AdapterMismatchError: Naming the adapter, its backbone and fingerprints, and the expected ones.
        """
        problems = []
        if self.backbone_fingerprint != backbone.fingerprint:
            problems.append(f"backbone fingerprint {self.backbone_fingerprint} (trained on {self.backbone!r}), "
                            f"expected {backbone.fingerprint} ({backbone.name!r})")
        if self.tokenizer_fingerprint != backbone.tokenizer_fingerprint:
            problems.append(f"tokenizer fingerprint {self.tokenizer_fingerprint}, expected {backbone.tokenizer_fingerprint} "
                            "(mismatched tokenizers give the adapter token ids it never saw)")
        if problems:
            raise AdapterMismatchError(
                f"{self.kind} adapter {self.path} ({self.method}, lang {self.lang!r}) does not belong to backbone "
                f"{backbone.name!r}: " + "; ".join(problems) + ". Train the adapter on this backbone, or use the "
                "backbone it was trained on."
            )

    @cached_property
    def seen(self) -> frozenset[str] | None:
        """Ids of the documents the adapter was trained on, or ``None`` when it does not record them (a text file)."""
        path = self.path / SEEN
        if not path.is_file():
            return None
        return frozenset(line for line in path.read_text(encoding="utf-8").splitlines() if line)

    def as_json(self) -> dict[str, Any]:
        """The metadata as stored (without the folder)."""
        data = asdict(self)
        data.pop("path")
        return data


def check_language_code(code: str, where: str) -> str:
    """Return ``code`` when it is a well-formed language code.

    Raises:
        ConfigError: Naming ``where`` and the expected form.
    """
    if not isinstance(code, str) or not LANGUAGE_CODE.match(code):
        raise ConfigError(f"{where}: {code!r} is not a language code (ISO 639-1/639-3 such as 'de', 'zh', 'pt-BR')")
    return code


def write_adapter_info(folder: Path, info: AdapterInfo, seen: Iterable[str] | None = None) -> None:
    """Write ``xling-adapter.json`` into ``folder`` (atomically), and ``seen-documents.txt`` when ``seen`` is given."""
    if seen is not None:
        with atomic_write(folder / SEEN) as handle:
            handle.write("".join(f"{doc_id}\n" for doc_id in sorted(set(seen))))
    with atomic_write(folder / META) as handle:
        json.dump(info.as_json(), handle, indent=1, sort_keys=True)


def read_adapter(folder: str | Path) -> AdapterInfo:
    """Read an adapter folder's metadata.

    Raises:
        ConfigError: When the folder is missing or is not an xling adapter.
    """
    folder = Path(folder)
    meta = folder / META
    if not meta.is_file():
        raise ConfigError(f"{folder} is not an xling adapter ({META} is missing); train one with the trainers "
                          "xling-language, xling-ranking or xling-full")
    try:
        data = json.loads(meta.read_text())
        return AdapterInfo(path=folder, **data)
    except (json.JSONDecodeError, TypeError) as error:
        raise ConfigError(f"{meta}: unreadable adapter metadata ({error}); retrain the adapter") from None


class AdapterLibrary:
    """Language adapters by language code.

    Args:
        locations: Adapter folders and/or directories whose sub-folders are adapters.
    """

    def __init__(self, locations: Iterable[str | Path]) -> None:
        self.language: dict[str, list[AdapterInfo]] = {}
        for location in locations:
            for folder in _adapter_folders(Path(location)):
                info = read_adapter(folder)
                if info.kind != "language":
                    continue
                known = self.language.setdefault(info.lang, [])
                if all(i.path != info.path for i in known):
                    known.append(info)

    def adapters(self, lang: str, where: str = "xling") -> list[AdapterInfo]:
        """Every language adapter for ``lang``.

        Raises:
            ConfigError: For a malformed code, or a language the library has no adapter for (listing those it has).
        """
        check_language_code(lang, where)
        if lang not in self.language:
            have = ", ".join(f"{c} ({', '.join(str(i.path) for i in infos)})"
                             for c, infos in sorted(self.language.items())) or "none"
            raise ConfigError(f"{where}: no language adapter for {lang!r}; the library has: {have}. Train one with "
                              f"`rankkit xling train-language --lang {lang} ...` or the xling-language trainer")
        return self.language[lang]

    def get(self, lang: str, where: str = "xling") -> AdapterInfo:
        """The one language adapter for ``lang``.

        Raises:
            ConfigError: As :meth:`adapters`, and when the library holds several for ``lang`` (use :meth:`for_document`).
        """
        infos = self.adapters(lang, where)
        if len(infos) > 1:
            raise ConfigError(f"{where}: {len(infos)} language adapters for {lang!r} ({', '.join(str(i.path) for i in infos)})"
                              "; keep one in the library, or let each document pick the one that never read it "
                              "(cross-fitting; the scorer does so when it is given document ids)")
        return infos[0]

    def for_document(self, lang: str, doc_id: str, held_out: bool, where: str = "xling") -> AdapterInfo:
        """The adapter for ``lang`` that never read document ``doc_id``.

        With one adapter for ``lang`` that is the one, unless ``held_out`` and it read the document.

        Raises:
            ConfigError: When every candidate read the document (with several, or with ``held_out``), naming them.
        """
        infos = self.adapters(lang, where)
        unseen = [i for i in infos if i.seen is None or doc_id not in i.seen]
        if unseen:
            return unseen[0]
        if len(infos) == 1 and not held_out:
            return infos[0]
        raise ConfigError(f"{where}: every language adapter for {lang!r} was trained on document {doc_id!r} "
                          f"({', '.join(str(i.path) for i in infos)}); add one trained without it (e.g. on the other "
                          "half of the collection, a fold: dataset)")


def _adapter_folders(location: Path) -> list[Path]:
    if (location / META).is_file():
        return [location]
    if not location.is_dir():
        raise ConfigError(f"adapter library location {location} does not exist")
    return sorted(p for p in location.iterdir() if (p / META).is_file())
