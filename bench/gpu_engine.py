"""GPU benchmark: the local backend's shared batch beside the other ways to decode, in one process.

Builds random-weight checkpoints in the exact Qwen2-Math-1.5B and 7B shapes (per-token cost is
the same as with real weights), loads them through the project's own loader, and measures, each
in the same process on the same card:

- ours: the Solver over the local backend (slot KV cache, CUDA graphs captured at start-up,
  sampling on the device), streamed as the app streams it:
  greedy tok/s; N=8 total tok/s; time to first token for a 256-token prompt; the first
  request after start-up against steady state; graph captures and eager steps over 20
  different problems (no capture may happen on a request); 8 concurrent sessions of N=8
  against one session alone; seeded runs reproduce (alone, and alone vs in a busy batch);
- `generate`: plain transformers generate (eager, dynamic cache), greedy and N=8;
- `generate` with a static cache and torch.compile (compiles on its first call: timed apart);
- transformers' continuous batching (`generate_batch`: paged attention, its own CUDA graphs).

    python bench/gpu_engine.py --tokenizer DIR_WITH_QWEN_TOKENIZER_JSON [--configs 1.5b:bf16,7b:nf4]
    python bench/gpu_engine.py --tiny        # a CPU dry run of the whole script with tiny shapes

Everything is printed as it is measured (a killed run keeps its lines), then as one table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2ForCausalLM  # noqa: E402

from model.backends.local import LocalBackend  # noqa: E402
from model.params import SamplingParams  # noqa: E402
from model.loading import load_causal_lm  # noqa: E402
from model.prompts import build_prompt  # noqa: E402
from model.repetition import RepetitionGuard  # noqa: E402
from model.solver import Solver  # noqa: E402
from training.tiny import QWEN2_CHAT_TEMPLATE, tiny_qwen2_config  # noqa: E402
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
LINES: list[str] = []


def say(line: str) -> None:
    LINES.append(line)
    print(line, flush=True)


def qwen_tokenizer(directory: str) -> PreTrainedTokenizerFast:
    """Qwen2's BPE (tokenizer.json, or tokenizer.json.gz) with Qwen2-Instruct's chat template."""
    path = Path(directory) / "tokenizer.json"
    if not path.exists() and path.with_suffix(".json.gz").exists():
        with gzip.open(path.with_suffix(".json.gz"), "rb") as src, open("/tmp/qwen-tokenizer.json", "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = Path("/tmp/qwen-tokenizer.json")
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path), eos_token="<|im_end|>", pad_token="<|endoftext|>",
        chat_template=QWEN2_CHAT_TEMPLATE, clean_up_tokenization_spaces=False,
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
    torch.set_default_dtype(dtype)
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


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_solve(solver: Solver, problem: str, params: SamplingParams) -> dict:
    """One solve as a client sees it: wall time, time to the first streamed text, tokens."""
    start = time.perf_counter()
    first = None
    result = None
    for event in solver.stream(problem, params):
        if isinstance(event, Delta) and first is None:
            first = time.perf_counter()
        elif isinstance(event, RunDone):
            result = event.result
    wall = time.perf_counter() - start
    tokens = result.timings.generated_tokens
    return {"wall": wall, "ttft": (first - start) if first else float("nan"), "tokens": tokens, "tok_s": tokens / wall,
            "result": result}


def long_problem(tokenizer, target: int) -> str:
    """A problem whose prompt (with the chat template) is about `target` tokens long."""
    words = ["The", "farmer", "counts", "apples", "and", "pears", "in", "each", "basket", "again."]
    text = PROBLEM
    while len(build_prompt(tokenizer, text, "qwen2-math")) < target:
        text += " " + " ".join(words)
    return text


def problems(count: int) -> list[str]:
    return [f"Problem {i}: a shop sells {3 + i} pens at {7 * i + 2} cents each and {i + 1} books. {PROBLEM}"
            for i in range(count)]


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_ours(loaded, device: str, tokens: int, rows: dict, label: str, *, full: bool) -> None:
    start = time.perf_counter()
    backend = LocalBackend(loaded, guard=NO_GUARD, max_queue=64)
    startup = time.perf_counter() - start
    solver = Solver(backend)
    slots = backend.slots
    say(f"{label} ours: start-up {startup:.1f}s (fused kernels {'compiled' if slots.ops.compiled else 'eager'}), "
        f"{slots.graph_count} CUDA graphs captured, max rows {backend.max_rows}, "
        f"{slots.graph_note or 'graphs on' if device == 'cuda' else 'CPU (no graphs)'}")
    greedy = SamplingParams(n=0, max_new_tokens=tokens, seed=0)
    sampled = SamplingParams(n=8, max_new_tokens=tokens, temperature=1.0, top_p=0.9, seed=0, include_greedy=False)
    first = timed_solve(solver, PROBLEM, greedy)  # the first request after start-up
    steady = [timed_solve(solver, PROBLEM, greedy) for _ in range(3)]
    rows[(label, "greedy tok/s")] = median([r["tok_s"] for r in steady])
    rows[(label, "first request ÷ steady (time)")] = first["wall"] / median([r["wall"] for r in steady])
    say(f"{label} ours greedy: {rows[(label, 'greedy tok/s')]:.1f} tok/s (first request {first['tok_s']:.1f} tok/s)")
    n8 = [timed_solve(solver, PROBLEM, sampled) for _ in range(3)]
    rows[(label, "N=8 total tok/s")] = median([r["tok_s"] for r in n8])
    say(f"{label} ours N=8: {rows[(label, 'N=8 total tok/s')]:.1f} tok/s total")
    if device == "cuda":
        say(f"{label} ours peak GPU memory {torch.cuda.max_memory_allocated() / 1024**3:.2f} GiB")
    if not full:
        solver.close()
        return
    prompt = long_problem(loaded.tokenizer, 256)
    prompt_tokens = len(build_prompt(loaded.tokenizer, prompt, "qwen2-math"))
    ttfts = [timed_solve(solver, prompt, SamplingParams(n=0, max_new_tokens=4, seed=0))["ttft"] for _ in range(5)]
    rows[(label, "TTFT ms, 256-token prompt")] = 1000 * median(ttfts)
    say(f"{label} ours TTFT for a {prompt_tokens}-token prompt: {1000 * median(ttfts):.1f} ms")
    captures, eager = slots.graph_count, slots.eager_steps
    for text in problems(20):
        timed_solve(solver, text, SamplingParams(n=2, max_new_tokens=32, seed=1))
    rows[(label, "captures / eager steps over 20 problems")] = f"{slots.graph_count - captures} / {slots.eager_steps - eager}"
    say(f"{label} ours over 20 problems: {slots.graph_count - captures} new captures, {slots.eager_steps - eager} eager steps")
    one = median([timed_solve(solver, p, sampled)["wall"] for p in problems(3)])
    latencies: list[float] = []
    lock = threading.Lock()

    def session(text: str) -> None:
        took = timed_solve(solver, text, sampled)["wall"]
        with lock:
            latencies.append(took)

    threads = [threading.Thread(target=session, args=(p,)) for p in problems(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows[(label, "8 sessions N=8: median ÷ one")] = median(latencies) / one
    say(f"{label} ours 8 sessions x N=8: median {median(latencies):.2f}s, max {max(latencies):.2f}s, one alone "
        f"{one:.2f}s: {median(latencies) / one:.2f}x")
    seeded = SamplingParams(n=8, max_new_tokens=32, seed=42, include_greedy=False)
    a = [s.text for s in solver.solve(PROBLEM, seeded).samples]
    b = [s.text for s in solver.solve(PROBLEM, seeded).samples]
    busy = [threading.Thread(target=solver.solve, args=(p, SamplingParams(n=8, max_new_tokens=64, seed=i))) for i, p in enumerate(problems(4))]
    for t in busy:
        t.start()
    time.sleep(0.05)
    c = [s.text for s in solver.solve(PROBLEM, seeded).samples]
    for t in busy:
        t.join()
    same_busy = sum(x == y for x, y in zip(a, c))
    rows[(label, "seeded N=8 reproduces (alone / busy)")] = f"{'yes' if a == b else 'NO'} / {same_busy} of 8"
    say(f"{label} ours seeded N=8 reproduces alone: {'yes' if a == b else 'NO'}; in a busy batch {same_busy} of 8 samples identical")
    solver.close()


def bench_generate(model, tokenizer, device: str, tokens: int, rows: dict, label: str, *, sampled: bool) -> None:
    """Plain `generate` (eager, dynamic cache): greedy, and N=8 when `sampled`."""
    ids = torch.tensor([build_prompt(tokenizer, PROBLEM, "qwen2-math")], device=device)
    sample = dict(do_sample=True, temperature=1.0, top_p=0.9, top_k=0, num_return_sequences=8)
    run(model, ids, device, 16, do_sample=False)  # warm-up: kernels load on first use
    rows[(label, "greedy tok/s", "generate")] = run(model, ids, device, tokens, do_sample=False)
    line = f"{label} generate: greedy {rows[(label, 'greedy tok/s', 'generate')]:.1f} tok/s"
    if sampled:
        run(model, ids, device, 16, **sample)
        rows[(label, "N=8 total tok/s", "generate")] = run(model, ids, device, tokens, **sample)
        line += f", N=8 {rows[(label, 'N=8 total tok/s', 'generate')]:.1f} tok/s"
    say(line)


def run(model, ids, device: str, tokens: int, **kwargs) -> float:
    """Tokens per second of one `generate` call that writes exactly `tokens` per row."""
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=tokens, min_new_tokens=tokens, pad_token_id=151643, **kwargs)
    sync(device)
    return (out.shape[1] - ids.shape[1]) * out.shape[0] / (time.perf_counter() - start)


def bench_candidates(model, tokenizer, device: str, tokens: int, rows: dict, label: str, *, compiled: bool) -> None:
    """The other fast paths: transformers' continuous batching, generate with static cache + compile."""
    ids = torch.tensor([build_prompt(tokenizer, PROBLEM, "qwen2-math")], device=device)
    try:
        prompt = ids[0].tolist()
        for what, config in (("greedy tok/s", GenerationConfig(max_new_tokens=tokens, do_sample=False)),
                             ("N=8 total tok/s", GenerationConfig(max_new_tokens=tokens, do_sample=True, temperature=1.0,
                                                                  top_p=0.9, top_k=0, num_return_sequences=8))):
            config.eos_token_id = -1  # run the whole budget, as the others do
            config.pad_token_id = 151643
            start = time.perf_counter()
            model.generate_batch(inputs=[prompt], generation_config=config)  # warm-up (captures its graphs)
            warm = time.perf_counter() - start
            sync(device)
            start = time.perf_counter()
            outputs = model.generate_batch(inputs=[prompt], generation_config=config)
            sync(device)
            made = sum(len(o.generated_tokens) for o in outputs.values())
            rows[(label, what, "continuous batching")] = made / (time.perf_counter() - start)
            say(f"{label} transformers continuous batching {what}: {rows[(label, what, 'continuous batching')]:.1f} "
                f"({made} tokens; first call {warm:.1f}s)")
    except Exception as exc:  # noqa: BLE001 - a candidate that fails is reported, not fatal
        say(f"{label} transformers continuous batching FAILED: {type(exc).__name__}: {str(exc)[:300]}")
    if not compiled:
        return
    try:
        start = time.perf_counter()
        run(model, ids, device, tokens, do_sample=False, cache_implementation="static")
        say(f"{label} generate static+compile: first call (compiling) {time.perf_counter() - start:.1f}s")
        rows[(label, "greedy tok/s", "static+compile")] = run(model, ids, device, tokens, do_sample=False,
                                                               cache_implementation="static")
        say(f"{label} generate static+compile greedy: {rows[(label, 'greedy tok/s', 'static+compile')]:.1f} tok/s")
    except Exception as exc:  # noqa: BLE001
        say(f"{label} generate static+compile FAILED: {type(exc).__name__}: {str(exc)[:300]}")


