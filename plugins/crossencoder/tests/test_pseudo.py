"""Label-free training data: pseudo-queries from a corpus alone (Inverse Cloze Task, title as query)."""

from __future__ import annotations

import pytest

from rankkit.datasets import resolve_dataset
from rankkit.errors import ConfigError
from rankkit.registry import Registry
from rankkit.testing import tiny_dataset

from rankkit_crossencoder.pseudo import PseudoQueryDataset, parse_name


def test_names_parse_or_say_how_to_write_them() -> None:
    assert parse_name("pseudo:ict+title:300:beir-scifact") == (("ict", "title"), 300, "beir-scifact")
    assert parse_name("pseudo:ict:beir-scifact") == (("ict",), 2000, "beir-scifact")
    assert parse_name("beir-scifact/train") is None
    for bad in ("pseudo:cloze:beir-scifact", "pseudo:ict:0:beir-scifact", "pseudo:ict", "pseudo:ict:x:y:z"):
        with pytest.raises(ConfigError, match="pseudo:METHOD"):
            parse_name(bad)


def test_pseudo_queries_from_scifact_leave_their_query_out_of_the_positive(data_root, monkeypatch) -> None:
    monkeypatch.setenv("RANKKIT_DATA", str(data_root))
    dataset = resolve_dataset("pseudo:ict+title:300:beir-scifact", Registry.load())
    assert isinstance(dataset, PseudoQueryDataset)
    queries = dataset.queries()
    qrels = dataset.qrels().to_dict()
    assert len(queries) == 300 and len(qrels) == 300 and all(len(v) == 1 for v in qrels.values())
    docs = {d.doc_id: d for d in dataset.iter_documents()}
    original = {d.doc_id: d for d in resolve_dataset("beir-scifact", Registry.load()).iter_documents()}
    assert docs.keys() == original.keys()
    titles = icts = 0
    for query in queries:
        (source,) = qrels[query.query_id]
        assert query.text not in docs[source].full_text  # the positive does not contain its query
        assert query.text in original[source].full_text  # it came from that document
        titles += query.text == original[source].title
        icts += query.text != original[source].title
    assert titles > 50 and icts > 50  # both methods are used
    again = resolve_dataset("pseudo:ict+title:300:beir-scifact", Registry.load())
    assert [q.text for q in again.queries()] == [q.text for q in queries] and again.checksum() == dataset.checksum()
    assert resolve_dataset("pseudo:ict:300:beir-scifact", Registry.load()).checksum() != dataset.checksum()


@pytest.mark.parametrize("name", ["pseudo:ict+title:200:cranfield", "pseudo:ict:200:vaswani"])
def test_collections_without_punctuation_or_with_repeated_titles(data_root, monkeypatch, name) -> None:
    monkeypatch.setenv("RANKKIT_DATA", str(data_root))
    dataset = resolve_dataset(name, Registry.load())
    qrels = dataset.qrels().to_dict()
    docs = {d.doc_id: d for d in dataset.iter_documents()}
    assert len(dataset.queries()) == 200
    contained = 0
    for query in dataset.queries():
        (source,) = qrels[query.query_id]
        assert not docs[source].full_text.startswith(query.text)  # a repeated title is gone from the positive
        contained += query.text in docs[source].full_text
    assert contained <= 10  # only where the body itself repeats the title's words elsewhere


def test_a_corpus_without_usable_text_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no document .* yields a pseudo-query"):
        PseudoQueryDataset("pseudo:title:5:tiny", tiny_dataset(), ("title",), 5).queries()
