"""The local backend's shared batch: runs join one batch at the next step and leave it as they
finish, each keeping its own seed, budget, cancel and repetition guard; on the CPU, with the
bundled model and tiny random models."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from model.backends.local import LocalBackend
from model.params import SamplingParams
from model.loading import load_causal_lm
from model.prompts import build_prompt
from model.repetition import RepetitionGuard
from model.solver import Solver
from model.types import Delta, RunDone, Started
from tests.crafted import build_scripted_model

REPO = Path(__file__).resolve().parents[1]
NO_LOOP_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)


def heldout(count: int) -> list[str]:
    lines = (REPO / "assets" / "heldout.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    return [json.loads(line)["problem"] for line in lines]


@pytest.fixture(scope="module")
def bundled():
    return load_causal_lm("bundled", precision="auto", device="cpu")


@pytest.fixture(scope="module")
def random_model(tiny_model_dir):
    return load_causal_lm(str(tiny_model_dir))


class Background:
    """Runs solves in threads; `started` is set once every one of them has begun decoding."""

    def __init__(self, solver: Solver, jobs: list[tuple[str, SamplingParams]]) -> None:
        self.results: dict[int, object] = {}
        self.started = threading.Barrier(len(jobs) + 1)
        self.threads = [threading.Thread(target=self._run, args=(i, solver, *job)) for i, job in enumerate(jobs)]
        for thread in self.threads:
            thread.start()

    def _run(self, i: int, solver: Solver, problem: str, params: SamplingParams) -> None:
        told = False
        for event in solver.stream(problem, params):
            if isinstance(event, Delta) and not told:
                told = True
                self.started.wait(60)
            if isinstance(event, RunDone):
                self.results[i] = event.result
        if not told:
            self.started.wait(60)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)


def generate_greedy(loaded, problem: str, max_new_tokens: int) -> str:
    import torch

    ids = build_prompt(loaded.tokenizer, problem, loaded.info.family)
    with torch.inference_mode():
        out = loaded.model.generate(
            torch.tensor([ids]), do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=loaded.stop_ids,
            pad_token_id=loaded.stop_ids[0],
        )
    return loaded.tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)


def test_greedy_text_equals_generate_alone_and_while_others_share_the_batch(bundled):
    solver = Solver(LocalBackend(bundled))
    problems = heldout(4)
    try:
        expected = {p: generate_greedy(bundled, p, 160) for p in problems[:2]}
        for problem, text in expected.items():
            assert solver.solve(problem, SamplingParams(n=0, max_new_tokens=160)).greedy.text == text
        busy = Background(solver, [(p, SamplingParams(n=8, max_new_tokens=400, seed=i)) for i, p in enumerate(problems[2:])])
        busy.started.wait(60)
        for problem, text in expected.items():
            # The greedy row decodes beside its own samples and two other runs' 16 rows.
            result = solver.solve(problem, SamplingParams(n=4, max_new_tokens=160, seed=9))
            assert result.greedy.text == text
        busy.join()
    finally:
        solver.close()


def test_a_seeded_run_draws_the_same_samples_alone_and_in_a_busy_batch(random_model):
    solver = Solver(LocalBackend(random_model, guard=NO_LOOP_GUARD))
    params = SamplingParams(n=6, max_new_tokens=40, seed=1234)
    try:
        alone = solver.solve("Compute 17 * 3.", params)
        busy = Background(solver, [(f"What is {a} + {a}?", SamplingParams(n=5, max_new_tokens=200, seed=a)) for a in range(3)])
        busy.started.wait(60)
        crowded = solver.solve("Compute 17 * 3.", params)
        busy.join()
        again = solver.solve("Compute 17 * 3.", params)
    finally:
        solver.close()
    texts = [s.text for s in alone.solutions]
    assert len(set(texts[1:])) > 1  # real samples, not copies of one another
    assert [s.text for s in crowded.solutions] == texts
    assert [s.text for s in again.solutions] == texts
    assert [s.mean_logprob for s in crowded.solutions] == [s.mean_logprob for s in alone.solutions]


def test_cancelling_one_run_leaves_the_others_untouched(random_model):
    solver = Solver(LocalBackend(random_model, guard=NO_LOOP_GUARD))
    keep = SamplingParams(n=3, max_new_tokens=60, seed=7)
    try:
        reference = solver.solve("Keep me going.", keep)
        cancel = threading.Event()
        doomed = solver.stream("Stop me.", SamplingParams(n=3, max_new_tokens=3000, seed=8), cancel=cancel)
        assert isinstance(next(doomed), Started)
        other = Background(solver, [("Keep me going.", keep)])
        other.started.wait(60)
        cancel.set()
        cancelled = [e for e in doomed if isinstance(e, RunDone)][0].result
        other.join()
    finally:
        solver.close()
    assert cancelled.cancelled and all(s.finish_reason == "cancelled" for s in cancelled.solutions)
    assert [s.text for s in other.results[0].solutions] == [s.text for s in reference.solutions]


def test_a_run_joins_at_the_next_step_and_keeps_its_own_budget(tmp_path, tiny_tokenizer):
    looping = load_causal_lm(str(build_scripted_model(tiny_tokenizer, "The answer is \\boxed{5}.", tmp_path, loop=True)))
    solver = Solver(LocalBackend(looping, guard=NO_LOOP_GUARD))
    cancel = threading.Event()
    try:
        long_run = solver.stream("Long one.", SamplingParams(n=2, max_new_tokens=3000, seed=1), cancel=cancel)
        for event in long_run:
            if isinstance(event, Delta):
                break
        started = time.perf_counter()
        short = solver.solve("Short one.", SamplingParams(n=2, max_new_tokens=12, seed=2))
        waited = time.perf_counter() - started
        assert solver.backend.rows_in_flight == 3  # the long run is still decoding
        cancel.set()
        long_result = [e for e in long_run if isinstance(e, RunDone)][0].result
    finally:
        solver.close()
    assert short.timings.queued_s < waited  # it did not wait for the long run to end
    assert all(s.finish_reason == "length" and s.tokens == 12 for s in short.solutions)
    assert long_result.cancelled and all(s.tokens > 12 for s in long_result.solutions)


def test_the_repetition_guard_cuts_a_row_exactly_where_it_fires(tmp_path, tiny_tokenizer):
    """The guard runs in the consumer's thread, yet the cut does not depend on timing."""
    looping = load_causal_lm(str(build_scripted_model(tiny_tokenizer, "The answer is \\boxed{5}.", tmp_path, loop=True)))
    solver = Solver(LocalBackend(looping))
    try:
        results = [solver.solve("Anything?", SamplingParams(n=3, max_new_tokens=1000, seed=s)) for s in range(3)]
    finally:
        solver.close()
    counts = {s.tokens for r in results for s in r.solutions}
    assert all(s.finish_reason == "repetition" for r in results for s in r.solutions)
    assert len(counts) == 1 and counts.pop() % RepetitionGuard().check_every == 0


