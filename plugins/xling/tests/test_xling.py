"""rankkit-xling on tiny random backbones: language and ranking adapters, SFTs, composition, baselines, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rankkit.errors import ConfigError
from rankkit.testing import ScorerContract, assert_no_heavy_imports
from rankkit_crossencoder.testing import tiny_training_data
from rankkit_xling.backbone import AdapterMismatchError
from rankkit_xling.testing import text_file, tiny_decoder, tiny_encoder

QUERY = "what about glacier ice cave?"
DOCS = ["glacier ice cave report 0", "protein folding energy report 3 details", "river delta sediment report 1"]
FAST = {"batch_size": 4, "max_length": 48, "device": "cpu", "logging_steps": 2}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("xling")


@pytest.fixture(scope="module")
def encoder(work):
    return tiny_encoder(work / "encoder")


@pytest.fixture(scope="module")
def data(work):
    return tiny_training_data(work / "data")


def _train(registry, name: str, output: Path, dataset=None, candidates=None, **params):
    output.mkdir(parents=True)
    stats = registry.build("trainer", name, **params).train(dataset, output, candidates)
    return output, stats


@pytest.fixture(scope="module")
def adapters(work, encoder, data, rankkit_registry_module):
    """LoRA and SFT language adapters for 'en' and 'xx', and ranking adapters trained under 'en'."""
    registry = rankkit_registry_module
    out = {}
    for method in ("lora", "sft"):
        for lang in ("en", "xx"):
            out[f"la-{method}-{lang}"], _ = _train(
                registry, "xling-language", work / "library" / method / lang, backbone=str(encoder), lang=lang,
                method=method, text_file=str(text_file(work / f"{lang}.txt", lang)), steps=12, learning_rate=5e-3,
                sft_k=500, batch_size=8, max_length=32, device="cpu", logging_steps=2)
        out[f"ra-{method}"], out[f"ra-{method}-stats"] = _train(
            registry, "xling-ranking", work / f"ra-{method}", *data, backbone=str(encoder), method=method,
            language_adapter=str(out[f"la-{method}-en"]), max_steps=8, learning_rate=5e-3, sft_k=500, **FAST)
    out["ra-only"], _ = _train(registry, "xling-ranking", work / "ra-only", *data, backbone=str(encoder),
                               max_steps=8, learning_rate=5e-3, **FAST)
    out["full"], _ = _train(registry, "xling-full", work / "full", *data, backbone=str(encoder), max_steps=8, **FAST)
    return out


@pytest.fixture(scope="module")
def rankkit_registry_module():
    from rankkit.registry import Registry

    return Registry.load()


def _scorer(registry, adapters, ranking="ra-lora", method="lora", **params):
    library = [str(adapters[f"la-{method}-en"].parent)]
    return registry.build("scorer", "xling", ranking=str(adapters[ranking]), library=library, device="cpu",
                          max_length=48, **params)


def test_language_adapter_is_saved_by_code_with_its_backbone(adapters, encoder):
    folder = adapters["la-lora-xx"]
    meta = json.loads((folder / "xling-adapter.json").read_text())
    assert meta["kind"] == "language" and meta["lang"] == "xx" and meta["method"] == "lora"
    assert meta["backbone"] == str(encoder) and len(meta["backbone_fingerprint"]) == 16
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {p.name for p in folder.iterdir()}
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as handle:
        keys = list(handle.keys())
    assert keys and all("lora_" in k for k in keys)  # only the adapter, never the MLM head or the backbone


def test_masked_lm_learns_the_language(work, encoder, rankkit_registry_module):
    _, stats = _train(rankkit_registry_module, "xling-language", work / "la-learning", backbone=str(encoder), lang="en",
                      text_file=str(work / "en.txt"), steps=30, learning_rate=1e-2, batch_size=8, max_length=32,
                      device="cpu", logging_steps=5, mlm_probability=0.3)
    assert stats["objective"] == "mlm" and stats["new_lm_head"] is True
    assert stats["final_loss"] < stats["first_loss"]


def test_decoders_learn_with_causal_lm_from_a_dataset_corpus(work, data, rankkit_registry_module):
    decoder = tiny_decoder(work / "decoder")
    folder, stats = _train(rankkit_registry_module, "xling-language", work / "la-decoder", data[0], backbone=str(decoder),
                           lang="en", steps=6, batch_size=4, max_length=32, device="cpu")
    assert stats["objective"] == "clm" and stats["texts"] == 30
    ra, _ = _train(rankkit_registry_module, "xling-ranking", work / "ra-decoder", *data, backbone=str(decoder),
                   language_adapter=str(folder), max_steps=4, **FAST)
    scorer = rankkit_registry_module.build("scorer", "xling", ranking=str(ra), library=[str(folder)], doc_lang="en",
                                           device="cpu")
    assert np.isfinite(scorer.score(QUERY, DOCS)).all()


def test_ranking_adapter_trains_under_a_frozen_language_adapter(adapters, encoder):
    from safetensors.torch import load_file

    ra = adapters["ra-lora"]
    meta = json.loads((ra / "xling-adapter.json").read_text())
    assert meta["kind"] == "ranking" and meta["language_adapter"]["lang"] == "en"
    weights = load_file(str(ra / "adapter_model.safetensors"))
    assert any("classifier" in k for k in weights) and any("lora_A" in k for k in weights)
    assert adapters["ra-lora-stats"]["steps"] == 8
    # the language adapter on disk is what trained under the RA: loading it gives the same scores as "source"
    assert not any("lang-en" in k for k in weights)


def test_composition_choices_change_the_model(rankkit_registry_module, adapters):
    registry = rankkit_registry_module
    scores = {}
    for language, extra in (("doc", {"doc_lang": "xx"}), ("query", {"query_lang": "en"}), ("none", {}),
                            ("source", {}), ("both", {"query_lang": "en", "doc_lang": "xx"})):
        scores[language] = registry.build(
            "scorer", "xling", ranking=str(adapters["ra-lora"]), device="cpu", language=language,
            library=[str(adapters["la-lora-en"].parent)], **extra).score(QUERY, DOCS)
    np.testing.assert_allclose(scores["query"], scores["source"], rtol=1e-5)  # en is the RA's source language
    assert not np.allclose(scores["doc"], scores["source"]) and not np.allclose(scores["none"], scores["source"])
    assert not np.allclose(scores["both"], scores["doc"]) and not np.allclose(scores["both"], scores["source"])


def test_merged_weights_score_like_the_composition_and_export(rankkit_registry_module, adapters, tmp_path):
    from click.testing import CliRunner

    from rankkit.cli import build_cli

    composed = _scorer(rankkit_registry_module, adapters, doc_lang="xx", merge=False)
    merged = _scorer(rankkit_registry_module, adapters, doc_lang="xx")  # merged by default
    np.testing.assert_allclose(merged.score(QUERY, DOCS), composed.score(QUERY, DOCS), rtol=1e-4, atol=1e-5)
    out = tmp_path / "merged"
    result = CliRunner().invoke(build_cli(rankkit_registry_module), [
        "xling", "export", str(adapters["ra-lora"]), "--library", str(adapters["la-lora-en"].parent), "--doc-lang", "xx",
        "-o", str(out)], obj=rankkit_registry_module)
    assert result.exit_code == 0, result.output
    plain = rankkit_registry_module.build("scorer", "cross-encoder", model=str(out), device="cpu", max_length=48)
    np.testing.assert_allclose(plain.score(QUERY, DOCS), composed.score(QUERY, DOCS), rtol=1e-4, atol=1e-5)
    listing = CliRunner().invoke(build_cli(rankkit_registry_module), ["xling", "adapters",
                                                                      str(adapters["la-lora-en"].parent)])
    assert listing.exit_code == 0 and "language  lora  en" in listing.output and "xx" in listing.output


def test_sparse_fine_tunings_compose_by_addition(rankkit_registry_module, adapters, encoder):
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from rankkit_xling.sparse import is_embedding, load_sparse

    la, ra = load_sparse(adapters["la-sft-xx"]), load_sparse(adapters["ra-sft"])
    assert not any(is_embedding(n) for n in [*la, *ra])  # embedding tables stay frozen
    assert sum(int(i.numel()) for i, _, _ in la.values()) <= 500 + 10  # top-k (ties aside), stored sparsely
    body = {n: v for n, v in ra.items() if not n.startswith("classifier.")}
    assert 0 < sum(int(i.numel()) for i, _, _ in body.values()) <= 510
    scorer = _scorer(rankkit_registry_module, adapters, ranking="ra-sft", method="sft", doc_lang="xx")
    # by hand: backbone + language SFT + ranking SFT (head from the SFT's stored values)
    model = CrossEncoder(str(encoder), num_labels=1, device="cpu", max_length=48)
    params = dict(model.model.named_parameters())
    with torch.no_grad():
        for name in [n for n in params if n.startswith("classifier.")]:
            params[name].zero_()
        for diff in (la, ra):
            for name, (indices, values, _) in diff.items():
                params[name].view(-1)[indices] += values
    by_hand = model.predict([(QUERY, d) for d in DOCS], activation_fn=torch.nn.Identity(), convert_to_numpy=True)
    np.testing.assert_allclose(scorer.score(QUERY, DOCS), np.asarray(by_hand).reshape(-1), rtol=1e-4, atol=1e-5)


def test_the_sparse_phase_changes_only_masked_weights(rankkit_registry_module, adapters, data, work, encoder):
    """Two-phase LT-SFT: after the reset to θ0, the second phase moves only the masked entries (a fresh optimiser:
    the first phase's Adam moments and weight decay must not carry over)."""
    trainer = rankkit_registry_module.build("trainer", "xling-ranking", backbone=str(encoder), method="sft",
                                            language_adapter=str(adapters["la-sft-en"]), max_steps=8,
                                            learning_rate=5e-3, sft_k=500, **FAST)
    (work / "ra-sft-check").mkdir()
    trainer.train(data[0], work / "ra-sft-check", data[1])
    sft = trainer._sft
    params = dict(sft["hf"].named_parameters())
    moved_outside = moved_inside = 0
    for name, mask in sft["masks"].items():
        changed = (params[name].detach() - sft["before"][name]) != 0
        moved_outside += int((changed & ~mask).sum())
        moved_inside += int((changed & mask).sum())
    assert moved_inside > 0 and moved_outside == 0   # before the fix: 14,134 entries outside the masks moved


def test_curriculum_weights_the_ranking_adapter_unchanged(rankkit_registry_module, adapters, data, work, encoder):
    folder, stats = _train(rankkit_registry_module, "curriculum", work / "ra-curriculum", *data, trainer="xling-ranking",
                           heuristic="reciprank", end=4.0, end_unit="steps",
                           trainer_params={"backbone": str(encoder), "language_adapter": str(adapters["la-lora-en"]),
                                           "max_steps": 6, **FAST})
    assert stats["curriculum"]["heuristic"] == "reciprank" and stats["weighting"]
    assert json.loads((folder / "xling-adapter.json").read_text())["kind"] == "ranking"


def test_baselines_full_fine_tuning_and_ranking_adapter_only(rankkit_registry_module, adapters):
    full = rankkit_registry_module.build("scorer", "xling", ranking=str(adapters["full"]), language="none", device="cpu")
    only = rankkit_registry_module.build("scorer", "xling", ranking=str(adapters["ra-only"]), language="none", device="cpu")
    assert np.isfinite(full.score(QUERY, DOCS)).all() and np.isfinite(only.score(QUERY, DOCS)).all()
    with pytest.raises(ConfigError, match="fully fine-tuned model; it takes no language adapter"):
        rankkit_registry_module.build("scorer", "xling", ranking=str(adapters["full"]), doc_lang="de", device="cpu")


def test_unknown_language_names_the_library(rankkit_registry_module, adapters):
    with pytest.raises(ConfigError, match=r"no language adapter for 'de'; the library has: en \(.*\), xx \("):
        _scorer(rankkit_registry_module, adapters, doc_lang="de")
    with pytest.raises(ConfigError, match="'German' is not a language code"):
        _scorer(rankkit_registry_module, adapters, doc_lang="German")
    with pytest.raises(ConfigError, match="language = 'doc' needs doc_lang"):
        _scorer(rankkit_registry_module, adapters)


def test_adapter_of_another_backbone_or_tokenizer_is_refused(rankkit_registry_module, adapters, work, encoder):
    other = tiny_encoder(work / "other-encoder", seed=1)  # same architecture and tokenizer, other weights
    with pytest.raises(AdapterMismatchError) as info:
        rankkit_registry_module.build("scorer", "xling", ranking=str(adapters["ra-lora"]), backbone=str(other),
                                      library=[str(adapters["la-lora-en"].parent)], doc_lang="xx")
    message = str(info.value)
    assert str(adapters["ra-lora"]) in message and "backbone fingerprint" in message and str(other) in message
    retokenized = work / "retokenized"
    shutil.copytree(encoder, retokenized)
    config = json.loads((retokenized / "tokenizer_config.json").read_text())
    config["model_max_length"] = 32  # another tokenizer configuration, same weights
    (retokenized / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterMismatchError, match="tokenizer fingerprint .*mismatched tokenizers"):
        rankkit_registry_module.build("scorer", "xling", ranking=str(adapters["ra-lora"]), backbone=str(retokenized),
                                      language="none")


def test_backbone_fingerprints_keep_the_values_existing_adapters_record(tmp_path):
    """The core's files fingerprints of the weights and tokenizer, pinned: the values rankkit-xling recorded before
    it used the core (its own ``files_hash``), so adapters trained then still load."""
    from rankkit_xling.backbone import resolve_backbone

    folder = tmp_path / "backbone"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 8}))
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "README.md").write_text("in neither fingerprint")
    backbone = resolve_backbone(str(folder))
    assert (backbone.kind, backbone.fingerprint, backbone.tokenizer_fingerprint) == (
        "encoder", "10bb4f6b06336877", "77b6a5859b3323f5")


