"""Losses for CrossEncoderTrainer that can scale each sample's loss by a weight.

They follow sentence-transformers' cross-encoder loss interface
(``forward(inputs, labels, prompt=None, task=None)``). The dataset's last
column holds each row's sample index; when a ``weigh`` function is set, the
loss is ``mean(weight_i * loss_i)``, otherwise the plain mean, so unweighted
training equals sentence-transformers' own ``BinaryCrossEntropyLoss`` and
``RankNetLoss`` on pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from sentence_transformers.util import batch_to_device
from torch import Tensor, nn

Weigh = Callable[[Sequence[int]], Tensor]
LOSSES = ("bce", "pairwise", "margin-mse")


class _WeightedLoss(nn.Module):
    columns = 0

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.weigh: Weigh | None = None

    def _logits(self, queries: Sequence[str], documents: Sequence[str], prompt: str | None, task: str | None) -> Tensor:
        features = self.model.preprocess(list(zip(queries, documents)), prompt=prompt, task=task)  # type: ignore[operator]
        features = batch_to_device(features, self.model.device)  # type: ignore[arg-type]
        return self.model(features)["scores"].view(-1)

    def _reduce(self, per_sample: Tensor, samples: Sequence[int]) -> Tensor:
        if self.weigh is None:
            return per_sample.mean()
        weights = self.weigh([int(s) for s in samples]).to(per_sample.device, per_sample.dtype)
        return (weights * per_sample).mean()

    def _check(self, inputs: list[list[str]]) -> None:
        if len(inputs) != self.columns:
            raise ValueError(f"{type(self).__name__} expects {self.columns} columns (texts, then sample index), "
                             f"got {len(inputs)}")

    def get_config_dict(self) -> dict[str, str]:
        """What the model card records."""
        return {"weighted": str(self.weigh is not None)}


class WeightedBCELoss(_WeightedLoss):
    """Pointwise binary cross-entropy on logits: columns (query, document, sample), label 1 or 0."""

    columns = 3

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None) -> Tensor:
        self._check(inputs)
        logits = self._logits(inputs[0], inputs[1], prompt, task)
        per_sample = nn.functional.binary_cross_entropy_with_logits(logits, labels.view(-1).float().to(logits.device),
                                                                    reduction="none")
        return self._reduce(per_sample, inputs[2])


class WeightedPairwiseLoss(_WeightedLoss):
    """Pairwise logistic (RankNet) loss ``log(1 + exp(s_neg - s_pos))``: columns (query, positive, negative, sample)."""

    columns = 4

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None) -> Tensor:
        self._check(inputs)
        n = len(inputs[0])
        logits = self._logits(list(inputs[0]) * 2, list(inputs[1]) + list(inputs[2]), prompt, task)
        per_sample = nn.functional.softplus(logits[n:] - logits[:n])
        return self._reduce(per_sample, inputs[3])


class WeightedMarginMSELoss(_WeightedLoss):
    """Margin-MSE distillation ``((s_pos − s_neg) − label)²`` with the teacher's margin as the label: columns
    (query, positive, negative, sample). Unweighted, it equals sentence-transformers' ``MarginMSELoss``."""

    columns = 4

    def forward(self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None) -> Tensor:
        self._check(inputs)
        n = len(inputs[0])
        logits = self._logits(list(inputs[0]) * 2, list(inputs[1]) + list(inputs[2]), prompt, task)
        margin = logits[:n] - logits[n:]
        per_sample = (margin - labels.view(-1).float().to(margin.device)) ** 2
        return self._reduce(per_sample, inputs[3])


def make_loss(name: str, model: nn.Module) -> _WeightedLoss:
    """The loss called ``name`` (one of :data:`LOSSES`) for ``model``."""
    return {"bce": WeightedBCELoss, "pairwise": WeightedPairwiseLoss, "margin-mse": WeightedMarginMSELoss}[name](model)


def uniform(samples: Sequence[int]) -> Tensor:
    """Weight 1 for every sample (for tests and benchmarks)."""
    return torch.ones(len(samples))
