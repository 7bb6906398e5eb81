"""rankkit: a plugin framework for search-engine integration.

The public API. Importing it loads no plugin, no JVM and no model; plugins
load when a :class:`Registry` is created.
"""

from rankkit.components import ComponentSpec, Param, fingerprint
from rankkit.errors import (
    ConfigError,
    DataFormatError,
    DatasetNotFoundError,
    DuplicateComponentError,
    MissingDocumentError,
    PluginError,
    RankkitError,
    UnknownComponentError,
)
from rankkit.hookspecs import hookimpl, hookspec
from rankkit.pipeline import Composable, ScorerReranker, Stage, combsum, rrf
from rankkit.registry import Registry
from rankkit.rescore import RescoreSettings
from rankkit.trec import read_qrels, read_run, read_topics, write_qrels, write_run, write_topics
from rankkit.types import Document, Qrels, Query, Ranking, Run

__all__ = [
    "ComponentSpec",
    "Composable",
    "ConfigError",
    "DataFormatError",
    "DatasetNotFoundError",
    "Document",
    "DuplicateComponentError",
    "MissingDocumentError",
    "Param",
    "PluginError",
    "Qrels",
    "Query",
    "Ranking",
    "RankkitError",
    "Registry",
    "RescoreSettings",
    "Run",
    "ScorerReranker",
    "Stage",
    "UnknownComponentError",
    "combsum",
    "fingerprint",
    "hookimpl",
    "hookspec",
    "read_qrels",
    "read_run",
    "read_topics",
    "rrf",
    "write_qrels",
    "write_run",
    "write_topics",
]
