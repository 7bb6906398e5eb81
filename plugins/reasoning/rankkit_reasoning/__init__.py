"""rankkit-reasoning: Rank-R1 style setwise reranking with an LLM that reasons before it answers.

After Zhuang et al., "Rank-R1: Enhancing Reasoning in LLM-based Document
Rerankers via Reinforcement Learning" (2025), on the setwise sorting of Zhuang
et al., "A Setwise Approach to Effective and Highly Efficient Zero-shot Ranking
with Large Language Models" (SIGIR 2024). Importing this package loads nothing
heavy; torch, transformers and httpx load when a backend first generates.

The GRPO trainer (:mod:`rankkit_reasoning.grpo`, TRL and PEFT, loaded when it
trains) reuses the inference pieces: :mod:`rankkit_reasoning.prompts` (the chat
messages), :mod:`rankkit_reasoning.parsing` (strict parsing and the rewards);
its prompts come from :mod:`rankkit_reasoning.grpo_data` and the LoRA adapter it
writes is applied by the local backend (:mod:`rankkit_reasoning.adapters`).
"""

__version__ = "0.1.0"
