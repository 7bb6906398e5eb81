"""Generated queries (``genq:[N:]CORPUS``): names, cleaning, caching, resuming after a kill, the real default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankkit.datasets.beir import BeirDataset
from rankkit.errors import ConfigError
from rankkit_reasoning.generation import Generation
from rankkit_reasoning.queries import GeneratedQueryDataset, clean_query, parse_name

TOPICS = ["glacier ice caves form where meltwater flows", "river deltas collect sediment from upstream",
          "protein folding decides enzyme function", "volcanic ash changes the climate for years",
          "coral reefs bleach in warm water", "bees navigate by the angle of the sun"]


def corpus(root: Path) -> BeirDataset:
    root.mkdir(parents=True, exist_ok=True)
    docs = [{"_id": f"d{i}", "title": f"Topic {i}", "text": text + " and more words follow here"} for i, text in enumerate(TOPICS)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "never read"}) + "\n")
    return BeirDataset("tiny", root)


class Scripted:
    """A backend that answers with a query made from the passage's words, and can die after some batches."""

    def __init__(self, die_after: int | None = None) -> None:
        self.calls = 0
        self.die_after = die_after
        self.seen: list[str] = []

    def truncate(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[:max_tokens])

    def generate(self, conversations):  # noqa: ANN001, ANN201
        if self.die_after is not None and self.calls >= self.die_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        out = []
        for conversation in conversations:
            passage = conversation[-1]["content"].split("Passage: ", 1)[1].split("\n\n")[0]
            self.seen.append(passage)
            words = passage.split()
            text = "caves" if "Topic 3" in passage else f"Query: how do {words[3]} {words[4]} work?"
            out.append(Generation(text, 10, 5))
        return out


def dataset(root: Path, backend: Scripted, count: int = 5) -> GeneratedQueryDataset:
    return GeneratedQueryDataset("genq:5:tiny", corpus(root / "c"), count, lambda: backend, "scripted", root / "cache",
                                 batch_size=2)


def test_names_parse_and_bad_names_say_how_to_write_them():
    assert parse_name("beir-scifact") is None
    assert parse_name("genq:beir-scifact") == (1000, "beir-scifact")
    assert parse_name("genq:300:beir-scifact/train") == (300, "beir-scifact/train")
    for bad in ("genq:", "genq:0:beir-scifact", "genq:12:"):
        with pytest.raises(ConfigError, match="write genq:CORPUS or genq:N:CORPUS"):
            parse_name(bad)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("Query: how do glaciers form ice caves?\nMore text", "how do glaciers form ice caves?"),
        ('"effects of volcanic ash on climate"', "effects of volcanic ash on climate"),
        ("What causes coral bleaching? What else?", "What causes coral bleaching?"),
        ("ice caves", None),                                      # too short
        ("\n\n", None),
        ("glacier ice caves form where meltwater flows", None),   # the passage's opening, copied
        (" ".join(["word"] * 40), None),                          # too long
    ],
)
def test_completions_are_cleaned_into_queries_or_dropped(completion, expected):
    assert clean_query(completion, "glacier ice caves form where meltwater flows and more") == expected


def test_queries_are_generated_once_cached_and_each_source_document_is_the_positive(tmp_path):
    backend = Scripted()
    data = dataset(tmp_path, backend)
    queries, qrels = data.queries(), data.qrels()
    assert backend.calls == 3   # 5 documents, 2 per batch
    stats = data.stats()
    assert stats["documents"] == 5 and stats["queries"] + stats["dropped"] == 5
    sampled = sorted(backend.seen)
    assert stats["dropped"] == sum("Topic 3" in p for p in sampled)   # the one-word completion is dropped
    for query, doc_id in zip(queries, qrels.doc_ids.tolist()):
        words = TOPICS[int(doc_id[1:])].split()
        assert query.text == f"how do {words[1]} {words[2]} work?"     # each query's positive is its source
    assert [d.doc_id for d in data.iter_documents()] == [f"d{i}" for i in range(6)]   # the corpus is unchanged
    again = dataset(tmp_path, Scripted(die_after=0))   # the cache answers: a backend call would raise
    assert [q.text for q in again.queries()] == [q.text for q in queries] and again.checksum() == data.checksum()


def test_a_killed_generation_resumes_where_it_stopped_and_gives_the_same_queries(tmp_path):
    reference = dataset(tmp_path / "ref", Scripted()).queries()
    dying = Scripted(die_after=2)
    with pytest.raises(KeyboardInterrupt):
        dataset(tmp_path / "run", dying).queries()
    partial = list((tmp_path / "run" / "cache").glob("*.partial"))
    assert len(partial) == 1 and len(partial[0].read_text().splitlines()) == 4   # two batches were kept
    with partial[0].open("a") as torn:
        torn.write('{"doc_id": "d9", "compl')                                 # a kill mid-write
    resumed = Scripted()
    queries = dataset(tmp_path / "run", resumed).queries()
    assert resumed.calls == 1 and [q.text for q in queries] == [q.text for q in reference]
    assert not list((tmp_path / "run" / "cache").glob("*.partial"))


def test_rankkit_dataset_providers_resolve_genq_names(registry):
    provider = registry.build("dataset_provider", "generated-queries")
    assert provider.resolve("beir-scifact/test") is None
    with pytest.raises(ConfigError, match="genq:N:CORPUS"):
        provider.resolve("genq:0:beir-scifact")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_default_model_writes_queries_for_real_documents(tmp_path, torch_threads):
    pytest.importorskip("gguf")
    from rankkit_reasoning.local import TransformersBackend
    from rankkit_reasoning.settings import LocalSettings

    backend = TransformersBackend(LocalSettings(max_new_tokens=24, device="cpu", batch_size=2))   # the default model
    data = GeneratedQueryDataset("genq:2:tiny", corpus(tmp_path / "c"), 2, lambda: backend, "smollm2-24",
                                 tmp_path / "cache", passage_tokens=48, batch_size=2)
    stats = data.stats()
    rows = [json.loads(x) for x in next((tmp_path / "cache").glob("*.jsonl")).read_text().splitlines()]
    assert stats["documents"] == 2 and len(rows) == 2 and all(r["completion"] for r in rows)
    assert all(r["query"] is None or len(r["query"].split()) >= 3 for r in rows)


def test_the_cache_key_follows_the_generating_libraries(registry, monkeypatch):
    """Another transformers (or torch, gguf) may decode differently: the generated queries are made again."""
    pytest.importorskip("gguf")
    import rankkit.versions

    provider = registry.build("dataset_provider", "generated-queries")
    before = provider.resolve("genq:5:beir-scifact")
    real = rankkit.versions.distribution_version
    monkeypatch.setattr(rankkit.versions, "distribution_version",
                        lambda name: "999.0" if name == "transformers" else real(name))
    after = provider.resolve("genq:5:beir-scifact")
    assert '"transformers"' in before.model_key and before.key != after.key
    monkeypatch.undo()
    assert provider.resolve("genq:5:beir-scifact").key == before.key
