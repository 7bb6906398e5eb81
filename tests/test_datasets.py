"""Datasets: BEIR readers, mirror names, ir_datasets aliases, offline failure."""

from __future__ import annotations

import json
import time

import pytest

from rankkit.datasets import resolve_dataset
from rankkit.datasets.beir import BeirDataset
from rankkit.datasets.mirror import available
from rankkit.errors import ConfigError, DataFormatError, DatasetNotFoundError


def test_mirror_names_and_splits(rankkit_core_registry, data_root):
    scifact = resolve_dataset("beir-scifact/test", rankkit_core_registry)
    assert len(scifact.queries()) == 300 and len(scifact.qrels()) == 339
    train = resolve_dataset("beir-scifact/train", rankkit_core_registry)
    assert len(train.queries()) == 809
    cranfield = resolve_dataset("cranfield", rankkit_core_registry)
    assert cranfield.split == "test" and len(cranfield.queries()) == 225
    assert sum(1 for _ in cranfield.iter_documents()) == 1398
    wikiqa = resolve_dataset("wikiqa/test-filtered", rankkit_core_registry)
    assert len(wikiqa.queries()) == 237
    assert set(wikiqa.run_files()) == {"candidates-dev", "candidates-test", "candidates-train"}


def test_sub_collections_share_the_parent_qrels(rankkit_core_registry, data_root):
    german = resolve_dataset("xquad/de", rankkit_core_registry)
    assert german.qrels_dir == data_root / "xquad" / "qrels"
    assert len(german.qrels()) == len(german.queries()) == 826
    assert next(german.iter_documents()).doc_id


def test_parallel_sub_collections_pair_up_cross_lingually(rankkit_core_registry, data_root):
    pair = resolve_dataset("xquad/en-de/test", rankkit_core_registry)
    english, german = (resolve_dataset(f"xquad/{lang}", rankkit_core_registry) for lang in ("en", "de"))
    assert pair.queries() == english.queries() and pair.qrels().to_dict() == german.qrels().to_dict()
    assert [d.text for d in pair.iter_documents()] == [d.text for d in german.iter_documents()]
    assert pair.checksum() not in {english.checksum(), german.checksum()}
    assert resolve_dataset("xquad/de-en", rankkit_core_registry).queries() == german.queries()
    with pytest.raises(DatasetNotFoundError):
        resolve_dataset("xquad/en-xx", rankkit_core_registry)


@pytest.mark.parametrize(
    ("irds_id", "folder"),
    [("beir/scifact/test", "beir-scifact"), ("vaswani", "vaswani"), ("msmarco-passage/trec-dl-2019/judged", "trec-dl-2019")],
)
def test_ir_datasets_ids_resolve_to_the_mirror(rankkit_core_registry, data_root, irds_id, folder):
    dataset = resolve_dataset(irds_id, rankkit_core_registry)
    assert isinstance(dataset, BeirDataset) and dataset.root == data_root / folder


def test_unknown_split_lists_the_available_ones(rankkit_core_registry, data_root):
    with pytest.raises(DatasetNotFoundError, match="no qrels split 'dev'.*available splits: test, train"):
        resolve_dataset("beir-scifact/dev", rankkit_core_registry)


def test_unknown_name_says_where_it_looked(rankkit_core_registry, data_root):
    with pytest.raises(DatasetNotFoundError, match="unknown dataset 'no-such-collection'.*RANKKIT_DATA="):
        resolve_dataset("no-such-collection", rankkit_core_registry)


def test_listing_the_mirror(data_root):
    names = available(data_root)
    assert {"beir-scifact/test", "beir-scifact/train", "cranfield/test", "xquad/de/test"} <= set(names)


def test_offline_ir_datasets_fails_clearly_and_fast(rankkit_core_registry, monkeypatch, tmp_path):
    pytest.importorskip("ir_datasets")
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    monkeypatch.setenv("IR_DATASETS_DL_TIMEOUT", "5")
    monkeypatch.setenv("RANKKIT_DATA", str(tmp_path / "empty-mirror"))
    dataset = resolve_dataset("antique/test", rankkit_core_registry)
    started = time.monotonic()
    with pytest.raises(DatasetNotFoundError) as info:
        dataset.queries()
    assert time.monotonic() - started < 60
    message = str(info.value)
    assert "not in RANKKIT_DATA=" in message and "ir_datasets could not download" in message


def _corpus(tmp_path, lines: list[str]):
    root = tmp_path / "mini"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a query"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return BeirDataset("mini", root)


