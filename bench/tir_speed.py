"""How much slower a solve is when the model reasons with Python than in words (issue 26, item 7).

Through the Solver over the local backend and the real sandbox, on the CPU, the bundled model by
default, interleaved repeats, medians:

1. Whole solves: held-out problems, the greedy row and N samples, in words, with Python (the
   TIR prompt; every row may run code) and, as a control, with the TIR prompt but no tools (the
   same prompt, nothing run): the two differ by the code runs and the mode's machinery. The
   bundled model writes a cell in every row under the TIR prompt (issue 26, item 5).
2. One code call: the greedy row is made to write a cell first (its first tokens are forced, as
   the tests do), then decodes freely to a fixed budget with the repetition guard off; with
   Python the row pauses at ```output, the cell runs in the sandbox, the row is read again and
   goes on; in words the same tokens are forced and nothing runs. The difference per call,
   and its parts: the sandbox's time and the re-read (`SlotModel.extend`).
3. What that means for a tool-integrated solution: the slowdown of a solution of T tokens with
   c calls at the measured decode speed, 1 + c * call / (T / tokens_per_s).

    python bench/tir_speed.py                       # 8 problems, N=8, 512 tokens, 3 repeats
    python bench/tir_speed.py --problems 4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model.backends.local import LocalBackend  # noqa: E402
from model.loading import load_causal_lm  # noqa: E402
from model.params import SamplingParams  # noqa: E402
from model.repetition import RepetitionGuard  # noqa: E402
from model.solver import Solver  # noqa: E402
from sandbox import Sandbox  # noqa: E402

NO_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)
CELL = "Let me compute it.\n```python\nprint(12 + 7 - 3)\n```\n```output"


class Forced:
    """Makes the row in slot 0 draw `script` (token ids) first; times `extend` (the re-read)."""

    def __init__(self, slots, script: list[int]) -> None:
        self.slots, self.script = slots, list(script)
        self.left: list[int] = []
        self.extend_s: list[float] = []
        self._first, self._step, self._extend = slots._first_tokens, slots.step, slots.extend
        slots._first_tokens, slots.step, slots.extend = self.first_tokens, self.step, self.extend

    def reset(self) -> None:
        self.left = list(self.script)

    def _force(self, tokens: list[int]) -> None:
        if self.left:
            tokens[0] = self.left.pop(0)
            self.slots.tokens[0] = tokens[0]

    def first_tokens(self, logits, start, length, settings, step=0):
        tokens, logprobs = self._first(logits, start, length, settings, step)
        if start == 0:
            self._force(tokens)
        return tokens, logprobs

    def step(self, rows, groups, sampling=True):
        tokens, logprobs = self._step(rows, groups, sampling)
        if any(start == 0 for start, _, _ in groups):
            self._force(tokens)
        return tokens, logprobs

    def extend(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._extend(*args, **kwargs)
        finally:
            self.extend_s.append(time.perf_counter() - started)


def heldout(count: int) -> list[str]:
    lines = (REPO / "assets" / "heldout.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    return [json.loads(line)["problem"] for line in lines]


def whole_solves(solver: Solver, problems: list[str], n: int, tokens: int, repeats: int) -> dict[str, float]:
    """Per problem and repeat, three runs back to back (their order rotating), so each set shares
    the machine's load: in words, with Python, and with Python's prompt but no tools (the same
    text as with Python, so the two differ only by the mode's mechanics). Medians of the sets'
    ratios of wall seconds per solve."""
    modes = ("words", "python", "prompt only")
    ratios: dict[str, list[float]] = {"python": [], "prompt only": []}
    walls = dict.fromkeys(modes, 0.0)
    calls = dict.fromkeys(modes, 0)
    generated = dict.fromkeys(modes, 0)
    for repeat in range(repeats):
        for i, problem in enumerate(problems):
            seconds = {}
            rotation = (repeat * len(problems) + i) % 3
            for mode in modes[rotation:] + modes[:rotation]:
                params = SamplingParams(n=n, max_new_tokens=tokens, seed=i, temperature=1.0, top_p=0.9, tir=mode != "words")
                run = solver.prepare(problem, params)
                if mode == "prompt only":
                    run = replace(run, request=replace(run.request, tir=False))
                started = time.perf_counter()
                result = solver.solve(run)
                seconds[mode] = time.perf_counter() - started
                walls[mode] += seconds[mode]
                calls[mode] += sum(len(s.tool_calls) for s in result.solutions)
                generated[mode] += result.timings.generated_tokens
            ratios["python"].append(seconds["python"] / seconds["words"])
            ratios["prompt only"].append(seconds["python"] / seconds["prompt only"])
    print(f"whole solves ({len(problems)} problems x {repeats}, greedy + N={n}, up to {tokens} tokens):")
    for mode in modes:
        print(f"  {mode + ':':13} {walls[mode]:.2f} s, {generated[mode]} tokens, {calls[mode]} code runs")
    slowdown, mechanics = statistics.median(ratios["python"]), statistics.median(ratios["prompt only"])
    print(f"  slowdown with Python / in words: {slowdown:.2f}x (median of {len(ratios['python'])} sets)")
    print(f"  with Python / its prompt without tools (the mode's own cost): {mechanics:.2f}x")
    return {"ratio": slowdown, "mechanics": mechanics, "calls": calls["python"]}


def one_call(solver: Solver, backend: LocalBackend, tokens: int, repeats: int) -> dict[str, float]:
    """Per code call: wall seconds more than the same tokens in words, and its parts."""
    tokenizer = backend.loaded.tokenizer
    forced = Forced(backend.slots, tokenizer.encode(CELL, add_special_tokens=False))
    problem = "Tom has 12 apples and buys 7 more. He gives 3 to Ann. How many apples does he have now?"
    per_token: dict[str, list[float]] = {"words": [], "python": []}
    overheads, sandbox_s = [], []
    try:
        for repeat in range(repeats * 2 + 1):
            row: dict[str, tuple[float, int]] = {}
            for mode in ("words", "python") if repeat % 2 == 0 else ("python", "words"):
                forced.reset()
                params = SamplingParams(n=0, max_new_tokens=tokens, seed=repeat, tir=mode == "python")
                started = time.perf_counter()
                result = solver.solve(problem, params)
                wall = time.perf_counter() - started
                row[mode] = (wall, result.greedy.tokens)
                if mode == "python":
                    sandbox_s += [c.elapsed_s for c in result.greedy.tool_calls]
                    assert len(result.greedy.tool_calls) >= 1, "the forced cell did not run"
            if repeat == 0:
                continue  # warm-up
            words_rate = row["words"][0] / row["words"][1]
            overheads.append(row["python"][0] - row["python"][1] * words_rate)
            for mode, (wall, count) in row.items():
                per_token[mode].append(wall / count)
    finally:
        forced_extends = list(forced.extend_s)
    call = statistics.median(overheads)
    print(f"one code call (greedy row, {tokens} tokens, the cell forced, {len(overheads)} pairs):")
    print(f"  decode: {1 / statistics.median(per_token['words']):.0f} tokens/s in words")
    print(f"  a call costs {call * 1000:.0f} ms more than the same tokens in words "
          f"(sandbox {statistics.median(sandbox_s) * 1000:.1f} ms, re-read {statistics.median(forced_extends) * 1000:.1f} ms, "
          "the rest pausing and handing over)")
    return {"call_s": call, "tokens_per_s": 1 / statistics.median(per_token["words"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="bundled")
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    loaded = load_causal_lm(args.model, precision="auto", device="cpu")
    with Sandbox() as box:
        backend = LocalBackend(loaded, guard=NO_GUARD, tools=box)
        solver = Solver(backend)
        try:
            whole = whole_solves(solver, heldout(args.problems), args.n, args.tokens, args.repeats)
            call = one_call(solver, backend, args.tokens, args.repeats)
        finally:
            solver.close()
    print("a tool-integrated solution (slowdown = 1 + calls x call / (tokens / tokens per s), one row):")
    for length, calls in ((300, 1), (600, 2), (1000, 4)):
        seconds = length / call["tokens_per_s"]
        print(f"  {length} tokens, {calls} call{'s' if calls > 1 else ''}: {1 + calls * call['call_s'] / seconds:.2f}x")
    print(f"whole-solve ratio with this model ({whole['calls']} code runs): {whole['ratio']:.2f}x")


if __name__ == "__main__":
    main()
