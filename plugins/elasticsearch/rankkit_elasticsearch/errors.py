"""Errors of the rescoring extension, with the HTTP status and the ES error type they map to."""

from __future__ import annotations

from typing import Any

from rankkit.errors import RankkitError


class RescoreError(RankkitError):
    """A rescoring request that cannot be served.

    Attributes:
        status: HTTP status (400 for a bad request, 413 too large, 502/504 upstream).
        es_type: The ``type`` of the ES-style error body.
    """

    def __init__(self, message: str, status: int = 400, es_type: str = "illegal_argument_exception") -> None:
        super().__init__(message)
        self.status = status
        self.es_type = es_type

    def body(self) -> dict[str, Any]:
        """The error as Elasticsearch shapes it: ``{"error": {"root_cause": [...], "type", "reason"}, "status"}``."""
        return es_error(self.es_type, str(self), self.status)


def es_error(es_type: str, reason: str, status: int) -> dict[str, Any]:
    """An Elasticsearch-shaped error body."""
    cause = {"type": es_type, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}
