"""`python -m evaluation`: reading problem files, accuracy on nested prefixes, the summary,
and the command line end to end with real tiny models.

The end-to-end runs use a scripted model that always answers `\\boxed{5}`, so every accuracy is
known in advance: a problem whose reference is 5 is right by every method, any other is wrong.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from model.params import SamplingParams
from model.errors import PromptTooLongError
from evaluation.cli import main
from evaluation.problems import (
    Problem,
    SkippedLine,
    read_problems,
    reference_answer,
)
from evaluation.report import accuracy_figure, format_markdown, summary_json
from evaluation.run import evaluate
from evaluation.scoring import (
    NO_PICK,
    Judge,
    evaluate_prefixes,
    method_names,
    nested_sizes,
    scores_of,
)
from evaluation.summary import RunInfo, summarize
from model.reward import Score
from model.solver import vote
from model.types import RunResult, Timings
from judgements.analysis import analyse_run
from judgements.solution import Solution
from tests.crafted import build_scripted_model

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "The answer is \\boxed{5}."
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- reading -------------------------------------------------------------------------------------


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    with path.open("wb") as handle:
        for line in lines:
            handle.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")
    return path


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"answer": "5"}, "5"),
        ({"answer": 204}, "204"),
        ({"answer": 2.5}, "2.5"),
        ({"answer": " \\frac{1}{2} "}, "\\frac{1}{2}"),
        ({"answer": "Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72"}, "72"),
        ({"Answer": "17"}, "17"),
        ({"solution": "So $x = \\boxed{\\frac{3}{4}}$."}, "\\frac{3}{4}"),
        ({"solution": "First \\boxed{1}, then the answer \\boxed{2}."}, "2"),
        ({"solution": "3 + 4 = 7\n#### 7"}, "7"),
        ({"answer": "", "solution": "\\boxed{9}"}, "9"),
        ({"answer": "#### ", "solution": "\\boxed{9}"}, "9"),
        ({"answer": True}, None),
        ({"answer": None}, None),
        ({"answer": float("nan")}, None),
        ({"answer": ["5"]}, None),
        ({"solution": "The answer is 7."}, None),  # no box, no ####: its last number is no reference
        ({}, None),
    ],
)
def test_reference_answer(record, expected):
    assert reference_answer(record) == expected


def test_read_problems_accepts_the_common_formats_and_reports_bad_lines(tmp_path):
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            b"\xef\xbb\xbf" + json.dumps({"problem": "What is 2+3?", "answer": "5", "unique_id": "test/1"}).encode(),
            json.dumps({"question": "Clips?", "answer": "48/2 = 24\n#### 72"}),
            json.dumps({"problem": "Half of 1?", "solution": "It is $\\boxed{\\frac{1}{2}}$."}),
            json.dumps({"Problem": "AIME 1", "Answer": 204, "ID": 7}),
            "",
            "{not json",
            json.dumps(["a", "list"]),
            json.dumps({"problem": "No answer", "solution": "It is 7."}),
            json.dumps({"text": "no problem field", "answer": "3"}),
            b'{"problem": "bad byte \xff", "answer": "1"}',
            json.dumps({"problem": "   ", "answer": "1"}),
            json.dumps({"question": "Last", "solution": "3 + 4 = 7\n#### 7"}),
        ],
    )
    data = read_problems(path)
    assert [(p.line, p.text, p.reference, p.id) for p in data.problems] == [
        (1, "What is 2+3?", "5", "test/1"),
        (2, "Clips?", "72", None),
        (3, "Half of 1?", "\\frac{1}{2}", None),
        (4, "AIME 1", "204", "7"),
        (12, "Last", "7", None),
    ]
    assert [s.line for s in data.skipped] == [6, 7, 8, 9, 10, 11]  # the blank line 5 is no error
    reasons = {s.line: s.reason for s in data.skipped}
    assert reasons[6].startswith("not valid JSON")
    assert "not an object" in reasons[7]
    assert "no usable answer" in reasons[8]
    assert "no `problem` or `question`" in reasons[9] and "no `problem` or `question`" in reasons[11]
    assert reasons[10].startswith("not UTF-8")


def test_read_problems_stops_after_limit_and_names_a_missing_file(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [json.dumps({"problem": f"p{i}", "answer": i}) for i in range(5)] + ["{bad"])
    data = read_problems(path, limit=2)
    assert [p.text for p in data.problems] == ["p0", "p1"] and data.skipped == []
    with pytest.raises(ValueError, match="Cannot read the problem file"):
        read_problems(tmp_path / "missing.jsonl")


def test_heldout_set_reads_completely():
    data = read_problems(REPO / "assets" / "heldout.jsonl")
    assert len(data.problems) == 300 and data.skipped == []


# --- evaluation on prefixes ----------------------------------------------------------------------


def test_nested_sizes():
    assert nested_sizes(1) == [1]
    assert nested_sizes(8) == [1, 2, 4, 8]
    assert nested_sizes(6) == [1, 2, 4, 6]
    assert nested_sizes(64)[-1] == 64
    with pytest.raises(ValueError):
        nested_sizes(0)


def samples_of(answers, rewards=None, logprobs=None):
    return [
        Solution(
            index=i + 1,
            kind="sampled",
            text=f"... \\boxed{{{a}}}" if a else "no idea",
            tokens=10,
            finish_reason="stop",
            mean_logprob=logprobs[i] if logprobs else -0.5,
            answer=a,
            reward=rewards[i] if rewards else None,
        )
        for i, a in enumerate(answers)
    ]


def picks(outcome):
    return (
        (outcome.majority.answer, outcome.majority.correct),
        (outcome.rm.answer, outcome.rm.correct),
        (outcome.weighted.answer, outcome.weighted.correct),
        outcome.passed,
    )


def test_prefixes_with_reward_scores_match_hand_computed_picks():
    answers = ["3", "5", "5", "3", "3", "5", None, "5"]
    rewards = [0.1, 2.0, -1.0, 0.5, 0.3, 0.2, 5.0, 0.0]
    samples = samples_of(answers, rewards)
    scores = [Score(total=r) for r in rewards]
    outcomes = evaluate_prefixes(samples, scores, [1, 2, 4, 8], Judge("5"), scorer_name="orm", label="reward")
    assert [o.n for o in outcomes] == [1, 2, 4, 8]
    assert picks(outcomes[0]) == (("3", False), ("3", False), ("3", False), False)
    # 3 and 5 tie: Maj@N takes the answer given first; the reward picks sample 2 (2.0).
    assert picks(outcomes[1]) == (("3", False), ("5", True), ("5", True), True)
    # Still a 2-2 tie; softmax weights: 5 has 1 + e^-3, 3 has e^-1.9 + e^-1.5.
    assert picks(outcomes[2]) == (("3", False), ("5", True), ("5", True), True)
    # 5 wins the vote; the best reward (5.0) went to the sample WITHOUT an answer, so RM@8 has
    # none, exactly as the app ranks it; that sample is in no cluster, so the weighted vote is 5.
    assert picks(outcomes[3]) == (("5", True), (None, False), ("5", True), True)


def test_prefixes_by_confidence_use_exp_weights():
    logprobs = [-0.1, -0.5, -0.6]
    samples = samples_of(["3", "5", "5"], rewards=logprobs, logprobs=logprobs)
    scores = [Score(total=t) for t in logprobs]
    outcomes = evaluate_prefixes(samples, scores, [3], Judge("5"), scorer_name="policy", label="confidence")
    # Most confident is the lone 3; exp weights: 5 has e^-0.5 + e^-0.6 = 1.16 > e^-0.1 = 0.90.
    assert picks(outcomes[0]) == (("5", True), ("3", False), ("5", True), True)


def test_unscored_prefixes_have_no_rm_pick_and_equivalence_decides():
    samples = samples_of(["0.5", "1/2", "\\frac{1}{2}", None])
    assert scores_of(samples) is None
    outcomes = evaluate_prefixes(samples, None, [1, 4], Judge("\\dfrac{1}{2}"), scorer_name="", label="reward")
    assert outcomes[0].rm == NO_PICK and outcomes[0].weighted == NO_PICK
    assert outcomes[1].majority.correct and outcomes[1].passed


def test_the_checked_vote_drops_samples_with_a_wrong_calculation_on_every_prefix():
    right = "A baker makes $14 \\times 12 = 168$ muffins and sells 150, so \\boxed{18} are left."
    slip = "A baker makes $14 \\times 12 = 158$ muffins and sells 150, so \\boxed{8} are left."
    texts = [slip, slip, right, slip, right]
    samples = [Solution(i + 1, "sampled", t, 20, "stop", -0.2, "18" if t == right else "8") for i, t in enumerate(texts)]
    analysis = analyse_run(None, samples, vote(samples))  # as the Solver hands the run over
    outcomes = evaluate_prefixes(samples, None, [1, 2, 4, 5], Judge("18"), scorer_name="", label="reward",
                                 analysis=analysis)
    # Maj@N follows the slipping majority; the checked vote keeps only the unflagged samples, and
    # falls back to Maj@N while none of them is in the prefix.
    assert [(o.majority.answer, o.majority.correct) for o in outcomes] == [("8", False)] * 4
    assert [(o.checked.answer, o.checked.correct) for o in outcomes] == [("8", False), ("8", False), ("18", True), ("18", True)]
    assert outcomes[-1].checked.answer == analysis.checked.answer  # the whole run: the analysis's own
    # Without the run's analysis there is no checked vote: the evaluation checks no step itself.
    bare = evaluate_prefixes(samples, None, [5], Judge("18"), scorer_name="", label="reward")
    assert bare[0].checked == NO_PICK


def test_scores_of_keeps_step_rewards():
    samples = samples_of(["1", "2"], rewards=[0.9, 0.2])
    samples[0].step_rewards = [0.95, 0.9]
    samples[1].step_rewards = [0.2]
    assert scores_of(samples) == [Score(0.9, (0.95, 0.9)), Score(0.2, (0.2,))]


def test_judge_never_accepts_a_missing_answer():
    judge = Judge("5")
    assert not judge(None) and not judge("  ") and judge("5.0") and not judge("6")


# --- the run loop, the summary and the plot, with a fake engine ----------------------------------


class Scorer:
    name = "test reward model"
    label = "reward"


class FakeSolver:
    """Answers from a table: problem -> (greedy answer, [(sample answer, reward), ...])."""

    def __init__(self, table, *, interrupt_at=None):
        self.table = table
        self.scorer = Scorer()
        self.calls = []
        self.interrupt_at = interrupt_at

    def solve(self, problem, params):
        self.calls.append((problem, params))
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if problem == "too long":
            raise PromptTooLongError("The problem takes 5,000 tokens with the prompt.")
        greedy, rows = self.table[problem]
        solution = lambda i, a, r: Solution(i, "sampled" if i else "greedy", f"\\boxed{{{a}}}", 7, "stop", -0.3, a, reward=r)
        samples = [solution(i + 1, a, r) for i, (a, r) in enumerate(rows[: params.n])]
        voted = vote(samples)
        return RunResult(
            problem=problem,
            seed=params.seed,
            max_new_tokens=params.max_new_tokens,
            greedy=solution(0, greedy, None),
            samples=samples,
            timings=Timings(0.0, 0.1, 0.5, 20, 7 * (params.n + 1), 14.0 * (params.n + 1), 14.0),
            vote=voted,
            analysis=analyse_run(None, samples, voted),  # as the Solver hands a run over
        )


TABLE = {
    "p1": ("5", [("5", 0.0), ("5", 0.0), ("4", 1.0), ("4", 0.0)]),  # ref 5
    "p2": ("1", [("2", 0.0), ("7", 3.0), ("7", 0.0), ("2", 0.0)]),  # ref 7
    "p3": ("9", [("9", 2.0), ("8", 0.0), ("8", 0.0), ("8", 0.0)]),  # ref 9
}
PROBLEMS = [Problem(1, "p1", "5"), Problem(2, "p2", "7"), Problem(3, "p3", "9"), Problem(4, "too long", "1")]
PARAMS = SamplingParams(n=4, temperature=1.0, top_p=0.9, max_new_tokens=64, seed=None)


def run_info(**overrides):
    values = dict(
        model="tiny", model_details="tiny · 1K params · fp32 · cpu", family="qwen2-math", data="set.jsonl",
        skipped=[SkippedLine(6, "not valid JSON")], scorer_name="test reward model", score_label="reward",
        scorer_note=None, params=PARAMS, base_seed=10, wall_s=1.0, planned=4,
    )
    values.update(overrides)
    return RunInfo(**values)


def test_evaluate_seeds_writes_lines_and_summarizes_exactly():
    solver = FakeSolver(TABLE)
    sink = io.StringIO()
    results, interrupted = evaluate(solver, PROBLEMS, PARAMS, [1, 2, 4], base_seed=10, sink=sink, progress=False)
    assert not interrupted and len(results) == 4
    assert [params.seed for _, params in solver.calls] == [10, 11, 12, 13]
    assert all(params.n == 4 and params.include_greedy for _, params in solver.calls)
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [line["seed"] for line in lines] == [10, 11, 12, 13]
    first = lines[0]
    assert first["reference"] == "5" and first["greedy"]["correct"] is True
    assert first["at_n"]["4"] == {
        "maj": {"answer": "5", "correct": True},
        "checked": {"answer": "5", "correct": True},  # no sample holds a calculation to check
        "rm": {"answer": "4", "correct": False},
        "weighted": {"answer": "4", "correct": False},  # e^1 beats 2 * e^0 after the softmax
        "pass": True,
    }
    assert [s["answer"] for s in first["samples"]] == ["5", "5", "4", "4"]
    assert [s["score"] for s in first["samples"]] == [0.0, 0.0, 1.0, 0.0]
    assert lines[3]["error"].startswith("The problem takes") and lines[3]["samples"] == []

    summary = summarize(results, [1, 2, 4])
    assert (summary.greedy.correct, summary.greedy.total) == (2, 4)
    table = {row.n: (row.majority.correct, row.rm.correct, row.weighted.correct, row.passed.correct) for row in summary.rows}
    assert table == {1: (2, 2, 2, 2), 2: (2, 3, 3, 3), 4: (1, 2, 2, 3)}
    assert summary.failed == 1 and summary.unscored == 0
    assert summary.finish_reasons == {"stop": 15}

    markdown = format_markdown(summary, run_info())
    assert "| N | Maj@N | checked vote | RM@N | reward-weighted | pass@N |" in markdown
    assert "| 2 | 50.0% | 50.0% | 75.0% | 75.0% | 75.0% |" in markdown
    assert "| 4 | 25.0% | 25.0% | 50.0% | 50.0% | 75.0% |" in markdown
    assert "Greedy accuracy: **50.0%** (2/4)" in markdown
    assert "1 lines skipped: 6 (not valid JSON)" in markdown
    assert "**test reward model**" in markdown
    assert "1 problems failed to run and 0 were not scored" in markdown
    assert "stopped at the limit" not in markdown
    cut = format_markdown(replace(summary, finish_reasons={"stop": 9, "length": 1}), run_info())
    assert "10% of the solutions stopped at the limit of 64 new tokens" in cut
    data = summary_json(summary, run_info())
    assert data["at_n"][1]["rm"] == {"correct": 3, "total": 4, "accuracy": 0.75}
    assert data["at_n"][1]["checked"] == {"correct": 2, "total": 4, "accuracy": 0.5}
    assert data["data"]["skipped"] == [{"line": 6, "reason": "not valid JSON"}]


def test_confidence_is_never_called_a_reward():
    assert method_names("confidence") == ("Conf@N", "confidence-weighted")
    results, _ = evaluate(FakeSolver(TABLE), PROBLEMS[:1], PARAMS, [1, 4], base_seed=0, progress=False)
    markdown = format_markdown(summarize(results, [1, 4]), run_info(score_label="confidence", scorer_name="policy log-probability"))
    assert "Conf@N" in markdown and "confidence-weighted" in markdown
    assert "RM@N" not in markdown and "reward-weighted" not in markdown
    assert "which is not a reward" in markdown


def test_interrupt_keeps_the_finished_problems():
    solver = FakeSolver(TABLE, interrupt_at=3)
    results, interrupted = evaluate(solver, PROBLEMS, PARAMS, [1, 2, 4], base_seed=0, progress=False)
    assert interrupted and [r.problem.text for r in results] == ["p1", "p2"]
    markdown = format_markdown(summarize(results, [1, 2, 4]), run_info(interrupted=True))
    assert "**interrupted** after 2 of 4" in markdown


def test_plot_has_every_method_and_greedy(tmp_path):
    results, _ = evaluate(FakeSolver(TABLE), PROBLEMS, PARAMS, [1, 2, 4], base_seed=0, progress=False)
    figure = accuracy_figure(summarize(results, [1, 2, 4]), run_info())
    axes = figure.axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["Maj@N", "checked vote", "RM@N", "reward-weighted", "pass@N (upper bound)", "greedy (50.0%)"]
    assert list(axes.get_lines()[2].get_ydata()) == [50.0, 75.0, 50.0]
    assert axes.get_xscale() == "log"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["1", "2", "4"]
    figure.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes().startswith(PNG_MAGIC)


# --- the command line, with real tiny models -----------------------------------------------------


@pytest.fixture(scope="module")
def five_model_dir(tmp_path_factory, tiny_tokenizer):
    return build_scripted_model(tiny_tokenizer, SCRIPT, tmp_path_factory.mktemp("always-five"), loop=False)


@pytest.fixture()
def problem_file(tmp_path):
    return write_lines(
        tmp_path / "set.jsonl",
        [
            json.dumps({"problem": "What is 2 + 3?", "answer": "5"}),
            "{broken",
            json.dumps({"question": "Tom has 3 apples and gets 2 more. How many?", "answer": "He has 3 + 2 = 5.\n#### 5"}),
            json.dumps({"problem": "What is 3 + 4?", "solution": "3 + 4 = 7, so $\\boxed{7}$."}),
        ],
    )


def test_cli_end_to_end_by_confidence(five_model_dir, problem_file, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["--data", str(problem_file), "--model", str(five_model_dir), "--reward-model", "none", "--n", "4",
            "--max-new-tokens", "16", "--seed", "3", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "set.jsonl:2: skipped: not valid JSON" in captured.err
    assert "| N | Maj@N | checked vote | Conf@N | confidence-weighted | pass@N |" in captured.out
    for n in (1, 2, 4):
        assert f"| {n} | 66.7% | 66.7% | 66.7% | 66.7% | 66.7% |" in captured.out
    assert "Greedy accuracy: **66.7%** (2/3)" in captured.out
    assert (out / "summary.md").read_text(encoding="utf-8") == captured.out

    lines = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["seed"] for line in lines] == [3, 4, 5]
    assert [line["line"] for line in lines] == [1, 3, 4]
    assert [line["greedy"]["correct"] for line in lines] == [True, True, False]
    for line in lines:
        assert line["score_label"] == "confidence"
        assert [s["answer"] for s in line["samples"]] == ["5"] * 4
        assert {s["finish"] for s in line["samples"]} == {"stop"}
        assert all(s["score"] is not None and s["score"] <= 0 for s in line["samples"])
        assert line["timings"]["generated_tokens"] > 0 and "text" not in line["samples"][0]
    assert lines[2]["at_n"]["4"]["maj"] == {"answer": "5", "correct": False}

    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert data["scorer"]["label"] == "confidence"
    assert data["greedy"] == {"correct": 2, "total": 3, "accuracy": pytest.approx(2 / 3)}
    assert [row["n"] for row in data["at_n"]] == [1, 2, 4]
    assert data["finish_reasons"] == {"stop": 15}
    assert (out / "accuracy.png").read_bytes().startswith(PNG_MAGIC)


def test_cli_module_with_a_reward_model(five_model_dir, problem_file, tmp_path, tiny_tokenizer):
    from model.reward import save_reward_model
    from training.tiny_rm import build_tiny_orm

    rm_dir = save_reward_model(build_tiny_orm(tiny_tokenizer), tiny_tokenizer, tmp_path / "tiny-orm")
    out = tmp_path / "eval"
    done = subprocess.run(
        [sys.executable, "-m", "evaluation", "--data", str(problem_file), "--model", str(five_model_dir),
         "--reward-model", str(rm_dir), "--n", "2", "--max-new-tokens", "16", "--limit", "2", "--out", str(out),
         "--save-text"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "| N | Maj@N | checked vote | RM@N | reward-weighted | pass@N |" in done.stdout
    assert "| 2 | 100.0% | 100.0% | 100.0% | 100.0% | 100.0% |" in done.stdout
    assert "**tiny-orm**" in done.stdout
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and lines[0]["score_label"] == "reward"
    assert all(math.isfinite(s["score"]) for s in lines[0]["samples"])
    assert lines[0]["samples"][0]["text"] == SCRIPT and lines[0]["greedy"]["text"] == SCRIPT


def test_cli_refuses_a_missing_model_instead_of_evaluating_another(problem_file, tmp_path, capsys):
    argv = ["--data", str(problem_file), "--model", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(argv) == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_usage_errors(tmp_path, capsys):
    bad = write_lines(tmp_path / "bad.jsonl", ["{nope", json.dumps({"problem": "no answer"})])
    assert main(["--data", str(bad), "--no-progress"]) == 2
    assert "holds no usable problem (2 lines skipped)" in capsys.readouterr().err
    for argv in (["--data", str(bad), "--n", "0"], ["--data", str(bad), "--n", "65"], ["--data", str(tmp_path / "none.jsonl")]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
