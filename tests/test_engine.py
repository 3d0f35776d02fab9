"""The generation engine, driven through real tiny Qwen2 models on the CPU."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from model.config import SamplingParams
from model.engine import Engine, validate_problem
from model.errors import GenerationError, InvalidProblemError, PromptTooLongError
from model.loading import load_causal_lm
from model.repetition import RepetitionGuard
from model.streaming import IncrementalDecoder
from model.types import Delta, Queued, RowDone, RunDone, Started
from tests.crafted import build_scripted_model

SCRIPT = "The answer is \\boxed{5}."
NO_LOOP_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)


@pytest.fixture(scope="module")
def random_engine(tiny_model_dir):
    engine = Engine(load_causal_lm(str(tiny_model_dir)))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def stopping_dir(tmp_path_factory, tiny_tokenizer):
    return build_scripted_model(tiny_tokenizer, SCRIPT, tmp_path_factory.mktemp("stopping"), loop=False)


@pytest.fixture(scope="module")
def looping_dir(tmp_path_factory, tiny_tokenizer):
    return build_scripted_model(tiny_tokenizer, SCRIPT, tmp_path_factory.mktemp("looping"), loop=True)


def collect(events):
    """Split a stream into (texts per row, solutions per row, result, other events)."""
    texts: dict[int, str] = defaultdict(str)
    done = {}
    result = None
    other = []
    for event in events:
        if isinstance(event, Delta):
            texts[event.row] += event.text
        elif isinstance(event, RowDone):
            done[event.solution.index] = event.solution
        elif isinstance(event, RunDone):
            result = event.result
        else:
            other.append(event)
    return dict(texts), done, result, other


def test_greedy_is_deterministic(random_engine):
    params = SamplingParams(n=0, max_new_tokens=40)
    first = random_engine.solve("What is 2 + 3?", params)
    second = random_engine.solve("What is 2 + 3?", params)
    assert first.greedy is not None and first.samples == []
    assert first.greedy.text == second.greedy.text
    assert first.greedy.token_count > 0


def test_n_samples_stream_separately_and_join_to_their_texts(random_engine):
    params = SamplingParams(n=6, max_new_tokens=30, seed=7)
    texts, done, result, other = collect(random_engine.stream("Solve $x^2 = 4$.", params))
    assert isinstance(other[0], Started) and other[0].rows == (0, 1, 2, 3, 4, 5, 6)
    assert [s.index for s in result.samples] == [1, 2, 3, 4, 5, 6]
    assert result.greedy.index == 0 and result.greedy.kind == "greedy"
    assert len({s.text for s in result.samples}) == 6  # six distinct streams
    for solution in result.solutions:
        assert texts.get(solution.index, "") == solution.text
        assert done[solution.index].text == solution.text
        assert solution.finish_reason in ("stop", "length", "repetition")
        assert solution.mean_logprob is not None and solution.mean_logprob <= 0
        assert solution.kind == ("greedy" if solution.index == 0 else "sampled")
    assert result.timings.generated_tokens == sum(s.token_count for s in result.solutions)
    assert result.vote is not None and result.vote.total == 6


def test_seed_reproduces_samples_and_other_seed_differs(random_engine):
    params = SamplingParams(n=4, max_new_tokens=25, seed=1234, include_greedy=False)
    a = random_engine.solve("Compute 17 * 3.", params)
    b = random_engine.solve("Compute 17 * 3.", params)
    c = random_engine.solve("Compute 17 * 3.", SamplingParams(n=4, max_new_tokens=25, seed=99, include_greedy=False))
    assert a.seed == b.seed == 1234
    assert [s.text for s in a.samples] == [s.text for s in b.samples]
    assert [s.text for s in a.samples] != [s.text for s in c.samples]
    assert a.greedy is None


def test_unseeded_runs_record_their_seed_which_reproduces(random_engine):
    first = random_engine.solve("Compute 5 - 8.", SamplingParams(n=3, max_new_tokens=20, include_greedy=False))
    again = random_engine.solve(
        "Compute 5 - 8.", SamplingParams(n=3, max_new_tokens=20, seed=first.seed, include_greedy=False)
    )
    assert [s.text for s in first.samples] == [s.text for s in again.samples]


def test_temperature_zero_samples_equal_greedy(random_engine):
    result = random_engine.solve("What is 1 + 1?", SamplingParams(n=3, temperature=0.0, max_new_tokens=20, seed=5))
    assert all(s.text == result.greedy.text for s in result.samples)


def test_stop_token_ends_a_row(stopping_dir):
    engine = Engine(load_causal_lm(str(stopping_dir)))
    try:
        result = engine.solve("Anything at all?", SamplingParams(n=3, max_new_tokens=200, seed=0))
    finally:
        engine.close()
    for solution in result.solutions:
        assert solution.text == SCRIPT
        assert solution.finish_reason == "stop"
        assert solution.answer == "5"
    assert result.vote.answer == "5" and result.vote.count == 3


def test_repetition_guard_stops_a_loop(looping_dir):
    engine = Engine(load_causal_lm(str(looping_dir)))
    try:
        result = engine.solve("Anything?", SamplingParams(n=2, max_new_tokens=1000, seed=0))
    finally:
        engine.close()
    for solution in result.solutions:
        assert solution.finish_reason == "repetition"
        assert solution.token_count < 200
        assert solution.text.startswith(SCRIPT + SCRIPT)
        assert solution.answer == "5"


def test_length_limit_and_clamp_to_context(looping_dir):
    engine = Engine(load_causal_lm(str(looping_dir), context_length=200), guard=NO_LOOP_GUARD)
    try:
        problem, prompt, max_new = engine.prepare("Anything?", SamplingParams(max_new_tokens=4096))
        assert max_new == 200 - len(prompt)
        result = engine.solve("Anything?", SamplingParams(n=1, max_new_tokens=4096, seed=0))
        short = engine.solve("Anything?", SamplingParams(n=0, max_new_tokens=10))
    finally:
        engine.close()
    assert all(s.finish_reason == "length" and s.token_count == max_new for s in result.solutions)
    assert short.greedy.finish_reason == "length" and short.greedy.token_count == 10


def test_prompt_too_long_is_refused_before_generating(looping_dir):
    engine = Engine(load_causal_lm(str(looping_dir), context_length=128))
    try:
        with pytest.raises(PromptTooLongError, match="Shorten the problem"):
            next(iter(engine.stream("word " * 50, SamplingParams())))
    finally:
        engine.close()


def test_cancel_stops_within_a_step(looping_dir):
    engine = Engine(load_causal_lm(str(looping_dir)), guard=NO_LOOP_GUARD)
    cancel = threading.Event()
    seen = 0
    events = []
    try:
        for event in engine.stream("Anything?", SamplingParams(n=4, max_new_tokens=3000, seed=0), cancel=cancel):
            events.append(event)
            if isinstance(event, Delta):
                seen += 1
                if seen == 20:
                    cancel.set()
        _, _, result, _ = collect(events)
        assert result.cancelled
        assert all(s.finish_reason == "cancelled" for s in result.solutions)
        assert all(s.token_count < 30 for s in result.solutions)
        # The worker is free again: a new run goes straight through.
        after = engine.solve("Again?", SamplingParams(n=0, max_new_tokens=5))
        assert after.greedy.finish_reason == "length"
    finally:
        engine.close()


def test_closing_the_stream_cancels_the_run(looping_dir):
    engine = Engine(load_causal_lm(str(looping_dir)), guard=NO_LOOP_GUARD)
    try:
        stream = engine.stream("Anything?", SamplingParams(n=2, max_new_tokens=3000, seed=0))
        for event in stream:
            if isinstance(event, Delta):
                break
        stream.close()  # what Gradio does when a user presses Stop
        start = time.perf_counter()
        after = engine.solve("Again?", SamplingParams(n=0, max_new_tokens=5))
        assert after.greedy.token_count == 5
        assert time.perf_counter() - start < 10
    finally:
        engine.close()


def test_concurrent_requests_do_not_mix(random_engine):
    problems = [f"What is {a} + {a}?" for a in range(4)]
    params = SamplingParams(n=2, max_new_tokens=20, seed=3)
    alone = {p: [s.text for s in random_engine.solve(p, params).solutions] for p in problems}
    together: dict[str, list[str]] = {}
    streamed: dict[str, dict[int, str]] = {}

    def run(problem):
        texts, _, result, _ = collect(random_engine.stream(problem, params))
        together[problem] = [s.text for s in result.solutions]
        streamed[problem] = texts

    threads = [threading.Thread(target=run, args=(p,)) for p in problems]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert together == alone
    for problem in problems:
        assert [streamed[problem].get(i, "") for i in range(3)] == alone[problem]


def test_queue_reports_position_and_refuses_when_full(looping_dir):
    engine = Engine(load_causal_lm(str(looping_dir)), guard=NO_LOOP_GUARD, max_queue=1)
    cancel_first = threading.Event()
    try:
        first = engine.stream("One", SamplingParams(n=0, max_new_tokens=3000), cancel=cancel_first)
        assert isinstance(next(first), Started)
        second = engine.stream("Two", SamplingParams(n=0, max_new_tokens=5))
        assert next(second) == Queued(ahead=1)  # behind the running one
        with pytest.raises(GenerationError, match="busy"):
            next(iter(engine.stream("Three", SamplingParams(n=0, max_new_tokens=5))))
        cancel_first.set()
        _, _, result_one, _ = collect(first)
        _, _, result_two, _ = collect(second)
        assert result_one.cancelled
        assert result_two.greedy.token_count == 5
    finally:
        engine.close()


def test_inline_mode_streams_in_the_callers_thread(random_engine, tiny_model_dir):
    inline = Engine(load_causal_lm(str(tiny_model_dir)), inline=True)
    params = SamplingParams(n=2, max_new_tokens=15, seed=11)
    queued = random_engine.solve("What is 9 - 4?", params)
    direct = inline.solve("What is 9 - 4?", params)
    assert [s.text for s in direct.solutions] == [s.text for s in queued.solutions]


@pytest.mark.parametrize(
    "problem, message",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 5000, "5,000 characters"),
        ("abc\x00def", "binary"),
        ("".join(chr(i) for i in range(1, 31)) * 3, "binary"),
        (12, "must be text"),
    ],
)
def test_bad_problems_are_refused_with_a_message(problem, message):
    with pytest.raises(InvalidProblemError, match=message):
        validate_problem(problem, 4000)


def test_problem_is_cleaned_not_mangled():
    assert validate_problem("  Solve $x^2=4$\r\nfor x.  ", 100) == "Solve $x^2=4$\nfor x."
    assert validate_problem("<script>alert(1)</script> 2+2?", 100) == "<script>alert(1)</script> 2+2?"


def test_incremental_decoder_is_utf8_safe(tiny_tokenizer):
    text = "π ≈ 3.14, 数学 🙂 √2 é"
    ids = tiny_tokenizer.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(tiny_tokenizer)
    deltas = [decoder.push(i) for i in ids]
    deltas.append(decoder.flush())
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)


def test_repetition_guard_rules():
    guard = RepetitionGuard()
    assert guard.tokens_loop(list(range(20)) * 4)  # a 20-token block three times and more
    assert not guard.tokens_loop(list(range(100)))
    assert not guard.tokens_loop([1, 2, 3] * 10)  # 30 tokens: too short to call a loop
    assert guard.tokens_loop([7] * 64)
    assert guard.boxed_loop("So \\boxed{5}. Thus \\boxed{5}. Hence \\boxed{ 5 }.")
    assert not guard.boxed_loop("\\boxed{5} then \\boxed{6} then \\boxed{5}")
    assert not guard.boxed_loop("(a) \\boxed{\\frac{1}{2}} (b) \\boxed{3}")
