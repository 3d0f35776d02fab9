"""Follow-up questions about a solution, in the model layer: the question's validation, the
conversation and how it is fitted to the context (tiny BPE tokenizer), and the answer streamed
through the Solver over the local backend (scripted tiny models) and over the `openai` backend
against a fake server: greedy only, Stop works, a second turn sees the first.

The exact token ids with Qwen2's real tokenizer: tests/test_qwen_tokenizer.py."""

from __future__ import annotations

import importlib.util
import threading

import pytest

from model.backends.local import LocalBackend
from model.conversation import (
    MIN_SOLUTION_TOKENS,
    Exchange,
    conversation_messages,
    fit_conversation,
)
from model.errors import (
    ConfigError,
    InvalidProblemError,
    InvalidQuestionError,
    PromptTooLongError,
)
from model.loading import BUNDLED_DIR, load_causal_lm
from model.prompts import QWEN2_MATH, QWEN25_MATH, build_messages, chat_prompt_ids
from model.repetition import RepetitionGuard
from model.solver import DEFAULT_FOLLOW_UP_TOKENS, Solver, validate_question
from model.types import Delta, RowDone, RunDone, Started
from tests.crafted import build_scripted_model
from tests.optional import require
from tests.serve import FakeServer

SCRIPT = "The answer is \\boxed{5}."
NO_LOOP_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)
PROBLEM = "Solve for $x$: $2x + 3 = 11$."
SOLUTION = "Subtract 3: $2x = 8$, so $x = 4$. \\boxed{4}"


# ----------------------------------------------------------------------- the question


@pytest.mark.parametrize(
    "question,message",
    [
        ("", "question box is empty"),
        ("   \n\t ", "question box is empty"),
        (None, "must be text"),
        ("why? " * 2000, "9,999 characters long; the limit is 4,000"),
        ("why\x00 this step?", "binary data or control characters"),
        ("\x01\x02\x03\x04\x05 step 3?", "binary data or control characters"),
    ],
)
def test_a_bad_question_is_refused_like_a_bad_problem(question, message):
    with pytest.raises(InvalidQuestionError, match=message) as error:
        validate_question(question, 4000)
    assert isinstance(error.value, InvalidProblemError)  # caught wherever a bad problem is


def test_a_question_is_cleaned_like_a_problem_and_markup_stays_text():
    assert validate_question("  Why is step 3 true?\r\n  ", 100) == "Why is step 3 true?"
    assert validate_question("<script>alert(1)</script> why?", 100) == "<script>alert(1)</script> why?"


# ------------------------------------------------------------------- the conversation


@pytest.mark.parametrize("family", [QWEN2_MATH, QWEN25_MATH])
def test_the_conversation_is_system_problem_solution_then_the_turns(family):
    earlier = [Exchange("Why subtract 3?", "To isolate $2x$."), ("And then?", "Divide by 2.")]
    messages = conversation_messages(family, PROBLEM, SOLUTION, earlier, "Is 4 right?")
    assert messages[:2] == build_messages(PROBLEM, family)  # exactly as the solve put the problem
    assert [(m["role"], m["content"]) for m in messages[2:]] == [
        ("assistant", SOLUTION),
        ("user", "Why subtract 3?"),
        ("assistant", "To isolate $2x$."),
        ("user", "And then?"),
        ("assistant", "Divide by 2."),
        ("user", "Is 4 right?"),
    ]


def test_a_conversation_that_fits_is_sent_whole(tiny_tokenizer):
    earlier = [Exchange("Why subtract 3?", "To isolate $2x$.")]
    prompt = fit_conversation(tiny_tokenizer, QWEN2_MATH, PROBLEM, SOLUTION, earlier, "Is 4 right?", 10_000)
    messages = conversation_messages(QWEN2_MATH, PROBLEM, SOLUTION, earlier, "Is 4 right?")
    assert list(prompt.ids) == chat_prompt_ids(tiny_tokenizer, messages)
    assert prompt.text.endswith("<|im_start|>assistant\n")
    assert (prompt.dropped_exchanges, prompt.solution_tokens_cut, prompt.notice) == (0, 0, None)


