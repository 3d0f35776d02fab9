"""GPU benchmark: the project's Solver over the local backend beside plain `model.generate`, in one process.

Builds random-weight checkpoints with the exact Qwen2-Math-1.5B and 7B shapes (per-token cost
is the same as with real weights), saves them, loads them back through the project's own
loader in bf16 and NF4, and for each prints:
- greedy: time to first token and tokens/s, engine vs `generate` (greedy, same budget);
- N=8 samples in one batch: tokens/s per stream and in total, engine vs `generate`
  (num_return_sequences=8, same temperature/top-p);
- peak GPU memory of each phase;
plus correctness checks on the GPU (seeded samples reproduce, cancel stops the run).
Each variant (the engine with its worker thread, the engine decoding inline in the caller's
thread, and `generate`) is warmed at every batch shape, then timed `--repeats` times,
interleaved; medians are reported with the spread (max-min over median) of the repeats. The
ratio column is engine / generate, measured in the same process on the same card.

    python bench/gpu_engine.py --tokenizer DIR_WITH_QWEN_TOKENIZER_JSON [--sizes 1.5b,7b] [--tokens 128]
    python bench/gpu_engine.py --tiny        # a CPU dry run of the whole script with tiny shapes
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2ForCausalLM  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

from model.config import SamplingParams  # noqa: E402
from model.backends.local import LocalBackend  # noqa: E402
from model.loading import load_causal_lm  # noqa: E402
from model.repetition import RepetitionGuard  # noqa: E402
from model.solver import Solver  # noqa: E402
from model.tiny import QWEN2_CHAT_TEMPLATE, tiny_qwen2_config  # noqa: E402
from model.types import Delta, RunDone  # noqa: E402

SHAPES = {
    "1.5b": dict(hidden_size=1536, layers=28, heads=12, kv_heads=2, intermediate_size=8960, vocab=151936, tie=True),
    "7b": dict(hidden_size=3584, layers=28, heads=28, kv_heads=4, intermediate_size=18944, vocab=152064, tie=False),
    "tiny": dict(hidden_size=64, layers=2, heads=4, kv_heads=2, intermediate_size=128, vocab=151936, tie=True),
}
PROBLEM = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
# Random weights loop at once; the benchmark wants every row to run its full budget.
NO_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)


def qwen_tokenizer(directory: str) -> PreTrainedTokenizerFast:
    """Qwen2's BPE (tokenizer.json) with Qwen2-Instruct's chat template and stop tokens."""
    return PreTrainedTokenizerFast(
        tokenizer_file=str(Path(directory) / "tokenizer.json"),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN2_CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def build_checkpoint(size: str, tokenizer, root: Path, device: str) -> Path:
    """Random bf16 weights in the exact shapes, saved like a Hub checkpoint."""
    shape = SHAPES[size]
    stops = [151645, 151643]
    config = tiny_qwen2_config(
        shape["vocab"], hidden_size=shape["hidden_size"], layers=shape["layers"], heads=shape["heads"],
        kv_heads=shape["kv_heads"], intermediate_size=shape["intermediate_size"], eos_token_id=stops,
        tie_word_embeddings=shape["tie"],
    )
    config.architectures = ["Qwen2ForCausalLM"]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in bf16 directly: half the memory and time of fp32
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.02, generator=generator)
            elif "norm" in name:
                param.fill_(1.0)
            else:
                param.zero_()
    model.generation_config = GenerationConfig(eos_token_id=stops, pad_token_id=151643)
    path = root / f"qwen2-math-{size}-random"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return path


class FirstTokenClock(BaseStreamer):
    """Records when `generate` emits its first new token (the first put() is the prompt)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2 and self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 1024**3 if device == "cuda" else float("nan")


def engine_run(engine: Solver, params: SamplingParams, device: str) -> dict:
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    first = None
    result = None
    for event in engine.stream(PROBLEM, params):
        if isinstance(event, Delta) and first is None:
            first = time.perf_counter()
        elif isinstance(event, RunDone):
            result = event.result
    sync(device)
    elapsed = time.perf_counter() - start
    tokens = result.timings.generated_tokens
    rows = len(result.solutions)
    return {
        "ttft_s": (first - start) if first else float("nan"),
        "tok_s": tokens / elapsed,
        "tok_s_stream": tokens / elapsed / rows,
        "tokens": tokens,
        "peak_gib": peak_gib(device),
    }


