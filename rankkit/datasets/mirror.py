"""Resolution of dataset names in the offline mirror directory (``RANKKIT_DATA``).

A mirror holds BEIR-layout folders. A dataset is named ``<folder>`` or
``<folder>/<qrels split>``; a folder may hold sub-collections that share the
parent's qrels (``xquad/de``, ``xquad/de/test``). Sub-collections that are
translations of each other (same ids) pair up: ``xquad/en-de`` has the queries
of ``xquad/en`` and the documents of ``xquad/de`` (``xquad/en-de/test`` too). Standard ``ir_datasets`` ids
resolve here too when the mirror holds the same data (:data:`IRDS_ALIASES`).
"""

from __future__ import annotations

import os
from pathlib import Path

from rankkit.datasets.beir import BeirDataset
from rankkit.errors import DatasetNotFoundError

DATA_ENV = "RANKKIT_DATA"

#: ``ir_datasets`` ids whose data the mirror holds, and the mirror name they map to.
#: ``msmarco-passage/trec-dl-2019/judged`` maps to the rank_llm candidate pool: the same
#: queries and judgments, with the union of five first-stage top-100s as corpus.
IRDS_ALIASES: dict[str, str] = {
    "beir/scifact/test": "beir-scifact/test",
    "beir/scifact/train": "beir-scifact/train",
    "cranfield": "cranfield/test",
    "vaswani": "vaswani/test",
    "msmarco-passage/trec-dl-2019/judged": "trec-dl-2019/test",
}


def mirror_root(env: dict[str, str] | None = None) -> Path | None:
    """The mirror directory from ``RANKKIT_DATA``, or ``None`` when unset."""
    value = (env if env is not None else os.environ).get(DATA_ENV)
    return Path(value).expanduser() if value else None


def resolve_in_mirror(name: str, root: Path) -> BeirDataset | None:
    """Resolve ``name`` in the mirror at ``root``.

    Returns:
        The dataset, or ``None`` when the mirror has no such folder.

    Raises:
        DatasetNotFoundError: When the folder exists but the split does not.
    """
    target = IRDS_ALIASES.get(name, name)
    parts = [p for p in target.split("/") if p]
    if not parts or any(p in {".", ".."} for p in parts):
        return None
    folder = root / parts[0]
    if not folder.is_dir():
        return None
    rest = parts[1:]
    queries_root = None
    while rest and (folder / rest[0] / "corpus.jsonl").is_file():
        folder = folder / rest.pop(0)
    if rest and (pair := _language_pair(folder, rest[0])) is not None:
        queries_root, folder = pair
        rest.pop(0)
    if len(rest) > 1:
        return None
    qrels_dir = next((d / "qrels" for d in [folder, *folder.parents] if (d / "qrels").is_dir() and d >= root), None)
    split = rest[0] if rest else None
    return BeirDataset(name, folder, qrels_dir=qrels_dir, split=split, queries_root=queries_root)


def _language_pair(parent: Path, name: str) -> tuple[Path, Path] | None:
    """``(queries folder, corpus folder)`` for ``A-B`` when ``parent/A`` and ``parent/B`` are sub-collections."""
    source, dash, target = name.partition("-")
    if not dash or not source or not target:
        return None
    queries, corpus = parent / source, parent / target
    if (queries / "queries.jsonl").is_file() and (corpus / "corpus.jsonl").is_file():
        return queries, corpus
    return None


def available(root: Path) -> list[str]:
    """Names of the collections and splits in the mirror.

    Symlinked folders are followed, as :func:`resolve_in_mirror` follows them (a mirror often links datasets
    kept elsewhere); a link back to a folder above it is not entered again.
    """
    corpora: list[Path] = []
    above = {os.fspath(root): (os.path.realpath(root),)}   # each folder to walk -> real paths of it and its parents
    for path, folders, files in os.walk(root, followlinks=True):
        seen = above.pop(path)
        folders[:] = [f for f in folders if os.path.realpath(os.path.join(path, f)) not in seen]
        above.update((os.path.join(path, f), (*seen, os.path.realpath(os.path.join(path, f)))) for f in folders)
        if "corpus.jsonl" in files and (Path(path) / "corpus.jsonl").is_file():
            corpora.append(Path(path) / "corpus.jsonl")
    names: list[str] = []
    for corpus in sorted(corpora):
        folder = corpus.parent
        rel = folder.relative_to(root).as_posix()
        try:
            dataset = resolve_in_mirror(rel, root)
        except DatasetNotFoundError:
            continue
        if dataset is None:
            continue
        splits = dataset.splits()
        names.extend(f"{rel}/{s}" for s in splits) if splits else names.append(rel)
    return names