def _exchanges(count):
    return [Exchange(f"Question {i}: why is step {i} true?", f"Answer {i}: because {i} + {i} = {2 * i}.") for i in range(count)]


def test_outgrowing_the_context_drops_the_oldest_turns_and_says_how_many(tiny_tokenizer):
    earlier = _exchanges(5)
    question = "And the last step?"
    # the limit that exactly holds the problem, the solution, the two latest exchanges and the question
    limit = len(chat_prompt_ids(tiny_tokenizer, conversation_messages(QWEN2_MATH, PROBLEM, SOLUTION, earlier[3:], question)))
    prompt = fit_conversation(tiny_tokenizer, QWEN2_MATH, PROBLEM, SOLUTION, earlier, question, limit)
    assert prompt.dropped_exchanges == 3 and prompt.solution_tokens_cut == 0
    assert len(prompt.ids) <= limit
    contents = [m["content"] for m in prompt.messages]
    assert PROBLEM in contents[1] and contents[2] == SOLUTION and contents[-1] == question
    assert contents[3:-1] == ["Question 3: why is step 3 true?", "Answer 3: because 3 + 3 = 6.",
                              "Question 4: why is step 4 true?", "Answer 4: because 4 + 4 = 8."]
    assert "Question 2" not in prompt.text
    assert "the oldest 3 questions and their answers were left out" in prompt.notice


def test_a_solution_too_long_for_the_context_loses_its_middle_with_a_marker(tiny_tokenizer):
    steps = [f"Step {i}: we add {i} and {i} to get {2 * i}." for i in range(1, 120)]
    solution = " ".join(steps)
    question = "Why is step 3 true?"
    whole = len(chat_prompt_ids(tiny_tokenizer, conversation_messages(QWEN2_MATH, PROBLEM, solution, [], question)))
    limit = whole // 2
    prompt = fit_conversation(tiny_tokenizer, QWEN2_MATH, PROBLEM, solution, _exchanges(2), question, limit)
    assert len(prompt.ids) <= limit
    assert prompt.dropped_exchanges == 2  # the earlier turns go before any of the solution does
    sent = prompt.messages[2]["content"]
    assert sent.startswith("Step 1: we add 1 and 1 to get 2.")  # the start kept (step 3 included)
    assert sent.endswith("Step 119: we add 119 and 119 to get 238.")  # and the end (the answer)
    assert f"[... {prompt.solution_tokens_cut:,} tokens of this solution are left out here" in sent
    assert "Step 60:" not in sent and prompt.solution_tokens_cut > 0
    assert prompt.messages[1]["content"].startswith(PROBLEM) and prompt.messages[-1]["content"] == question
    assert "middle were left out" in prompt.notice


def test_no_room_for_the_solution_is_a_clear_error(tiny_tokenizer):
    question = "why? " * 200
    with pytest.raises(PromptTooLongError, match="Shorten the question"):
        fit_conversation(tiny_tokenizer, QWEN2_MATH, PROBLEM, SOLUTION * 20, [], question, 300)
    assert MIN_SOLUTION_TOKENS > 0


# ------------------------------------------------------------- through the Solver, local


@pytest.fixture(scope="module")
def stopping_solver(tmp_path_factory, tiny_tokenizer):
    path = build_scripted_model(tiny_tokenizer, SCRIPT, tmp_path_factory.mktemp("follow-stopping"), loop=False)
    solver = Solver(LocalBackend(load_causal_lm(str(path))))
    yield solver
    solver.close()


@pytest.fixture(scope="module")
def looping_solver(tmp_path_factory, tiny_tokenizer):
    path = build_scripted_model(tiny_tokenizer, SCRIPT, tmp_path_factory.mktemp("follow-looping"), loop=True)
    solver = Solver(LocalBackend(load_causal_lm(str(path), context_length=600), guard=NO_LOOP_GUARD))
    yield solver
    solver.close()


