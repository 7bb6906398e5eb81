"""The one error family of rankkit.

Every message says what went wrong, where (plugin, file:line, doc id) and how
to fix it. Nothing in rankkit prints and returns ``None`` on bad input.
"""

from __future__ import annotations

from pathlib import Path


class RankkitError(Exception):
    """Base class of every error rankkit raises on purpose."""


class ConfigError(RankkitError):
    """A configuration (TOML experiment, index manifest, parameters) is invalid."""


class PluginError(RankkitError):
    """A plugin failed to load or registered something invalid."""


class DuplicateComponentError(PluginError):
    """Two plugins registered a component of the same kind under the same name."""


class UnknownComponentError(ConfigError):
    """A component name that no loaded plugin provides."""


class DataFormatError(RankkitError):
    """A malformed line in an input file.

    Attributes:
        path: The file that holds the bad line.
        line: The 1-based line number.
    """

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        super().__init__(f"{self.path}:{line}: {message}")


class MissingDocumentError(RankkitError, KeyError):
    """A document id has no text in the doc store."""

    def __init__(self, doc_id: str, store: str) -> None:
        self.doc_id = doc_id
        super().__init__(doc_id)
        self._message = (
            f"document {doc_id!r} has no text in {store}; rerankers need the text of every "
            "candidate: use a doc store that holds the whole corpus (the dataset's corpus or an "
            "index built with raw text stored)"
        )

    def __str__(self) -> str:
        return self._message


class DatasetNotFoundError(RankkitError):
    """A dataset name that neither the offline mirror nor any provider can resolve."""


class IndexStateError(RankkitError):
    """An index is missing, incomplete or does not match its manifest."""


class JavaNotFoundError(RankkitError):
    """No JDK of the required version could be found."""


class DependencyError(RankkitError):
    """An installed package (or the environment) is known to break a backend."""
