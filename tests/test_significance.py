"""Significance tests on constructed data, checked against scipy and statsmodels directly."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from rankkit.errors import ConfigError
from rankkit.evaluation import Comparison, EvalResult, compare
from rankkit.evaluation.significance import COLUMNS, paired_p_value


def result(name: str, values: dict[str, np.ndarray], qids: list[str] | None = None) -> EvalResult:
    """An EvalResult built directly from per-query values (measure -> array over qids)."""
    frames = []
    for measure, vals in values.items():
        ids = qids or [f"q{i}" for i in range(len(vals))]
        frames.append(pd.DataFrame({"query_id": ids, "measure": measure, "value": np.asarray(vals, dtype=float)}))
    per_query = pd.concat(frames, ignore_index=True)
    return EvalResult(name, {m: float(np.mean(v)) for m, v in values.items()}, per_query)


@pytest.fixture
def systems() -> dict[str, EvalResult]:
    rng = np.random.default_rng(42)
    base = {m: rng.random(40) for m in ("nDCG@10", "AP")}
    better = {m: np.clip(v + rng.normal(0.15, 0.1, 40), 0, 1) for m, v in base.items()}
    noise = {m: np.clip(v + rng.normal(0.0, 0.1, 40), 0, 1) for m, v in base.items()}
    return {"base": result("base", base), "better": result("better", better), "noise": result("noise", noise)}


@pytest.mark.parametrize("test", ["paired-t", "wilcoxon"])
@pytest.mark.parametrize("correction", ["holm", "bonferroni", "none"])
def test_against_scipy_and_statsmodels(systems: dict[str, EvalResult], test: str, correction: str) -> None:
    comparison = compare(systems, "base", test=test, correction=correction)  # type: ignore[arg-type]
    frame = comparison.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert list(zip(frame["system"], frame["measure"])) == [
        ("better", "nDCG@10"), ("better", "AP"), ("noise", "nDCG@10"), ("noise", "AP"),
    ]  # fmt: skip
    raw = []
    for row in frame.itertuples():
        sys_v = systems[row.system].values(row.measure).to_numpy()
        base_v = systems["base"].values(row.measure).to_numpy()
        expected = stats.ttest_rel(sys_v, base_v) if test == "paired-t" else stats.wilcoxon(sys_v, base_v)
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)
        assert row.mean == pytest.approx(sys_v.mean()) and row.baseline_mean == pytest.approx(base_v.mean())
        assert row.delta == pytest.approx(sys_v.mean() - base_v.mean())
        assert (row.improved, row.degraded, row.unchanged) == (
            (sys_v > base_v).sum(), (sys_v < base_v).sum(), (sys_v == base_v).sum(),
        )  # fmt: skip
        raw.append(expected.pvalue)
    if correction == "none":
        np.testing.assert_allclose(frame["p_adjusted"], raw)
        assert frame["significant"].tolist() == [p <= 0.05 for p in raw]
    else:
        reject, adjusted, _, _ = multipletests(raw, alpha=0.05, method=correction)
        np.testing.assert_allclose(frame["p_adjusted"], adjusted, rtol=1e-12)
        assert frame["significant"].tolist() == reject.tolist()
    assert frame.loc[frame["system"] == "better", "significant"].all()


def test_correction_family_is_all_system_measure_pairs(systems: dict[str, EvalResult]) -> None:
    """Bonferroni over the 4 comparisons: adjusted = min(1, 4 p)."""
    comparison = compare(systems, "base", correction="bonferroni")
    np.testing.assert_allclose(comparison.frame["p_adjusted"], np.minimum(1, 4 * comparison.frame["p_value"]))
    assert "4 system×measure comparisons" in comparison.describe()


def test_pairs_only_shared_queries() -> None:
    base = result("base", {"AP": np.array([0.1, 0.2, 0.3, 0.4])}, ["a", "b", "c", "d"])
    other = result("other", {"AP": np.array([0.5, 0.2, 0.9, 0.6])}, ["b", "c", "d", "e"])
    row = compare({"base": base, "other": other}, "base").row("other", "AP")
    assert row is not None and row["n_queries"] == 3
    assert row["p_value"] == pytest.approx(stats.ttest_rel([0.5, 0.2, 0.9], [0.2, 0.3, 0.4]).pvalue)
    assert (row["improved"], row["degraded"], row["unchanged"]) == (2, 1, 0)


@pytest.mark.parametrize("test", ["paired-t", "wilcoxon"])
def test_identical_systems_give_p_one_without_warnings(test: str) -> None:
    values = {"AP": np.array([0.1, 0.5, 0.3]), "nDCG@10": np.zeros(3)}
    systems = {"a": result("a", values), "b": result("b", values)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        comparison = compare(systems, "a", test=test)  # type: ignore[arg-type]
    assert comparison.frame["p_value"].tolist() == [1.0, 1.0]
    assert comparison.frame["p_adjusted"].tolist() == [1.0, 1.0]
    assert not comparison.frame["significant"].any()
    assert comparison.frame["unchanged"].tolist() == [3, 3]


def test_degenerate_p_values() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert paired_p_value(np.array([]), "paired-t") == 1.0
        assert paired_p_value(np.array([0.3]), "wilcoxon") == 1.0
        assert paired_p_value(np.array([0.1, 0.1, 0.1]), "paired-t") == 0.0  # zero variance, t = inf
        p = paired_p_value(np.array([0.0, 0.0, 0.2, 0.1]), "wilcoxon")  # zeros dropped (scipy's default)
        assert 0 < p <= 1


def test_single_system_gives_empty_comparison(systems: dict[str, EvalResult]) -> None:
    comparison = compare({"base": systems["base"]}, "base")
    assert isinstance(comparison, Comparison) and comparison.frame.empty
    assert list(comparison.frame.columns) == list(COLUMNS)


def test_unknown_baseline_names_the_choices(systems: dict[str, EvalResult]) -> None:
    with pytest.raises(ConfigError, match=r"unknown baseline 'bm25'.*\['base', 'better', 'noise'\]"):
        compare(systems, "bm25")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test": "t"}, "unknown significance test"),
        ({"correction": "fdr"}, "unknown correction"),
        ({"alpha": 1.5}, "alpha"),
    ],
)
def test_bad_options(systems: dict[str, EvalResult], kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        compare(systems, "base", **kwargs)


def test_missing_measure_is_config_error(systems: dict[str, EvalResult]) -> None:
    partial = result("partial", {"AP": np.ones(40)})
    with pytest.raises(ConfigError, match="'partial' was not evaluated with 'nDCG@10'"):
        compare({**systems, "partial": partial}, "base")
