"""Memory planning before a checkpoint loads: parameter counts from the config alone, and the
memory a device has free.

Shared by the policy loader (`model.loading`) and the reward-model planner
(`model.reward.plan`), which each apply their own bytes per parameter and headroom.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

_REQUIRED = object()


def _field(config: Any, name: str, default: Any = _REQUIRED) -> Any:
    """`name` of a config object or of its `config.json` dict; a missing required one raises."""
    if isinstance(config, Mapping):
        return config[name] if default is _REQUIRED else config.get(name, default)
    return getattr(config, name) if default is _REQUIRED else getattr(config, name, default)


def qwen2_parameter_split(config: Any) -> tuple[int, int]:
    """(Linear weights, everything else) of a Qwen2 decoder trunk, without any output layer.

    `config`: a `Qwen2Config` or its `config.json` dict. The Linear weights are the layers'
    q/k/v/o and MLP projections (what bitsandbytes quantizes); everything else is the input
    embeddings, the norms and the q/k/v biases.
    """
    hidden = int(_field(config, "hidden_size"))
    layers = int(_field(config, "num_hidden_layers"))
    heads = int(_field(config, "num_attention_heads"))
    kv_heads = int(_field(config, "num_key_value_heads", None) or heads)
    head_dim = int(_field(config, "head_dim", None) or hidden // heads)
    inter = int(_field(config, "intermediate_size"))
    vocab = int(_field(config, "vocab_size"))
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim  # q, o; k, v
    attention_bias = heads * head_dim + 2 * kv_heads * head_dim
    linear = layers * (attention + 3 * hidden * inter)
    other = vocab * hidden + layers * (2 * hidden + attention_bias) + hidden
    return linear, other


def free_bytes(device: str) -> int | None:
    """Memory free on `device`, in bytes; None when it cannot be read.

    `cuda`: the current GPU's free memory (None where no real GPU is attached yet, as on
    ZeroGPU Spaces outside a GPU call). `cpu`: the RAM the kernel can hand out (MemAvailable,
    which counts reclaimable page cache), else the free pages where there is no /proc.
    """
    if device == "cuda":
        import torch

        try:
            free, _total = torch.cuda.mem_get_info()
        except RuntimeError:
            return None
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