@pytest.fixture(scope="module")
def wide_heads(tiny_tokenizer):
    """A random one-layer Qwen2 with Qwen2-Math-1.5B's head shape (12 query heads of 128 over 2
    KV heads), where the CPU attention kernels' blocking changes with the length sooner."""
    import torch
    from transformers import Qwen2ForCausalLM

    from training.tiny import tiny_qwen2_config

    config = tiny_qwen2_config(len(tiny_tokenizer), hidden_size=1536, layers=1, heads=12, kv_heads=2, intermediate_size=256)
    torch.manual_seed(1)
    return Qwen2ForCausalLM(config).eval()


@pytest.mark.parametrize(("shape", "prompt_length"), [("tiny", 37), ("tiny", 500), ("tiny", 700), ("qwen-heads", 60),
                                                      ("qwen-heads", 200), ("qwen-heads", 700)])
def test_a_rows_numbers_do_not_depend_on_the_rows_beside_it(random_model, wide_heads, shape, prompt_length):
    """The CPU step attends over the longest row's length with a mask (lengths rounded as
    `short_attention_limit` found safe), and prompts read together are packed, each attending
    over its own: a run's log-probs are the same bit for bit alone and beside (or read with)
    longer and shorter runs, also across the attention kernel's 512-position blocks, wherever
    its slots are; for a tiny model and for Qwen2-Math-1.5B's head shape."""
    from model.backends.slots import SlotModel, row_settings

    model = random_model.model if shape == "tiny" else wide_heads
    slots = SlotModel(model, slots=32, max_len=2048, graphs=False)
    vocab = model.config.vocab_size
    prompt = [(7 * i + 3) % vocab for i in range(prompt_length)]

    def decode(runs: list[tuple[list[int], int, int]], watch: int, steps: int = 6, together: bool = False) -> list[list[float]]:
        """Prefill `runs` (prompt, first slot, rows; one by one or in one forward), step them
        together, return run `watch`'s log-probs (its first tokens' too)."""
        groups = []
        plan = [(ids, start, row_settings(range(rows), len(ids), 1.0, 0.95)) for ids, start, rows in runs]
        firsts = slots.prefill_many(plan) if together else [slots.prefill(*entry) for entry in plan]
        for ids, start, rows in runs:
            groups.append([start, rows, len(ids)])
        start, rows = runs[watch][1], runs[watch][2]
        seen = [firsts[watch][1]]
        for _ in range(steps):
            for group in groups:
                group[2] += 1
            used = max(g[0] + g[1] for g in groups)
            _tokens, logprobs = slots.step(slots.batch_rows(used), [tuple(g) for g in groups])
            seen.append(logprobs[start : start + rows])
        slots.reset()
        return seen

    alone = decode([(prompt, 0, 5)], 0)
    longer = [(9 * i + 1) % vocab for i in range(prompt_length + 300)]
    shorter = prompt[:11]
    assert decode([(longer, 0, 9), (prompt, 9, 5), (shorter, 14, 3)], 1) == alone
    assert decode([(shorter, 0, 2), (prompt, 16, 5)], 1) == alone
    # Prompts read in one forward with longer and shorter ones: the same numbers again.
    assert decode([(longer, 0, 9), (prompt, 9, 5), (shorter, 14, 3)], 1, together=True) == alone
    assert decode([(prompt, 3, 5), (shorter, 8, 2)], 0, together=True) == alone
    # Slots no step has read are never touched: on the CPU their memory is not even resident.
    assert slots._finite[24:] == [0] * 8


