"""Check my work through a real (scripted) model: the samples drawn by the Solver, a process
reward model's step scores, Stop, and hints that never state the samples' answer.

The scripted model answers every prompt with "We add $2+3$ and get \\boxed{5}.", so its samples
agree on 5, and every hint it writes gives the answer away (and must be cut)."""

from __future__ import annotations

import threading

import pytest

from judgements.hint_guard import FALLBACK_HINTS, leaks
from judgements.ranking import Score
from model.checkwork import run_check
from model.hints import give_hint
from model.loading import load_causal_lm
from model.params import SamplingParams
from tests.servers import scripted_model_dir
from tests.test_solver import local_solver

PROBLEM = "What is $2+3$?"
PARAMS = SamplingParams(n=4, temperature=1.0, top_p=0.9, max_new_tokens=48, seed=3, include_greedy=False)


@pytest.fixture(scope="module")
def solver(tmp_path_factory):
    solver = local_solver(load_causal_lm(str(scripted_model_dir(tmp_path_factory.mktemp("check-work")))))
    yield solver
    solver.close()


class FakePRM:
    kind, name, label = "prm", "fake PRM", "reward"

    def score(self, problem, solutions):
        steps = [p for p in solutions[0].text.split("\n\n") if p.strip()]
        return [Score(0.5, tuple(0.9 if "2 + 3 = 5" in s or i == 0 else 0.2 for i, s in enumerate(steps)))]


def test_the_samples_judge_speaks_on_a_strong_majority_without_saying_the_answer(solver):
    check, samples = run_check(solver, PROBLEM, "I add the numbers.\n$2 + 3 = 6$\nSo \\boxed{6}", PARAMS)
    assert samples is not None and samples.vote.answer == "5" and samples.vote.count == 4
    assert check.first_wrong_step == 1 and "2 + 3 is not 6" in check.verdicts[1].reasons[0]
    assert "your final answer differs" in " ".join(check.verdicts[2].reasons)
    data = check.to_dict()
    assert "5" not in " ".join(r for v in data["verdicts"] for r in v["reasons"])
    assert all(j["used"] for j in data["judges"] if j["name"] != "process reward model")


def test_a_process_reward_model_scores_the_students_steps(solver):
    solver.scorer = FakePRM()
    try:
        check, _ = run_check(solver, PROBLEM, "I add.\n\n$2 + 3 = 5$\n\nThen I double it: 10\n\n\\boxed{10}", None)
    finally:
        solver.scorer = None
    prm = next(j for j in check.judges if j.name == "process reward model")
    assert prm.used and prm.details["scores"] == [0.9, 0.9, 0.2, 0.2] and prm.first_wrong == 2
    assert check.first_wrong_step == 2


def test_stop_leaves_the_checker_verdicts_and_says_why(solver):
    cancel = threading.Event()
    cancel.set()
    check, samples = run_check(solver, PROBLEM, "$2 + 3 = 6$", PARAMS, cancel=cancel)
    assert samples is None and check.first_wrong_step == 0
    assert "stopped" in next(j for j in check.judges if j.name == "model's solutions").said


def test_hints_never_state_the_answer_and_grow_more_specific(solver):
    hint, samples = give_hint(solver, PROBLEM, "", [], None, params=PARAMS)
    assert samples is not None and samples.known_answers == ("5",)
    assert hint.level == 0 and hint.from_step == 0 and not leaks(hint.text, ["5"]) and "5" not in hint.text
    assert hint.cut and hint.fallback  # every draw said \boxed{5}: cut, drawn again, then the fixed hint
    second, _ = give_hint(solver, PROBLEM, "I add the numbers.\n$2 + 3 = 6$", [hint.text], samples)
    assert second.level == 1 and second.text == FALLBACK_HINTS[1] and second.from_step == 1


def test_a_hint_that_gives_nothing_away_is_passed_on(tmp_path):
    from judgements.work_judges import Samples
    from tests.conftest import TINY_CORPUS
    from tests.crafted import build_scripted_model
    from training.tiny import train_tokenizer

    text = "Think about putting the two groups together."
    tokenizer = train_tokenizer(TINY_CORPUS * 20 + [text] * 50, vocab_size=500)
    hinter = local_solver(load_causal_lm(str(build_scripted_model(tokenizer, text, tmp_path / "hinter", loop=False))))
    try:
        hint, _ = give_hint(hinter, PROBLEM, "", [], Samples.of(["\\boxed{5}"] * 4))
    finally:
        hinter.close()
    assert hint.text == text and hint.drawn == 1 and not hint.cut and not hint.fallback


def test_a_model_that_cannot_be_reached_leaves_the_checker_and_the_fixed_hint(solver):
    from model.backends.protocol import BackendUnavailable

    def down(*_args, **_kwargs):
        raise BackendUnavailable("The model server at http://x does not answer.")

    ready = solver.backend.ready
    solver.backend.ready = down
    try:
        check, samples = run_check(solver, PROBLEM, "$2 + 3 = 6$", PARAMS)
        hint, _ = give_hint(solver, PROBLEM, "", [], None, params=PARAMS)
    finally:
        solver.backend.ready = ready
    assert samples is None and check.first_wrong_step == 0
    assert "does not answer" in next(j for j in check.judges if j.name == "model's solutions").said
    assert hint.fallback and hint.text == FALLBACK_HINTS[0]
