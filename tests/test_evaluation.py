"""Evaluation against real ir-measures: exact agreement on real data, per-query values, measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rankkit.errors import ConfigError
from rankkit.evaluation import EvalResult, evaluate, parse_measures
from rankkit.evaluation.evaluate import evaluate_many, run_to_ir_measures
from rankkit.trec import read_qrels, read_run
from rankkit.types import Qrels, Ranking, Run

MEASURES = "nDCG@10 RR@10 R@100 AP"



@pytest.fixture
def dl19(data_root: Path) -> tuple[Qrels, list[Path]]:
    folder = data_root / "trec-dl-2019"
    return read_qrels(folder / "qrels" / "test.tsv"), sorted((folder / "runs").glob("*.trec"))


def toy() -> tuple[Run, Qrels]:
    run = Run(
        [
            Ranking("q1", np.array(["a", "b", "c"]), np.array([3.0, 2.0, 1.0])),
            Ranking("q2", np.array(["x", "y"]), np.array([1.0, 2.0])),
            Ranking("q9", np.array(["z"]), np.array([1.0])),  # not judged: ignored
        ],
        name="toy",
    )
    qrels = Qrels(np.array(["q1", "q1", "q2", "q3"]), np.array(["b", "c", "x", "k"]), np.array([1, 2, 1, 1]))
    return run, qrels


def as_str_keys(values: dict) -> dict[str, float]:
    return {str(k): v for k, v in values.items()}


# -- parse_measures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["nDCG@10 RR@10 R@100 AP", "nDCG@10,RR@10, R@100 ,AP", ["nDCG@10 RR@10", "R@100", "AP"]]
)
def test_parse_measures_forms(spec: object) -> None:
    assert [str(m) for m in parse_measures(spec)] == ["nDCG@10", "RR@10", "R@100", "AP"]


def test_parse_measures_keeps_parameter_commas_and_drops_duplicates() -> None:
    parsed = parse_measures("P(rel=2, judged_only=True)@10, AP(rel=2) AP(rel=2)")
    assert [str(m) for m in parsed] == ["P(rel=2,judged_only=True)@10", "AP(rel=2)"]


def test_parse_measures_accepts_measure_objects() -> None:
    import ir_measures

    assert parse_measures([ir_measures.nDCG @ 10, "AP"]) == [ir_measures.nDCG @ 10, ir_measures.AP]


@pytest.mark.parametrize("bad", ["nDGC@10", "nDCG@x", "AP(rel=)", "P(foo=1)@5", "RR@10@5", "nDCG@10)", "(AP"])
def test_parse_measures_bad_names_the_string_and_gives_examples(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_measures(f"nDCG@10 {bad}")
    message = str(info.value)
    assert bad in message and "nDCG@10, RR@10" in message


@pytest.mark.parametrize("empty", ["", "  , ", []])
def test_parse_measures_empty(empty: object) -> None:
    with pytest.raises(ConfigError, match="no measures"):
        parse_measures(empty)  # type: ignore[arg-type]


# -- evaluate ------------------------------------------------------------------------------


def test_evaluate_toy_against_ir_measures() -> None:
    import ir_measures

    run, qrels = toy()
    result = evaluate(run, qrels, MEASURES)
    assert isinstance(result, EvalResult) and result.name == "toy"
    assert list(result.aggregate) == ["nDCG@10", "RR@10", "R@100", "AP"]
    expected = ir_measures.calc_aggregate(parse_measures(MEASURES), qrels.to_ir_measures(), run.to_ir_measures())
    assert result.aggregate == as_str_keys(expected)
    # q3 is judged but not retrieved: it scores 0; q9 is retrieved but not judged: absent.
    table = result.per_query_table()
    assert sorted(table.index) == ["q1", "q2", "q3"]
    assert table.loc["q3"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert list(table.columns) == result.measures
    assert list(result.per_query.columns) == ["query_id", "measure", "value"]


def test_evaluate_result_is_frozen_and_names() -> None:
    run, qrels = toy()
    result = evaluate(run, qrels, "AP", name="other")
    assert result.name == "other"
    with pytest.raises(AttributeError):
        result.name = "x"  # type: ignore[misc]
    with pytest.raises(KeyError, match="has no measure 'P@5'"):
        result.values("P@5")


def test_evaluate_bad_measure_is_config_error() -> None:
    run, qrels = toy()
    with pytest.raises(ConfigError, match="nDGC@10"):
        evaluate(run, qrels, "nDGC@10")


def test_evaluate_empty_run() -> None:
    _, qrels = toy()
    result = evaluate(Run([], name="empty"), qrels, MEASURES)
    assert set(result.aggregate.values()) == {0.0}
    assert result.per_query["query_id"].nunique() == 3


def test_trec_dl_2019_exact_agreement_with_calc_aggregate(dl19: tuple[Qrels, list[Path]]) -> None:
    import ir_measures

    qrels, runs = dl19
    assert len(runs) == 5
    measures = parse_measures(MEASURES + " AP(rel=2) P@10 nDCG")
    for path in runs:
        result = evaluate(read_run(path), qrels, measures)
        # the raw path: ir-measures reads the run file itself
        raw = ir_measures.calc_aggregate(measures, qrels.to_dict(), ir_measures.read_trec_run(str(path)))
        assert result.aggregate == as_str_keys(raw), path.name
        assert result.per_query["query_id"].nunique() == 43


def test_trec_dl_2019_per_query_matches_iter_calc(dl19: tuple[Qrels, list[Path]]) -> None:
    import ir_measures

    qrels, runs = dl19
    measures = parse_measures(MEASURES)
    result = evaluate(read_run(runs[0]), qrels, measures)
    expected = {
        (m.query_id, str(m.measure)): m.value
        for m in ir_measures.iter_calc(measures, qrels.to_ir_measures(), ir_measures.read_trec_run(str(runs[0])))
    }
    got = {(q, m): v for q, m, v in result.per_query.itertuples(index=False)}
    assert got == expected


def test_beir_scifact_exact_agreement(data_root: Path, tmp_path: Path) -> None:
    import ir_measures

    qrels = read_qrels(data_root / "beir-scifact" / "qrels" / "test.tsv")
    judged = sorted(qrels.query_id_set())
    rng = np.random.default_rng(7)
    pool = np.unique(qrels.doc_ids.astype(str))
    rankings = []
    for qid in judged[:250]:  # 50 judged queries are left unretrieved on purpose
        docs = rng.choice(pool, size=120, replace=False)
        rankings.append(Ranking(qid, docs, rng.random(120).astype(np.float32)))
    run = Run(rankings, name="random")
    measures = parse_measures(MEASURES)
    results = evaluate_many({"a": run, "b": run.renamed("b")}, qrels, measures)
    expected = as_str_keys(ir_measures.calc_aggregate(measures, qrels.to_ir_measures(), run.to_ir_measures()))
    assert results["a"].aggregate == expected == results["b"].aggregate
    assert results["a"].per_query["query_id"].nunique() == len(judged) == 300
    assert run_to_ir_measures(run)[judged[0]] == dict(zip(rankings[0].doc_ids.tolist(), rankings[0].scores.tolist()))


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, logging, rankkit.evaluation, rankkit.evaluation.cli;"
        "heavy = [m for m in ('ir_measures','scipy','statsmodels','matplotlib','pandas') if m in sys.modules];"
        "assert not heavy, heavy;"
        "assert not logging.getLogger('ir_measures').handlers"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)