def generate_run(model, tokenizer, params: SamplingParams, device: str) -> dict:
    from model.prompts import build_prompt

    ids = torch.tensor([build_prompt(tokenizer, PROBLEM, "qwen2-math")], device=device)
    rows = max(params.n, 1)
    sampling = params.n > 0
    kwargs = dict(
        max_new_tokens=params.max_new_tokens, min_new_tokens=params.max_new_tokens,
        do_sample=sampling, num_return_sequences=rows, pad_token_id=151643,
    )
    if sampling:
        kwargs.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
    clock = FirstTokenClock()
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, streamer=clock if rows == 1 else None, **kwargs)
    sync(device)
    elapsed = time.perf_counter() - start
    tokens = (out.shape[1] - ids.shape[1]) * rows
    return {
        "ttft_s": (clock.first - start) if clock.first else float("nan"),
        "tok_s": tokens / elapsed,
        "tok_s_stream": tokens / elapsed / rows,
        "tokens": tokens,
        "peak_gib": peak_gib(device),
    }


def checks(engine: Solver) -> list[str]:
    """Correctness on this device: seeded reproducibility and cancel within a step."""
    lines = []
    params = SamplingParams(n=8, max_new_tokens=16, seed=42, include_greedy=False)
    a = engine.solve(PROBLEM, params)
    b = engine.solve(PROBLEM, params)
    same = [x.text for x in a.samples] == [y.text for y in b.samples]
    lines.append(f"seeded N=8 reproduces: {'yes' if same else 'NO'}")
    cancel = threading.Event()
    start = time.perf_counter()
    deltas = 0
    result = None
    cancelled_at = time.perf_counter()
    for event in engine.stream(PROBLEM, SamplingParams(n=8, max_new_tokens=2048, seed=1), cancel=cancel):
        if isinstance(event, Delta):
            deltas += 1
            if deltas == 40:
                cancel.set()
                cancelled_at = time.perf_counter()
        elif isinstance(event, RunDone):
            result = event.result
    stop_latency = time.perf_counter() - cancelled_at
    ok = result.cancelled and all(s.finish_reason == "cancelled" for s in result.solutions)
    lines.append(f"cancel: {'ok' if ok else 'FAILED'}, run ended {stop_latency * 1000:.0f} ms after cancel, "
                 f"max {max(s.tokens for s in result.solutions)} tokens per row")
    lines.append(f"total wall for checks {time.perf_counter() - start:.1f}s")
    return lines


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def bench_one(path: Path, size: str, precision: str, device: str, tokens: int, repeats: int) -> tuple[list[dict], list[str]]:
    load_start = time.perf_counter()
    loaded = load_causal_lm(str(path), precision=precision, device=device, prompt_family="qwen2-math")
    load_s = time.perf_counter() - load_start
    threaded = Solver(LocalBackend(loaded, guard=NO_GUARD))
    inline = Solver(LocalBackend(loaded, guard=NO_GUARD, inline=True))
    greedy = SamplingParams(n=0, max_new_tokens=tokens, seed=0)
    sampled = SamplingParams(n=8, max_new_tokens=tokens, temperature=1.0, top_p=0.9, seed=0, include_greedy=False)
    # Warm every path at every batch shape it will meet (kernels load lazily on first use).
    for params in (greedy, sampled):
        short = SamplingParams(n=params.n, max_new_tokens=4, seed=0, include_greedy=params.include_greedy)
        threaded.solve(PROBLEM, short)
        inline.solve(PROBLEM, short)
        generate_run(loaded.model, loaded.tokenizer, short, device)
    runners = {
        "engine": lambda p: engine_run(threaded, p, device),
        "inline": lambda p: engine_run(inline, p, device),
        "generate": lambda p: generate_run(loaded.model, loaded.tokenizer, p, device),
    }
    rows = []
    for label, params in (("greedy", greedy), ("N=8 sampled", sampled)):
        samples: dict[str, list[dict]] = {name: [] for name in runners}
        for _ in range(repeats):  # interleaved, so drift (clocks, allocator) hits every variant alike
            for name, run in runners.items():
                samples[name].append(run(params))
        summary = {
            name: {key: median([r[key] for r in runs]) for key in runs[0]} | {"spread": _spread(runs)}
            for name, runs in samples.items()
        }
        rows.append({"size": size, "precision": precision, "run": label, **summary})
    notes = [f"{size} {precision}: loaded in {load_s:.1f}s: {loaded.info.describe()}"]
    notes += [f"{size} {precision}: {line}" for line in checks(threaded)]
    threaded.close()
    del threaded, inline, loaded
    if device == "cuda":
        torch.cuda.empty_cache()
    return rows, notes


