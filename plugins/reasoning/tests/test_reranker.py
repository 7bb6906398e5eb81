"""The rank-r1 reranker: end to end on a tiny random chat model, and its bookkeeping with a scripted backend."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rankkit.docstore import DictDocStore
from rankkit.errors import ConfigError
from rankkit.testing import RerankerContract, assert_valid_ranking
from rankkit.types import Query, Ranking
from rankkit_reasoning.backends import Backend, BackendError, Generation
from rankkit_reasoning.reranker import SetwiseReasoningReranker
from rankkit_reasoning.settings import LocalSettings, SetwiseSettings

TINY = {"device": "cpu", "max_new_tokens": 8, "passage_tokens": 8, "batch_size": 4}


class ScriptedBackend:
    """Answers like a perfect reasoning model: the passage with the highest ``rel=N`` wins.

    Queries containing ``babble`` get malformed answers; ``outage`` makes the backend fail.
    """

    batch_size = 3

    def __init__(self) -> None:
        self.batches: list[int] = []

    def describe(self) -> dict:
        return {"backend": "scripted"}

    def truncate(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[:max_tokens])

    def generate(self, conversations) -> list[Generation]:
        self.batches.append(len(conversations))
        out = []
        for messages in conversations:
            user = messages[-1]["content"]
            if "outage" in user:
                raise BackendError("scripted outage")
            if "babble" in user:
                out.append(Generation("Passage two, probably.", 100, 5))
                continue
            passages = re.findall(r"^\[(\d+)\] .*?rel=(\d+)", user, re.M)
            best = max(passages, key=lambda p: int(p[1]))[0]
            out.append(Generation(f"<think>[{best}] has the highest rel</think>\n<answer>[{best}]</answer>", 100, 10))
        return out


def _ranking(query_id: str, relevance: list[int], texts: bool = True) -> Ranking:
    ids = [f"{query_id}-d{i}" for i in range(len(relevance))]
    docs = tuple(f"doc {i} rel={r} filler words here" for i, r in enumerate(relevance)) if texts else None
    return Ranking(query_id, ids, np.linspace(10, 1, len(ids)), docs)


@pytest.mark.parametrize("method", ["heapsort", "bubblesort"])
def test_a_perfect_model_sorts_the_top_k_and_keeps_the_rest(method):
    relevance = [3, 0, 7, 1, 9, 4, 8, 2, 6, 5, 11, 10]  # 11 and 10 lie beyond the window
    reranker = SetwiseReasoningReranker(ScriptedBackend(), SetwiseSettings(method=method, num_child=2, k=4, window=10))
    [out] = reranker.rerank([Query("q1", "anything")], [_ranking("q1", relevance)])
    assert_valid_ranking(out, "q1")
    ranks = [int(d.split("-d")[1]) for d in out.doc_ids.tolist()]
    assert ranks[:4] == [4, 6, 2, 8]  # rel 9, 8, 7, 6
    assert ranks[4:10] == [0, 1, 3, 5, 7, 9]  # the rest of the window, first-stage order
    assert ranks[10:] == [10, 11]  # beyond the window: untouched
    assert out.scores.tolist() == list(range(12, 0, -1))
    assert out.texts is not None and out.texts[0].startswith("doc 4 ")
    stats = reranker.statistics()
    assert stats["malformed"] == 0 and stats["failed"] == 0 and stats["calls"] > 0
    assert stats["prompt_tokens"] == 100 * stats["calls"] and stats["completion_tokens"] == 10 * stats["calls"]


def test_malformed_answers_fall_back_to_the_first_stage_and_are_counted():
    backend = ScriptedBackend()
    reranker = SetwiseReasoningReranker(backend, SetwiseSettings(num_child=3, k=3, window=8))
    rankings = [_ranking("good", [1, 5, 3, 0, 2, 4, 6, 7]), _ranking("bad", [1, 5, 3, 0, 2, 4, 6, 7])]
    out = reranker.rerank([Query("good", "x"), Query("bad", "babble")], rankings)
    assert out[1].doc_ids.tolist() == rankings[1].doc_ids.tolist()  # every fallback picks the first-stage best
    assert out[0].doc_ids.tolist()[:3] == ["good-d7", "good-d6", "good-d1"]
    stats = reranker.statistics()
    traces = {t["query_id"]: t for t in reranker.traces()}
    assert traces["bad"]["malformed"] == traces["bad"]["calls"] > 0 and traces["good"]["malformed"] == 0
    assert stats["malformed"] == traces["bad"]["calls"]
    assert stats["malformed_rate"] == pytest.approx(stats["malformed"] / stats["calls"])
    call = traces["bad"]["trace"][0]
    assert call["fallback"] and call["label"] is None
    assert call["malformed_reason"] == "no <think> tag (exactly one expected)"
    assert call["chosen"] == min(call["doc_ids"], key=lambda d: int(d.split("-d")[1]))
    good = traces["good"]["trace"][0]
    assert not good["fallback"] and good["reasoning"].endswith("has the highest rel") and good["label"] >= 1
    assert max(backend.batches) == 2  # both queries' comparisons went in one batch


def test_a_failing_backend_marks_the_query_failed_and_the_run_goes_on():
    reranker = SetwiseReasoningReranker(ScriptedBackend(), SetwiseSettings(num_child=2, k=2, window=5))
    reranker.backend.batch_size = 1  # type: ignore[misc]
    queries = [Query("a", "fine"), Query("b", "outage"), Query("c", "fine too")]
    rankings = [_ranking(q.query_id, [0, 1, 2, 3, 4]) for q in queries]
    out = reranker.rerank(queries, rankings)
    assert out[1].doc_ids.tolist() == rankings[1].doc_ids.tolist()
    assert out[0].doc_ids.tolist()[:2] == ["a-d4", "a-d3"] and out[2].doc_ids.tolist()[:2] == ["c-d4", "c-d3"]
    stats = reranker.statistics()
    assert stats["failed"] == 1 and stats["failed_query_ids"] == ["b"]
    assert next(t for t in reranker.traces() if t["query_id"] == "b")["error"] == "scripted outage"


def test_texts_come_from_the_ranking_or_a_doc_store():
    ranking = _ranking("q", [0, 2, 1], texts=False)
    with pytest.raises(ConfigError, match="carries no document texts .* pass docs="):
        SetwiseReasoningReranker(ScriptedBackend()).rerank([Query("q", "x")], [ranking])
    store = DictDocStore({f"q-d{i}": f"doc rel={r}" for i, r in enumerate([0, 2, 1])})
    [out] = SetwiseReasoningReranker(ScriptedBackend(), docs=store).rerank([Query("q", "x")], [ranking])
    assert out.doc_ids.tolist() == ["q-d1", "q-d2", "q-d0"]
    # nothing to compare: no texts needed, no call made
    empty = SetwiseReasoningReranker(ScriptedBackend())
    assert empty.rerank([Query("e", "x")], [Ranking.empty("e")])[0] == Ranking.empty("e")
    assert empty.statistics()["calls"] == 0 and empty.statistics()["queries"] == 1


def test_queries_and_rankings_must_pair_up():
    reranker = SetwiseReasoningReranker(ScriptedBackend())
    with pytest.raises(ValueError, match="2 queries but 1 rankings"):
        reranker.rerank([Query("a", "x"), Query("b", "y")], [_ranking("a", [0, 1])])
    with pytest.raises(ValueError, match="query 'b' is paired with the ranking of 'a'"):
        reranker.rerank([Query("b", "y")], [_ranking("a", [0, 1])])


def test_the_scripted_backend_meets_the_protocol():
    assert isinstance(ScriptedBackend(), Backend)


# ---- a real (tiny, random) transformers model ------------------------------------------------------------------


class TestRerankerContract(RerankerContract):
    @pytest.fixture
    def reranker(self, registry, tiny_model):
        return registry.build("reranker", "rank-r1", model=str(tiny_model), **TINY)


def test_tiny_model_end_to_end(registry, tiny_model, tmp_path):
    reranker = registry.build("reranker", "rank-r1", model=str(tiny_model), method="bubblesort", num_child=2, k=3,
                              window=6, **TINY)
    queries = [Query(f"q{i}", text) for i, text in enumerate(["glacier ice cave", "neural ranking", "bone density"])]
    texts = [f"report {i} on glacier ice and river delta sediment details" for i in range(8)]
    rankings = [Ranking(q.query_id, [f"d{i}" for i in range(8)], np.arange(8, 0, -1), tuple(texts)) for q in queries]
    out = reranker.rerank(queries, rankings)
    for before, after in zip(rankings, out):
        assert_valid_ranking(after, before.query_id)
        assert sorted(after.doc_ids.tolist()) == sorted(before.doc_ids.tolist())
        assert after.doc_ids.tolist()[6:] == ["d6", "d7"]
    stats = reranker.statistics()
    assert stats["queries"] == 3 and stats["failed"] == 0 and stats["calls"] >= 3 * 3
    assert stats["malformed"] == stats["calls"] and stats["malformed_rate"] == 1.0  # a random model babbles
    assert stats["prompt_tokens"] > 0 and 0 < stats["completion_tokens"] <= 8 * stats["calls"]
    assert stats["calls_per_query"] == stats["calls"] / 3
    path = reranker.write_traces(tmp_path / "traces" / "rank-r1.jsonl")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [t["query_id"] for t in lines] == ["q0", "q1", "q2"] and lines == reranker.traces()
    assert lines[1]["query"] == "neural ranking" and lines[1]["candidates"] == 6
    call = lines[0]["trace"][0]
    assert set(call) >= {"doc_ids", "completion", "reasoning", "label", "fallback", "chosen", "malformed_reason"}
    assert call["fallback"] is True and isinstance(call["completion"], str) and call["completion_tokens"] >= 1
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left behind
    reranker.reset()
    assert reranker.statistics()["queries"] == 0 and reranker.traces() == []


def test_fingerprint_follows_model_and_settings(registry, tiny_model):
    a = registry.build("reranker", "rank-r1", model=str(tiny_model), **TINY)
    b = registry.build("reranker", "rank-r1", model=str(tiny_model), **TINY)
    c = registry.build("reranker", "rank-r1", model=str(tiny_model), **{**TINY, "passage_tokens": 16})
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert len(a.fingerprint) == 16


def test_sampling_is_seeded_and_greedy_is_the_default(tiny_model, torch_threads):
    from rankkit_reasoning.backends import TransformersBackend
    from rankkit_reasoning.prompts import build_messages

    conversations = [build_messages("glacier ice", ["cave report", "river delta"])] * 2

    def generate(**settings):
        backend = TransformersBackend(LocalSettings(model=str(tiny_model), max_new_tokens=6, device="cpu", **settings))
        return [g.text for g in backend.generate(conversations)]

    sampled = generate(temperature=1.5, seed=1)
    assert generate(temperature=1.5, seed=1) == sampled  # same seed, same prompts: same samples
    assert generate(temperature=1.5, seed=2) != sampled
    greedy = generate()
    assert greedy[0] == greedy[1] and generate(seed=5) == greedy  # greedy ignores the seed


def test_the_weight_type_is_chosen_and_named_in_the_fingerprint(registry, tiny_model, torch_threads):
    import torch

    auto = registry.build("reranker", "rank-r1", model=str(tiny_model), **TINY)
    bf16 = registry.build("reranker", "rank-r1", model=str(tiny_model), dtype="bfloat16", **TINY)
    assert auto.backend.model.dtype == torch.float32  # auto on CPU: float32
    assert bf16.backend.model.dtype == torch.bfloat16
    assert auto.fingerprint != bf16.fingerprint
    assert "dtype" not in auto.backend.describe()  # auto keeps the fingerprints it had before the option existed
    queries = [Query("q0", "glacier ice cave")]
    rankings = [Ranking("q0", [f"d{i}" for i in range(5)], np.arange(5, 0, -1), tuple(f"text {i}" for i in range(5)))]
    assert_valid_ranking(bf16.rerank(queries, rankings)[0], "q0")
    with pytest.raises(ConfigError, match="'dtype' = 'int8' is not one of"):
        registry.build("reranker", "rank-r1", model=str(tiny_model), dtype="int8")


# ---- the likelihood fallback -------------------------------------------------------------------------------------


class LikelihoodBackend(ScriptedBackend):
    """A scripted backend that also scores labels: log-probability ``-1 / (1 + rel)``, so the highest rel wins."""

    def __init__(self) -> None:
        super().__init__()
        self.scored: list[tuple[str, int]] = []

    def label_logprobs(self, conversations, completions, counts) -> list[list[float]]:
        out = []
        for messages, completion, n in zip(conversations, completions, counts):
            rels = [int(r) for _, r in re.findall(r"^\[(\d+)\] .*?rel=(\d+)", messages[-1]["content"], re.M)]
            assert len(rels) == n
            self.scored.append((completion, n))
            out.append([-1.0 / (1 + r) for r in rels])
        return out


def test_the_likelihood_fallback_lets_the_model_choose_when_its_answer_is_malformed():
    backend = LikelihoodBackend()
    reranker = SetwiseReasoningReranker(backend, SetwiseSettings(num_child=3, k=3, window=8, fallback="likelihood"))
    rankings = [_ranking("good", [1, 5, 3, 0, 2, 4, 6, 7]), _ranking("bad", [1, 5, 3, 0, 2, 4, 6, 7])]
    out = reranker.rerank([Query("good", "x"), Query("bad", "babble")], rankings)
    assert out[1].doc_ids.tolist()[:3] == ["bad-d7", "bad-d6", "bad-d1"]  # the model's likeliest labels, not BM25's
    assert out[0].doc_ids.tolist()[:3] == ["good-d7", "good-d6", "good-d1"]
    traces = {t["query_id"]: t for t in reranker.traces()}
    assert traces["bad"]["malformed"] == traces["bad"]["calls"] > 0  # still counted as malformed
    assert reranker.statistics()["malformed"] == traces["bad"]["calls"]
    call = traces["bad"]["trace"][0]
    assert call["fallback"] and call["fallback_choice"] == "likelihood" and len(call["label_logprobs"]) == len(call["doc_ids"])
    assert call["chosen"] == call["doc_ids"][int(np.argmax(call["label_logprobs"]))]
    good = traces["good"]["trace"][0]
    assert good["fallback_choice"] is None and good["label_logprobs"] is None
    # only malformed answers are scored, with the completion they came with
    assert len(backend.scored) == traces["bad"]["calls"]
    assert {c for c, _ in backend.scored} == {"Passage two, probably."}


def test_the_likelihood_fallback_needs_a_backend_that_scores_labels():
    with pytest.raises(ConfigError, match="fallback 'likelihood' needs label probabilities, which the ScriptedBackend"):
        SetwiseReasoningReranker(ScriptedBackend(), SetwiseSettings(fallback="likelihood"))
    with pytest.raises(ConfigError, match="'fallback' = 'random' is not one of 'first-stage', 'likelihood', 'constrained'"):
        SetwiseSettings(fallback="random")


def test_label_logprobs_of_a_real_model_match_a_full_forward_pass(tiny_model, torch_threads):
    import torch

    from rankkit_reasoning.backends import TransformersBackend
    from rankkit_reasoning.parsing import forced_answer
    from rankkit_reasoning.prompts import build_messages

    backend = TransformersBackend(LocalSettings(model=str(tiny_model), device="cpu"))
    messages = build_messages("glacier ice", [f"passage {i}" for i in range(12)])
    completion = "<think> passage 3 mentions ice"
    [scores] = backend.label_logprobs([messages], [completion], [12])
    tokenizer, model = backend.tokenizer, backend.model
    prefix = tokenizer.encode(backend.render(messages) + forced_answer(completion), add_special_tokens=False)
    expected = []
    for label in range(1, 13):  # 10..12 take more than one token with this tokenizer
        tokens = tokenizer.encode(f"{label}]", add_special_tokens=False)
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prefix + tokens])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        expected.append(sum(float(logp[len(prefix) - 1 + i, t]) for i, t in enumerate(tokens)))
    assert len(scores) == 12 and all(s < 0 for s in scores)
    assert scores == pytest.approx(expected, abs=1e-4)
    assert any(len(tokenizer.encode(f"{label}]", add_special_tokens=False)) > 2 for label in range(10, 13))


def test_tiny_model_with_the_likelihood_fallback(registry, tiny_model):
    reranker = registry.build("reranker", "rank-r1", model=str(tiny_model), num_child=2, k=2, window=5,
                              fallback="likelihood", **TINY)
    texts = tuple(f"report {i} on glacier ice" for i in range(5))
    [out] = reranker.rerank([Query("q", "glacier ice")], [Ranking("q", [f"d{i}" for i in range(5)], np.arange(5, 0, -1), texts)])
    assert sorted(out.doc_ids.tolist()) == [f"d{i}" for i in range(5)]
    calls = reranker.traces()[0]["trace"]
    assert calls and all(c["fallback_choice"] == "likelihood" for c in calls)  # a random model babbles
    for call in calls:
        assert call["chosen"] == call["doc_ids"][int(np.argmax(call["label_logprobs"]))]
    first = registry.build("reranker", "rank-r1", model=str(tiny_model), **TINY)
    assert first.fingerprint != registry.build("reranker", "rank-r1", model=str(tiny_model), fallback="likelihood",
                                               **TINY).fingerprint



# ---- constrained answers -------------------------------------------------------------------------------------------


def test_the_answer_trie_allows_only_the_labels_of_the_prompt_then_the_end():
    from rankkit_reasoning.constrained import allowed_next, answer_trie

    class Chars:
        """A tokenizer with one token per character."""

        def encode(self, text, add_special_tokens=False):  # noqa: ANN001, ANN201
            return [ord(c) for c in text]

    trie = answer_trie(Chars(), 12)
    first = sorted(chr(t) for t in allowed_next(trie, [], end=-1))
    assert first == ["1", "2", "3", "4", "5", "6", "7", "8", "9"]      # "10".."12" start with "1" too
    assert sorted(chr(t) for t in allowed_next(trie, [ord("1")], end=-1)) == ["0", "1", "2", "]"]
    assert allowed_next(trie, [ord("3"), ord("]")], end=-1) == [ord("<")]
    done = [ord(c) for c in "12]</answer>"]
    assert allowed_next(trie, done, end=-1) == [-1] and allowed_next(trie, done + [-1, -1], end=-1) == [-1]
    assert allowed_next(answer_trie(Chars(), 3), [ord("4")], end=-1) == [-1]   # off the trie: only the end


def test_constrained_answers_of_a_real_model_always_parse_with_a_label_of_the_prompt(tiny_model, torch_threads):
    from rankkit_reasoning.backends import TransformersBackend
    from rankkit_reasoning.parsing import parse_answer
    from rankkit_reasoning.prompts import build_messages

    backend = TransformersBackend(LocalSettings(model=str(tiny_model), device="cpu", batch_size=2))
    counts = [3, 12, 2]
    conversations = [build_messages("glacier ice", [f"passage {i}" for i in range(n)]) for n in counts]
    completions = ["<think> passage 3 mentions ice", "babble </answer> [99]", ""]
    answers = backend.constrained_answers(conversations, completions, counts)
    for text, n, completion in zip(answers, counts, completions):
        parsed = parse_answer(text, n)
        assert parsed.valid and 1 <= parsed.label <= n, text
    assert parse_answer(answers[0], 3).reasoning == "passage 3 mentions ice"   # the model's reasoning is kept


def test_tiny_model_with_the_constrained_fallback_never_falls_back_to_the_first_stage(registry, tiny_model):
    reranker = registry.build("reranker", "rank-r1", model=str(tiny_model), num_child=2, k=2, window=5,
                              fallback="constrained", **TINY)
    texts = tuple(f"report {i} on glacier ice" for i in range(5))
    [out] = reranker.rerank([Query("q", "glacier ice")], [Ranking("q", [f"d{i}" for i in range(5)], np.arange(5, 0, -1), texts)])
    assert sorted(out.doc_ids.tolist()) == [f"d{i}" for i in range(5)]
    calls = reranker.traces()[0]["trace"]
    assert calls and all(c["fallback_choice"] == "constrained" for c in calls)   # a random model babbles...
    for call in calls:                                                           # ...and still answers
        assert call["chosen"] == call["doc_ids"][call["constrained_label"] - 1]
    assert reranker.statistics()["malformed_rate"] == 1.0   # the unconstrained malformed rate is still reported
    with pytest.raises(ConfigError, match="fallback 'constrained' needs constrained decoding, which the ScriptedBackend"):
        SetwiseReasoningReranker(ScriptedBackend(), SetwiseSettings(fallback="constrained"))


@pytest.mark.parametrize("answer", ["constrained", "label"])
def test_constrained_and_label_answers_parse_in_one_pass(registry, tiny_model, answer):
    """A random model answers every call in format with one generation per call (no fallback, no second pass);
    without reasoning the completion is the label alone."""
    reranker = registry.build("reranker", "rank-r1", model=str(tiny_model), num_child=2, k=2, window=5,
                              answer=answer, **{**TINY, "max_new_tokens": 40})
    texts = tuple(f"report {i} on glacier ice" for i in range(5))
    ranking = Ranking("q", [f"d{i}" for i in range(5)], np.arange(5, 0, -1), texts)
    [out] = reranker.rerank([Query("q", "glacier ice")], [ranking])
    assert sorted(out.doc_ids.tolist()) == [f"d{i}" for i in range(5)]
    calls = reranker.traces()[0]["trace"]
    assert calls and not any(c["fallback"] for c in calls)
    for call in calls:
        assert call["chosen"] == call["doc_ids"][call["label"] - 1]
        if answer == "label":
            assert re.fullmatch(r"<think>\s*</think>\s*<answer>\[\d\]</answer>", call["completion"]), call["completion"]
    assert reranker.statistics()["malformed_rate"] == 0.0
    free = registry.build("reranker", "rank-r1", model=str(tiny_model), **TINY)
    assert len({reranker.fingerprint, free.fingerprint}) == 2


def test_constrained_answers_need_a_local_model_and_room_for_the_answer(registry, tiny_model):
    with pytest.raises(ConfigError, match="answer 'label' needs constrained decoding, which the ScriptedBackend"):
        SetwiseReasoningReranker(ScriptedBackend(), SetwiseSettings(answer="label"))
    with pytest.raises(ConfigError, match="with the openai backend, ask the server"):
        registry.build("reranker", "rank-r1", backend="openai", api_model="m", answer="constrained")
    reranker = registry.build("reranker", "rank-r1", model=str(tiny_model), num_child=2, k=2, window=3,
                              answer="constrained", **{**TINY, "max_new_tokens": 6})
    with pytest.raises(ConfigError, match="raise max_new_tokens"):
        reranker.rerank([Query("q", "ice")], [Ranking("q", ["a", "b", "c"], np.arange(3, 0, -1), ("x", "y", "z"))])


class BiasedBackend(LikelihoodBackend):
    """Label log-probabilities with a strong bias for label [1] on top of a weak preference for higher rel."""

    def label_logprobs(self, conversations, completions, counts) -> list[list[float]]:
        rows = super().label_logprobs(conversations, completions, counts)
        return [[score + (5.0 if label == 0 else 0.0) for label, score in enumerate(row)] for row in rows]


def test_permutations_undo_a_position_bias_and_the_statistics_show_it():
    rankings = [_ranking("bad", [1, 5, 3, 0, 2, 4, 6, 7])]
    biased = SetwiseReasoningReranker(BiasedBackend(), SetwiseSettings(num_child=3, k=3, window=8, fallback="likelihood"))
    out = biased.rerank([Query("bad", "babble")], rankings)
    rates = biased.statistics()["label_choice_rate"]
    assert rates["1"] == 1.0 and rates["2"] == 0.0                 # always the first label shown: a pure bias
    backend = BiasedBackend()
    fair = SetwiseReasoningReranker(backend, SetwiseSettings(num_child=3, k=3, window=8, fallback="likelihood",
                                                             permutations=4))
    out = fair.rerank([Query("bad", "babble")], rankings)
    assert out[0].doc_ids.tolist()[:3] == ["bad-d7", "bad-d6", "bad-d1"]   # the rel order, the bias averaged out
    calls = fair.statistics()["calls"]
    assert len(backend.scored) == 4 * calls - sum(4 - min(4, len(c["doc_ids"])) for c in fair.traces()[0]["trace"])
    assert {c for c, _ in backend.scored} == {""}                  # the reasoning names labels of one order: left out
    assert fair.fingerprint != biased.fingerprint
    with pytest.raises(ConfigError, match="permutations > 1 de-biases the likelihood fallback"):
        SetwiseSettings(permutations=3)
