"""The rankkit hooks of rankkit-reasoning (entry point ``reasoning`` in the ``rankkit`` group).

Only hook implementations live here. Components are named by import path and imported when built; their
parameters are the dataclasses of :mod:`rankkit_reasoning.settings`. The backends import torch, transformers,
peft or httpx only when they first generate, and the trainer imports trl and peft only when it trains, so
registering the plugin imports none of them.
"""

from __future__ import annotations

from rankkit.components import ComponentSpec
from rankkit.hookspecs import hookimpl

from rankkit_reasoning.settings import GRPOSettings, RankR1Settings

#: What a local model's completions depend on besides rankkit and this plugin: the model code and kernels, and the
#: GGUF de-quantisation (the generated queries').
GENERATION_LIBRARIES = ("torch", "transformers", "gguf")
#: The reranker's: also PEFT, which applies the adapter. (An endpoint's server is outside this process; its model
#: name and URL are in the reranker's fingerprint.)
LIBRARIES = (*GENERATION_LIBRARIES, "peft")
#: The trainer's: also TRL's GRPOTrainer.
TRAINER_LIBRARIES = (*LIBRARIES, "trl")


@hookimpl
def rankkit_rerankers() -> list[ComponentSpec]:
    """The Rank-R1 setwise reasoning reranker."""
    return [
        ComponentSpec("reranker", "rank-r1", summary="Rank-R1 setwise reranking: an LLM reasons (<think>) and names "
                      "the best of a few passages (<answer>), driving a heapsort or bubblesort of the top k",
                      target="rankkit_reasoning.reranker:SetwiseReasoningReranker.from_settings",
                      settings=RankR1Settings, libraries=LIBRARIES),
    ]


@hookimpl
def rankkit_trainers() -> list[ComponentSpec]:
    """The Rank-R1 GRPO trainer (TRL GRPOTrainer, a LoRA adapter)."""
    return [
        ComponentSpec("trainer", "rank-r1-grpo", summary="Rank-R1 GRPO: a LoRA adapter learns to reason and name the "
                      "relevant passage among one positive and N first-stage negatives (reward 1 iff well formed and "
                      "relevant); for rank-r1's adapter", target="rankkit_reasoning.grpo:RankR1GRPOTrainer",
                      settings=GRPOSettings, libraries=TRAINER_LIBRARIES),
    ]


@hookimpl
def rankkit_dataset_providers() -> list[ComponentSpec]:
    """Label-free training data: ``genq:[N:]CORPUS``, queries the default LLM writes for documents of a corpus."""
    return [
        ComponentSpec("dataset_provider", "generated-queries", summary="genq:[N:]CORPUS: queries "
                      "SmolLM2-135M-Instruct writes for N sampled documents of a corpus (cached), for label-free "
                      "reranker training; filter them with the trainer's round_trip_k",
                      target="rankkit_reasoning.queries:GeneratedQueryProvider", needs_registry=True,
                      libraries=GENERATION_LIBRARIES),
    ]
