"""Check my work, the pure judgement (`judgements.work_check`, `judgements.work_judges`,
`judgements.hint_guard`): splitting, each judge, the combined verdicts, the gate on agreement,
no answer given away, and bad input refused or noticed with a clear message."""

from __future__ import annotations

import json

from judgements.hint_guard import FALLBACK_HINTS, fallback_hint, leaks, scrub_hint
from judgements.work_check import MAX_SOLUTION_CHARS, check_work, right_prefix, split_work
from judgements.work_judges import CHECKER, PRM, SAMPLES, Samples

PROBLEM = "A box holds 14 rows of 12 eggs. 8 eggs break. How many eggs are left?"
RIGHT = "There are $14 \\times 12 = 168$ eggs.\n\n$168 - 8 = 160$ are left.\n\nSo the answer is $\\boxed{160}$."
SLIP = "There are 14 rows of 12 eggs.\n$14 \\times 12 = 158$ eggs\n$158 - 8 = 150$ are left\nSo \\boxed{150}"
MODEL = "There are $14 \\times 12 = 168$ eggs; $168 - 8 = 160$ are left. \\boxed{160}"


def verdicts(check):
    return [v.verdict for v in check.verdicts]


def test_blank_lines_split_into_exactly_those_paragraphs_else_lines():
    assert split_work("a = 1\nb = 2\n\nc = 3\n\n\n  \n d") == ["a = 1\nb = 2", "c = 3", "d"]
    assert split_work("a = 1\r\nb = 2\n  \nc") == ["a = 1\nb = 2", "c"]
    assert split_work("  a\n\nb  ") == ["a", "b"]
    assert split_work("one\ntwo\n three \n") == ["one", "two", "three"]


def test_a_slip_in_step_2_is_the_first_wrong_step_with_the_checkers_sentence():
    check = check_work(PROBLEM, SLIP)
    assert check.first_wrong_step == 1
    step = check.verdicts[1]
    assert step.verdict == "wrong" and step.judges == (CHECKER,)
    assert "14 × 12 = 168, not 158" in step.reasons[0]
    assert check.verdicts[2].verdict == "right"  # 158 - 8 = 150 is right arithmetic
    assert "Step 2" in check.message
    data = json.loads(json.dumps(check.to_dict()))
    assert set(data) >= {"steps", "verdicts", "first_wrong_step", "judges"}
    assert data["first_wrong_step"] == 1 and data["verdicts"][1]["step"] == 1
    assert [j["name"] for j in data["judges"]] == [CHECKER, PRM, SAMPLES]


def test_a_right_solution_has_no_wrong_step_and_its_steps_are_right():
    check = check_work(PROBLEM, RIGHT, samples=Samples.of([MODEL] * 4))
    assert check.first_wrong_step is None and "wrong" not in verdicts(check)
    assert verdicts(check) == ["right", "right", "right"]
    assert "4 of 4" in check.verdicts[2].reasons[-1]


def test_a_strong_majority_says_the_final_answer_differs_and_where_the_path_leaves():
    wrong_plan = "$14 + 12 = 26$ eggs\n$26 - 8 = 18$ are left\n\\boxed{18}"
    check = check_work(PROBLEM, wrong_plan, samples=Samples.of([MODEL] * 5 + ["\\boxed{150}"]))
    assert check.first_wrong_step == 0  # the arithmetic is right: the plan is not
    assert "leaves every path" in check.verdicts[0].reasons[0] and "26" in check.verdicts[0].reasons[0]
    assert "your final answer differs" in " ".join(check.verdicts[2].reasons)
    text = json.dumps(check.to_dict())
    assert "160" not in text  # not revealed
    revealed = check_work(PROBLEM, wrong_plan, samples=Samples.of([MODEL] * 5), reveal=True)
    assert "160" in " ".join(revealed.verdicts[2].reasons)


def test_weak_agreement_says_nothing():
    samples = Samples.of(["\\boxed{160}", "\\boxed{150}", "\\boxed{7}", "\\boxed{160}", "\\boxed{9}", "\\boxed{8}"])
    wrong_plan = "$14 + 12 = 26$ eggs\n$26 - 8 = 18$ are left\n\\boxed{18}"
    check = check_work(PROBLEM, wrong_plan, samples=samples)
    report = next(j for j in check.judges if j.name == SAMPLES)
    assert report.used and not report.opinions and "says nothing" in report.said
    assert check.first_wrong_step is None


def test_the_checker_does_not_give_away_the_final_answer():
    samples = Samples.of([MODEL] * 4)
    check = check_work(PROBLEM, "$14 \\times 12 = 168$\n$168 - 8 = 161$", samples=samples)
    assert check.first_wrong_step == 1
    reasons = " ".join(check.verdicts[1].reasons)
    assert "not 161" in reasons and "160" not in reasons and "work it out again" in reasons
    # Without samples too: the student's last step's right value is the final answer.
    alone = check_work(PROBLEM, "$14 \\times 12 = 168$\n$168 - 8 = 161$")
    assert "160" not in json.dumps(alone.to_dict())
    assert "160" in " ".join(check_work(PROBLEM, "$14 \\times 12 = 168$\n$168 - 8 = 161$", reveal=True).verdicts[1].reasons)


