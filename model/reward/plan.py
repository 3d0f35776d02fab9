"""Which precision a reward model loads in here, and whether it fits, from its config alone.

CPU: fp32. CUDA: quantized like the policy (nf4/int8 through bitsandbytes), else bf16, and nf4
when bf16 does not fit the share of free memory a reward model may take. A plan that cannot
work comes back as a reason a person can read (the caller falls back to confidence).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from model.memory import free_bytes, qwen2_parameter_split
from model.reward.checkpoint import QUANTIZED
from model.reward.modules import LIKELIHOOD_ARCHITECTURE, model_class

# Share of the free memory a reward model may take: the rest is the policy's KV cache of N rows.
RM_MEMORY_FRACTION = 0.8
# Working room beyond the weights (activations of one batch, the CUDA context); rough.
RM_HEADROOM_BYTES = 1024**3
# Bytes per trunk Linear weight as loaded; embeddings, norms and the head stay at the compute
# dtype (bitsandbytes quantizes Linear layers only). NF4 adds one fp32 absmax per 64 weights.
_LINEAR_BYTES = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "nf4": 0.5625}
_OTHER_BYTES = {"fp32": 4.0, "bf16": 2.0, "int8": 2.0, "nf4": 2.0}
# Reward-model precision on CUDA for each policy precision ("quantized like the policy").
CUDA_PRECISION = {"auto": "bf16", "bf16": "bf16", "fp32": "bf16", "nf4": "nf4", "int8": "int8"}


def parameter_split(raw: Mapping[str, Any], labels: int) -> tuple[int, int]:
    """(trunk Linear parameters, everything else) of a Qwen2 reward model, from its config."""
    hidden = int(raw["hidden_size"])
    vocab = int(raw["vocab_size"])
    linear, other = qwen2_parameter_split(raw)
    other += hidden * hidden + hidden + hidden * labels + labels  # the score head
    if LIKELIHOOD_ARCHITECTURE in (raw.get("architectures") or []) and not raw.get("tie_word_embeddings", False):
        linear += vocab * hidden  # a verifier LM's own output layer
    return linear, other


def estimate_rm_bytes(raw: Mapping[str, Any], precision: str, labels: int = 1) -> int:
    """Memory the weights take at `precision`, from the config alone."""
    linear, other = parameter_split(raw, labels)
    return int(linear * _LINEAR_BYTES[precision] + other * _OTHER_BYTES[precision])


def plan_precision(
    name: str,
    raw: Mapping[str, Any],
    device: str,
    policy_precision: str,
    max_memory_bytes: int | None,
    kind: str = "orm",
) -> tuple[str | None, str | None]:
    """(precision, None), or (None, reason) when the reward model cannot run here.

    CPU: fp32. CUDA: the policy's quantization (nf4/int8), else bf16; NF4 when that does not fit.
    """
    labels = model_class(kind).labels
    if device == "cpu":
        candidates = ["fp32"]
    else:
        first = CUDA_PRECISION[policy_precision]
        candidates = [first] if first == "nf4" else [first, "nf4"]
    budget = max_memory_bytes if max_memory_bytes is not None else _budget(device)
    where = "GPU memory" if device == "cuda" else "RAM"
    reasons: list[str] = []
    too_big = True
    for precision in candidates:
        need = estimate_rm_bytes(raw, precision, labels) + RM_HEADROOM_BYTES
        if precision in QUANTIZED and importlib.util.find_spec("bitsandbytes") is None:
            reasons.append(f"{precision} needs bitsandbytes, which is not installed (pip install bitsandbytes)")
            too_big = False
            continue
        if budget is None or need <= budget:
            return precision, None
        reasons.append(f"needs about {_gib(need)} in {precision} but only {_gib(budget)} of {where} is available to it")
    verdict = "does not fit" if too_big else "cannot run here"
    return None, f"Reward model {name} {verdict}: {'; '.join(reasons)}."


def _budget(device: str) -> int | None:
    """The share of free memory a reward model may use; None when it cannot be read."""
    free = free_bytes(device)
    return int(free * RM_MEMORY_FRACTION) if free is not None else None


def _gib(count: float) -> str:
    return f"{count / 1024**3:.1f} GiB"
