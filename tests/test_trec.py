"""TREC run, qrels and topics files: strict parsing, atomic and deterministic writing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rankkit.errors import DataFormatError
from rankkit.files import atomic_write
from rankkit.trec import read_qrels, read_run, read_topics, write_qrels, write_run, write_topics
from rankkit.types import Query, Ranking, Run


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_run_round_trip_is_byte_identical(tmp_path, data_root):
    source = data_root / "trec-dl-2019" / "runs" / "tas-b.trec"
    run = read_run(source)
    first = write_run(run, tmp_path / "a.trec")
    second = write_run(read_run(first), tmp_path / "b.trec")
    assert first.read_bytes() == second.read_bytes()
    assert read_run(second)["19335"] == run["19335"]


def test_identical_runs_give_identical_files_whatever_the_input_order(tmp_path):
    a = Run([Ranking("1", ["x", "y", "z"], [1.0, 1.0, 3.0])], "t")
    b = Run([Ranking("1", ["z", "y", "x"], [3.0, 1.0, 1.0])], "t")
    assert write_run(a, tmp_path / "a").read_bytes() == write_run(b, tmp_path / "b").read_bytes()
    assert (tmp_path / "a").read_text().splitlines()[1] == "1 Q0 y 2 1.0 t"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1 Q0 d1 1 0.5", "6 whitespace-separated fields"),
        ("1 Q0 d1 one 0.5 tag", "rank (field 4) must be an integer"),
        ("1 Q0 d1 1 high tag", "score (field 5) must be a number"),
        ("1 Q0 d1 1 nan tag", "NaN"),
    ],
)
def test_malformed_run_line_names_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "bad.trec", f"1 Q0 d0 1 0.9 tag\n{line}\n")
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_run(path)
    assert info.value.line == 2 and str(info.value).startswith(f"{path}:2:")


def test_duplicate_document_in_run_is_an_error(tmp_path):
    path = _write(tmp_path / "dup.trec", "1 Q0 d0 1 0.9 t\n1 Q0 d0 2 0.8 t\n")
    with pytest.raises(DataFormatError, match="appears twice") as info:
        read_run(path)
    assert info.value.line == 2


def test_qrels_trec_and_beir_formats(tmp_path, data_root):
    trec = _write(tmp_path / "q.txt", "1 0 d1 2\n1 0 d2 0\n")
    assert read_qrels(trec).to_dict() == {"1": {"d1": 2, "d2": 0}}
    beir = read_qrels(data_root / "cranfield" / "qrels" / "test.tsv")
    assert len(beir) == 1611
    again = read_qrels(write_qrels(beir, tmp_path / "out.qrels"))
    assert again.to_dict() == beir.to_dict()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1 0 d1 1\n1 0 d2\n", 2, "expected 'query_id iteration doc_id relevance'"),
        ("1 0 d1 1\n1 0 d2 yes\n", 2, "relevance must be an integer"),
        ("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td1\t0\n", 3, "appears twice"),
        ("query-id\tcorpus-id\tscore\n1\td1\n", 2, "BEIR TSV"),
    ],
)
def test_malformed_qrels_line(tmp_path, text, line, message):
    path = _write(tmp_path / "bad.qrels", text)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_qrels(path)
    assert info.value.line == line


SGML = """<top>
<num> Number: 401
<title> foreign minorities, Germany
<desc> Description:
What language and cultural differences impede the integration?
<narr> Narrative:
A relevant document will focus on the causes.
</top>

<top>
<num> Number: 402
<title> behavioral genetics
</top>
"""


def test_sgml_topics(tmp_path):
    path = _write(tmp_path / "topics.txt", SGML)
    assert read_topics(path) == [Query("401", "foreign minorities, Germany"), Query("402", "behavioral genetics")]
    first_only = _write(tmp_path / "one.txt", SGML.split("\n\n")[0])
    assert read_topics(first_only, field="desc")[0].text.startswith("What language")
    with pytest.raises(DataFormatError, match="has no <desc> text"):
        read_topics(path, field="desc")


def test_tsv_topics_round_trip(tmp_path):
    queries = [Query("1", "first query"), Query("2", "second")]
    assert read_topics(write_topics(queries, tmp_path / "t.tsv")) == queries


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("1\tfine\n2 no tab here\n", 2, "query_id<TAB>text"),
        ("1\tfine\n1\tagain\n", 2, "appears twice"),
        ("<top>\n<num> Number: 1\n<title> a\n", 3, "missing </top>"),
        ("<top>\n<num> Number: 1\n</top>\n", 1, "has no <title>"),
        ("<title> stray\n", 1, "outside a <top>"),
    ],
)
def test_malformed_topics(tmp_path, text, line, message):
    path = _write(tmp_path / "bad.topics", text)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_topics(path)
    assert info.value.line == line


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = _write(tmp_path / "run.trec", "old content\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half of the new")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.trec"]


def test_run_tag_must_not_contain_whitespace(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        write_run(Run([Ranking("1", ["a"], [1.0])]), tmp_path / "x", tag="two words")


def test_content_digest_follows_the_bytes_not_the_folder(tmp_path):
    from rankkit.files import content_digest

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        (tmp_path / name / "weights.bin").write_bytes(b"\x00\x01")
    files = ["config.json", "weights.bin"]
    assert content_digest(tmp_path / "a", files) == content_digest(tmp_path / "b", files)
    (tmp_path / "b" / "weights.bin").write_bytes(b"\x00\x02")
    assert content_digest(tmp_path / "a", files) != content_digest(tmp_path / "b", files)
    assert len(content_digest(tmp_path / "a", [tmp_path / "a" / "config.json"])) == 16


def test_content_digest_of_a_folder_named_relative_to_the_working_directory(tmp_path, monkeypatch):
    from rankkit.files import content_digest

    model = tmp_path / "runs" / "models" / "full"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "weights.bin").write_bytes(b"\x01\x02")
    expected = content_digest(model, ["config.json", "weights.bin"])
    monkeypatch.chdir(tmp_path)
    relative = Path("runs/models/full")
    # as Path(relative).rglob gives them (paths that already start with the folder), and relative to it
    assert content_digest(relative, sorted(p for p in relative.rglob("*") if p.is_file())) == expected
    assert content_digest(relative, ["config.json", "weights.bin"]) == expected
