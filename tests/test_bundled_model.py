"""The bundled offline model: its synthetic data, its training script, and the shipped weights.

The training test runs the real script for a few steps at toy sizes; the shipped-model tests
load `assets/bundled-model` offline exactly as the app does (`from_pretrained`, the app's
Qwen2-Math prompt, greedy decoding, stop on `<|im_end|>`).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from judgements.answers import equivalent, extract_answer
from training.synthetic import (
    DEFAULT_HELDOUT_PATH,
    EQUATION,
    equation_value,
    generate_problem,
    heldout_problems,
    normalise,
    read_jsonl,
    solution_equations,
    stream_problems,
)

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "assets" / "bundled-model"

# An easy held-out problem (two steps, small numbers) that the shipped model solves greedily
# with a wide margin between its first and second choice at every token, so the test does not
# hang on a near-tie that another CPU's arithmetic could flip.
EASY_PROBLEM = "Sofia has 19 cards. Lily has 2 times as many cards as Sofia. How many cards do they have altogether?"
EASY_ANSWER = "57"


def test_generated_solutions_are_correct_step_by_step():
    rng = random.Random(7)
    for _ in range(2000):
        problem = generate_problem(rng)
        equations = solution_equations(problem.solution)
        assert 2 <= len(equations) <= 4, problem.solution
        for expression, result in equations:
            assert equation_value(expression) == int(result), (expression, result)
        assert int(equations[-1][1]) == int(problem.answer)
        assert problem.solution.endswith(f"$\\boxed{{{problem.answer}}}$.")
        assert int(problem.answer) > 0


def test_heldout_file_is_reproducible_and_disjoint_from_training():
    shipped = read_jsonl(DEFAULT_HELDOUT_PATH)
    assert len(shipped) >= 200
    assert shipped == heldout_problems(len(shipped))
    texts = {normalise(p.problem) for p in shipped}
    assert len(texts) == len(shipped)
    stream = stream_problems(0, exclude=[p.problem for p in shipped])
    for _ in range(3000):
        assert normalise(next(stream).problem) not in texts
    for line in DEFAULT_HELDOUT_PATH.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {"problem", "solution", "answer"}


def test_training_script_runs_a_few_steps_and_saves_a_loadable_model(tmp_path, capsys):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2ForCausalLM

    from model.prompts import build_prompt
    from training.train_bundled import encode_example, main

    out = tmp_path / "tiny-bundled"
    # A budget no machine reaches: the step count alone bounds the work.
    main([
        "--out", str(out), "--steps", "3", "--max-minutes", "60", "--batch-size", "4", "--drill-rows", "1",
        "--vocab-size", "300", "--tokenizer-problems", "200", "--hidden-size", "32", "--layers", "1",
        "--heads", "2", "--kv-heads", "1", "--intermediate-size", "64", "--warmup-steps", "1",
        "--log-every", "1",
    ])
    printed = capsys.readouterr().out
    assert "after 3 steps" in printed and all(f"step {s:5d}" in printed for s in range(3))
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert model.config.model_type == "qwen2"
    assert model.config.max_position_embeddings == 4096
    stops = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    assert model.generation_config.eos_token_id == stops
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    ids = build_prompt(tokenizer, "What is 2 + 3?", "qwen2-math")
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    assert text.endswith("within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n")

    # The script's initialisation, rebuilt as it builds it (seed 0, nothing random in between):
    # three optimiser steps moved every tensor and lowered the loss on problems it never saw.
    torch.manual_seed(0)
    initial = Qwen2ForCausalLM(model.config).eval()
    trained, start = model.state_dict(), initial.state_dict()
    assert trained.keys() == start.keys() and not any(torch.equal(trained[k], start[k]) for k in trained)

    def heldout_loss(lm) -> float:
        rows = [encode_example(tokenizer, p, stops[0]) for p in read_jsonl(DEFAULT_HELDOUT_PATH)[:8]]
        with torch.no_grad():
            return sum(lm(input_ids=torch.tensor([i]), labels=torch.tensor([y])).loss.item() for i, y in rows) / len(rows)

    assert heldout_loss(model) < heldout_loss(initial)


def test_training_refuses_a_batch_with_no_word_problem(tmp_path):
    from training.train_bundled import Recipe, main

    with pytest.raises(ValueError, match="drill_rows"):
        Recipe(batch_size=8, drill_rows=8)
    with pytest.raises(SystemExit, match="--drill-rows"):
        main(["--out", str(tmp_path / "x"), "--batch-size", "4", "--drill-rows", "4"])
    assert not (tmp_path / "x").exists()


def test_training_stops_cleanly_at_the_time_budget(tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from training.train_bundled import main

    out = tmp_path / "budget"
    main([
        "--out", str(out), "--steps", "1000", "--max-minutes", "0", "--vocab-size", "300",
        "--tokenizer-problems", "100", "--hidden-size", "32", "--layers", "1", "--heads", "2",
        "--kv-heads", "1", "--intermediate-size", "64",
    ])
    # A budget of 0 minutes is spent before the first step: no step runs, the model is still saved.
    printed = capsys.readouterr().out
    assert "time budget of 0.0 minutes reached at step 0" in printed and "after 0 steps" in printed
    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == "qwen2"


@pytest.fixture(scope="module")
def shipped():
    """The shipped model and tokenizer, loaded offline in fp32 as the app runs them on a CPU."""
    import os

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    tokenizer = AutoTokenizer.from_pretrained(BUNDLED)
    model = AutoModelForCausalLM.from_pretrained(BUNDLED, dtype=torch.float32).eval()
    return model, tokenizer


def test_shipped_model_is_a_small_qwen2_with_chatml(shipped):
    from training.tiny import QWEN2_CHAT_TEMPLATE

    model, tokenizer = shipped
    weights = sum(f.stat().st_size for f in BUNDLED.glob("*.safetensors"))
    assert 0 < weights < 20 * 2**20
    assert (BUNDLED / "README.md").is_file()
    assert model.config.model_type == "qwen2"
    assert model.config.max_position_embeddings == 4096
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.chat_template == QWEN2_CHAT_TEMPLATE
    vocab = tokenizer.get_vocab()
    stops = [vocab["<|im_end|>"], vocab["<|endoftext|>"]]
    assert model.generation_config.eos_token_id == stops
    assert "<|im_start|>" in vocab
    # Digits are split one by one, as in Qwen2.
    assert tokenizer.tokenize("12345") == list("12345")


def test_shipped_model_greedily_solves_an_easy_heldout_problem(shipped):
    import torch

    from model.prompts import build_prompt, stop_token_ids
    from training.train_bundled import extract_boxed_int

    model, tokenizer = shipped
    heldout = {p.problem: p for p in read_jsonl(DEFAULT_HELDOUT_PATH)}
    assert heldout[EASY_PROBLEM].answer == EASY_ANSWER
    ids = build_prompt(tokenizer, EASY_PROBLEM, "qwen2-math")
    with torch.inference_mode():
        out = model.generate(
            input_ids=torch.tensor([ids]), max_new_tokens=200, do_sample=False,
            eos_token_id=stop_token_ids(tokenizer, model.generation_config.eos_token_id),
        )
    new = out[0, len(ids):].tolist()
    assert new[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>"), "the solution should end its turn"
    solution = tokenizer.decode(new, skip_special_tokens=True)
    assert "\n\n" in solution, solution
    assert extract_boxed_int(solution) == EASY_ANSWER, solution


def test_bundled_model_solves_end_to_end_through_solver_answers_reward_and_log(tmp_path):
    """As the app runs offline: the bundled policy and reward model, the Solver, the vote, the log."""
    from model.backends.local import LocalBackend
    from model.params import SamplingParams
    from model.loading import load_causal_lm
    from model.reward import load_scorer
    from model.solver import Solver
    from storage import Store
    from storage.records import sample_records
    from storage.review import replay
    from ui.logbook import attempt_start, outcome_of, run_view_from_replay

    loaded = load_causal_lm("bundled", precision="auto", device="cpu")
    assert loaded.info.source == "bundled" and loaded.info.family == "qwen2-math"
    scorer, note = load_scorer("bundled", device="cpu", precision=loaded.info.precision, policy_family="qwen2-math")
    assert scorer is not None and scorer.label == "reward", note
    solver = Solver(LocalBackend(loaded, inline=True), scorer=scorer)
    params = SamplingParams(n=4, temperature=1.0, top_p=0.9, max_new_tokens=200, seed=3)
    run = solver.prepare(EASY_PROBLEM, params)
    result = solver.solve(run)
    assert result.greedy.finish_reason == "stop" and equivalent(result.greedy.answer, EASY_ANSWER)
    assert len(result.samples) == 4 and all(s.finish_reason == "stop" for s in result.samples)
    assert result.vote.total == 4 and result.vote.count >= 1
    assert result.ranking.label == "reward" and 0 <= result.ranking.rm_index < len(result.samples)
    assert all(s.reward is not None for s in result.samples)

    store = Store.open(f"sqlite:///{tmp_path / 'log.db'}")
    status = store.start_attempt(attempt_start("browser-1", run, solver.info))
    assert store.finish_attempt(status.attempt_id, outcome_of(result), sample_records(result.solutions, result.analysis)).ok
    detail = store.get_attempt(status.attempt_id, session_id="browser-1")
    assert detail.status == "done" and detail.model_id == loaded.info.name
    assert equivalent(detail.greedy_answer, EASY_ANSWER) and detail.maj_answer == result.vote.answer
    assert [s.index for s in detail.samples] == [0, 1, 2, 3, 4]
    assert detail.samples[0].text == result.greedy.text
    # Reopened, the attempt is the same solutions with the same RM pick, found by index.
    view = run_view_from_replay(replay(store, status.attempt_id, session_id="browser-1"))
    assert [view.rows[i] for i in sorted(view.rows)] == result.solutions
    rm_sample = result.samples[result.ranking.rm_index]
    assert detail.rm_index == rm_sample.index and view.vote.rm_index == rm_sample.index
    assert view.vote.labels == [c.answer for c in result.vote.clusters]
    # The run's analysis came back with it, as logged: every solution's verdicts, the checked vote, the map.
    assert result.analysis is not None and view.checks == {s.index: s for s in result.analysis.solutions}
    assert view.checked.answer == result.analysis.checked.answer and view.map == result.analysis.map


def _votes(answer: str, answers: list[str]) -> int:
    """How many of `answers` are equivalent to `answer` (its own included)."""
    return sum(equivalent(answer, other) for other in answers)


def test_evaluation_command_runs_on_the_bundled_model_and_heldout_set(tmp_path, capsys):
    from evaluation.cli import main

    data = tmp_path / "heldout-6.jsonl"
    data.write_text("".join(DEFAULT_HELDOUT_PATH.read_text(encoding="utf-8").splitlines(keepends=True)[:6]), encoding="utf-8")
    out = tmp_path / "eval"
    main(["--data", str(data), "--model", "bundled", "--reward-model", "bundled", "--n", "4", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["data"]["problems"] == 6 and summary["scorer"]["label"] == "reward"
    assert [row["n"] for row in summary["at_n"]] == [1, 2, 4] and summary["greedy"]["total"] == 6
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6
    # The summary is a recount of the per-problem lines, and each line of its own samples.
    results = [json.loads(line) for line in lines]
    assert summary["greedy"]["correct"] == sum(r["greedy"]["correct"] for r in results)
    for row in summary["at_n"]:
        for method in ("maj", "checked", "rm", "weighted"):
            counted = sum(r["at_n"][str(row["n"])][method]["correct"] for r in results)
            assert row[method]["correct"] == counted and 0 <= row[method]["accuracy"] <= 1
        assert row["pass"]["correct"] == sum(any(s["correct"] for s in r["samples"][: row["n"]]) for r in results)
    for r in results:
        assert len(r["samples"]) == 4 and all(s["score"] is not None for s in r["samples"])
        assert [s["correct"] for s in r["samples"]] == [equivalent(s["answer"], r["reference"]) for s in r["samples"]]
        for n in (1, 2, 4):
            answers = [s["answer"] for s in r["samples"][:n] if s["answer"] is not None]
            maj = r["at_n"][str(n)]["maj"]["answer"]
            # Maj@N is an answer with the most equivalent votes among the first N (None without any answer).
            assert (maj is None) == (not answers)
            assert maj is None or _votes(maj, answers) == max(_votes(a, answers) for a in answers)
            assert r["at_n"][str(n)]["maj"]["correct"] == (maj is not None and equivalent(maj, r["reference"]))
    assert (out / "accuracy.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Maj@N" in printed and "RM@N" in printed
    # Solved one at a time instead of 8 at once in the shared batch: the very same results.
    main(["--data", str(data), "--model", "bundled", "--reward-model", "bundled", "--n", "4", "--parallel", "1",
          "--out", str(tmp_path / "one-at-a-time")])
    again = (tmp_path / "one-at-a-time" / "results.jsonl").read_text(encoding="utf-8").splitlines()
    without_timings = lambda line: {k: v for k, v in json.loads(line).items() if k != "timings"}  # noqa: E731
    assert [without_timings(x) for x in again] == [without_timings(x) for x in lines]


def test_reward_model_trainer_samples_trains_and_saves_a_loadable_scorer(tmp_path, monkeypatch):
    from model.reward import load_scorer
    from training.train_bundled_rm import main
    from judgements.solution import Solution

    out, cache = tmp_path / "rm", tmp_path / "solutions.jsonl"
    # A budget no machine reaches: --epochs alone bounds the training.
    args = ["--kind", "orm", "--problems", "4", "--samples", "2", "--max-new-tokens", "96", "--epochs", "1", "--batch", "4",
            "--max-minutes", "60", "--solutions", str(cache), "--out", str(out)]
    main(args)
    assert len(cache.read_text(encoding="utf-8").splitlines()) == 4 * 3
    report = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert report["problems"] == 4 and report["samples_per_problem"] == 3
    # 3 of the 4 problems train (85%), their 9 solutions in batches of 4: one epoch is 3 steps.
    assert (report["train"], report["valid"], report["steps"]) == (9, 3, 3)
    scorer, note = load_scorer(str(out), device="cpu", precision="fp32", policy_family="qwen2-math")
    assert scorer is not None and scorer.label == "reward", note
    texts = ["Lily has $19 \\times 2 = 38$ cards.\n\nThe answer is $\\boxed{57}$.", "x"]
    scores = scorer.score(EASY_PROBLEM, [Solution(i + 1, "sampled", t, 10, "stop", -0.5) for i, t in enumerate(texts)])
    assert len(scores) == 2 and all(math.isfinite(s.total) for s in scores)
    written = cache.stat().st_mtime_ns
    # Every later run reads the cached solutions instead of sampling again.
    import training.train_bundled_rm as trainer

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled again instead of reading the cached solutions")

    monkeypatch.setattr(trainer, "sample_solutions", no_sampling)
    main(args)
    assert cache.stat().st_mtime_ns == written

    # --trunk: the reward model starts from another language model, with that model's size and tokenizer.
    from transformers import AutoTokenizer

    from training.train_bundled import main as train_lm

    trunk, out_trunk = tmp_path / "verifier-lm", tmp_path / "rm-trunk"
    train_lm(["--out", str(trunk), "--seed", "1", "--steps", "2", "--batch-size", "4", "--drill-rows", "1",
              "--vocab-size", "300", "--tokenizer-problems", "200", "--hidden-size", "32", "--layers", "1",
              "--heads", "2", "--kv-heads", "1", "--intermediate-size", "64", "--warmup-steps", "1"])
    main(args + ["--trunk", str(trunk), "--out", str(out_trunk)])
    report = json.loads((out_trunk / "training.json").read_text(encoding="utf-8"))
    assert report["trunk"] == str(trunk) and report["steps"] == 3
    config = json.loads((out_trunk / "config.json").read_text(encoding="utf-8"))
    assert config["hidden_size"] == 32 and config["num_hidden_layers"] == 1
    assert AutoTokenizer.from_pretrained(out_trunk).get_vocab() == AutoTokenizer.from_pretrained(trunk).get_vocab()
    scorer, note = load_scorer(str(out_trunk), device="cpu", precision="fp32", policy_family="qwen2-math")
    assert scorer is not None, note
    scores = scorer.score(EASY_PROBLEM, [Solution(i + 1, "sampled", t, 10, "stop", -0.5) for i, t in enumerate(texts)])
    assert len(scores) == 2 and all(math.isfinite(s.total) for s in scores)

    # --kind likelihood (the default): the second LM as it is, and a head fitted on the labelled samples.
    from model.reward import LikelihoodRewardScorer

    out_lrm = tmp_path / "lrm"
    likelihood_args = [a for a in args if a not in ("--kind", "orm")]
    with pytest.raises(SystemExit):
        main(likelihood_args)  # no --trunk: refused, with how to train one
    main(likelihood_args + ["--trunk", str(trunk), "--out", str(out_lrm)])
    report = json.loads((out_lrm / "training.json").read_text(encoding="utf-8"))
    # (Ranking accuracies may be NaN here: four problems leave one validation problem, maybe without a pair.)
    assert report["kind"] == "likelihood" and {"pair_accuracy", "train_pair_accuracy"} <= set(report)
    assert "--epochs" not in report["command"] and "--kind likelihood" in report["command"]
    config = json.loads((out_lrm / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["Qwen2ForLikelihoodRewardModel"] and config["hidden_size"] == 32
    scorer, note = load_scorer(str(out_lrm), device="cpu", precision="fp32", policy_family="qwen2-math")
    assert isinstance(scorer, LikelihoodRewardScorer), note
    assert scorer.model.score.weight.abs().sum() > 0  # the head was fitted, not left at zero
    scores = scorer.score(EASY_PROBLEM, [Solution(i + 1, "sampled", t, 10, "stop", -0.5) for i, t in enumerate(texts)])
    assert len(scores) == 2 and all(math.isfinite(s.total) for s in scores)


def _tens_slip(solution: str) -> str | None:
    """The solution with its last equation's tens digit one higher, carried into the boxed answer."""
    last = list(EQUATION.finditer(solution))[-1]
    result = last.group(2)
    if len(result) < 2:
        return None
    slipped = result[:-2] + str((int(result[-2]) + 1) % 10) + result[-1]
    tail = solution[last.end(2) :].replace("\\boxed{" + result + "}", "\\boxed{" + slipped + "}")
    return solution[: last.start(2)] + slipped + tail