def _spread(runs: list[dict]) -> float:
    """(max - min) / median of total tokens/s over the repeats: the noise to beat."""
    values = [r["tok_s"] for r in runs]
    return (max(values) - min(values)) / max(median(values), 1e-9)


def table(rows: list[dict]) -> str:
    out = [
        "| model | precision | run | TTFT s engine / inline / generate | tok/s per stream engine / inline / generate | "
        "tok/s total engine / inline / generate | engine ÷ generate | spread (engine, generate) | peak GiB engine / generate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        e, i, g = r["engine"], r["inline"], r["generate"]
        out.append(
            f"| {r['size']} | {r['precision']} | {r['run']} | {e['ttft_s']:.3f} / {i['ttft_s']:.3f} / {g['ttft_s']:.3f} | "
            f"{e['tok_s_stream']:.1f} / {i['tok_s_stream']:.1f} / {g['tok_s_stream']:.1f} | "
            f"{e['tok_s']:.1f} / {i['tok_s']:.1f} / {g['tok_s']:.1f} | {e['tok_s'] / g['tok_s']:.2f}x | "
            f"{e['spread']:.0%}, {g['spread']:.0%} | {e['peak_gib']:.2f} / {g['peak_gib']:.2f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", help="directory with Qwen2's tokenizer.json")
    parser.add_argument("--sizes", default="1.5b,7b")
    parser.add_argument("--precisions", default="bf16,nf4")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per row")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median reported)")
    parser.add_argument("--workdir", default="/tmp/mathapp-bench")
    parser.add_argument("--out", help="also write the table and notes to this file")
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with tiny shapes")
    args = parser.parse_args()

    device = "cpu" if args.tiny else "cuda"
    sizes = ["tiny"] if args.tiny else args.sizes.split(",")
    precisions = ["fp32"] if args.tiny else args.precisions.split(",")
    if args.tokenizer:
        tokenizer = qwen_tokenizer(args.tokenizer)
    else:
        from model.tiny import train_tokenizer

        tokenizer = train_tokenizer([PROBLEM] * 10, vocab_size=300)
    header = [f"torch {torch.__version__}"]
    if device == "cuda":
        header.append(f"device {torch.cuda.get_device_name(0)}")
    import transformers

    header.append(f"transformers {transformers.__version__}")
    print(" | ".join(header), flush=True)
    rows: list[dict] = []
    notes: list[str] = []
    root = Path(args.workdir)
    for size in sizes:
        start = time.perf_counter()
        path = build_checkpoint(size, tokenizer, root, device)
        notes.append(f"{size}: random checkpoint built and saved in {time.perf_counter() - start:.1f}s")
        print(notes[-1], flush=True)
        for precision in precisions:
            try:
                new_rows, new_notes = bench_one(path, size, precision, device, args.tokens, args.repeats)
            except Exception as exc:  # noqa: BLE001 - report the failure, keep measuring the rest
                new_rows, new_notes = [], [f"{size} {precision}: FAILED {type(exc).__name__}: {exc}"]
            rows += new_rows
            notes += new_notes
            print("\n".join(new_notes), flush=True)
            if new_rows:
                print(table(new_rows), flush=True)
    text = "\n".join(header) + "\n\n" + table(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
