"""The bundled model reasons with Python (issue 26, item 5): its training data and the shipped weights.

The data tests pin the tool-integrated solutions the trainer writes to what the app's loop does
with them: the output block is exactly what the sandbox prints for the cell, closed as
`model.tools.output_suffix` closes it, and the trainer tokenizes the output on its own and takes
no loss on it. The shipped-model test runs the bundled model as the app runs it with Python (the
TIR prompt, the local backend, the real sandbox), greedily and seeded, on held-out problems.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from judgements.answers import equivalent
from judgements.tool_text import blocks, last_program
from model.tools import output_suffix
from training.synthetic import (
    DEFAULT_HELDOUT_PATH,
    TIR_OPENERS,
    generate_problem,
    read_jsonl,
    run_program,
    stream_problems,
    stream_tir_problems,
    tir_program,
    tir_solution,
)

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "assets" / "bundled-model"
# The first held-out problems, greedy, with Python: how many of them the shipped model must get
# right (it gets 8 of 8 on this machine; a margin for another CPU's arithmetic).
TIR_PROBLEMS = 8
TIR_RIGHT_AT_LEAST = 6


@pytest.fixture(scope="module")
def sandbox():
    from sandbox import Sandbox

    with Sandbox() as box:
        if not box.confined_enough():
            pytest.skip("the sandbox cannot confine code on this machine; the app would not run a model's code here")
        yield box


def test_programs_compute_the_answer_without_doing_arithmetic_in_the_model():
    rng = random.Random(11)
    for _ in range(2000):
        problem = generate_problem(rng)
        code = tir_program(problem.solution)
        assert run_program(code) == problem.answer, (problem.problem, code)
        lines = code.splitlines()
        assert lines[-1].startswith("print(") and all(" = " in line for line in lines[:-1])
        # Every number in the code is one the problem states: results are named, not recomputed.
        numbers = {w for line in lines[:-1] for w in line.split(" = ", 1)[1].split() if w.isdigit()}
        stated = set(problem.problem.replace(",", " ").replace(".", " ").replace("?", " ").replace("-", " ").split())
        assert numbers <= stated, (problem.problem, code)


def test_tir_solutions_are_in_the_apps_format_with_the_sandboxs_exact_output(sandbox):
    rng = random.Random(5)
    problems = [generate_problem(rng) for _ in range(12)]
    for problem in problems:
        solution = tir_solution(problem, rng)
        assert solution.written.split("\n\n")[0] in TIR_OPENERS
        assert solution.written.endswith("```\n```output")
        # The app's loop appends exactly this after a row stops at ```output.
        assert solution.output_block == output_suffix(solution.written, solution.output, last=False)
        code = last_program(solution.written)
        assert code.strip() == tir_program(problem.solution)
        # What the real sandbox shows the model for the cell is the training data's output.
        result = sandbox.run([code])
        assert result.ok and result.output == solution.output == problem.answer
        kinds = [b.kind for b in blocks(solution.text)]
        assert kinds == ["prose", "code", "output", "prose"]
        assert solution.rest.endswith(f"$\\boxed{{{problem.answer}}}$.")
        assert problem.answer in solution.rest.split("\n\n")[0]  # the prose reads the output


def test_tir_stream_is_its_own_seed_space_and_skips_the_heldout_set():
    heldout = {p.problem for p in read_jsonl(DEFAULT_HELDOUT_PATH)}
    tir = stream_tir_problems(0, exclude=heldout)
    words = stream_problems(0, exclude=heldout)
    tir_texts = [next(tir)[0].problem for _ in range(300)]
    assert not heldout & set(tir_texts)
    assert tir_texts[:20] != [next(words).problem for _ in range(20)]
    first = [(p.problem, s.text) for p, s in (next(stream_tir_problems(0)) for _ in range(1))]
    assert first == [(p.problem, s.text) for p, s in (next(stream_tir_problems(0)) for _ in range(1))]


def test_trainer_takes_no_loss_on_the_prompt_or_the_output_block():
    from transformers import AutoTokenizer

    from model.prompts import render_prompt
    from training.train_bundled import IGNORE, encode_tir_example

    tokenizer = AutoTokenizer.from_pretrained(BUNDLED)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    problem, solution = next(stream_tir_problems(0))
    ids, labels = encode_tir_example(tokenizer, problem, solution, im_end)
    assert tokenizer.decode(ids) == render_prompt(tokenizer, problem.problem, "qwen2-math", tir=True) + solution.text + "<|im_end|>"
    learnt = tokenizer.decode([i for i, y in zip(ids, labels) if y != IGNORE])
    assert learnt == solution.written + solution.rest + "<|im_end|>"
    # The output block is tokenized on its own, as the app tokenizes what it appends.
    output_ids = tokenizer(solution.output_block, add_special_tokens=False)["input_ids"]
    masked = [i for i, y in zip(ids, labels) if y == IGNORE]
    assert masked[-len(output_ids):] == output_ids


def test_training_with_tir_rows_and_going_on_from_a_saved_model(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.train_bundled import main

    toy = ["--steps", "2", "--max-minutes", "60", "--batch-size", "4", "--drill-rows", "1", "--vocab-size", "300",
           "--tokenizer-problems", "100", "--hidden-size", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1",
           "--intermediate-size", "64", "--warmup-steps", "1", "--log-every", "1", "--tir-rows", "2"]
    first, second = tmp_path / "first", tmp_path / "second"
    main(["--out", str(first), "--tokenizer-tir-problems", "50", *toy])
    main(["--out", str(second), "--init", str(first), "--seed", "3", *toy])
    printed = capsys.readouterr().out
    assert f"going on from {first}" in printed and printed.count("after 2 steps") == 2
    assert AutoTokenizer.from_pretrained(second).get_vocab() == AutoTokenizer.from_pretrained(first).get_vocab()
    a = AutoModelForCausalLM.from_pretrained(first).state_dict()
    b = AutoModelForCausalLM.from_pretrained(second).state_dict()
    assert a.keys() == b.keys() and any(not (a[k] == b[k]).all() for k in a)


def test_shipped_model_writes_a_cell_that_runs_and_reads_its_output(sandbox):
    """Greedy, with Python, as the offline app runs it: the cell runs in the sandbox, the model
    reads the output into its answer, and most answers are right."""
    from model.backends.local import LocalBackend
    from model.loading import load_causal_lm
    from model.params import SamplingParams
    from model.solver import Solver

    loaded = load_causal_lm("bundled", precision="auto", device="cpu")
    solver = Solver(LocalBackend(loaded, inline=True, tools=sandbox))
    problems = read_jsonl(DEFAULT_HELDOUT_PATH)[:TIR_PROBLEMS]
    right = 0
    for i, problem in enumerate(problems):
        params = SamplingParams(n=0, max_new_tokens=300, seed=i, tir=True)
        greedy = solver.solve(solver.prepare(problem.problem, params)).greedy
        assert greedy.finish_reason == "stop", greedy.text
        assert greedy.tool_calls, f"no Python cell: {greedy.text}"
        call = greedy.tool_calls[0]
        assert call.ok, call.output
        assert f"```output\n{call.output}\n```\n" in greedy.text
        # The answer is the printed output, read back (whether or not the program was right).
        assert equivalent(greedy.answer, greedy.tool_calls[-1].output), greedy.text
        right += equivalent(greedy.answer, problem.answer)
    assert right >= TIR_RIGHT_AT_LEAST, f"{right} of {len(problems)} right"


def test_evaluation_command_reasons_with_python_through_the_sandbox(tmp_path, capsys, sandbox):
    import json

    from evaluation.cli import main

    out = tmp_path / "eval"
    status = main(["--data", str(DEFAULT_HELDOUT_PATH), "--model", "bundled", "--reward-model", "bundled",
                   "--n", "2", "--limit", "2", "--tir", "--out", str(out), "--no-progress"])
    assert status == 0
    assert "- Reasoning: with Python" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sampling"]["reasoning"] == "with Python"
    # Every solution (2 problems x greedy + 2 samples) ran its cell in the sandbox.
    assert summary["code"]["solutions_with_code"] == 6 and summary["code"]["runs"] >= 6
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(r["greedy"]["code_runs"] >= 1 for r in rows)