def test_runs_admitted_together_share_one_prefill_and_a_failing_prompt_ends_only_its_run(random_model):
    """Runs that arrive while the scheduler is busy are read in one forward; when that forward
    fails, each is read alone: the run whose prompt fails ends `error`, the other decodes as it
    would alone, and each hears that it started exactly once."""
    backend = LocalBackend(random_model, guard=NO_LOOP_GUARD)
    solver = Solver(backend)
    real = backend.slots.prefill_many
    busy, go = threading.Event(), threading.Event()
    groups: list[int] = []
    poison = solver.prepare("Poison this prompt.", SamplingParams(n=1, max_new_tokens=5, seed=2)).request.prompt_ids

    def prefill_many(runs):
        groups.append(len(runs))
        if len(groups) == 1:  # the first run holds the scheduler until the others are queued
            busy.set()
            go.wait(30)
        if any(list(prompt) == list(poison) for prompt, _, _ in runs):
            raise RuntimeError("this prompt cannot be read")
        return real(runs)

    keep = SamplingParams(n=2, max_new_tokens=12, seed=5)
    try:
        reference = solver.solve("Keep me going.", keep)
        groups.clear()
        backend.slots.prefill_many = prefill_many
        first = threading.Thread(target=solver.solve, args=("Hold the line.", SamplingParams(n=1, max_new_tokens=5, seed=1)))
        first.start()
        assert busy.wait(30)
        events: dict[str, list] = {}

        def collect(name: str, problem: str, params: SamplingParams) -> None:
            events[name] = list(solver.stream(problem, params))

        threads = [threading.Thread(target=collect, args=("kept", "Keep me going.", keep)),
                   threading.Thread(target=collect, args=("poisoned", "Poison this prompt.",
                                                          SamplingParams(n=1, max_new_tokens=5, seed=2)))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(backend._waiting) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.set()
        for thread in threads:
            thread.join(60)
        first.join(60)
    finally:
        backend.slots.prefill_many = real
        solver.close()
    assert groups[:4] == [1, 2, 1, 1]  # one forward for both, then each alone
    kept, poisoned = events["kept"], events["poisoned"]
    assert sum(isinstance(e, Started) for e in kept) == 1 and sum(isinstance(e, Started) for e in poisoned) == 1
    kept_result = next(e for e in kept if isinstance(e, RunDone)).result
    assert [s.text for s in kept_result.solutions] == [s.text for s in reference.solutions]
    failed = next(e for e in poisoned if isinstance(e, RunDone)).result
    assert all(s.finish_reason == "error" for s in failed.solutions)
