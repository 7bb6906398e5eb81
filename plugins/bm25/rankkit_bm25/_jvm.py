"""Lazy access to Pyserini and Anserini's Java classes.

Every import of ``pyserini`` or ``jnius`` in this plugin goes through here, and
each one happens inside a function, after :func:`rankkit.java.prepare_jvm` has
chosen the JDK. Importing this module starts nothing.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from rankkit.java import prepare_jvm


def autoclass(name: str) -> Any:
    """The Java class ``name`` (starts the JVM on first use, with Anserini on the classpath)."""
    prepare_jvm()
    from pyserini.pyclass import autoclass as _autoclass  # configures the Anserini classpath, starts the JVM

    return _autoclass(name)


def simple_searcher(index_dir: Path) -> Any:
    """Anserini's ``SimpleSearcher`` over ``index_dir``: the Java object behind Pyserini's ``LuceneSearcher``.

    Used directly because ``import pyserini.search`` also imports torch,
    transformers and openai (about 13 s), none of which BM25 needs.
    """
    return autoclass("io.anserini.search.SimpleSearcher")(str(index_dir))


def lucene_analyzer(stemmer: str, stopwords: bool) -> Any:
    """Pyserini's English analyzer with the given stemmer (``porter``, ``krovetz``, ``none``) and stopwords."""
    prepare_jvm()
    from pyserini.analysis import get_lucene_analyzer

    return get_lucene_analyzer(stemming=stemmer != "none", stemmer=stemmer, stopwords=stopwords)


def java_string_list(values: list[str]) -> Any:
    """A ``java.util.ArrayList<String>`` holding ``values``."""
    array_list = autoclass("java.util.ArrayList")()
    for value in values:
        array_list.add(value)
    return array_list


def java_float_map(weights: dict[str, float]) -> Any:
    """A ``java.util.HashMap<String, Float>`` holding ``weights``."""
    hash_map = autoclass("java.util.HashMap")()
    jfloat = autoclass("java.lang.Float")
    for key, value in weights.items():
        hash_map.put(key, jfloat(float(value)))
    return hash_map


def pyserini_version() -> str:
    """The installed Pyserini version."""
    try:
        return metadata.version("pyserini")
    except metadata.PackageNotFoundError:
        return "not installed"


@lru_cache(maxsize=1)
def anserini_version() -> str:
    """The version of the Anserini fat jar Pyserini ships (read from its file name; no JVM needed)."""
    spec = _pyserini_dir()
    if spec is None:
        return "unknown"
    jars = sorted((spec / "resources" / "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        return "unknown"
    return jars[-1].name.removeprefix("anserini-").removesuffix("-fatjar.jar")


def _pyserini_dir() -> Path | None:
    from importlib.util import find_spec

    spec = find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def runtime_versions() -> dict[str, str]:
    """Pyserini, Anserini, Lucene and Java versions of the running JVM (starts it)."""
    system = autoclass("java.lang.System")
    lucene = autoclass("org.apache.lucene.util.Version")
    return {
        "pyserini": pyserini_version(),
        "anserini": anserini_version(),
        "lucene": str(lucene.LATEST.toString()),
        "java": str(system.getProperty("java.version")),
    }
