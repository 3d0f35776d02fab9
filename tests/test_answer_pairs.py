"""A table of hard answer pairs: what must and must not be judged equal, and what extraction gives.

The pairs (tests/data/answer_pairs.json) are the forms in which Qwen2-Math and other models write
final answers, set against references in MATH-500, GSM8K and olympiad styles: fractions and
decimals, money and units, degrees, percent, thousands separators, assignments, root lists,
intervals, tuples, multiple choice, radicals, matrices, bases, repeating decimals, equations.
Each pair is checked both ways round, since `equivalent` is symmetric. The rules are in
docs/answers.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from judgements.answers import equivalent, extract_answer, majority_vote, normalize_answer, warm_up

DATA: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "answer_pairs.json").read_text(encoding="utf-8"))
PAIRS = [(p["a"], p["b"], p["equal"]) for p in DATA["pairs"]]
EXTRACTION = [(e["text"], e["answer"]) for e in DATA["extraction"]]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Import and exercise math-verify once, so its one-off start-up is not charged to a budget."""
    warm_up()


def test_the_table_is_large_and_has_both_verdicts() -> None:
    assert len(PAIRS) >= 150
    assert sum(not equal for _, _, equal in PAIRS) >= 50
    assert len({(a, b) for a, b, _ in PAIRS}) == len(PAIRS)


@pytest.mark.parametrize("a, b, equal", PAIRS, ids=[f"{i}:{a}|{b}" for i, (a, b, _) in enumerate(PAIRS)])
def test_pair(a: str, b: str, equal: bool) -> None:
    # A generous budget: the verdict is under test here, not the speed of a loaded machine.
    assert equivalent(a, b, timeout_s=10.0) is equal
    assert equivalent(b, a, timeout_s=10.0) is equal
    if normalize_answer(a) and normalize_answer(a) == normalize_answer(b):
        assert equal, "equal keys must mean equivalent answers"


@pytest.mark.parametrize("text, answer", EXTRACTION, ids=[str(i) for i in range(len(EXTRACTION))])
def test_extraction(text: str, answer: str) -> None:
    found = extract_answer(text)
    assert found is not None
    assert equivalent(found, answer, timeout_s=10.0), found


@pytest.mark.parametrize(
    "answers, winner, count",
    [
        ([r"\frac{1}{2}", "0.5", "2", r"\dfrac12", "1/2", "2"], "1/2", 4),
        (["x=2, y=3", "(2,3)", "(3,2)", "(3, 2)", r"\left(2, 3\right)"], "(2,3)", 3),
        (["3, 2", r"\{2,3\}", r"x=2 \text{ or } x=3", "(2,3)", "2"], r"\{2,3\}", 3),
        (["1,000", r"1{,}000", "(1,000)", r"\$1,000", "1000.5"], "1000", 3),
        ([r"[2, 5)", "[2, 5]", r"x \in [2, 5)", "(2, 5)"], "[2,5)", 2),
        (["1011_2", "1011", "11", "1011_{2}", "1101_2"], "1011_{2}", 3),
    ],
)
def test_vote_clusters_the_table_s_forms(answers: list[str], winner: str, count: int) -> None:
    vote = majority_vote(answers, timeout_s=20.0)
    assert vote.count == count
    assert vote.answer is not None and equivalent(vote.answer, winner, timeout_s=10.0)


@pytest.mark.parametrize(
    "text",
    ["\n" * 200_000 + "x", " \n\t" * 70_000 + "Answer: 1", "final " * 40_000, r"\boxed{1}, " * 20_000,
     "the answer is $" + " $5" * 50_000, "1/" * 100_000],
    ids=["newlines", "blank-lines", "finals", "boxes", "dollars", "slashes"],
)
def test_extraction_stays_linear_on_long_texts(text: str) -> None:
    # A line-start pattern that could span newlines once took minutes on 200,000 of them.
    start = time.monotonic()
    extract_answer(text)
    assert time.monotonic() - start < 5.0
