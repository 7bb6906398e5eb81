"""rankkit-crossencoder: a cross-encoder scorer and trainer (sentence-transformers ``CrossEncoder``).

Importing this package does no work and imports no torch; the components live in
:mod:`rankkit_crossencoder.scorer` and :mod:`rankkit_crossencoder.trainer`.
"""

__all__: list[str] = []
