"""The reward models' torch modules: our own classes, with the real checkpoints' parameter names.

A Qwen2 trunk under `model.` and a `score` head: outcome (one reward per row), process (two
logits per token) and likelihood (a verifier LM's token log-probabilities through a head).
`from_pretrained` loads Qwen's checkpoints into them without running any remote code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from transformers.models.qwen2.modeling_qwen2 import Qwen2Model, Qwen2PreTrainedModel

from model.errors import RewardModelError

ORM_ARCHITECTURE = "Qwen2ForRewardModel"
PRM_ARCHITECTURE = "Qwen2ForProcessRewardModel"
LIKELIHOOD_ARCHITECTURE = "Qwen2ForLikelihoodRewardModel"
# What the likelihood reward model's `score` head reads, in the order of its weights.
LIKELIHOOD_FEATURES = ("mean token log-probability", "lowest token log-probability")
# Positions whose vocabulary logits are materialised at once (a 152k vocabulary: ~80 MB a row).
_LOGPROB_CHUNK = 128


class RewardHead(nn.Sequential):
    """Linear(h, h) -> ReLU -> Linear(h, labels); parameters `0.weight`, `0.bias`, `2.*`."""

    def __init__(self, hidden_size: int, labels: int) -> None:
        super().__init__(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, labels))


class Qwen2RewardBase(Qwen2PreTrainedModel):
    """A Qwen2 trunk under `model.` and a `score` head, as in Qwen's reward checkpoints."""

    labels: int = 1
    # Some reward checkpoints still carry the causal LM's output layer; it is not used.
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [r"^lm_head\."]

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = Qwen2Model(config)
        self.score = self._build_head(config)
        self.post_init()

    def _build_head(self, config: Any) -> nn.Module:
        return RewardHead(config.hidden_size, self.labels)

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.score(hidden.to(self.score[0].weight.dtype)).float()

    def _hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        # [B, T, h]; right padding only: position ids are 0..T-1 for every row.
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state


class Qwen2ForRewardModel(Qwen2RewardBase):
    """Outcome reward model (Qwen2.5-Math-RM-72B format); `forward` gives one reward per row."""

    labels = 1

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Rewards [B] (fp32), read at each row's last real token. Differentiable (for training)."""
        hidden = self._hidden(input_ids, attention_mask)
        batch, length = input_ids.shape
        if attention_mask is None:
            last = torch.full((batch,), length - 1, device=input_ids.device)
        else:
            positions = torch.arange(length, device=input_ids.device)
            last = (attention_mask.to(positions.dtype) * positions).argmax(dim=-1)
        picked = hidden[torch.arange(batch, device=input_ids.device), last]  # [B, h]
        return self._head(picked).squeeze(-1)


class Qwen2ForProcessRewardModel(Qwen2RewardBase):
    """Process reward model (Qwen2.5-Math-PRM-7B format); `forward` gives per-token logits."""

    labels = 2

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, T, 2] (fp32); softmax(...)[..., 1] at `<extra_0>` is a step's reward."""
        return self._head(self._hidden(input_ids, attention_mask))


class Qwen2ForLikelihoodRewardModel(Qwen2RewardBase):
    """A verifier language model read as an outcome reward model; `forward` gives one reward per row.

    The trunk and the LM output layer (the input embeddings when `tie_word_embeddings`, else
    `lm_head`) give every token its log-probability given the tokens before it; `score`
    Linear(2, 1) maps the mean and the lowest of them over the solution's tokens
    (`LIKELIHOOD_FEATURES`) to the reward.
    """

    labels = 1
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = []

    def _build_head(self, config: Any) -> nn.Module:
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        return nn.Linear(len(LIKELIHOOD_FEATURES), 1)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.tie_word_embeddings:
            return nn.functional.linear(hidden, self.model.embed_tokens.weight).float()
        return self.lm_head(hidden).float()

    def token_logprobs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T-1] fp32: log p(token t+1 | tokens <= t), vocabulary logits a chunk of positions at a time."""
        hidden = self._hidden(input_ids, attention_mask)[:, :-1]
        targets = input_ids[:, 1:]
        parts = []
        for start in range(0, targets.shape[1], _LOGPROB_CHUNK):
            logits = self._logits(hidden[:, start : start + _LOGPROB_CHUNK])
            taken = logits.gather(-1, targets[:, start : start + _LOGPROB_CHUNK, None]).squeeze(-1)
            parts.append(taken - torch.logsumexp(logits, dim=-1))
        return torch.cat(parts, dim=1)

    def features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, solution_mask: torch.Tensor
    ) -> torch.Tensor:
        """[B, 2] fp32: `LIKELIHOOD_FEATURES` over the tokens `solution_mask` [B, T] marks.

        The first token of a row cannot be scored (nothing precedes it); every row must mark
        at least one other token.
        """
        logprobs = self.token_logprobs(input_ids, attention_mask)
        marked = solution_mask[:, 1:].bool()
        if not bool(marked.any(dim=1).all()):
            raise ValueError("every row needs at least one scored token after its first")
        count = marked.sum(dim=1)
        mean = torch.where(marked, logprobs, torch.zeros_like(logprobs)).sum(dim=1) / count
        lowest = torch.where(marked, logprobs, torch.full_like(logprobs, math.inf)).amin(dim=1)
        return torch.stack([mean, lowest], dim=1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        solution_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Rewards [B] (fp32); `solution_mask` defaults to every real token. Differentiable."""
        if solution_mask is None:
            solution_mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        feats = self.features(input_ids, attention_mask, solution_mask)
        # The head in fp32 whatever the trunk's precision: bf16 would round nearby means together.
        return nn.functional.linear(feats, self.score.weight.float(), self.score.bias.float()).squeeze(-1)



# The module class of each checkpoint kind, and the kind of each `architectures` name.
MODEL_CLASSES: Mapping[str, type[Qwen2RewardBase]] = {
    "orm": Qwen2ForRewardModel,
    "prm": Qwen2ForProcessRewardModel,
    "likelihood": Qwen2ForLikelihoodRewardModel,
}

ARCHITECTURES: Mapping[str, str] = {
    ORM_ARCHITECTURE: "orm",
    PRM_ARCHITECTURE: "prm",
    LIKELIHOOD_ARCHITECTURE: "likelihood",
}


def model_class(kind: str) -> type[Qwen2RewardBase]:
    """The module class of a checkpoint kind (`orm`, `prm`, `likelihood`); others raise."""
    try:
        return MODEL_CLASSES[kind]
    except KeyError:
        raise RewardModelError(
            f"No reward model checkpoint of kind {kind!r}; known: {', '.join(MODEL_CLASSES)}."
        ) from None
