"""Reward-model checkpoints on disk: building tiny ones, saving in the real format, reading back.

The format is Qwen's own (`docs/reward.md`): `config.json` naming the architecture, and
safetensors with the trunk under `model.` and the head under `score.`. Loading goes into our
own module classes, fp32 on the CPU, bf16 or a bitsandbytes trunk on CUDA.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.errors import RewardModelError
from model.reward.modules import (
    ARCHITECTURES,
    LIKELIHOOD_ARCHITECTURE,
    ORM_ARCHITECTURE,
    PRM_ARCHITECTURE,
    Qwen2ForRewardModel,
    Qwen2RewardBase,
)

# A directory holds a checkpoint's weights when it has one of these.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
# Precisions whose trunk bitsandbytes quantizes.
QUANTIZED = ("nf4", "int8")


def save_reward_model(
    model: Qwen2RewardBase, tokenizer: Any, path: str | os.PathLike[str], made_for: tuple[str, ...] | None = None
) -> Path:
    """Write `model` and `tokenizer` to `path` in the real checkpoints' on-disk format.

    `config.json` also gets the top-level `rope_theta`/`torch_dtype` that transformers 4.x
    reads, never an `auto_map` (no remote code is needed to load it), and with `made_for` the
    policy families the reward model was made for (`model.reward.made_for`).
    """
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    config_file = path / "config.json"
    raw = json.loads(config_file.read_text(encoding="utf-8"))
    raw["architectures"] = [type(model).__name__]
    raw["model_type"] = "qwen2"
    raw.pop("auto_map", None)
    if made_for is not None:
        raw["made_for"] = list(made_for)
    rope = raw.get("rope_parameters") or {}
    if "rope_theta" not in raw and "rope_theta" in rope:
        raw["rope_theta"] = rope["rope_theta"]
    if "torch_dtype" not in raw and "dtype" in raw:
        raw["torch_dtype"] = raw["dtype"]
    config_file.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def save_outcome_rm(
    trunk_state: Mapping[str, torch.Tensor] | nn.Module,
    head: Mapping[str, torch.Tensor] | nn.Module,
    config: Any,
    tokenizer: Any,
    path: str | os.PathLike[str],
) -> Path:
    """Save a trunk (a `Qwen2Model` or its state dict) and a `RewardHead` (or its state dict,
    keys `0.weight` ... `2.bias`) as an outcome reward model in the real on-disk format."""
    trunk = trunk_state.state_dict() if isinstance(trunk_state, nn.Module) else trunk_state
    head_state = head.state_dict() if isinstance(head, nn.Module) else head
    model = Qwen2ForRewardModel(config)
    state = {f"model.{k}": v for k, v in trunk.items()} | {f"score.{k}": v for k, v in head_state.items()}
    model.load_state_dict(state, strict=True)
    return save_reward_model(model, tokenizer, path)



def read_kind(config_file: Path) -> tuple[str, dict[str, Any]]:
    """(kind, raw config) from `config.json`; a model that is no reward model we know raises."""
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RewardModelError(f"{config_file} is not readable JSON: {exc}") from None
    architectures = raw.get("architectures") or []
    kinds = [ARCHITECTURES[a] for a in architectures if a in ARCHITECTURES]
    if raw.get("model_type") != "qwen2" or not kinds:
        raise RewardModelError(
            f"{config_file.parent} holds a {raw.get('model_type')!r} {', '.join(architectures) or 'model'}, "
            f"not a reward model this app knows ({ORM_ARCHITECTURE}, {PRM_ARCHITECTURE} or "
            f"{LIKELIHOOD_ARCHITECTURE} with model_type qwen2)."
        )
    return kinds[0], raw


def has_weights(path: Path) -> bool:
    """Whether `path` holds safetensors weights (one file, or shards and their index)."""
    return any((path / f).is_file() for f in WEIGHT_FILES)


def load_weights(cls: type[Qwen2RewardBase], path: str, device: str, precision: str) -> Qwen2RewardBase:
    """from_pretrained into our own class: fp32 on CPU; bf16, or a bitsandbytes trunk, on CUDA."""
    import transformers

    # LLM.int8 computes in fp16 (bitsandbytes casts bf16 inputs, warning on every call).
    dtype = {"fp32": torch.float32, "int8": torch.float16}.get(precision, torch.bfloat16)
    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs: dict[str, Any] = {dtype_key: dtype}
    if device == "cuda":
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if precision in QUANTIZED:
        from transformers import BitsAndBytesConfig

        # The head stays in bf16: it is small and its output is the score itself.
        if precision == "nf4":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.bfloat16,
                llm_int8_skip_modules=["score"],
            )
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=["score"])
    model = cls.from_pretrained(path, **kwargs)
    model.requires_grad_(False)
    return model.eval()
