"""Choosing the next token of every row of a batch on the device, with per-row randomness.

Greedy rows take the argmax. Sampled rows draw from the temperature-scaled distribution cut to
its top-p nucleus by the Gumbel-max trick: argmax(logits / T + g) over the nucleus, where g is
Gumbel noise. The noise comes from a counter-based hash of (the row's key, the row's step, the
vocabulary index), not from a random generator's state: a row's draw depends only on its own
key and step, never on which other rows share the batch or in what order they sit, and the
whole choice is a fixed sequence of tensor operations (no host round trip, capturable in a CUDA
graph). A run's rows get keys from the run's seed (`row_key`), so a seeded run draws the same
samples alone or in a busy batch.

The reported log-probability is the token's under the model's own distribution (temperature 1,
no nucleus), the quantity the confidence ranking reads.
"""

from __future__ import annotations

from typing import Any

_MASK32 = 0xFFFFFFFF


def row_key(seed: int, row: int) -> int:
    """A 31-bit key for row `row` of a run seeded with `seed` (splitmix64, folded)."""
    x = (seed * 0x9E3779B97F4A7C15 + row * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    return int(x & 0x7FFFFFFF)


def uniform_noise(keys: Any, steps: Any, ids: Any) -> Any:
    """U(0, 1) float32 noise [rows, n] for token ids [rows, n] (or [1, n]), from int64 keys [rows]
    and steps [rows] (murmur3's 32-bit finaliser; every product stays below 2^63). A token's
    noise depends on its id alone, never on where it sits in `ids`."""
    x = (keys[:, None] * 0x9E3779B1 + steps[:, None] * 0x85EBCA77 + ids * 0xC2B2AE3D) & _MASK32
    x = x ^ (x >> 16)
    x = (x * 0x85EBCA6B) & _MASK32
    x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) & _MASK32
    x = x ^ (x >> 16)
    # The top 24 bits, centred in their bucket: exact in float32 and strictly inside (0, 1).
    return ((x >> 8).float() + 0.5) * (1.0 / (1 << 24))


def gumbel_noise(keys: Any, steps: Any, ids: Any) -> Any:
    """Gumbel(0, 1) noise for token ids [rows, n] from the rows' keys and steps."""
    import torch

    return -torch.log(-torch.log(uniform_noise(keys, steps, ids)))


def choose_tokens(
    logits: Any, greedy: Any, temperature: Any, top_p: Any, keys: Any, steps: Any, *, sampling: bool = True,
    noise: Any = gumbel_noise, candidates: int | None = None,
) -> tuple[Any, Any]:
    """Next token [rows] (int64) and its log-probability [rows] (float32) for every row.

    `logits` [rows, vocab] (any float dtype), `greedy` [rows] bool, `temperature` and `top_p`
    [rows] float32 (ignored on greedy rows), `keys` and `steps` [rows] int64. `sampling=False` when every
    row that matters is greedy: the argmax alone, no nucleus and no noise.

    `candidates` (CPU only: it asks the host one question per step) looks for the nucleus among
    the top `candidates` tokens first and sorts the whole vocabulary only when some sampling row's
    nucleus is larger; either way every row gets exactly the same token.
    """
    import torch

    logits = logits.float()
    argmax = logits.argmax(dim=-1)
    logprob_of = lambda tokens: logits.gather(-1, tokens[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    if not sampling:
        return argmax, logprob_of(argmax)
    safe_t = torch.where(greedy, torch.ones_like(temperature), temperature.clamp_min(1e-5))
    scaled = logits / safe_t[:, None]
    total = torch.logsumexp(scaled, dim=-1, keepdim=True)
    ordered = None
    if candidates is not None and candidates < scaled.shape[-1]:
        values, order = scaled.topk(candidates, dim=-1)
        probs = torch.exp(values - total)
        covered = probs.cumsum(dim=-1)[:, -1] >= top_p
        if bool((covered | greedy).all()):
            ordered = values, order, probs
    if ordered is None:
        values, order = scaled.sort(dim=-1, descending=True)
        ordered = values, order, torch.exp(values - total)
    values, order, probs = ordered
    # Drop a token when the tokens before it already cover top_p; the first is always kept.
    drop = (probs.cumsum(dim=-1) - probs) >= top_p[:, None]
    perturbed = (values + noise(keys, steps, order)).masked_fill(drop, float("-inf"))
    sampled = order.gather(-1, perturbed.argmax(dim=-1, keepdim=True)).squeeze(-1)
    tokens = torch.where(greedy, argmax, sampled)
    return tokens, logprob_of(tokens)


__all__ = ["choose_tokens", "gumbel_noise", "row_key", "uniform_noise"]