def test_bundled_reward_model_ranks_carry_slips_below_right_solutions():
    """The shipped reward model checks arithmetic: a right reference solution outscores the same
    solution with a slipped tens digit in its last step (the policy's commonest error)."""
    from model.reward import LikelihoodRewardScorer, load_scorer
    from judgements.solution import Solution

    scorer, note = load_scorer("bundled", device="cpu", precision="fp32", policy_family="qwen2-math")
    assert isinstance(scorer, LikelihoodRewardScorer), note
    pairs = [(p, p.solution, _tens_slip(p.solution)) for p in read_jsonl(DEFAULT_HELDOUT_PATH)[:60]]
    pairs = [(p, right, slip) for p, right, slip in pairs if slip is not None]
    assert len(pairs) >= 40 and all(not equivalent(extract_answer(slip), p.answer) for p, _, slip in pairs)
    better = 0
    for p, right, slip in pairs:
        a, b = scorer.score(p.problem, [Solution(1, "sampled", right, 1, "stop", None), Solution(2, "sampled", slip, 1, "stop", None)])
        better += a.total > b.total
    # Measured: 50 of 56; the reward model it replaced (an end-to-end ORM): 28 of 56, chance.
    assert better >= 0.8 * len(pairs)


def test_error_report_finds_the_first_wrong_result_and_names_the_digit(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bundled_errors", REPO / "bench" / "bundled_errors.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    problem = "Kai has 100 dollars. He spends 36 dollars and then 24 dollars. How much is left?"
    right = "He has $100 - 36 = 64$ dollars.\n\nThen $64 - 24 = 40$ dollars.\n\nThe answer is $\\boxed{40}$."
    carry = "He has $100 - 36 = 54$ dollars.\n\nThen $54 - 24 = 30$ dollars.\n\nThe answer is $\\boxed{30}$."
    late = "He has $100 - 36 = 64$ dollars.\n\nThen $64 - 24 = 43$ dollars.\n\nThe answer is $\\boxed{43}$."
    plan = "He has $100 + 36 = 136$ dollars.\n\nThe answer is $\\boxed{136}$."
    assert bench.first_slip(right) is None and bench.first_slip(plan) is None
    assert bench.first_slip(carry) == ("64", "54") and bench.first_slip(late) == ("40", "43")
    assert bench.describe("64", "54") == "tens digit off by 1"
    assert bench.describe("117", "17").startswith("length differs")
    assert equation_value("7 + 5 + 9") == 21 and equation_value("12 \\div 5") * 5 == 12 != equation_value("12 \\div 5")
    path = tmp_path / "solutions.jsonl"
    path.write_text("".join(json.dumps([problem, s, ok]) + "\n" for s, ok in
                            [(right, True), (carry, False), (late, False), (plan, False)]), encoding="utf-8")
    bench.main([str(path)])
    printed = capsys.readouterr().out
    assert "4 solutions: 1 right, 3 wrong" in printed
    assert "wrong solutions with an arithmetically wrong result: 2 (66.7%)" in printed
    assert "1  tens digit off by 1" in printed and "1  units digit off by 3" in printed


def test_likelihood_pick_prefers_the_sample_whose_results_the_scorer_expects(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("likelihood_pick", REPO / "bench" / "likelihood_pick.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    right = ("Lily has $19 \\times 2 = 38$ cards.\n\nTogether they have $19 + 38 = 57$ cards.\n\n"
             "The answer is $\\boxed{57}$.")
    slip = right.replace("= 38$", "= 48$").replace("19 + 38 = 57", "19 + 48 = 67").replace("{57}", "{67}")
    rows = [(EASY_PROBLEM, right, True), (EASY_PROBLEM, slip, False), (EASY_PROBLEM, right, True),
            (EASY_PROBLEM, right, True), (EASY_PROBLEM, right, True), (EASY_PROBLEM, slip, False)]
    path = tmp_path / "solutions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    shares = bench.main([str(path), "--scorer", str(BUNDLED), "--samples", "2", "--threads", "1"])
    assert "pick by lowest result-digit log-prob." in capsys.readouterr().out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(BUNDLED), AutoModelForCausalLM.from_pretrained(BUNDLED)
    mean_right, digit_right = bench.token_scores(model, tokenizer, EASY_PROBLEM, right)
    mean_slip, digit_slip = bench.token_scores(model, tokenizer, EASY_PROBLEM, slip)
    # The slip lowers the scorer's belief in the results it changed.
    assert digit_slip < digit_right <= 0 and mean_slip < mean_right < 0

    def pick_share(score_right: float, score_slip: float) -> float:
        # Problem 1 offers (slip, right), problem 2 (right, slip); a tie goes to the first.
        return ((score_right > score_slip) + (score_right >= score_slip)) / 2

    # Greedy rows are all right and half the samples are: by construction. The picks follow the scores.
    assert shares == {"greedy": 1.0, "sample": 0.5, "mean": pick_share(mean_right, mean_slip),
                      "digit": pick_share(digit_right, digit_slip)}
    with pytest.raises(SystemExit, match="not a multiple"):
        bench.main([str(path), "--scorer", str(BUNDLED), "--samples", "4"])
