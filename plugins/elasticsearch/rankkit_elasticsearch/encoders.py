"""Dense encoders for the ``dense_vector`` field: any object with ``encode_documents`` and ``encode_queries``.

rankkit's core has no encoder kind, so the plugin takes an encoder by name:

* ``"hashing"`` or ``"hashing:<dims>"``: :class:`HashingEncoder`, a dependency-free
  feature-hashing encoder (useful for tests and as a lexical vector baseline);
* ``"package.module:factory"``: any installed encoder (e.g. the dense plugin's),
  built by calling ``factory()``. It must offer ``encode_documents(texts)`` and
  ``encode_queries(texts)`` (or one ``encode(texts)``) returning a 2-D float array.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rankkit.errors import ConfigError

_TOKEN = re.compile(r"\w+")


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to vectors (one row per text)."""

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors, shape ``(len(texts), dims)``."""
        ...  # pragma: no cover

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors, shape ``(len(texts), dims)``."""
        ...  # pragma: no cover


class HashingEncoder:
    """L2-normalised bag of lower-cased words, hashed into ``dims`` buckets (blake2b, stable across runs).

    Args:
        dims: Vector size.
    """

    def __init__(self, dims: int = 64) -> None:
        if dims < 2:
            raise ConfigError(f"hashing encoder: dims must be at least 2, got {dims}")
        self.dims = dims

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dims] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms == 0, 1.0, norms)
        out[norms[:, 0] == 0, 0] = 1.0  # an empty text still needs a non-zero vector (cosine)
        return out

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Document vectors."""
        return self._encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors (the same function as for documents)."""
        return self._encode(texts)


class _SingleFunction:
    """Adapts an object with one ``encode(texts)`` to :class:`Encoder`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.encode(list(texts)), dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.encode(list(texts)), dtype=np.float32)


def load_encoder(spec: str) -> Encoder:
    """Build the encoder ``spec`` names (see the module docstring).

    Raises:
        ConfigError: For a malformed spec, a missing module or an object that cannot encode.
    """
    name, _, arg = spec.partition(":")
    if name == "hashing":
        try:
            return HashingEncoder(int(arg) if arg else 64)
        except ValueError:
            raise ConfigError(f"encoder {spec!r}: write 'hashing' or 'hashing:<dims>'") from None
    if not arg:
        raise ConfigError(f"encoder {spec!r}: write 'hashing[:dims]' or 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(name), arg)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"encoder {spec!r} cannot be imported ({error}); is the package that provides it installed?") from None
    encoder = factory()
    if isinstance(encoder, Encoder):
        return encoder
    if callable(getattr(encoder, "encode", None)):
        return _SingleFunction(encoder)
    raise ConfigError(f"encoder {spec!r} built a {type(encoder).__name__}, which has no encode_documents/encode_queries or encode")


def as_matrix(vectors: Any, count: int, spec: str) -> np.ndarray:
    """Check an encoder's output: ``count`` finite rows.

    Raises:
        ConfigError: Naming the encoder and what was wrong.
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise ConfigError(f"encoder {spec!r} returned shape {matrix.shape} for {count} texts; expected ({count}, dims)")
    return matrix