def test_a_follow_up_streams_its_answer_as_one_greedy_row(stopping_solver):
    prepared = stopping_solver.prepare_follow_up(PROBLEM, SOLUTION, "Why subtract 3 first?", max_new_tokens=50)
    request = prepared.request
    assert (request.greedy, request.n, request.temperature, request.rows) == (True, 0, 0.0, (0,))
    assert request.max_new_tokens == 50
    assert list(request.prompt_ids) == chat_prompt_ids(stopping_solver.backend.tokenizer, prepared.prompt.messages)
    events = list(stopping_solver.stream_follow_up(prepared))
    assert isinstance(events[0], Started) and events[0].rows == (0,)
    deltas = "".join(e.text for e in events if isinstance(e, Delta))
    done = [e.solution for e in events if isinstance(e, RowDone)]
    result = events[-1].result
    assert isinstance(events[-1], RunDone)
    assert deltas == SCRIPT and [s.text for s in done] == [SCRIPT]
    assert (result.greedy.text, result.greedy.finish_reason, result.greedy.tokens > 0) == (SCRIPT, "stop", True)
    assert result.samples == [] and result.vote is None and result.ranking is None
    assert result.problem == "Why subtract 3 first?"


def test_a_second_turn_sees_the_first(stopping_solver):
    first = stopping_solver.follow_up(stopping_solver.prepare_follow_up(PROBLEM, SOLUTION, "Why subtract 3 first?"))
    earlier = [("Why subtract 3 first?", first.greedy.text)]
    second = stopping_solver.prepare_follow_up(PROBLEM, SOLUTION, "And why divide by 2?", earlier)
    text = second.request.prompt_text
    order = [text.index(part) for part in (PROBLEM, SOLUTION, "Why subtract 3 first?", SCRIPT, "And why divide by 2?")]
    assert order == sorted(order)
    assert second.dropped_exchanges == 0 and second.notice is None
    assert stopping_solver.follow_up(second).greedy.text == SCRIPT


def test_stop_cancels_a_follow_up_and_the_backend_serves_on(looping_solver):
    cancel = threading.Event()
    prepared = looping_solver.prepare_follow_up(PROBLEM, SOLUTION, "Explain it again?", max_new_tokens=1000)
    budget = prepared.request.max_new_tokens  # what the context leaves
    assert budget > 400
    seen = 0
    events = []
    for event in looping_solver.stream_follow_up(prepared, cancel=cancel):
        events.append(event)
        if isinstance(event, Delta):
            seen += 1
            if seen == 5:
                cancel.set()
    result = events[-1].result
    # Stopped long before its budget (the decode thread may run ahead of this reader by the
    # deltas still queued, more of them on a loaded machine, but not by hundreds of tokens).
    assert result.cancelled and result.greedy.finish_reason == "cancelled" and result.greedy.tokens < budget // 2
    after = looping_solver.follow_up(looping_solver.prepare_follow_up(PROBLEM, SOLUTION, "Again?", max_new_tokens=5))
    assert (after.greedy.finish_reason, after.greedy.tokens) == ("length", 5)


def test_the_follow_up_budget_is_its_own_and_leaves_the_prompt_room(looping_solver):
    # context 600: a budget above half of it reserves half; the answer gets what the prompt leaves.
    prepared = looping_solver.prepare_follow_up(PROBLEM, SOLUTION, "Why?", max_new_tokens=4000)
    assert prepared.request.max_new_tokens == 600 - len(prepared.request.prompt_ids)
    long_solution = " ".join(f"Step {i}: {i} + {i} = {2 * i}." for i in range(200))
    cut = looping_solver.prepare_follow_up(PROBLEM, long_solution, "Why?", max_new_tokens=4000)
    assert len(cut.request.prompt_ids) <= 300 and cut.prompt.solution_tokens_cut > 0 and cut.notice
    small = looping_solver.prepare_follow_up(PROBLEM, long_solution, "Why?", max_new_tokens=100)
    assert len(small.request.prompt_ids) <= 500 and small.request.max_new_tokens == 100
    assert DEFAULT_FOLLOW_UP_TOKENS == 1024
    with pytest.raises(ConfigError):
        looping_solver.prepare_follow_up(PROBLEM, SOLUTION, "Why?", max_new_tokens=0)
    with pytest.raises(InvalidQuestionError):
        looping_solver.prepare_follow_up(PROBLEM, SOLUTION, "  ")


# ---------------------------------------------------------- through the openai backend