def test_ranking_adapter_needs_a_language_adapter_of_its_method(rankkit_registry_module, adapters, encoder):
    with pytest.raises(ConfigError, match="method 'sft' needs a sft language adapter"):
        rankkit_registry_module.build("trainer", "xling-ranking", backbone=str(encoder), method="sft",
                                      language_adapter=str(adapters["la-lora-en"]))
    with pytest.raises(ConfigError, match="is not an xling adapter"):
        rankkit_registry_module.build("trainer", "xling-ranking", backbone=str(encoder), language_adapter=str(encoder))


class TestScorerContract(ScorerContract):
    @pytest.fixture
    def scorer(self, rankkit_registry_module, adapters):
        return _scorer(rankkit_registry_module, adapters, doc_lang="xx")


def test_registering_the_plugin_imports_nothing_heavy():
    assert_no_heavy_imports(
        "from rankkit.registry import Registry; r = Registry.load(); r.components('trainer'); r.components('scorer');"
        " r.components('model')", ["torch", "transformers", "peft", "sentence_transformers"])


def test_masked_positions_only_gives_the_models_own_loss(encoder):
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    from rankkit_xling.language import masked_positions_only

    model = AutoModelForMaskedLM.from_pretrained(str(encoder))
    tokenizer = AutoTokenizer.from_pretrained(str(encoder))
    batch = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.3, seed=1)(
        [tokenizer(t) for t in ("glacier ice cave report", "neural ranking model details details")])
    fast = masked_positions_only(model)(**batch)["loss"]
    assert torch.allclose(model(**batch).loss, fast, atol=1e-5) and fast.requires_grad