GOOD = json.dumps({"_id": "d1", "title": "t", "text": "x"})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"_id": "d2", "text": ', "invalid JSON"),
        (json.dumps({"title": "no id", "text": "x"}), "has no '_id'"),
        (json.dumps({"_id": "d1", "text": "again"}), "duplicate _id 'd1' (first on line 1)"),
        (json.dumps({"_id": "d3"}), "no string field 'text'"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_corpus_lines_name_file_and_line(tmp_path, bad, message):
    dataset = _corpus(tmp_path, [GOOD, bad])
    with pytest.raises(DataFormatError) as info:
        list(dataset.iter_documents())
    assert info.value.line == 2 and message in str(info.value)
    assert str(info.value).startswith(str(dataset.corpus_path))


def test_doc_store_names_a_missing_document(tmp_path):
    from rankkit.errors import MissingDocumentError

    store = _corpus(tmp_path, [GOOD]).doc_store()
    assert store.get_many(["d1"]) == ["t x"]
    with pytest.raises(MissingDocumentError, match="document 'd9' has no text in the corpus of dataset 'mini'"):
        store.get_many(["d1", "d9"])


def test_checksums_change_with_content(tmp_path):
    dataset = _corpus(tmp_path, [GOOD])
    before = (dataset.corpus_checksum(), dataset.checksum())
    dataset.corpus_path.write_text(json.dumps({"_id": "d1", "text": "changed"}) + "\n")
    assert dataset.corpus_checksum() != before[0] and dataset.checksum() != before[1]


def test_passages_join_the_sentences_of_a_page_and_lift_the_judgments(rankkit_core_registry, data_root):
    passages = resolve_dataset("passages:wikiqa/train", rankkit_core_registry)
    sentences = resolve_dataset("wikiqa/train", rankkit_core_registry)
    docs = {d.doc_id: d for d in passages.iter_documents()}
    first = [d for d in sentences.iter_documents() if d.title == "Glacier cave"]
    assert docs["D1-0"].text == " ".join(d.text.strip() for d in first) and docs["D1-0"].title == "Glacier cave"
    assert len(docs) == len({d.title for d in sentences.iter_documents()})
    qrels = passages.qrels()
    answered = {q for q, g in zip(sentences.qrels().query_ids, sentences.qrels().relevance) if g > 0}
    assert qrels.query_id_set() == answered and len(passages.queries()) == len(answered) == 873
    assert set(qrels.relevance.tolist()) == {1} and qrels.for_query("Q1") == {"D1-0": 1}
    untitled = resolve_dataset("passages:untitled:wikiqa/train", rankkit_core_registry)
    assert next(untitled.iter_documents()).title == "" and next(untitled.iter_documents()).text == docs["D1-0"].text
    assert untitled.corpus_checksum() != passages.corpus_checksum()
    dev = resolve_dataset("passages:untitled:wikiqa/dev", rankkit_core_registry)
    assert dev.corpus_checksum() == untitled.corpus_checksum() and dev.checksum() != untitled.checksum()


def test_passages_need_judgments_and_a_dataset(rankkit_core_registry, tmp_path):
    from rankkit.datasets.passages import PassageDataset

    (tmp_path / "corpus.jsonl").write_text('{"_id": "a", "title": "t", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "y"}\n')
    unjudged = BeirDataset("plain", tmp_path)
    assert unjudged.qrels() is None
    with pytest.raises(ConfigError, match="passages:plain/train"):
        PassageDataset("passages:plain", unjudged).qrels()
    with pytest.raises(ConfigError, match="write passages:"):
        resolve_dataset("passages:untitled:", rankkit_core_registry)


def test_folds_split_whole_groups_and_keep_their_queries(rankkit_core_registry, data_root):
    from rankkit.datasets.folds import document_group

    whole = resolve_dataset("xquad/de", rankkit_core_registry)
    folds = [resolve_dataset(f"fold:{k}/2:xquad/de", rankkit_core_registry) for k in (0, 1)]
    ids = [{d.doc_id for d in f.iter_documents()} for f in folds]
    assert ids[0] and ids[1] and not ids[0] & ids[1] and ids[0] | ids[1] == {d.doc_id for d in whole.iter_documents()}
    groups = [{document_group(i) for i in part} for part in ids]
    assert not groups[0] & groups[1]  # an article's paragraphs stay together
    english = {d.doc_id for d in resolve_dataset("fold:0/2:xquad/en", rankkit_core_registry).iter_documents()}
    assert english == ids[0]  # parallel collections split the same way
    for fold, part in zip(folds, ids):
        qrels = fold.qrels()
        assert set(qrels.doc_ids.tolist()) <= part and {q.query_id for q in fold.queries()} == qrels.query_id_set()
    assert len(folds[0].queries()) + len(folds[1].queries()) == len(whole.queries())
    for bad in ("fold:2/2:xquad/de", "fold:1:xquad/de", "fold:0/2:"):
        with pytest.raises(ConfigError, match="write fold:K/N:DATASET"):
            resolve_dataset(bad, rankkit_core_registry)


def test_mixed_collections_put_each_article_in_one_language(rankkit_core_registry, data_root):
    from rankkit.datasets.folds import document_group

    mixed = resolve_dataset("mixed:de+es+ru+zh:xquad/en", rankkit_core_registry)
    docs = list(mixed.iter_documents())
    assert len(docs) == 160 and {d.doc_id.split(":")[0] for d in docs} == {"de", "es", "ru", "zh"}
    by_group: dict[str, set[str]] = {}
    for doc in docs:
        lang, _, original = doc.doc_id.partition(":")
        by_group.setdefault(document_group(original), set()).add(lang)
    assert all(len(langs) == 1 for langs in by_group.values())
    german = {d.doc_id: d.text for d in resolve_dataset("xquad/de", rankkit_core_registry).iter_documents()}
    assert all(d.text == german[d.doc_id[3:]] for d in docs if d.doc_id.startswith("de:"))
    assert mixed.queries() == resolve_dataset("xquad/en", rankkit_core_registry).queries()
    assert set(mixed.qrels().doc_ids.tolist()) <= {d.doc_id for d in docs}
    with pytest.raises(ConfigError, match="write mixed:"):
        resolve_dataset("mixed:de+de:xquad/en", rankkit_core_registry)
