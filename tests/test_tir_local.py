"""Reasoning with Python on the local backend's shared batch: a row that stops at ```output pauses
(keeping its slot and cache) while the other rows decode, its cell runs off the decode thread,
the output is read into its cache and the row goes on; on the CPU its numbers from there on are
those of a run whose prompt already held the same text, bit for bit; Stop ends a paused row at
once; after 4 runs the model finishes with Qwen's limit note. With tiny real models: a scripted
one that writes a cell, and a random one made to say a cell by teacher forcing."""

from __future__ import annotations

import threading
import time

import pytest

from judgements.tool_text import prose_of
from model.backends.local import LocalBackend
from model.backends.protocol import GenerationRequest
from model.errors import ConfigError
from model.loading import load_causal_lm
from model.params import SamplingParams
from model.prompts import TIR_INSTRUCTION, build_messages, build_prompt
from model.repetition import RepetitionGuard
from model.solver import Solver
from model.tools import LIMIT_NOTE, output_suffix
from model.types import Delta, RowDone, RunDone, ToolRan
from tests.tir_parts import CELL, Forcing, Runner, build_coding_model, wait_for

NO_LOOP_GUARD = RepetitionGuard(min_span=10**9, same_boxed=10**9)
ROUND = "Let me compute." + CELL + "```output\n42\n```\n"


@pytest.fixture(scope="module")
def coding(tmp_path_factory, tiny_tokenizer):
    return load_causal_lm(str(build_coding_model(tiny_tokenizer, tmp_path_factory.mktemp("coding"))))


@pytest.fixture(scope="module")
def random_model(tiny_model_dir):
    return load_causal_lm(str(tiny_model_dir))


def test_the_tir_prompt_is_qwens_for_any_family():
    for family in ("qwen2-math", "qwen2.5-math"):
        assert build_messages("What is 2+3?", family, tir=True) == [
            {"role": "system", "content": TIR_INSTRUCTION}, {"role": "user", "content": "What is 2+3?"}]
    assert TIR_INSTRUCTION == ("Please integrate natural language reasoning with programs to solve the problem above, "
                               "and put your final answer within \\boxed{}.")


def test_output_suffix_closes_the_block_whatever_the_stop_token_carried():
    assert output_suffix("x\n```\n```output", "42", last=False) == "\n42\n```\n"
    assert output_suffix("x\n```\n```output\n", "42", last=False) == "42\n```\n"
    assert output_suffix("x```output", "Done", last=True) == "\nDone\n```\n" + LIMIT_NOTE


def test_every_row_runs_its_cells_up_to_the_limit_then_finishes(coding):
    """Greedy row and samples: 4 rounds each (earlier good cells run again first), the limit
    note after the 4th output, then the model's own stop; calls are reported in order."""
    runner = Runner()
    solver = Solver(LocalBackend(coding, tools=runner, guard=NO_LOOP_GUARD))
    try:
        events = list(solver.stream("What is 6 times 7?", SamplingParams(n=2, max_new_tokens=400, seed=1, tir=True)))
    finally:
        solver.close()
    result = events[-1].result
    for solution in result.solutions:
        assert solution.text == ROUND * 4 + LIMIT_NOTE
        assert solution.finish_reason == "stop"
        assert [c.output for c in solution.tool_calls] == ["42"] * 4 and all(c.ok for c in solution.tool_calls)
        assert solution.tool_calls[0].code == "print(6 * 7)\n"
        assert solution.tokens == 3 * 4  # the model's tokens; the outputs are not counted
    assert sorted(len(cells) for cells in runner.runs) == sorted([1, 2, 3, 4] * 3)
    ran = [e for e in events if isinstance(e, ToolRan)]
    assert len(ran) == 12
    # Each call is reported after the text of its cell and before its output.
    row0 = [e for e in events if isinstance(e, (Delta, ToolRan)) and e.row == 0]
    first = next(i for i, e in enumerate(row0) if isinstance(e, ToolRan))
    assert "".join(e.text for e in row0[:first]).endswith("```output")
    assert row0[first + 1].text == "\n42\n```\n"


def test_without_a_sandbox_a_tir_run_is_refused(coding):
    solver = Solver(LocalBackend(coding))
    try:
        assert not solver.info.tools
        with pytest.raises(ConfigError, match="Python"):
            solver.prepare("What is 6 times 7?", SamplingParams(n=1, tir=True))
    finally:
        solver.close()


def test_other_runs_decode_while_a_row_waits_for_its_code(coding):
    runner = Runner(hold=True)
    backend = LocalBackend(coding, tools=runner, guard=NO_LOOP_GUARD)
    solver = Solver(backend)
    results = {}
    try:
        thread = threading.Thread(target=lambda: results.setdefault(
            "tir", solver.solve("Six sevens?", SamplingParams(n=0, max_new_tokens=400, seed=1, tir=True))))
        thread.start()
        assert runner.started.wait(30)
        steps = backend.steps_done
        plain = solver.solve("Six sevens, in words?", SamplingParams(n=3, max_new_tokens=50, seed=2))
        assert not runner.released.is_set() and thread.is_alive()  # the TIR row still waits
        assert backend.steps_done > steps
        runner.release()
        thread.join(60)
    finally:
        solver.close()
    assert all(s.finish_reason == "stop" and s.text == "Let me compute." + CELL + "```output" for s in plain.solutions)
    assert results["tir"].greedy.text == ROUND * 4 + LIMIT_NOTE


