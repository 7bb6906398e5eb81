"""Test helpers: a tiny random BERT cross-encoder with a locally trained tokenizer, and a tiny training set.

Nothing here touches the network: the WordPiece tokenizer is trained on text
read from rankkit's own source files, and the model is a randomly initialised
``BertForSequenceClassification`` a few hundred kilobytes large.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rankkit.datasets.beir import BeirDataset
from rankkit.types import Ranking, Run

TOPICS = ("glacier ice cave", "neural ranking model", "vitamin bone density", "wing propeller flow",
          "river delta sediment", "protein folding energy")


def local_lines(limit: int = 400) -> list[str]:
    """A few hundred lines of local text (rankkit's own sources and the tiny corpus) for the tokenizer."""
    import rankkit

    lines = [" ".join(TOPICS)] * 5
    for path in sorted(Path(rankkit.__file__).parent.rglob("*.py")):
        lines.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        if len(lines) >= limit:
            break
    return lines[:limit]


def train_tokenizer(folder: Path, vocab_size: int = 400, token_type_ids: bool = False) -> object:
    """Train a WordPiece tokenizer on :func:`local_lines` and save it (BERT layout) into ``folder``.

    Args:
        folder: Where to save.
        vocab_size: Tokens to learn.
        token_type_ids: Make segment ids too (0 for the query, 1 for the document), as BERT's tokenizer does.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(local_lines(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    segments = {"model_input_names": ["input_ids", "token_type_ids", "attention_mask"]} if token_type_ids else {}
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=64,
                                   **segments)
    fast.save_pretrained(str(folder))
    return fast


def make_tiny_cross_encoder(folder: Path, head: bool = True, vocab_size: int | None = None, seed: int = 0,
                            labels: int = 1, token_type_ids: bool = False) -> Path:
    """A random tiny BERT (2 layers, hidden 32) with a local tokenizer, saved into ``folder``.

    Args:
        folder: Where to save.
        head: Save a sequence-classification head (``False``: a bare ``BertModel``, no head).
        vocab_size: The model's embedding rows (default: the tokenizer's size; smaller makes a mismatch).
        seed: Weight initialisation seed.
        labels: Logits of the head.
        token_type_ids: The tokenizer makes segment ids (the model then uses them).
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(folder, token_type_ids=token_type_ids)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size or len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=37, max_position_embeddings=128, num_labels=labels)
    model = BertForSequenceClassification(config) if head else BertModel(config)
    model.save_pretrained(str(folder))
    return folder


def head_on_backbone(backbone: Path, folder: Path, seed: int = 0) -> Path:
    """A cross-encoder made of a real backbone (e.g. the packaged MiniLM) and a seeded random one-logit head.

    Its scores rank nothing well, but they come from trained transformer weights, with the activation outliers
    that int8 quantisation must cope with, and no training is needed.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()   # the head is new on purpose: no load report
    try:
        model = AutoModelForSequenceClassification.from_pretrained(str(backbone), num_labels=1)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(backbone)).save_pretrained(str(folder))
    return folder


def tiny_training_data(root: Path) -> tuple[BeirDataset, Run]:
    """Six topics x five documents; five queries with one relevant document each, one query without.

    Returns:
        The dataset (split ``train``) and a candidates run with every document of the query's topic
        first, then two of other topics.
    """
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    docs, queries, qrels, runs = [], [], ["query-id\tcorpus-id\tscore"], []
    for t, topic in enumerate(TOPICS):
        for i in range(5):
            docs.append({"_id": f"d{t}-{i}", "title": "", "text": f"{topic} report {i} " + "details " * i})
        queries.append({"_id": f"q{t}", "text": f"what about {topic}?"})
        if t < 5:
            qrels.append(f"q{t}\td{t}-0\t1")
        qrels.append(f"q{t}\td{t}-4\t0")
        ids = [f"d{t}-{i}" for i in (1, 0, 2, 3, 4)] + [f"d{(t + 1) % 6}-0", f"d{(t + 2) % 6}-1"]
        runs.append(Ranking(f"q{t}", ids, np.linspace(10, 3, len(ids)).astype(np.float32)))
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "train.tsv").write_text("\n".join(qrels) + "\n")
    return BeirDataset("tiny-train", root, split="train"), Run(runs, "candidates")
