"""The Solver over the local backend, driven through real tiny Qwen2 models on the CPU; and the
Solver's own duties (answers as rows finish, ranking off the decode thread, failures) over a
scripted backend."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from model.backends.local import LocalBackend
from model.params import SamplingParams
from model.errors import InvalidProblemError, PromptTooLongError
from model.loading import load_causal_lm
from model.repetition import RepetitionGuard
from model.solver import Solver, validate_problem
from model.streaming import IncrementalDecoder
from model.types import Delta, Queued, RowDone, RunDone, Started
from tests.crafted import build_scripted_model

SCRIPT = "The answer is \\boxed{5}."
NO_LOOP_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)


def local_solver(loaded, *, scorer=None, **backend_options):
    """A Solver over the local backend of `loaded` (what the app builds for a local model)."""
    return Solver(LocalBackend(loaded, **backend_options), scorer=scorer)


@pytest.fixture(scope="module")
def random_solver(tiny_model_dir):
    solver = local_solver(load_causal_lm(str(tiny_model_dir)))
    yield solver
    solver.close()


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


def test_greedy_is_deterministic(random_solver):
    params = SamplingParams(n=0, max_new_tokens=40)
    first = random_solver.solve("What is 2 + 3?", params)
    second = random_solver.solve("What is 2 + 3?", params)
    assert first.greedy is not None and first.samples == []
    assert first.greedy.text == second.greedy.text
    assert first.greedy.tokens > 0


def test_n_samples_stream_separately_and_join_to_their_texts(random_solver):
    params = SamplingParams(n=6, max_new_tokens=30, seed=7)
    texts, done, result, other = collect(random_solver.stream("Solve $x^2 = 4$.", params))
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
    assert result.timings.generated_tokens == sum(s.tokens for s in result.solutions)
    assert result.vote is not None and result.vote.total == 6


def test_seed_reproduces_samples_and_other_seed_differs(random_solver):
    params = SamplingParams(n=4, max_new_tokens=25, seed=1234, include_greedy=False)
    a = random_solver.solve("Compute 17 * 3.", params)
    b = random_solver.solve("Compute 17 * 3.", params)
    c = random_solver.solve("Compute 17 * 3.", SamplingParams(n=4, max_new_tokens=25, seed=99, include_greedy=False))
    assert a.seed == b.seed == 1234
    assert [s.text for s in a.samples] == [s.text for s in b.samples]
    assert [s.text for s in a.samples] != [s.text for s in c.samples]
    assert a.greedy is None


def test_unseeded_runs_record_their_seed_which_reproduces(random_solver):
    first = random_solver.solve("Compute 5 - 8.", SamplingParams(n=3, max_new_tokens=20, include_greedy=False))
    again = random_solver.solve(
        "Compute 5 - 8.", SamplingParams(n=3, max_new_tokens=20, seed=first.seed, include_greedy=False)
    )
    assert [s.text for s in first.samples] == [s.text for s in again.samples]


def test_temperature_zero_samples_equal_greedy(random_solver):
    result = random_solver.solve("What is 1 + 1?", SamplingParams(n=3, temperature=0.0, max_new_tokens=20, seed=5))
    assert all(s.text == result.greedy.text for s in result.samples)


def test_stop_token_ends_a_row(stopping_dir):
    solver = local_solver(load_causal_lm(str(stopping_dir)))
    try:
        result = solver.solve("Anything at all?", SamplingParams(n=3, max_new_tokens=200, seed=0))
    finally:
        solver.close()
    for solution in result.solutions:
        assert solution.text == SCRIPT
        assert solution.finish_reason == "stop"
        assert solution.answer == "5"
    assert result.vote.answer == "5" and result.vote.count == 3


def test_repetition_guard_stops_a_loop(looping_dir):
    solver = local_solver(load_causal_lm(str(looping_dir)))
    try:
        result = solver.solve("Anything?", SamplingParams(n=2, max_new_tokens=1000, seed=0))
    finally:
        solver.close()
    for solution in result.solutions:
        assert solution.finish_reason == "repetition"
        assert solution.tokens < 200
        assert solution.text.startswith(SCRIPT + SCRIPT)
        assert solution.answer == "5"


def test_length_limit_and_clamp_to_context(looping_dir):
    solver = local_solver(load_causal_lm(str(looping_dir), context_length=200), guard=NO_LOOP_GUARD)
    try:
        run = solver.prepare("Anything?", SamplingParams(max_new_tokens=4096))
        max_new = run.max_new_tokens
        assert max_new == 200 - len(run.request.prompt_ids)
        result = solver.solve("Anything?", SamplingParams(n=1, max_new_tokens=4096, seed=0))
        short = solver.solve("Anything?", SamplingParams(n=0, max_new_tokens=10))
    finally:
        solver.close()
    assert all(s.finish_reason == "length" and s.tokens == max_new for s in result.solutions)
    assert result.max_new_tokens == max_new  # the budget used is the one reported (and logged)
    assert short.greedy.finish_reason == "length" and short.greedy.tokens == 10


def test_prompt_too_long_is_refused_before_generating(looping_dir):
    solver = local_solver(load_causal_lm(str(looping_dir), context_length=128))
    try:
        with pytest.raises(PromptTooLongError, match="Shorten the problem"):
            next(iter(solver.stream("word " * 50, SamplingParams())))
    finally:
        solver.close()


def test_cancel_stops_within_a_step(looping_dir):
    solver = local_solver(load_causal_lm(str(looping_dir)), guard=NO_LOOP_GUARD)
    cancel = threading.Event()
    seen = 0
    events = []
    try:
        for event in solver.stream("Anything?", SamplingParams(n=4, max_new_tokens=3000, seed=0), cancel=cancel):
            events.append(event)
            if isinstance(event, Delta):
                seen += 1
                if seen == 20:
                    cancel.set()
        _, _, result, _ = collect(events)
        assert result.cancelled
        assert all(s.finish_reason == "cancelled" for s in result.solutions)
        assert all(s.tokens < 30 for s in result.solutions)
        # The worker is free again: a new run goes straight through.
        after = solver.solve("Again?", SamplingParams(n=0, max_new_tokens=5))
        assert after.greedy.finish_reason == "length"
    finally:
        solver.close()


def test_closing_the_stream_cancels_the_run(looping_dir):
    solver = local_solver(load_causal_lm(str(looping_dir)), guard=NO_LOOP_GUARD)
    try:
        stream = solver.stream("Anything?", SamplingParams(n=2, max_new_tokens=3000, seed=0))
        for event in stream:
            if isinstance(event, Delta):
                break
        stream.close()  # what Gradio does when a user presses Stop
        steps_before = solver.backend.steps_done
        after = solver.solve("Again?", SamplingParams(n=0, max_new_tokens=5))
        assert after.greedy.tokens == 5
        # The closed run's rows left at once: the next run needed its own few steps, not
        # the thousands the closed one had left.
        assert solver.backend.steps_done - steps_before <= 5 + 3
        assert solver.backend.rows_in_flight == 0
    finally:
        solver.close()


def test_concurrent_requests_do_not_mix(random_solver):
    problems = [f"What is {a} + {a}?" for a in range(4)]
    params = SamplingParams(n=2, max_new_tokens=20, seed=3)
    alone = {p: [s.text for s in random_solver.solve(p, params).solutions] for p in problems}
    together: dict[str, list[str]] = {}
    streamed: dict[str, dict[int, str]] = {}

    def run(problem):
        texts, _, result, _ = collect(random_solver.stream(problem, params))
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


def test_runs_beyond_the_row_cap_wait_in_line_and_the_line_has_a_limit(looping_dir):
    solver = local_solver(load_causal_lm(str(looping_dir)), guard=NO_LOOP_GUARD, max_queue=2, max_batch_rows=2)
    cancel_first = threading.Event()
    try:
        first = solver.stream("One", SamplingParams(n=1, max_new_tokens=3000, seed=1), cancel=cancel_first)
        assert isinstance(next(first), Started)  # two rows: the batch is full
        second = solver.stream("Two", SamplingParams(n=1, max_new_tokens=5, seed=2))
        assert next(second) == Queued(ahead=1)
        third = solver.stream("Three", SamplingParams(n=1, max_new_tokens=5, seed=3))
        assert next(third) == Queued(ahead=2)
        _, done, refused, _ = collect(solver.stream("Four", SamplingParams(n=0, max_new_tokens=5)))
        assert "busy" in refused.error and done[0].finish_reason == "error"
        cancel_first.set()
        _, _, result_one, _ = collect(first)
        rest_two, rest_three = list(second), list(third)
        assert result_one.cancelled
        # The line moves up: the third run hears it is next, then runs when the second is done.
        assert rest_three[0] == Queued(ahead=1)
        assert rest_two[-1].result.greedy.tokens == 5 and rest_three[-1].result.greedy.tokens == 5
        too_big = solver.solve("Five", SamplingParams(n=2, max_new_tokens=5))
        assert "needs 3 rows" in too_big.error
    finally:
        solver.close()


def test_inline_mode_streams_in_the_callers_thread(random_solver, tiny_model_dir):
    inline = local_solver(load_causal_lm(str(tiny_model_dir)), inline=True)
    params = SamplingParams(n=2, max_new_tokens=15, seed=11)
    queued = random_solver.solve("What is 9 - 4?", params)
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


# ------------------------------------------------------------------ the Solver's own duties


class ScriptedBackend:
    """A backend that plays a fixed list of events (the Solver is what these tests are about)."""

    def __init__(self, events, tokenizer, *, fail_after=None):
        from model.backends.protocol import BackendInfo

        self.events = events
        self.fail_after = fail_after
        self._tokenizer = tokenizer
        self.info = BackendInfo(kind="local", model="scripted", family="qwen2-math", precision="fp32",
                                device="cpu", context_length=4096, seeds=True, logprobs=True)
        self.threads: list[str] = []

    @property
    def tokenizer(self):
        return self._tokenizer

    def ready(self):
        pass

    def health(self):
        return None

    queue_length = 0

    def stream(self, request, cancel):
        from model.backends.protocol import BackendError, Decoding

        self.threads.append(threading.current_thread().name)
        yield Decoding()
        for i, event in enumerate(self.events):
            if self.fail_after is not None and i == self.fail_after:
                raise BackendError("The model server stopped answering mid-run.")
            yield event

    def close(self):
        pass


def test_answers_are_extracted_as_rows_finish_and_ranking_runs_off_the_decode_thread(tiny_tokenizer):
    from model.backends.protocol import RowFinished, TextDelta
    from judgements.ranking import Score

    events = [TextDelta(1, "So \\boxed{4}"), RowFinished(1, "stop", 5, -0.5),
              TextDelta(2, "Hence 3"), TextDelta(0, "It is \\boxed{4}."), RowFinished(2, "length", 7, -1.0),
              RowFinished(0, "stop", 6, -0.2)]
    seen_threads = []

    class Scorer:
        name, label = "test scorer", "reward"

        def score(self, problem, solutions):
            seen_threads.append(threading.current_thread().name)
            return [Score(total=float(i)) for i, _ in enumerate(solutions)]

    backend = ScriptedBackend(events, tiny_tokenizer)
    solver = Solver(backend, scorer=Scorer())
    stream = solver.stream("What is 2 + 2?", SamplingParams(n=2, seed=1))
    answers_at_row_done = {}
    for event in stream:
        if isinstance(event, RowDone):
            answers_at_row_done[event.solution.index] = event.solution.answer
        if isinstance(event, RunDone):
            result = event.result
    assert answers_at_row_done == {1: "4", 2: "3", 0: "4"}
    assert [s.text for s in result.solutions] == ["It is \\boxed{4}.", "So \\boxed{4}", "Hence 3"]
    assert result.vote.answer == "4" and [s.cluster for s in result.samples] == [0, 1]
    assert result.ranking.rm_index == 1 and result.samples[1].reward == 1.0
    assert abs(sum(s.weight for s in result.samples) - 1.0) < 1e-9  # softmax weights of the weighted vote
    assert seen_threads == ["solver-rank_0"]
    assert backend.threads[0] != seen_threads[0]
    solver.close()


def test_a_backend_failure_mid_run_keeps_what_streamed(tiny_tokenizer):
    from model.backends.protocol import RowFinished, TextDelta

    events = [TextDelta(0, "First we add"), TextDelta(1, "So \\boxed{7}"), RowFinished(1, "stop", 4, -0.1),
              TextDelta(0, " the numbers")]
    solver = Solver(ScriptedBackend(events, tiny_tokenizer, fail_after=3))
    _, done, result, _ = collect(solver.stream("What is 3 + 4?", SamplingParams(n=1, seed=1)))
    assert result.error == "The model server stopped answering mid-run."
    assert result.greedy.text == "First we add" and result.greedy.finish_reason == "error"
    assert result.greedy.answer is None  # unfinished thought has no answer
    assert result.samples[0].finish_reason == "stop" and result.samples[0].answer == "7"
    assert result.ranking is None and not result.cancelled


def test_the_seed_is_drawn_when_none_is_given_and_reported(tiny_tokenizer):
    solver = Solver(ScriptedBackend([], tiny_tokenizer))
    run = solver.prepare("What is 1 + 1?", SamplingParams(n=2))
    assert isinstance(run.seed, int) and 0 <= run.seed < 2**31
    assert solver.prepare("What is 1 + 1?", SamplingParams(n=2, seed=99)).seed == 99