@pytest.fixture
def fake():
    require(importlib.util.find_spec("openai") is not None, "the openai client (pip install openai)")
    server = FakeServer(model=str(BUNDLED_DIR.resolve())).start()
    yield server
    server.stop()


def test_a_follow_up_goes_to_the_server_as_one_greedy_completion_of_the_conversation(fake):
    from model.backends.server import ServerBackend

    solver = Solver(ServerBackend(fake.url))
    try:
        first = solver.follow_up(solver.prepare_follow_up(PROBLEM, SOLUTION, "Why subtract 3 first?", max_new_tokens=64))
        assert (first.greedy.text, first.greedy.finish_reason) == (fake.script, "stop")
        second = solver.prepare_follow_up(PROBLEM, SOLUTION, "And then?", [("Why subtract 3 first?", first.greedy.text)], max_new_tokens=64)
        texts = "".join(e.text for e in solver.stream_follow_up(second) if isinstance(e, Delta))
        assert texts == fake.script
        bodies = fake.stream_requests
        assert len(bodies) == 2 and all((b["n"], b["temperature"], b["max_tokens"]) == (1, 0.0, 64) for b in bodies)
        assert bodies[1]["prompt"] == second.request.prompt_text
        assert "Why subtract 3 first?" in bodies[1]["prompt"] and fake.script in bodies[1]["prompt"]
    finally:
        solver.close()


def test_stop_hangs_up_a_follow_up_on_the_server(fake):
    from model.backends.server import ServerBackend

    fake.mode, fake.delay_s = "forever", 0.02
    solver = Solver(ServerBackend(fake.url, guard=NO_LOOP_GUARD))
    cancel = threading.Event()
    try:
        events = []
        for event in solver.stream_follow_up(solver.prepare_follow_up(PROBLEM, SOLUTION, "Why?", max_new_tokens=2000), cancel=cancel):
            events.append(event)
            if isinstance(event, Delta):
                cancel.set()
        assert events[-1].result.greedy.finish_reason == "cancelled"
    finally:
        solver.close()


# ------------------------------------------------------- the round a page makes, logged


def test_a_follow_up_round_trip_through_the_solver_and_the_log(stopping_solver, tmp_db_url):
    """What Solve and History do: solve, log; ask, stream, log; reopen and ask again."""
    from model.params import SamplingParams
    from storage import (
        AttemptOutcome,
        AttemptStart,
        FollowUpAnswer,
        SampleRecord,
        Store,
        new_session_id,
    )

    sid = new_session_id()
    solved = stopping_solver.solve(PROBLEM, SamplingParams(n=2, max_new_tokens=30, seed=1))
    with Store.open(tmp_db_url) as store:
        started = store.start_attempt(AttemptStart(sid, solved.problem, "scripted", "fp32", "cpu"))
        samples = [SampleRecord(s.index, s.kind, s.text, s.tokens, s.finish_reason) for s in solved.solutions]
        assert store.finish_attempt(started.attempt_id, AttemptOutcome("done"), samples).ok
        for question in ("Why is that the answer?", "Say it again?"):
            detail = store.get_attempt(started.attempt_id, session_id=sid)  # None: not this session's
            solution = next(s for s in detail.samples if s.index == 2)  # "ask about this one" on sample #2
            prepared = stopping_solver.prepare_follow_up(detail.problem, solution.text, question, detail.exchanges(2))
            asked = store.add_question(started.attempt_id, session_id=sid, sample_index=2, text=prepared.question)
            result = stopping_solver.follow_up(prepared)
            answer = FollowUpAnswer(result.greedy.text, result.greedy.finish_reason, result.greedy.tokens,
                                    model_id=stopping_solver.info.model)
            assert store.add_answer(started.attempt_id, asked.turn_id, session_id=sid, answer=answer).ok
        assert "Why is that the answer?" in prepared.request.prompt_text  # the second turn saw the first
        final = store.get_attempt(started.attempt_id, session_id=sid)
    assert final.exchanges(2) == [("Why is that the answer?", SCRIPT), ("Say it again?", SCRIPT)]
    assert final.turns_about(0) == () and [t.role for t in final.turns] == ["student", "assistant"] * 2
