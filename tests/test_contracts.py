"""The contract suites of rankkit.testing, applied to the core's and the example plugin's components."""

from __future__ import annotations

import pytest

from rankkit.docstore import DictDocStore
from rankkit.pipeline import ScorerReranker
from rankkit.rescore import RescoreSettings
from rankkit.testing import RerankerContract, RetrieverContract, ReverseReranker, ScorerContract
from rankkit.types import Query


class TestRunFileRetriever(RetrieverContract):
    @pytest.fixture
    def retriever(self, rankkit_registry, data_root):
        return rankkit_registry.build("retriever", "run", run="bm25", dataset="trec-dl-2019")

    @pytest.fixture
    def queries(self):
        return [Query("19335", "anthropological definition of environment"), Query("47923", "axon terminals")]


class TestTermOverlapScorer(ScorerContract):
    @pytest.fixture
    def scorer(self, rankkit_registry):
        return rankkit_registry.build("scorer", "term-overlap")


class TestReverseReranker(RerankerContract):
    @pytest.fixture
    def reranker(self):
        return ReverseReranker()


class TestScorerAdapter(RerankerContract):
    @pytest.fixture
    def reranker(self, rankkit_registry):
        scorer = rankkit_registry.build("scorer", "term-overlap")
        return ScorerReranker(scorer, DictDocStore({}), RescoreSettings(window_size=2, score_mode="max"))
