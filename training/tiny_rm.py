"""Tiny reward models for tests and the bundled reward model's trainer: a small `Qwen2Config`
with the real head classes on top, randomly initialised."""

from __future__ import annotations

from typing import Any

import torch

from model.reward.inputs import step_token_id
from model.reward.modules import (
    Qwen2ForProcessRewardModel,
    Qwen2ForRewardModel,
    model_class,
)
from training.tiny import tiny_qwen2_config


def reward_config(tokenizer: Any, kind: str = "orm", **overrides: Any) -> Any:
    """A small `Qwen2Config` for a reward model over `tokenizer` ."""
    cls = model_class(kind)
    overrides.setdefault("tie_word_embeddings", False)
    config = tiny_qwen2_config(len(tokenizer), **overrides)
    config.architectures = [cls.__name__]
    config.pad_token_id = tokenizer.pad_token_id
    return config


def build_tiny_orm(tokenizer: Any, *, seed: int = 0, **config_overrides: Any) -> Qwen2ForRewardModel:
    """A fresh, randomly initialised fp32 outcome reward model over `tokenizer`, ready to train."""
    torch.manual_seed(seed)
    return Qwen2ForRewardModel(reward_config(tokenizer, "orm", **config_overrides))


def build_tiny_prm(tokenizer: Any, *, seed: int = 0, **config_overrides: Any) -> Qwen2ForProcessRewardModel:
    """A fresh random fp32 process reward model; the tokenizer must know `<extra_0>`."""
    step_token_id(tokenizer)
    torch.manual_seed(seed)
    return Qwen2ForProcessRewardModel(reward_config(tokenizer, "prm", **config_overrides))
