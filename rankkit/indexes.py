"""Index manifests, the index cache, and atomic, idempotent builds.

An index manifest is a small TOML file (``indexes/scifact-bm25.toml``)::

    dataset = "beir-scifact"
    builder = "bm25"
    [params]
    threads = 2

Built indexes live outside git, in ``$RANKKIT_INDEX_DIR`` (default
``<cache>/indexes``), one folder per manifest name. A folder counts as built
only when it holds ``rankkit-index.json`` whose key matches the manifest: the
builder writes into a temporary sibling that is renamed into place after the
builder returns, so a crash or Ctrl-C never leaves a half-built index that
looks complete. Building the same manifest twice is a no-op; a changed
dataset, parameter or builder version rebuilds.

An index that lives outside its folder (in a search server, say) can be lost
or changed there while its stamp stays. A builder that offers
:class:`~rankkit.components.VerifiableIndexBuilder` is asked whether a stamped
index is still usable: :func:`ensure_index` rebuilds it when it is not, and
:func:`list_indexes` reports it as ``stale`` with the reason and the fix.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit.components import VerifiableIndexBuilder
from rankkit.config import cache_dir, load_toml, require
from rankkit.errors import ConfigError, IndexStateError, RankkitError
from rankkit.registry import validate_params
from rankkit.staging import STAGING_PREFIX, write_stamp
from rankkit.store import ensure
from rankkit.staging import read_stamp as read_stamp_file

if TYPE_CHECKING:  # pragma: no cover
    from rankkit.registry import Registry

log = logging.getLogger(__name__)

INDEX_DIR_ENV = "RANKKIT_INDEX_DIR"
STAMP = "rankkit-index.json"
#: Stamp field that says the builder can verify the index (:class:`~rankkit.components.VerifiableIndexBuilder`).
VERIFIABLE = "verifiable"


def index_root() -> Path:
    """Where built indexes live: ``$RANKKIT_INDEX_DIR`` or ``<cache>/indexes``."""
    value = os.environ.get(INDEX_DIR_ENV)
    return Path(value).expanduser() if value else cache_dir() / "indexes"


@dataclass(frozen=True)
class IndexManifest:
    """What to build: a dataset, a builder and its parameters.

    Attributes:
        name: Index name (the manifest file's stem unless given).
        dataset: Dataset name, resolved like any other.
        builder: Name of an ``index_builder`` component.
        params: Builder parameters.
        source: The TOML file it came from.
    """

    name: str
    dataset: str
    builder: str
    params: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> IndexManifest:
        """Read a manifest TOML file.

        Raises:
            ConfigError: Naming the file and the bad key.
        """
        path = Path(path)
        data = load_toml(path)
        unknown = set(data) - {"name", "dataset", "builder", "params", "description"}
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; valid: name, dataset, builder, params, description")
        params = data.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: [params] must be a table")
        return cls(
            name=data.get("name", path.stem),
            dataset=require(data, "dataset", str, str(path)),
            builder=require(data, "builder", str, str(path)),
            params=params,
            source=path,
        )

    def where(self) -> str:
        """How this manifest is named in errors."""
        return str(self.source) if self.source else f"index {self.name!r}"


#: Statistic a builder returns (true) when its build went on from earlier work (an interrupted build's, say).
RESUMED = "resumed"


@dataclass(frozen=True)
class BuiltIndex:
    """A complete index on disk and the stamp written when it was built.

    Attributes:
        path: The index folder.
        stamp: The build stamp.
        outcome: What :func:`ensure_index` did: ``"reused"`` (an identical, usable index was there), ``"built"``,
            or ``"resumed"`` (built, going on from earlier work, such as an interrupted build's: the builder's
            statistics say :data:`RESUMED`).
        seconds: How long :func:`ensure_index` took (checking included).
        reason: Why an index that was there was rebuilt (what changed in its key, or why it was unusable).
    """

    path: Path
    stamp: dict[str, Any]
    outcome: str = "reused"
    seconds: float = 0.0
    reason: str | None = None

    def summary(self) -> str:
        """One line for logs: ``reused, checked in 0.2 s (built <created>): <path>``, ``built in 12.3 s (5183
        documents): <path>`` or ``resumed from earlier work, finished in 4.1 s (...): <path>``."""
        took = f"{self.seconds:.1f} s"
        if self.outcome == "reused":
            return f"reused, checked in {took} (built {self.stamp.get('created', '?')}): {self.path}"
        documents = (self.stamp.get("stats") or {}).get("documents")
        facts = f" ({documents} documents)" if documents is not None else ""
        done = "resumed from earlier work, finished" if self.outcome == "resumed" else "built"
        why = f" (rebuilt: {self.reason})" if self.reason else ""
        return f"{done} in {took}{facts}{why}: {self.path}"

    @property
    def size_bytes(self) -> int:
        """Total size of the index folder."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def read_stamp(path: Path) -> dict[str, Any] | None:
    """The build stamp of an index folder, or ``None`` when it is absent or unreadable."""
    return read_stamp_file(path, STAMP)


def key_parts(manifest: IndexManifest, builder_version: str, corpus_checksum: str, params: dict[str, Any],
              versions: dict[str, str]) -> dict[str, Any]:
    """What an index depends on (its key is :func:`rankkit.store.key_for` of them): the builder, its version and
    parameters, the corpus's checksum, and the versions of rankkit, the plugin and its backend libraries."""
    return {"builder": manifest.builder, "builder_version": builder_version, "corpus": corpus_checksum,
            "params": params, "versions": versions}


def verify_index(builder: Any, target: Path) -> str | None:
    """What is wrong with the stamped index in ``target``, as its builder sees it.

    Returns:
        ``None`` when the index is usable or ``builder`` cannot verify it, else the builder's one-line reason.
    """
    if isinstance(builder, VerifiableIndexBuilder):
        return builder.verify(target)
    return None


def rebuild_hint(manifest: Path | None) -> str:
    """How to rebuild an index, naming its manifest when it is known."""
    return f"rebuild it with `rankkit index build {manifest or 'indexes/<manifest>.toml'}`"


def ensure_index(
    manifest: IndexManifest, registry: Registry, root: Path | None = None, force: bool = False
) -> BuiltIndex:
    """Build the index unless an identical, usable one exists.

    An existing index with the same key (:func:`key_parts`, through :func:`rankkit.store.ensure`: atomic,
    locked against a second process building it) is reused, unless its builder verifies it
    (:func:`verify_index`) and finds it unusable; otherwise it is rebuilt, saying why.

    Args:
        manifest: What to build.
        registry: Where the builder and the dataset come from.
        root: Index cache; defaults to :func:`index_root`.
        force: Rebuild even when the existing index matches.

    Returns:
        The index, saying whether it was reused, built or resumed and how long that took.
    """
    from rankkit.datasets import resolve_dataset

    root = root or index_root()
    target = root / manifest.name
    component = registry.get("index_builder", manifest.builder)
    params = validate_params(component.spec, manifest.params, where=manifest.where())
    builder = registry.build("index_builder", manifest.builder, **params)
    dataset = resolve_dataset(manifest.dataset, registry)
    corpus = dataset.corpus_checksum()
    parts = key_parts(manifest, builder.version, corpus, params, component.versions())

    def fill(staging: Path) -> dict[str, Any]:
        started = time.time()
        with registry.active():   # model names the builder resolves while building (rankkit:NAME) use this registry
            stats = builder.build(dataset, staging)
        return {
            "name": manifest.name,
            "dataset": manifest.dataset,
            "corpus_checksum": corpus,
            "builder": manifest.builder,
            "builder_version": builder.version,
            "params": params,
            "stats": stats,
            "build_seconds": round(time.time() - started, 3),
            VERIFIABLE: isinstance(builder, VerifiableIndexBuilder),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    artifact = ensure(target, STAMP, "index", parts, fill, force=force, usable=lambda _: verify_index(builder, target),
                      what=f"index {manifest.name}")
    if not artifact.built:
        stamp = _flag_verifiable(target, artifact.stamp, builder)
        return BuiltIndex(target, stamp, "reused", artifact.seconds)
    resumed = bool((artifact.stamp.get("stats") or {}).get(RESUMED))
    return BuiltIndex(target, artifact.stamp, "resumed" if resumed else "built", artifact.seconds, artifact.reason)


def _flag_verifiable(target: Path, stamp: dict[str, Any], builder: Any) -> dict[str, Any]:
    """``stamp``, with :data:`VERIFIABLE` added in place when a verifiable builder's stamp predates it.

    :func:`list_indexes` verifies only stamps with the flag; a stamp that cannot be rewritten stays as it is.
    """
    if VERIFIABLE in stamp or not isinstance(builder, VerifiableIndexBuilder):
        return stamp
    flagged = {**stamp, VERIFIABLE: True}
    try:
        write_stamp(target, STAMP, flagged)
    except OSError as error:
        log.debug("cannot record %s in %s: %s", VERIFIABLE, target / STAMP, error)
        return stamp
    return flagged


def locate_index(index: str | Path, kind: str, manifest_example: str) -> Path:
    """The folder an ``index`` parameter names: a path, or the name of an index in the cache.

    Args:
        index: A folder, or a bare name looked up in :func:`index_root`.
        kind: The builder name, for the message (``"bm25"``).
        manifest_example: A manifest path for the message (``"indexes/scifact-bm25.toml"``).

    Raises:
        IndexStateError: When neither exists, saying how to build it.
    """
    root = Path(index).expanduser()
    if not root.exists() and not root.is_absolute() and len(root.parts) == 1:
        cached = index_root() / root
        if cached.exists():
            root = cached
    if not root.is_dir():
        raise IndexStateError(
            f"{kind} index {str(index)!r} does not exist (looked for the folder {root.resolve()} and in rankkit's "
            f"index cache); build it first, e.g. `rankkit index build {manifest_example}`, and pass the built "
            "folder as `index`"
        )
    return root


def manifest_dirs_for(config: Path) -> list[Path]:
    """Folders searched for the index manifests a file refers to: ``indexes/`` beside and above it, then ``./indexes``."""
    here = Path(config).resolve().parent
    return list(dict.fromkeys([here / "indexes", here.parent / "indexes", Path.cwd() / "indexes"]))


def find_manifest(name: str, search: list[Path]) -> IndexManifest:
    """Find the manifest for an index name or path.

    Args:
        name: A path to a ``.toml`` file, or a manifest name looked up as ``<dir>/<name>.toml``.
        search: Folders to look in.

    Raises:
        ConfigError: Listing the manifests that exist.
    """
    direct = Path(name)
    if direct.suffix == ".toml" and direct.is_file():
        return IndexManifest.load(direct)
    for folder in search:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return IndexManifest.load(candidate)
    known = sorted({p.stem for folder in search if folder.is_dir() for p in folder.glob("*.toml")})
    raise ConfigError(
        f"no index manifest {name!r} in {', '.join(map(str, search)) or 'any folder'}; "
        f"known: {', '.join(known) or 'none'}"
    )


@dataclass(frozen=True)
class IndexStatus:
    """One row of ``rankkit index list``.

    Attributes:
        name: Index (manifest) name.
        status: ``built``, ``missing``, ``orphan``, ``incomplete``, ``stale`` or ``unverified`` (see :func:`list_indexes`).
        path: The index folder.
        size_bytes: Size of the folder.
        documents: Documents indexed, from the stamp.
        builder: Builder name.
        problem: Why a ``stale`` or ``unverified`` index is so, with the fix; ``None`` otherwise.
    """

    name: str
    status: str
    path: Path
    size_bytes: int
    documents: int | None
    builder: str
    problem: str | None = None


def list_indexes(manifest_dirs: list[Path], root: Path | None = None, registry: Registry | None = None) -> list[IndexStatus]:
    """Status of every manifest and every built index.

    Status is ``built``, ``missing`` (manifest, no index), ``incomplete``
    (a leftover of an interrupted build), ``orphan`` (built, no manifest) or,
    with a ``registry``, ``stale`` (built, but its builder's
    :func:`verify_index` found it unusable; ``problem`` says why and how to
    rebuild). Whether a built index is stale against its dataset is decided
    at build time, when the dataset is hashed.

    Args:
        manifest_dirs: Folders of manifests.
        root: Index cache; defaults to :func:`index_root`.
        registry: Builds the builders of verifiable indexes to check them; ``None``: no check.
    """
    root = root or index_root()
    manifests = {p.stem: p for folder in manifest_dirs if folder.is_dir() for p in sorted(folder.glob("*.toml"))}
    rows: list[IndexStatus] = []
    names = sorted(set(manifests) | {p.name for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")})
    for name in names:
        path = root / name
        stamp = read_stamp(path)
        builder = (stamp or {}).get("builder") or (_safe_builder(manifests[name]) if name in manifests else "?")
        if stamp:
            status = "built" if name in manifests else "orphan"
            docs = (stamp.get("stats") or {}).get("documents")
            problem = None
            if registry is not None and stamp.get(VERIFIABLE):
                status, problem = _verified(registry, stamp, path, manifests.get(name), status)
            rows.append(IndexStatus(name, status, path, BuiltIndex(path, stamp).size_bytes, docs, builder, problem))
        else:
            rows.append(IndexStatus(name, "missing", path, 0, None, builder))
    for leftover in sorted(root.glob(f"{STAGING_PREFIX}*")):
        rows.append(IndexStatus(leftover.name, "incomplete", leftover, 0, None, "?"))
    return rows


def _verified(
    registry: Registry, stamp: dict[str, Any], path: Path, manifest: Path | None, status: str
) -> tuple[str, str | None]:
    """``(status, problem)`` of a stamped index once its builder, built from the stamp's parameters, verified it."""
    try:
        builder = registry.build("index_builder", str(stamp.get("builder")), **(stamp.get("params") or {}))
    except RankkitError as error:
        return "unverified", f"its builder cannot be built to verify it ({error})"
    problem = verify_index(builder, path)
    return (status, None) if problem is None else ("stale", f"{problem}: {rebuild_hint(manifest)}")


def _safe_builder(path: Path) -> str:
    try:
        return IndexManifest.load(path).builder
    except ConfigError:
        return "?"
