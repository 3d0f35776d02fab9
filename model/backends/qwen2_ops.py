"""Qwen2's decoder pieces as the slot step calls them: the norms, the rotary embedding, SwiGLU,
q/k/v and gate/up fused into one matrix product each where the layers are plain, and the
elementwise operations compiled into fused kernels on CUDA (`PointwiseOps`).

Every operation computes what transformers' Qwen2 modules compute, in the same order, so that a
row's numbers match `generate`'s; `model.backends.slots` owns the cache, the steps and the graphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from model.backends.sampling import choose_tokens, gumbel_noise


def rms_norm(x: Any, weight: Any, eps: float) -> Any:
    """Qwen2's RMSNorm, in the same operations as transformers' (fp32 inside)."""
    import torch

    hidden = x.float()
    hidden = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + eps)
    return weight * hidden.to(x.dtype)


def add_rms_norm(h: Any, x: Any, weight: Any, eps: float) -> tuple[Any, Any]:
    """The residual add and the next norm: (h + x, rms_norm(h + x))."""
    h = h + x
    return h, rms_norm(h, weight, eps)


def rope(x: Any, cos: Any, sin: Any) -> Any:
    """Rotary embedding of x [rows, heads, tokens, d] as transformers computes it."""
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def silu_mul(gate_up: Any) -> Any:
    """SwiGLU's middle: silu(gate) * up, the two halves of one product."""
    import torch

    gate, up = gate_up.chunk(2, dim=-1)
    return torch.nn.functional.silu(gate) * up


class PointwiseOps:
    """The elementwise pieces of a step. Eager they are a few kernels each; on CUDA they are
    compiled (torch.compile, dynamic shapes) into one fused kernel each, at start-up, because a
    batch-1 decode step of a 28-layer model is otherwise a thousand tiny kernels whose launch
    and run time, not the weights, bound the speed."""

    def __init__(self, compiled: bool = False, candidates: int | None = None) -> None:
        self.rms_norm, self.add_rms_norm, self.rope, self.silu_mul = rms_norm, add_rms_norm, rope, silu_mul
        self.noise = gumbel_noise
        self.candidates = candidates
        self.compiled = False
        if compiled:
            import torch

            options = {"dynamic": True, "fullgraph": True}
            self.rms_norm = torch.compile(rms_norm, **options)
            self.add_rms_norm = torch.compile(add_rms_norm, **options)
            self.rope = torch.compile(rope, **options)
            self.silu_mul = torch.compile(silu_mul, **options)
            self.noise = torch.compile(gumbel_noise, **options)
            self.compiled = True

    def choose_tokens(self, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return choose_tokens(*args, noise=self.noise, candidates=self.candidates, **kwargs)


def _fuse(modules: Sequence[Any]) -> tuple[Any, Any] | None:
    """One weight (and bias) for several plain Linear layers that read the same input, the
    layers' own parameters re-pointed into it (no extra memory); None for quantized layers."""
    import torch
    from torch import nn

    if not all(type(m) is nn.Linear for m in modules):
        return None
    weight = torch.cat([m.weight.detach() for m in modules])
    has_bias = all(m.bias is not None for m in modules)
    bias = torch.cat([m.bias.detach() for m in modules]) if has_bias else None
    offset = 0
    for m in modules:
        rows = m.weight.shape[0]
        m.weight = nn.Parameter(weight[offset : offset + rows], requires_grad=False)
        if has_bias:
            m.bias = nn.Parameter(bias[offset : offset + rows], requires_grad=False)
        offset += rows
    return weight, bias


class Layer:
    """One decoder layer as the step calls it: q/k/v and gate/up as one matrix product each
    where the layers are plain (unquantized), the modules themselves otherwise."""

    def __init__(self, layer: Any) -> None:
        attn, mlp = layer.self_attn, layer.mlp
        self.norm1 = (layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon)
        self.norm2 = (layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon)
        self.qkv_modules = (attn.q_proj, attn.k_proj, attn.v_proj)
        self.qkv = _fuse(self.qkv_modules)
        self.o_proj = attn.o_proj
        self.gate_up_modules = (mlp.gate_proj, mlp.up_proj)
        self.gate_up = _fuse(self.gate_up_modules)
        self.down_proj = mlp.down_proj
        self.act = mlp.act_fn
        self.silu = type(mlp.act_fn).__name__ in ("SiLU", "SiLUActivation")

    def project_qkv(self, x: Any) -> Any:
        import torch

        if self.qkv is not None:
            return torch.nn.functional.linear(x, *self.qkv)
        return torch.cat([m(x) for m in self.qkv_modules], dim=-1)

    def mlp(self, x: Any, ops: PointwiseOps) -> Any:
        import torch

        if self.gate_up is not None:
            gate_up = torch.nn.functional.linear(x, *self.gate_up)
        else:
            gate_up = torch.cat([m(x) for m in self.gate_up_modules], dim=-1)
        if self.silu:
            return self.down_proj(ops.silu_mul(gate_up))
        gate, up = gate_up.chunk(2, dim=-1)
        return self.down_proj(self.act(gate) * up)


__all__ = ["Layer", "PointwiseOps", "add_rms_norm", "rms_norm", "rope", "silu_mul"]