def table(rows: dict) -> str:
    metrics = sorted({(k[0], k[1]) for k in rows}, key=lambda k: list(rows).index(next(x for x in rows if x[:2] == k)))
    out = ["| model | metric | ours | generate | generate static+compile | transformers continuous batching |",
           "|---|---|---|---|---|---|"]
    for label, metric in metrics:
        cells = []
        for who in (None, "generate", "static+compile", "continuous batching"):
            value = rows.get((label, metric) if who is None else (label, metric, who))
            cells.append("-" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value)))
        out.append(f"| {label} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", help="directory with Qwen2's tokenizer.json (or tokenizer.json.gz)")
    parser.add_argument("--configs", default="1.5b:bf16,7b:nf4", help="size:precision pairs, comma separated")
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per row")
    parser.add_argument("--workdir", default="/tmp/mathapp-bench")
    parser.add_argument("--out", help="also write the lines and the table to this file (and the rows as .json)")
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with tiny shapes")
    parser.add_argument("--no-compile", action="store_true", help="skip generate with a static cache and compile")
    parser.add_argument("--no-candidates", action="store_true", help="skip continuous batching and static+compile")
    args = parser.parse_args()

    device = "cpu" if args.tiny else "cuda"
    configs = [("tiny", "fp32")] if args.tiny else [tuple(c.split(":")) for c in args.configs.split(",")]
    if args.tokenizer:
        tokenizer = qwen_tokenizer(args.tokenizer)
    else:
        from training.tiny import train_tokenizer

        tokenizer = train_tokenizer([PROBLEM] * 10, vocab_size=300)
    import transformers

    say(f"torch {torch.__version__} | transformers {transformers.__version__}"
        + (f" | {torch.cuda.get_device_name(0)}" if device == "cuda" else " | CPU"))
    rows: dict = {}
    root = Path(args.workdir)
    built: dict[str, Path] = {}

    def load(size: str, precision: str):
        if size not in built:
            start = time.perf_counter()
            built[size] = build_checkpoint(size, tokenizer, root, device)
            say(f"{size}: random checkpoint built and saved in {time.perf_counter() - start:.1f}s")
        return load_causal_lm(str(built[size]), precision=precision, device=device, prompt_family="qwen2-math")

    # Ours and plain generate for every configuration first, the slower candidates last.
    for number, (size, precision) in enumerate(configs):
        label = f"{size} {precision}"
        try:
            loaded = load(size, precision)
            say(f"{label}: {loaded.info.describe()}")
            bench_ours(loaded, device, args.tokens, rows, label, full=number == 0)
            bench_generate(loaded.model, loaded.tokenizer, device, args.tokens, rows, label, sampled=number == 0)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next configuration
            import traceback

            say(f"{label}: FAILED {type(exc).__name__}: {exc}")
            traceback.print_exc()
        loaded = None
        if device == "cuda":
            torch.cuda.empty_cache()
    size, precision = configs[0]
    try:
        if args.no_candidates:
            raise StopIteration
        loaded = load(size, precision)
        bench_candidates(loaded.model, loaded.tokenizer, device, args.tokens, rows, f"{size} {precision}",
                         compiled=not args.no_compile)
    except StopIteration:
        pass
    except Exception as exc:  # noqa: BLE001
        say(f"candidates: FAILED {type(exc).__name__}: {exc}")
    text = "\n".join(LINES) + "\n\n" + table(rows) + "\n"
    print("\n" + table(rows))
    if args.out:
        Path(args.out).write_text(text)
        Path(args.out).with_suffix(".json").write_text(json.dumps({" | ".join(k): v for k, v in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