def test_the_other_rows_of_the_run_decode_while_one_waits(random_model, tiny_tokenizer):
    """Row 0 is made to write a cell; while its run is held, rows 1 and 2 keep streaming."""
    runner = Runner(hold=True)
    backend = LocalBackend(random_model, tools=runner, guard=NO_LOOP_GUARD)
    forcing = Forcing(backend.slots, tiny_tokenizer.encode(CELL + "```output", add_special_tokens=False))
    solver = Solver(backend)
    seen: dict[int, int] = {1: 0, 2: 0}
    try:
        stream = solver.stream("Compute 6 * 7.", SamplingParams(n=2, max_new_tokens=300, seed=3, tir=True, temperature=1.0))
        for event in stream:
            if isinstance(event, Delta) and runner.started.is_set() and event.row in seen:
                seen[event.row] += 1
                if min(seen.values()) >= 5:
                    break
        assert not runner.released.is_set()
        runner.release()
        stream.close()
    finally:
        forcing.undo()
        solver.close()
    assert min(seen.values()) >= 5


def test_stop_during_a_code_run_ends_the_row_at_once(coding):
    runner = Runner(hold=True)
    solver = Solver(LocalBackend(coding, tools=runner, guard=NO_LOOP_GUARD))
    cancel = threading.Event()
    try:
        stream = solver.stream("Six sevens?", SamplingParams(n=1, max_new_tokens=400, seed=1, tir=True), cancel=cancel)
        for event in stream:
            if isinstance(event, Delta) and event.text.endswith("```output"):
                break
        assert runner.started.wait(30)
        stopped = time.perf_counter()
        cancel.set()
        rest = list(stream)
        took = time.perf_counter() - stopped
        result = rest[-1].result
        again = solver.solve("Six sevens?", SamplingParams(n=0, max_new_tokens=400, seed=1, tir=False))
    finally:
        runner.release()
        solver.close()
    assert took < 2.0
    assert result.cancelled and all(s.finish_reason == "cancelled" for s in result.solutions)
    assert all(s.text.endswith("```output") and not s.tool_calls for s in result.solutions)
    assert again.greedy.finish_reason == "stop"  # the backend serves on


@pytest.mark.parametrize("reread", [True, False])
def test_after_its_output_a_row_decodes_as_if_the_prompt_held_the_text(random_model, tiny_tokenizer, reread):
    """A random model is made to write a cell; its output is read into the row's cache; from
    there the row's tokens and log-probs equal those of a run whose prompt already held the
    whole text: bit for bit when the row is read again (the CPU's way), to rounding when only
    the output is read."""
    tokenizer = random_model.tokenizer
    cell = tokenizer.encode(CELL + "```output", add_special_tokens=False)
    backend = LocalBackend(random_model, tools=Runner("42"), guard=NO_LOOP_GUARD, tool_reread=reread)
    solver = Solver(backend)
    forcing = Forcing(backend.slots, cell)
    try:
        tir = solver.solve("Compute 6 * 7.", SamplingParams(n=0, max_new_tokens=len(cell) + 60, seed=0, tir=True))
        after_output = list(forcing.seen)
        forcing.undo()
        suffix = output_suffix(CELL + "```output", "42", last=False)
        prompt = build_prompt(tokenizer, "Compute 6 * 7.", random_model.info.family, tir=True)
        ids = prompt + cell + tokenizer.backend_tokenizer.encode(suffix, add_special_tokens=False).ids
        reference = Forcing(backend.slots, [])
        request = GenerationRequest("", tuple(ids), True, 0, 0.0, 1.0, 60 - len(ids) + len(prompt) + len(cell), 0)
        events = list(backend.stream(request, threading.Event()))
        reference.undo()
    finally:
        solver.close()
    assert tir.greedy.tool_calls and tir.greedy.text.startswith(CELL + "```output" + suffix)
    got, want = after_output[: len(reference.seen)], reference.seen[: len(after_output)]
    assert len(got) >= 20
    assert [t for t, _ in got] == [t for t, _ in want]
    if reread:
        assert got == want
    else:
        assert max(abs(a - b) for (_, a), (_, b) in zip(got, want)) < 1e-4
    assert any(e for e in events)


def test_the_step_checker_reads_only_the_prose():
    text = "We need $6 \\times 7$.\n" + CELL + "```output\n41\n```\nSo $6 \\times 7 = 42$."
    prose = prose_of(text)
    assert len(prose) == len(text) and "print" not in prose and "41" not in prose
    assert prose.endswith("So $6 \\times 7 = 42$.")
