"""Rendering untrusted text: escaping, held-back formulas, cards, votes, transcripts, charts."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from model.types import RunDone, RunResult, Timings
from judgements.solution import Solution
from storage.records import AttemptDetail, FeedbackView, SampleRecord
from ui.plots import plain_label, step_heatmap, vote_bars
from ui.mathtext import escape_text, hold_back_open_math, pieces, streaming_markdown, wrap_bare_boxed
from ui.render import NO_ANSWER_COLOUR, cluster_colour, latex_to_mathml, markdown_to_html
from ui.transcript import transcript_html
from ui.views import LiveRun, cards_markdown, heatmap_rows, vote_markdown


@pytest.mark.parametrize(
    "text, shown, held",
    [
        ("We have $x = 3$ and $$y = ", "We have $x = 3$ and ", True),
        ("so \\(a + b", "so ", True),
        ("so \\[a + b\\] done", "so \\[a + b\\] done", False),
        ("costs \\$5 and \\$6 total", "costs \\$5 and \\$6 total", False),
        ("a trailing \\", "a trailing ", True),
        ("x $", "x ", True),
        ("closed $x$", "closed $x$", False),
        ("$$a$$ then $b", "$$a$$ then ", True),
        ("plain text", "plain text", False),
    ],
)
def test_open_formulas_are_held_back(text, shown, held):
    assert hold_back_open_math(text) == (shown, held)


def test_pieces_pair_delimiters_in_order():
    text = "a $x$ b $$y$$ c \\(z\\) d \\[w\\]"
    formulas = [p for p in pieces(text) if p.kind == "math"]
    assert [(p.inner, p.display) for p in formulas] == [("x", False), ("y", True), ("z", False), ("w", True)]
    assert all(p.closed for p in formulas)


@pytest.mark.parametrize(
    "attack",
    ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "<a href='javascript:alert(1)'>x</a>",
     "<iframe src=//evil>", "$<img src=x onerror=alert(1)>$"],
)
def test_escape_leaves_no_tag(attack):
    escaped = escape_text(attack).replace("<span class='tex'>&#36;</span>", "")
    assert "<" not in escaped and ">" not in escaped


def test_escape_keeps_latex_and_drops_controls():
    assert escape_text("x < 3 & \\frac{1}{2}\x00\x07") == "x &lt; 3 &amp; \\frac{1}{2}"
    assert escape_text("$5") == "<span class='tex'>&#36;</span>5"
    assert "![" not in escape_text("![tracker](http://example.com/p.png)")


def test_streaming_markdown_marks_held_text():
    out = streaming_markdown("Let $x = \\frac{1}{2", finished=False)
    assert out.startswith("Let ") and "frac" not in out and "…" in out
    assert streaming_markdown("Let $x$.", finished=True) == "Let \\(x\\)."


def test_bare_boxed_answers_are_put_in_math():
    assert wrap_bare_boxed("The answer is \\boxed{\\frac{1}{2}}.") == "The answer is $\\boxed{\\frac{1}{2}}$."
    assert wrap_bare_boxed("So $\\boxed{5}$.") == "So $\\boxed{5}$."
    assert wrap_bare_boxed("Unclosed \\boxed{5") == "Unclosed \\boxed{5"


def test_mathml_is_checked_against_an_allowlist():
    assert latex_to_mathml("\\frac{1}{2} < x", display=False).startswith("<math")
    # latex2mathml copies \text{} verbatim; `<` is turned into a command first, and the
    # output is verified, so no tag can come through.
    converted = latex_to_mathml("\\text{<script>alert(1)</script>}", display=False)
    assert converted is None or "<script" not in converted


def test_markdown_to_html_disables_raw_html_links_and_images():
    html = markdown_to_html("<script>x</script> [a](javascript:alert(1)) ![i](http://e/x.png) $\\sqrt{2}$ $open")
    assert "<script" not in html and 'href="javascript' not in html
    assert "<img" not in html
    assert "<math" in html and "<code class='latex'>$open</code>" in html


def _solution(index, answer, cluster, reward=None, text="t", steps=None, kind="sampled"):
    return Solution(index, kind, text, 10, "stop", -0.1, answer=answer, cluster=cluster, reward=reward, step_rewards=steps)


def test_live_run_cards_and_votes_from_a_result():
    from judgements.answers import majority_vote
    from model.reward import Score, rank_solutions

    samples = [_solution(1, "4", 0, 1.0, steps=[0.9, 0.8]), _solution(2, "4", 0, 0.5), _solution(3, "5", 1, 2.0, steps=[0.2])]
    vote = majority_vote([s.answer for s in samples])
    ranking = rank_solutions(samples, vote, [Score(s.reward, tuple(s.step_rewards) if s.step_rewards else None) for s in samples],
                             scorer_name="tiny-rm", label="reward", greedy_answer="4")
    timings = Timings(0.0, 0.1, 1.0, 20, 30, 30.0, 10.0)
    result = RunResult("p", 1, 64, _solution(0, "4", None, kind="greedy"), samples, timings, vote=vote, ranking=ranking)
    live = LiveRun([0, 1, 2, 3])
    live.apply(RunDone(result))
    view = live.snapshot()
    cards = cards_markdown(view)
    assert cards.count("<details class='card c0'") == 2 and cards.count("<details class='card c1'") == 1
    assert "★ RM pick" in cards.split("#3")[1]
    votes = vote_markdown(view)
    assert "Maj@3" in votes and "2 of 3 votes" in votes and "RM@3" in votes and "tiny-rm" in votes
    assert "class='badge disagree'" in votes
    assert heatmap_rows(view)[0] == ("#3 (RM pick)", [0.2])


def test_cards_call_the_confidence_pick_by_its_name():
    from judgements.answers import majority_vote
    from model.reward import Score, rank_solutions

    samples = [_solution(1, "4", 0, -0.1), _solution(2, "5", 1, -0.9)]
    vote = majority_vote([s.answer for s in samples])
    ranking = rank_solutions(samples, vote, [Score(s.reward) for s in samples], scorer_name="confidence",
                             label="confidence", greedy_answer="4")
    timings = Timings(0.0, 0.1, 1.0, 20, 30, 30.0, 10.0)
    live = LiveRun([0, 1, 2])
    live.apply(RunDone(RunResult("p", 1, 64, _solution(0, "4", None, kind="greedy"), samples, timings, vote=vote, ranking=ranking)))
    cards = cards_markdown(live.snapshot())
    assert "★ most confident" in cards.split("#2")[0] and "RM pick" not in cards


@pytest.mark.parametrize(
    "answer, label",
    [
        ("\\frac{3}{4}", "3/4"),
        ("\\dfrac{x+1}{2}", "(x+1)/2"),
        ("2\\sqrt{2}", "2√2"),
        ("45^\\circ", "45°"),
        ("\\text{(B)}", "(B)"),
        ("\\left\\{1,2\\right\\}", "{1,2}"),
        ("$5", "5"),
        ("\\frac{1}{\\frac{1}{2}}", "1/(1/2)"),
        ("\\notacommand{", "notacommand"),
        ("x" * 40, "x" * 23 + "…"),
    ],
)
def test_bar_labels_are_plain_text(answer, label):
    assert plain_label(answer) == label


def test_vote_bars_keep_colours_the_pick_the_shares_and_the_no_answer_bar():
    rows, colours, title = vote_bars(["\\frac{1}{2}", "0.5x", "\\badcmd{"], [3, 2, 1], no_answer=2, total=8,
                                     rm_cluster=1, weighted=[0.5, 0.3, 0.2])
    assert [r[:2] for r in rows] == [["1/2", 3], ["0.5x ★RM", 2], ["badcmd", 1], ["no answer", 2]]
    assert [r[3] for r in rows] == ["50%", "30%", "20%", ""]
    assert list(colours.values()) == [cluster_colour(0), cluster_colour(1), cluster_colour(2), NO_ANSWER_COLOUR]
    assert "6 of 8" in title
    # Two clusters whose labels read the same still get a bar each.
    same, _, _ = vote_bars(["\\frac{1}{2}", "1/2"], [1, 1], no_answer=0, total=2)
    assert len({r[0] for r in same}) == 2


def test_step_heatmap_builds():
    heat = step_heatmap([("#1", [0.9, 0.1]), ("#2", [0.5])])
    heat.savefig(io.BytesIO(), format="png")
    assert heat.axes


def test_transcript_is_self_contained_and_escaped():
    now = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    detail = AttemptDetail(
        id="abcdef1234567890", session="s", started_at=now, finished_at=now, status="done",
        problem="<img src=x onerror=alert(1)> Solve $x^2=4$", model_id="m", precision="fp32", device="cpu",
        backend="local", server_url=None, params={}, n_samples=1, temperature=1.0, top_p=0.9, max_new_tokens=64, seed=3, queued_s=0, ttft_s=0.1,
        total_s=1, prompt_tokens=10, generated_tokens=20, tokens_per_s=20, greedy_answer="2", maj_answer="2",
        maj_count=1, maj_n=1, rm_answer="2", rm_score=0.5, rm_label="reward", rm_index=1, scorer="tiny-rm", weighted_answer="2",
        agreement="greedy, majority and reward pick agree", all_agree=True, error=None,
        samples=(SampleRecord(0, "greedy", "So $x=2$. <script>alert(1)</script>", 5, "stop", -0.1, "2"),
                 SampleRecord(1, "sampled", "Thus \\boxed{2}", 4, "stop", -0.2, "2", 0, 0.5, [0.9], 1.0)),
        feedback=(FeedbackView("f1", now, "student", "right", None, "<b>nice</b>", "attempt", None),),
    )
    html = transcript_html(detail)
    assert "<script" not in html and "<img" not in html and "<b>nice" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;nice&lt;/b&gt;" in html
    assert "<math" in html and "default-src 'none'" in html
    assert "http://" not in html.replace("http://www.w3.org/1998/Math/MathML", "")
