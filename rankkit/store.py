"""One store for everything rankkit builds once and reuses: indexes, trained models, plugin models, run files.

An artifact is a folder (or file) with a stamp that records its **key** and
the **parts** the key was computed from: component parameters, model and
dataset content hashes, and the versions of rankkit, the plugin and its
backend libraries (:mod:`rankkit.versions`). :func:`ensure` reuses an artifact
whose key matches, and otherwise builds it atomically (in a staging folder,
:mod:`rankkit.staging`), under a lock so two processes never build the same
artifact at once: the second waits and then reuses the first one's. When a
key changed, :func:`explain` says which parts did, and that reason is logged
before the rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankkit.components import fingerprint
from rankkit.config import cache_dir
from rankkit.staging import build_folder, read_stamp

log = logging.getLogger(__name__)

#: At most this many changed parts are named in a rebuild reason.
_SHOWN = 4


def key_for(kind: str, parts: Mapping[str, Any]) -> str:
    """The key of an artifact of ``kind`` (``index``, ``train``, ``model``, ``run``) built from ``parts``."""
    return fingerprint("artifact", kind, dict(parts))


def explain(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """Why an artifact with the stamp parts ``old`` is not the one ``new`` describes, in one line.

    Names each changed leaf (``versions.rankkit-bm25: 0.1.0 -> 0.2.0``, ``params.k1: 0.9 -> 1.2``); a stamp
    without parts was written before rankkit recorded them.
    """
    if old is None:
        return "its stamp predates recorded key parts (built by an earlier rankkit)"
    changes = _diff(_plain(old), _plain(new), "")
    if not changes:
        return "its key changed (the same recorded parts: the key's rule changed)"
    shown = "; ".join(changes[:_SHOWN])
    more = f"; and {len(changes) - _SHOWN} more" if len(changes) > _SHOWN else ""
    return f"changed: {shown}{more}"


def _plain(value: Any) -> Any:
    """``value`` as JSON would store it (tuples as lists, paths as strings), so stamps compare with fresh parts."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _diff(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for name in sorted(set(old) | set(new), key=str):
            here = f"{path}.{name}" if path else str(name)
            if name not in old:
                out.append(f"{here}: new ({_short(new[name])})")
            elif name not in new:
                out.append(f"{here}: removed (was {_short(old[name])})")
            else:
                out.extend(_diff(old[name], new[name], here))
        return out
    return [] if old == new else [f"{path or 'value'}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@contextmanager
def build_lock(target: Path) -> Iterator[None]:
    """Hold the lock of ``target`` for the block, waiting for a process that holds it (saying so once) rather
    than building the same artifact twice.

    Lock files live in ``<cache>/locks`` (named by a hash of the target's absolute path), never beside the
    artifacts.
    """
    from filelock import FileLock, Timeout

    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(Path(target).absolute()).encode()).hexdigest()[:24]
    lock = FileLock(str(folder / f"{name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("%s is being built by another process; waiting for it to finish", target)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class Artifact:
    """A complete artifact and what :func:`ensure` did for it.

    Attributes:
        path: The artifact's folder.
        stamp: Its stamp (with ``key`` and ``parts``).
        built: Whether :func:`ensure` built it (``False``: an identical one was reused).
        reason: Why it was (re)built: :func:`explain`'s line, a usability problem, ``"forced"``, or ``None``
            when nothing was there before (or it was reused).
        seconds: How long :func:`ensure` took, checking and waiting included.
    """

    path: Path
    stamp: dict[str, Any]
    built: bool
    reason: str | None
    seconds: float


def ensure(
    target: Path,
    stamp_name: str,
    kind: str,
    parts: Mapping[str, Any],
    build: Callable[[Path], dict[str, Any]],
    *,
    force: bool = False,
    usable: Callable[[dict[str, Any]], str | None] | None = None,
    what: str = "",
) -> Artifact:
    """Reuse the artifact in ``target`` when its key matches ``parts``; otherwise build it.

    Args:
        target: The artifact's folder.
        stamp_name: The stamp file inside it (``rankkit-index.json``...).
        kind: What it is, for the key (:func:`key_for`).
        parts: Everything the artifact depends on (JSON-able).
        build: Fills the empty staging folder it is given and returns the stamp's content; ``key`` and
            ``parts`` are added to it.
        force: Build even when an identical artifact exists.
        usable: Asked about a matching artifact: ``None`` when it can be reused, else why not (then it is rebuilt).
        what: How the artifact is named when a rebuild is announced (``index scifact-bm25``); default its path.

    Returns:
        The artifact.

    Raises:
        IndexStateError: When another process's staging folder for it is in the way (see :mod:`rankkit.staging`).
    """
    started = time.perf_counter()
    key = key_for(kind, parts)
    with build_lock(target):
        stamp = read_stamp(target, stamp_name)
        reason: str | None = None
        if stamp is not None:
            if force:
                reason = "forced"
            elif stamp.get("key") != key:
                reason = explain(stamp.get("parts"), parts)
            else:
                reason = usable(stamp) if usable is not None else None
                if reason is None:
                    return Artifact(target, stamp, False, None, time.perf_counter() - started)
            log.warning("%s: rebuilding: %s", what or target, reason)
        content = build_folder(target, stamp_name, lambda staging: {**build(staging), "key": key, "parts": dict(parts)})
    return Artifact(target, content, True, reason, time.perf_counter() - started)
