"""The decode step of the shared batch: a Qwen2 forward over the loaded model's own modules,
with the KV cache in fixed slots, sampling on the device, and CUDA graphs.

The transformers model is loaded as usual (bf16, NF4 or fp32, our own loader); this module only
calls its modules (embeddings, norms, projections, MLPs, rotary embedding, LM head; through
`model.backends.qwen2_ops`) in its own order, so that the KV cache can live in preallocated
slots: one slot per row of the batch, each row at its own position. A run takes a contiguous
range of slots (its greedy row and N samples), its prompt is prefilled once into the first slot
and copied to the others, and its rows then advance together, one token per step. A row that
finishes stays in its range (its output is ignored) until the whole run leaves; ranges are
compacted when runs leave holes. A row paused for a tool (tool-integrated reasoning) also stays,
and `extend` reads the tool's output into its cache before it goes on.

Attention: one call over the first B slots and the first L positions, with a mask of each
row's own length.
- CUDA: B and L are bucketed (powers of two), and each (B, L) step (forward, sampling, and the
  advance of tokens, positions and steps, all on the device) is captured once as a CUDA graph at
  start-up and replayed: one host copy per step, the new tokens out.
- CPU: L is the longest row rounded up to a multiple of 16 while that is short (up to
  `short_attention_limit`, 128 to 512 positions, found at start-up for the model's head shape),
  else to a multiple of 512; while any row samples the batch is padded to a multiple of 8 rows.
  With those lengths the CPU attention kernel gives a row the same numbers whatever the other
  rows and whatever L (masked positions add exact zeros; checked bit for bit in
  `tests/test_shared_batch.py`), and the matrix kernels do at any multiple of 8 rows, so a row's
  numbers do not depend on which other runs share the batch or where its rows sit: a seeded run
  gives the same samples alone or in a busy batch. A batch of greedy rows alone runs unpadded.
  The cache is allocated empty (not resident until used) and each slot zeroed up to the longest
  L a step has read it at, so a masked position never holds a NaN that 0 x NaN would spread.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model.backends.qwen2_ops import Layer, PointwiseOps
from model.backends.sampling import row_key

log = logging.getLogger(__name__)

# CPU batch granularity while rows sample: below 8 rows the CPU matrix kernels change their
# summation order with the row count; at any multiple of 8 rows (8 to 128 measured, on the
# bundled model's shapes) a row's result is the same whatever its place and the row count, so a
# row's numbers do not depend on how many other rows are in the batch.
MIN_CPU_ROWS = 8
MIN_GRAPH_LENGTH = 256
CPU_LENGTH_STEP = 16  # short CPU attention lengths are multiples of this (of every SIMD width)
CPU_BLOCK = 512  # from this length on, the CPU attention kernel reads the keys in blocks this long
NUCLEUS_CANDIDATES = 64


@functools.cache
def short_attention_limit(kv_heads: int, group: int, head_dim: int, dtype: Any, device: Any = "cpu") -> int:
    """The longest CPU attention length (a multiple of CPU_LENGTH_STEP, at most 512; 0 if none)
    up to which one row's attention gives the same numbers, bit for bit, whatever longer length
    the step reads (masked): every multiple of CPU_LENGTH_STEP up to the limit and every multiple
    of CPU_BLOCK. Past a size that depends on the head shape and the machine, the matrix kernels
    inside attention change their summation blocking with the length; multiples of CPU_BLOCK are
    always read in whole blocks, and a block the mask covers adds exact zeros. Checked on random
    numbers at start-up, once per head shape (the kernels' choices depend on the shapes, not on
    the numbers)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    longest = 3 * CPU_BLOCK
    q = torch.randn(1, kv_heads, group, head_dim, generator=generator).to(dtype=dtype, device=device)
    k = torch.randn(1, kv_heads, longest, head_dim, generator=generator).to(dtype=dtype, device=device)
    v = torch.randn(1, kv_heads, longest, head_dim, generator=generator).to(dtype=dtype, device=device)
    index = torch.arange(longest, device=device)

    def attend(n: int, length: int) -> Any:
        mask = (index[:length] < n)[None, None, None, :]
        return torch.nn.functional.scaled_dot_product_attention(q, k[:, :, :length], v[:, :, :length], attn_mask=mask)

    blocks = [CPU_BLOCK * i for i in (1, 2, 3)]
    with torch.inference_mode():
        for limit in (CPU_BLOCK, 256, 128, 64, 32, 16, 0):
            lengths = sorted(set(range(CPU_LENGTH_STEP, limit + 1, CPU_LENGTH_STEP)) | set(blocks))
            same = True
            for n in {max(1, length - CPU_LENGTH_STEP // 2) for length in lengths} | {limit + 1, CPU_BLOCK + 7}:
                readable = [length for length in lengths if length >= n]
                first = attend(n, readable[0])
                same = all(torch.equal(first, attend(n, length)) for length in readable[1:])
                if not same:
                    break
            if same:
                return limit
    return 0


def bucket(count: int, smallest: int = 1) -> int:
    """The power of two at least `count` (and at least `smallest`)."""
    size = smallest
    while size < count:
        size *= 2
    return size


@dataclass
class RowSettings:
    """How one row chooses tokens."""

    greedy: bool
    temperature: float
    top_p: float
    key: int


def row_settings(rows: Sequence[int], seed: int, temperature: float, top_p: float) -> list[RowSettings]:
    """Row 0 is greedy; rows 1..N sample (greedy too at temperature 0), each with its own key."""
    return [
        RowSettings(
            greedy=row == 0 or temperature == 0,
            temperature=temperature if temperature > 0 else 1.0,
            top_p=top_p if top_p < 1.0 else 2.0,  # 2.0: keep the whole distribution, whatever the rounding
            key=row_key(seed, row),
        )
        for row in rows
    ]


class SlotModel:
    """A loaded Qwen2 causal LM, driven step by step over `slots` rows of up to `max_len` tokens."""

    def __init__(self, model: Any, *, slots: int, max_len: int, graphs: bool = True) -> None:
        import torch

        self.model = model
        config = model.config
        inner = model.model
        self.layers = [Layer(layer) for layer in inner.layers[: config.num_hidden_layers]]
        self.embed, self.lm_head = inner.embed_tokens, model.lm_head
        self.norm = (inner.norm.weight, inner.norm.variance_epsilon)
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.device = self.embed.weight.device
        self.dtype = self.embed.weight.dtype
        self.cuda = self.device.type == "cuda"
        self.min_rows = 1 if self.cuda else MIN_CPU_ROWS
        self.slots = max(slots, self.min_rows)
        self.max_len = max_len
        shape = (self.slots, self.kv_heads, max_len, self.head_dim)
        options = {"dtype": self.dtype, "device": self.device}
        # The step reads (masked) positions nobody wrote, and 0 x NaN would poison a row, so
        # every position a step reads must hold a number. CUDA: zeros from the start (graphs read
        # every bucket). CPU: empty memory (not resident until touched); a slot is zeroed up to
        # the longest length a step has read it at (`_finite`, per slot), so slots never used
        # take no memory.
        make = torch.zeros if self.cuda else torch.empty
        self.k = [make(shape, **options) for _ in self.layers]
        self.v = [make(shape, **options) for _ in self.layers]
        self._finite = [max_len if self.cuda else 0] * self.slots
        long = {"dtype": torch.long, "device": self.device}
        self.tokens = torch.zeros(self.slots, **long)
        self.positions = torch.zeros(self.slots, **long)
        self.steps = torch.zeros(self.slots, **long)
        self.keys = torch.zeros(self.slots, **long)
        self.greedy = torch.ones(self.slots, dtype=torch.bool, device=self.device)
        self.temperature = torch.ones(self.slots, dtype=torch.float32, device=self.device)
        self.top_p = torch.full((self.slots,), 2.0, dtype=torch.float32, device=self.device)
        self.out_tokens = torch.zeros(self.slots, **long)
        self.out_logprobs = torch.zeros(self.slots, dtype=torch.float32, device=self.device)
        self.slot_index = torch.arange(self.slots, **long)
        self.length_index = torch.arange(max_len, **long)
        # Rotary cos/sin of every position, computed once by the model's own rotary module.
        with torch.inference_mode():
            probe = torch.zeros(1, 1, self.head_dim, dtype=self.dtype, device=self.device)
            cos, sin = inner.rotary_emb(probe, self.length_index[None, :])
        self.cos, self.sin = cos[0], sin[0]  # [max_len, head_dim]
        self._graphs: dict[tuple[int, int], Any] = {}
        # CPU: look for the nucleus among the top tokens first (a full sort of the vocabulary is
        # most of a CPU step); CUDA: the whole sort, inside the graph, with no host question.
        self.ops = PointwiseOps(compiled=graphs and self.cuda, candidates=None if self.cuda else NUCLEUS_CANDIDATES)
        self.graphs_enabled = graphs and self.cuda
        self.graph_note: str | None = None
        # CPU: attention lengths up to this are rounded to 16, longer ones to whole blocks.
        self.short_limit = 0 if self.cuda else short_attention_limit(
            self.kv_heads, self.heads // self.kv_heads, self.head_dim, self.dtype, self.device)
        self.eager_steps = 0  # padded steps run without a graph while graphs are on (should stay 0)

    # ----------------------------------------------------------------- sizes

    @staticmethod
    def bytes_per_row(config: Any, max_len: int, dtype_bytes: int) -> int:
        """KV-cache bytes of one row at full length."""
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return 2 * config.num_hidden_layers * config.num_key_value_heads * max_len * head_dim * dtype_bytes

    def batch_rows(self, used: int, sampling: bool = True) -> int:
        """Rows one step computes when slots 0..used-1 are in use (see the module notes)."""
        if self.cuda or not sampling:
            return min(self.slots, bucket(used, self.min_rows if sampling else 1))
        return min(self.slots, -(-used // MIN_CPU_ROWS) * MIN_CPU_ROWS)

    def graph_length(self, longest: int) -> int:
        return min(self.max_len, bucket(longest, MIN_GRAPH_LENGTH))

    def attention_length(self, longest: int) -> int:
        """Positions one step's attention reads when the longest row has `longest`."""
        if self.cuda:
            return self.graph_length(longest)
        step = CPU_LENGTH_STEP if longest <= self.short_limit else CPU_BLOCK
        return min(self.max_len, -(-longest // step) * step)

    def _make_finite(self, length: int, first: int, count: int) -> None:
        """Zero slots first..first+count-1 from where each is known to hold numbers up to
        `length` (CPU; slots with the same mark in one call per cache). Called before anything
        is written there, so zeroing never reaches a position a row has written."""
        if self.cuda:
            return  # zeros from the start
        slot, end = first, first + count
        while slot < end:
            start = self._finite[slot]
            if start >= length:
                slot += 1
                continue
            stop = slot + 1
            while stop < end and self._finite[stop] == start:
                stop += 1
            for cache in (*self.k, *self.v):
                cache[slot:stop, :, start:length].zero_()
            self._finite[slot:stop] = [length] * (stop - slot)
            slot = stop

    # ----------------------------------------------------------------- one run in

    def prefill(self, prompt: Sequence[int], start: int, settings: list[RowSettings]) -> tuple[list[int], list[float]]:
        """One run's `prefill_many`."""
        return self.prefill_many([(prompt, start, settings)])[0]

    def prefill_many(self, runs: Sequence[tuple[Sequence[int], int, list[RowSettings]]], *,
                     step: int = 0) -> list[tuple[list[int], list[float]]]:
        """Read runs' prompts (prompt, first slot, its rows' settings) in one forward: the prompts
        packed end to end through the matrix products (whose rows do not depend on the others),
        each attending over its own tokens alone, so a run's numbers are the same alone or read
        with others. Each prompt goes to its first slot and is copied to the run's other rows;
        then every row's sampling settings are set and its first token chosen (with the rows'
        random streams at `step`, 0 for a new run). Returns (tokens, log-probs) per run."""
        import torch

        lengths = [len(prompt) for prompt, _, _ in runs]
        offsets = [sum(lengths[:i]) for i in range(len(runs))]
        with torch.inference_mode():
            for length, (_, start, settings) in zip(lengths, runs):
                self._make_finite(self.attention_length(length + 1), start, len(settings))
            ids = torch.tensor([[t for prompt, _, _ in runs for t in prompt]], dtype=torch.long, device=self.device)
            positions = torch.cat([self.length_index[:length] for length in lengths])
            pieces = list(zip(offsets, lengths, (start for _, start, _ in runs)))

            def store(index: int, k: Any, v: Any) -> None:
                for offset, length, start in pieces:
                    self.k[index][start, :, :length] = k[0, :, offset : offset + length]
                    self.v[index][start, :, :length] = v[0, :, offset : offset + length]

            def attend(index: int, q: Any, k: Any, v: Any) -> Any:
                return torch.cat([
                    torch.nn.functional.scaled_dot_product_attention(
                        q[:, :, offset : offset + length], k[:, :, offset : offset + length],
                        v[:, :, offset : offset + length], is_causal=True, enable_gqa=True)
                    for offset, length, _ in pieces], dim=2)

            cos, sin = self.cos[positions][None, None], self.sin[positions][None, None]
            normed = self._forward(self.embed(ids), cos, sin, store, attend)
            return [self._first_tokens(self.lm_head(normed[:, offset + length - 1 : offset + length])[0, -1], start, length,
                                       settings, step)
                    for (offset, length, start), (_, _, settings) in zip(pieces, runs)]

    def extend(self, slot: int, tokens: Sequence[int], at: int, settings: RowSettings, step: int) -> tuple[int, float]:
        """Read `tokens` into one row's cache from position `at` (a tool's output after the row
        paused) and choose the row's next token, its random stream at `step`. Returns (token,
        log-prob).

        `at` 0: `tokens` is the row's whole sequence, read exactly as a prompt is, so the row's
        numbers from here on are those of a run whose prompt was that sequence, bit for bit (the
        decode steps' keys and values differ from a prompt read's in the last bits: the matrix
        kernels sum one row and many rows in different orders). `at` > 0: only the new tokens
        are read, attending over the cache before `at` (cheaper for a long row on a large model;
        equal to the re-read up to rounding)."""
        import torch

        if at == 0:
            [(chosen, logprobs)] = self.prefill_many([(tokens, slot, [settings])], step=step)
            return chosen[0], logprobs[0]
        end = at + len(tokens)
        with torch.inference_mode():
            self._make_finite(self.attention_length(end + 1), slot, 1)
            ids = torch.tensor([list(tokens)], dtype=torch.long, device=self.device)
            positions = self.length_index[at:end]
            mask = (self.length_index[None, :end] <= positions[:, None])[None, None]  # [1, 1, new, end]

            def store(index: int, k: Any, v: Any) -> None:
                self.k[index][slot, :, at:end] = k[0]
                self.v[index][slot, :, at:end] = v[0]

            def attend(index: int, q: Any, k: Any, v: Any) -> Any:
                keys, values = self.k[index][slot : slot + 1, :, :end], self.v[index][slot : slot + 1, :, :end]
                return torch.nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=mask, enable_gqa=True)

            cos, sin = self.cos[positions][None, None], self.sin[positions][None, None]
            normed = self._forward(self.embed(ids), cos, sin, store, attend)
            [chosen], [logprob] = self._first_tokens(self.lm_head(normed[:, -1:])[0, -1], slot, end, [settings], step)
            return chosen, logprob

    def _first_tokens(self, logits: Any, start: int, length: int, settings: list[RowSettings],
                      step: int = 0) -> tuple[list[int], list[float]]:
        """Copy a prefilled prompt from slot `start` to the run's other rows, set their settings
        and choose their first tokens from the prompt's last `logits` (random streams at `step`)."""
        import torch

        rows = len(settings)
        end = start + rows
        for index in range(len(self.layers)):
            self.k[index][start + 1 : end, :, :length] = self.k[index][start, :, :length]
            self.v[index][start + 1 : end, :, :length] = self.v[index][start, :, :length]
        self.positions[start:end] = length
        self.steps[start:end] = step
        self.keys[start:end] = torch.tensor([s.key for s in settings], dtype=torch.long)
        self.greedy[start:end] = torch.tensor([s.greedy for s in settings])
        self.temperature[start:end] = torch.tensor([s.temperature for s in settings])
        self.top_p[start:end] = torch.tensor([s.top_p for s in settings])
        tokens, logprobs = self.ops.choose_tokens(
            logits[None].expand(rows, -1).contiguous(), self.greedy[start:end], self.temperature[start:end],
            self.top_p[start:end], self.keys[start:end], self.steps[start:end], sampling=not all(s.greedy for s in settings),
        )
        self.tokens[start:end] = tokens
        self.steps[start:end] = step + 1
        return tokens.tolist(), logprobs.tolist()

    def move(self, source: int, target: int, rows: int, length: int) -> None:
        """Move a run's rows (KV up to `length` and their state) from `source` to `target`."""
        import torch

        with torch.inference_mode():
            for cache in (*self.k, *self.v):
                cache[target : target + rows, :, :length] = cache[source : source + rows, :, :length].clone()
            for slot in range(target, target + rows):
                self._finite[slot] = max(self._finite[slot], length)
            for state in (self.tokens, self.positions, self.steps, self.keys, self.greedy, self.temperature, self.top_p):
                state[target : target + rows] = state[source : source + rows].clone()

    # ----------------------------------------------------------------- one step

    def step(self, rows: int, groups: Sequence[tuple[int, int, int]], sampling: bool = True) -> tuple[list[int], list[float]]:
        """One token for each of the first `rows` slots. `groups` are the runs as (first slot,
        rows, positions after this step); `sampling` False when every live row is greedy (the
        argmax alone then). Returns (tokens, log-probs) per slot."""
        import torch

        length = self.attention_length(max(end for _, _, end in groups))
        graph = self._graphs.get((rows, length, sampling))
        if graph is not None:
            graph.replay()
        else:
            self.eager_steps += self.graphs_enabled
            with torch.inference_mode():
                self._make_finite(length, 0, rows)
                self._step_padded(rows, length, sampling)
        pair = torch.stack([self.out_tokens[:rows].to(torch.float64), self.out_logprobs[:rows].to(torch.float64)]).tolist()
        return [int(t) for t in pair[0]], pair[1]

    def _embed_step(self, rows: int) -> tuple[Any, Any, Any, Any]:
        positions = self.positions[:rows].clamp_max(self.max_len - 1)
        h = self.embed(self.tokens[:rows, None])
        return h, positions, self.cos[positions][:, None, None, :], self.sin[positions][:, None, None, :]

    def _store_step(self, rows: int, positions: Any) -> Any:
        slot = self.slot_index[:rows]

        def store(index: int, k: Any, v: Any) -> None:
            self.k[index][slot, :, positions] = k[:, :, 0]
            self.v[index][slot, :, positions] = v[:, :, 0]

        return store

    def _step_padded(self, rows: int, length: int, sampling: bool = True) -> None:
        h, positions, cos, sin = self._embed_step(rows)
        mask = (self.length_index[None, :length] <= positions[:, None])[:, None, None, :]

        def attend(index: int, q: Any, k: Any, v: Any) -> Any:
            return self._attend(q, self.k[index][:rows, :, :length], self.v[index][:rows, :, :length], mask)

        self._sample(self._forward(h, cos, sin, self._store_step(rows, positions), attend), rows, sampling)

    def _forward(self, h: Any, cos: Any, sin: Any, store: Any, attend: Any) -> Any:
        """The decoder over hidden states [rows, tokens, hidden]: `store(layer, k, v)` keeps a
        layer's new keys and values, `attend(layer, q, k, v)` gives its attention [rows, heads,
        tokens, d]. Returns the final norm's output."""
        ops = self.ops
        rows, length, _ = h.shape
        heads, kv_heads, d = self.heads, self.kv_heads, self.head_dim
        normed = ops.rms_norm(h, *self.layers[0].norm1)
        for index, layer in enumerate(self.layers):
            qkv = layer.project_qkv(normed).view(rows, length, heads + 2 * kv_heads, d).transpose(1, 2)
            qk = ops.rope(qkv[:, : heads + kv_heads], cos, sin)
            q, k, v = qk[:, :heads], qk[:, heads:], qkv[:, heads + kv_heads :]
            store(index, k, v)
            out = attend(index, q, k, v).transpose(1, 2).reshape(rows, length, heads * d)
            h, normed = ops.add_rms_norm(h, layer.o_proj(out), *layer.norm2)
            following = self.layers[index + 1].norm1 if index + 1 < len(self.layers) else self.norm
            h, normed = ops.add_rms_norm(h, layer.mlp(normed, ops), *following)
        return normed

    def _attend(self, q: Any, keys: Any, values: Any, mask: Any = None) -> Any:
        """One new token's attention, [rows, heads, 1, d]. The query heads that share a KV head
        go in as that head's queries (rows, kv_heads, group, d), so K and V are read as they lie,
        never repeated per query head."""
        import torch

        rows = q.shape[0]
        grouped = q.reshape(rows, self.kv_heads, self.heads // self.kv_heads, self.head_dim)
        out = torch.nn.functional.scaled_dot_product_attention(grouped, keys, values, attn_mask=mask)
        return out.reshape(rows, self.heads, 1, self.head_dim)

    def _sample(self, normed: Any, rows: int, sampling: bool) -> None:
        logits = self.lm_head(normed)[:, -1, :]
        tokens, logprobs = self.ops.choose_tokens(
            logits, self.greedy[:rows], self.temperature[:rows], self.top_p[:rows], self.keys[:rows], self.steps[:rows],
            sampling=sampling,
        )
        self.out_tokens[:rows] = tokens
        self.out_logprobs[:rows] = logprobs
        self.tokens[:rows] = tokens
        self.positions[:rows] += 1
        self.steps[:rows] += 1

    # ----------------------------------------------------------------- CUDA graphs

    def warm_up(self) -> None:
        """Run a prefill and the first choices once per shape kind, so that compiling the fused
        kernels (CUDA) happens now, at start-up, never on a request."""
        if not self.ops.compiled:
            return
        started = time.perf_counter()
        greedy = [RowSettings(True, 1.0, 2.0, 1)]
        sampled = [RowSettings(False, 1.0, 0.9, 2), RowSettings(False, 0.7, 0.8, 3)]
        try:
            for settings in (greedy, sampled, greedy + sampled):
                self.prefill(list(range(16)), 0, settings)
        except Exception as exc:  # noqa: BLE001 - a compiler failure: the same step, unfused
            self.ops = PointwiseOps(compiled=False, candidates=self.ops.candidates)
            self.graph_note = f"fused kernels off ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
            log.warning("%s", self.graph_note)
        else:
            log.info("compiled the fused kernels in %.1f s", time.perf_counter() - started)
        self.reset()

    def capture(self, progress: Any = None) -> None:
        """Capture the padded step for every (rows, length) bucket; at start-up, never on a request.
        On failure (some quantized layers cannot be captured) the steps run eagerly instead."""
        import torch

        if not self.graphs_enabled:
            return
        row_buckets = []
        size = 1
        while size < self.slots:
            row_buckets.append(size)
            size *= 2
        row_buckets.append(self.slots)
        length_buckets = []
        size = MIN_GRAPH_LENGTH
        while size < self.max_len:
            length_buckets.append(size)
            size *= 2
        length_buckets.append(self.max_len)
        shapes = [(r, length, sampling) for r in row_buckets for length in length_buckets for sampling in (True, False)]
        pool = torch.cuda.graph_pool_handle()
        started = time.perf_counter()
        try:
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream), torch.inference_mode():
                for rows, length, sampling in shapes:  # warm every shape once (kernels load lazily)
                    self._step_padded(rows, length, sampling)
            torch.cuda.current_stream().wait_stream(stream)
            for done, (rows, length, sampling) in enumerate(shapes, 1):
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool), torch.inference_mode():
                    self._step_padded(rows, length, sampling)
                self._graphs[(rows, length, sampling)] = graph
                if progress is not None:
                    progress(done, len(shapes))
        except Exception as exc:  # noqa: BLE001 - a layer that cannot be captured: run eagerly
            self._graphs.clear()
            self.graphs_enabled = False
            self.graph_note = f"CUDA graphs off ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); decoding eagerly"
            log.warning("%s", self.graph_note)
            torch.cuda.synchronize()
        else:
            log.info("captured %d CUDA graphs in %.1f s", len(shapes), time.perf_counter() - started)
        self.reset()

    def reset(self) -> None:
        """Forget every row (after capture, or after a failed step)."""
        self.positions.zero_()
        self.steps.zero_()
        self.tokens.zero_()

    @property
    def graph_count(self) -> int:
        return len(self._graphs)


__all__ = ["RowSettings", "SlotModel", "bucket", "row_settings"]