def test_a_process_reward_model_says_where_its_score_drops():
    steps = "$14 \\times 12 = 168$\n\nThen we subtract the rows: $168 - 14 = 154$\n\n\\boxed{154}"
    check = check_work(PROBLEM, steps, prm_scores=[0.95, 0.21, 0.1], prm_name="PRM-7B")
    report = next(j for j in check.judges if j.name == PRM)
    assert report.used and report.first_wrong == 1 and "biggest drop is at step 2" in report.said
    assert report.details["scores"] == [0.95, 0.21, 0.1]
    assert check.first_wrong_step == 1 and "0.21 (from 0.95)" in check.verdicts[1].reasons[0]
    mismatched = check_work(PROBLEM, steps, prm_scores=[0.9])
    assert not next(j for j in mismatched.judges if j.name == PRM).used


def test_right_prefix_stops_before_the_first_wrong_step():
    assert right_prefix(check_work(PROBLEM, SLIP)) == ["There are 14 rows of 12 eggs."]
    assert len(right_prefix(check_work(PROBLEM, RIGHT))) == 3


def test_bad_input_gets_a_clear_message_and_never_raises():
    empty = check_work(PROBLEM, "   \n ")
    assert empty.refused and "empty" in empty.message and empty.to_dict()["first_wrong_step"] is None
    huge = check_work(PROBLEM, "1 + 1 = 2\n" * 10_240)  # 100 KB
    assert huge.refused and f"{MAX_SOLUTION_CHARS:,}" in huge.message and "still in the box" in huge.message
    assert check_work("", RIGHT).refused and "problem box is empty" in check_work("", RIGHT).message
    assert check_work(PROBLEM, None).refused and check_work(PROBLEM, 42).refused
    assert check_work(PROBLEM, "\x00\x01\x02\x03 binary \x04\x05").refused
    html = check_work(PROBLEM, "<script>alert(1)</script>\n$14 \\times 12 = 158$")
    assert not html.refused and "HTML" in html.notices[0] and html.steps[0] == "<script>alert(1)</script>"
    assert html.first_wrong_step == 1
    unbalanced = check_work(PROBLEM, "$14 \\times 12 = 168$\n\\frac{168 - 8 = 160\n\\(x")
    assert not unbalanced.refused and any("Step 2's LaTeX is unbalanced" in n for n in unbalanced.notices)
    other = check_work(PROBLEM, "$3 + 4 = 7$\n$7 \\times 2 = 15$")
    assert any("none of the problem's numbers" in n for n in other.notices) and other.first_wrong_step == 1
    no_answer = check_work("Tell me a story about a cat.", "Once upon a time.",
                           samples=Samples.of(["A cat sat.", "Meow."] * 2))
    assert any("no answer" in n for n in no_answer.notices)
    assert "says nothing" in next(j for j in no_answer.judges if j.name == SAMPLES).said


def test_hints_that_state_an_answer_are_cut_or_refused():
    answers = ["160"]
    assert leaks("So there are \\boxed{160} eggs.", answers)
    assert leaks("The result is $168 - 8 = 160$.", answers)
    assert leaks("You get 160.0 eggs", answers)
    assert not leaks("Multiply the rows by the eggs in a row, then take away the broken ones.", answers)
    assert scrub_hint("Think about how many eggs break. Then 168 - 8 = 160, so the answer is 160.", answers) == \
        "Think about how many eggs break."
    assert scrub_hint("\\boxed{160}", answers) is None
    assert scrub_hint("The answer is \\frac{320}{2}.", answers) is None
    assert fallback_hint(0) == FALLBACK_HINTS[0] and fallback_hint(99) == FALLBACK_HINTS[-1]
    assert not any(leaks(h, ["5", "160"]) for h in FALLBACK_HINTS)


def test_samples_that_share_a_slip_make_no_majority_against_a_right_solution():
    slipped = "There are $14 \\times 12 = 158$ eggs; $158 - 8 = 150$ are left. \\boxed{150}"
    check = check_work(PROBLEM, RIGHT, samples=Samples.of([slipped] * 4 + [MODEL]))
    report = next(j for j in check.judges if j.name == SAMPLES)
    assert check.first_wrong_step is None and report.details["unflagged"] == 1 and "says nothing" in report.said


def test_the_students_steps_go_on_the_samples_map_and_leave_it_where_they_part():
    from judgements.work_map import STUDENT_ROW

    samples = Samples.of([RIGHT] * 4)
    on_path = check_work(PROBLEM, RIGHT, samples=samples).map
    assert on_path is not None and on_path.leaves_at is None
    assert STUDENT_ROW in on_path.tree.nodes[0].rows and len(on_path.tree.leaves) == 1
    wrong_turn = "There are $14 \\times 12 = 168$ eggs.\n\n$168 + 8 = 176$ are left.\n\nSo the answer is $\\boxed{176}$."
    left = check_work(PROBLEM, wrong_turn, samples=samples).map
    assert left is not None and left.leaves_at == 1 and len(left.tree.leaves) == 2
    assert check_work(PROBLEM, RIGHT).map is None  # no samples, no map
