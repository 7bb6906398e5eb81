"""Test helpers: tiny random encoder and decoder backbones with locally trained tokenizers.

Nothing touches the network. The encoder is a 2-layer BERT (masked-LM capable),
the decoder a 2-layer Llama; both share a WordPiece tokenizer trained on local
text (:func:`rankkit_crossencoder.testing.train_tokenizer`).
"""

from __future__ import annotations

from pathlib import Path

from rankkit_crossencoder.testing import make_tiny_cross_encoder, train_tokenizer


def tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A random tiny BERT backbone (no head) with a local tokenizer."""
    return make_tiny_cross_encoder(folder, head=False, seed=seed)


def tiny_decoder(folder: Path, seed: int = 0) -> Path:
    """A random tiny Llama causal LM with a local tokenizer (pad token set, for sequence classification)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                         eos_token_id=tokenizer.sep_token_id)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    return folder


def text_file(path: Path, language: str, lines: int = 60) -> Path:
    """A small monolingual text file (one passage per line) in a made-up register per ``language``."""
    words = {"en": "the glacier river flows into the delta sediment near ice caves",
             "xx": "protein folding energy landscape vitamin bone density report"}[language].split()
    path.write_text("\n".join(" ".join(words[(i + j) % len(words)] for j in range(12)) for i in range(lines)) + "\n")
    return path
