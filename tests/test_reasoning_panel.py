"""The step checker and the reasoning map on the page: the "Where the solutions part ways" panel
(words escaped; the map an SVG whose model text is only ever escaped text, with hover text),
wrong steps marked in the right card and under the main solution, the checked vote beside
Maj@N, and the Teacher's view of one problem across the class, read from a real log. The
page draws the run's analysis (`judgements.analysis.analyse_run`, which the Solver computes
once); these tests compute it the same way and hand it to the drawing code.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import pairwise
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from judgements.analysis import RunAnalysis, analyse_run, remeasure
from judgements.answers import majority_vote
from judgements.solution import Solution
from storage import FeedbackInput, Store, new_session_id
from storage.records import analysis_values, sample_records
from storage.review import feedback_answer, teacher_class
from tests.storage_worker import make_outcome, make_start
from tests.test_mathtext import (
    DELIMITER_TOKENS,
    FRAGMENTS,
    gradio_delimiter_pass,
    model_text,
)
from ui.classview import class_view
from ui.reasoning import map_svg, reasoning_panel
from ui.stepmarks import claim_math
from ui.views import (
    RunView,
    VoteView,
    cards_markdown,
    main_solution_markdown,
    vote_markdown,
)

RIGHT = "A baker makes $14 \\times 12 = 168$ muffins.\n\nShe has $168 - 150 = 18$ left.\n\nThe answer is $\\boxed{18}$."
SLIP = "A baker makes $14 \\times 12 = 158$ muffins.\n\nShe has $158 - 150 = 8$ left.\n\nThe answer is $\\boxed{8}$."
ATTACK = "<img src=x onerror=\"window.__pwned=1\"> <script>window.__pwned=2</script>"
PROBLEM = "A baker makes 14 dozen muffins and sells 150. How many are left?"
PASSWORD = "correct horse battery staple"


def finished(texts: list[str], *, greedy: str | None = None) -> list[Solution]:
    """Greedy (row 0, when given) and samples 1..N, finished and clustered as the Solver would."""
    answers = [_answer(t) for t in texts]
    vote = majority_vote(answers)
    rows = [Solution(0, "greedy", greedy, 30, "stop", -0.1, _answer(greedy))] if greedy is not None else []
    rows += [Solution(i + 1, "sampled", t, 30, "stop", -0.2, a, cluster=c)
             for i, (t, a, c) in enumerate(zip(texts, answers, vote.assignments))]
    return rows


def analysed(rows: list[Solution]) -> RunAnalysis:
    """The run's analysis, as the Solver computes it once a run has voted."""
    greedy = next((r for r in rows if r.kind == "greedy"), None)
    samples = [r for r in rows if r.kind == "sampled"]
    return analyse_run(greedy, samples, majority_vote([s.answer for s in samples]) if samples else None)


def panel_of(rows: list[Solution], **kwargs):
    """The panel the page draws for these solutions' map."""
    return reasoning_panel(analysed(rows).map, **kwargs)


def _answer(text: str) -> str | None:
    found = re.findall(r"\\boxed\{([^{}]*)\}", text)
    return found[-1] if found else None


def svg_elements(svg: str) -> list[ET.Element]:
    """Every element of a map's SVG (it must parse as XML), namespace dropped from the tags."""
    elements = list(ET.fromstring(svg).iter())
    for element in elements:
        element.tag = element.tag.rpartition("}")[2]
    return elements


def svg_texts(svg: str) -> list[str]:
    return ["".join(e.itertext()) for e in svg_elements(svg) if e.tag == "text"]


def view_of(rows: list[Solution]) -> RunView:
    samples = [r for r in rows if r.kind == "sampled"]
    vote = majority_vote([s.answer for s in samples])
    shown = VoteView(n=len(samples), labels=[c.answer for c in vote.clusters], counts=[c.count for c in vote.clusters],
                     no_answer=vote.total - vote.answered, maj_answer=vote.answer, maj_count=vote.count)
    view = RunView(rows={r.index: r for r in rows}, vote=shown, finished=True)
    view.take_analysis(analysed(rows))
    return view


# --- the panel ----------------------------------------------------------------------------------


def test_the_panel_says_where_the_slip_leaves_the_majority_and_typesets_it():
    rows = finished([RIGHT] * 5 + [SLIP] * 3, greedy=RIGHT)
    panel = panel_of(rows)
    assert panel is not None and len(panel.tree.splits) == 1
    [split] = panel.tree.splits
    assert [(b.weight, b.says, b.formula) for b in split.branches] == [(6, "14 \\times 12 = 168", True), (3, "= 158", True)]
    words = panel.markdown
    assert "Where the solutions part ways" in words and "9 solutions" in words
    assert "6 say \\(14 \\times 12 = 168\\)" in words and "3 say \\(= 158\\)" in words
    assert "read as 14 × 12; that is 168, not 158" in words  # the wrong branch's full text: what was read, its right value
    assert "<details class='map-steps'>" in words
    texts = svg_texts(panel.svg)
    assert "split 1" in texts and any(t.startswith("✗ should be 168") for t in texts)
    # Hovering the slip's node: its full step, how many pass through it, the checker's verdict.
    [slip] = [e.find("{*}title").text for e in svg_elements(panel.svg) if e.tag == "g" and "= 158" in "".join(e.itertext())]
    assert "A baker makes $14 \\times 12 = 158$ muffins." in slip and "3 solutions pass through it" in slip
    assert "✗ 14 \\times 12 = 158: read as 14 × 12; that is 168, not 158" in slip


def test_feedback_moves_the_reference_and_an_answer_nobody_reached_is_said():
    rows = finished([RIGHT] * 3 + [SLIP] * 5)
    tree = analysed(rows).map
    assert tree.reference == 0  # the majority's (the slip's) answer
    moved_tree, reached = remeasure(tree, rows, "18")
    moved = reasoning_panel(moved_tree, right_answer="18", reached=reached)
    assert reached and moved.tree.reference == moved.tree.nodes[moved.tree.splits[0].right[0]].cluster == 1
    assert "No solution reached" not in moved.markdown
    nobody_tree, reached = remeasure(tree, rows, "1000")
    assert not reached and nobody_tree.reference == 0
    nobody = reasoning_panel(nobody_tree, right_answer="1000", reached=reached)
    assert "No solution reached the answer marked right" in nobody.markdown


def test_no_samples_no_map():
    assert analysed([Solution(0, "greedy", RIGHT, 9, "stop", answer="18")]).map is None


def test_the_panel_escapes_injected_markup_from_the_model():
    evil = SLIP.replace("A baker makes", f"{ATTACK} A baker makes").replace("left.", "left $ unpaired.")
    rows = finished([RIGHT] * 3 + [evil] * 2 + [ATTACK + "\n\nso \\boxed{<b>x</b>}"])
    words = panel_of(rows).markdown
    assert "<img" not in words and "<script" not in words and "<b>" not in words
    assert "&lt;img src=x" in words and "&lt;script&gt;" in words
    remaining, blocks = gradio_delimiter_pass(words)
    assert all(b.startswith(("\\(", "\\[")) for b in blocks)
    assert not DELIMITER_TOKENS.search(remaining)


@settings(max_examples=150, deadline=None)
@given(st.lists(model_text, min_size=2, max_size=6))
def test_any_model_text_leaves_no_raw_delimiter_or_tag_in_the_panel(texts):
    rows = finished([RIGHT, SLIP] + [t + " so \\boxed{7}" for t in texts])
    words = panel_of(rows).markdown
    remaining, blocks = gradio_delimiter_pass(words)
    assert all(b.startswith(("\\(", "\\[")) for b in blocks)
    assert not DELIMITER_TOKENS.search(remaining)
    assert "<script" not in words and "<details>" not in words  # only the panel's own details


def test_the_map_is_plain_text_and_legible_at_n64():
    texts = []
    for i in range(64):  # 64 samples that part at the second step, some with a slip
        a, b = 10 + i % 7, 3 + i % 5
        wrong = i % 4 == 0
        product = a * b + (1 if wrong else 0)
        texts.append(f"We need ${a} \\times {b}$.\n\nSo ${a} \\times {b} = {product}$.\n\nAdd $1$.\n\n"
                     f"Then ${product} + 1 = {product + 1}$ and the answer is $\\boxed{{{product + 1}}}$.")
    texts[0] = "<script>alert(1)</script> $$x$$ \x1b\x07 " + texts[0]
    rows = finished(texts, greedy=texts[1])
    panel = panel_of(rows)
    elements = svg_elements(panel.svg)
    labels = svg_texts(panel.svg)
    assert labels and not any("$" in t or not t.isprintable() for t in labels)
    assert "<script>alert(1)</script>" in labels and "<script" not in panel.svg  # text, escaped
    svg = elements[0]
    width, height = (float(v) for v in svg.get("viewBox").split()[2:])
    assert svg.get("width") == "100%" and width <= 1400
    # Every lane keeps its own line of text: the answers, one per lane, a line of text apart.
    answers = sorted(float(e.get("y")) for e in elements if e.tag == "text" and e.text.startswith("→"))
    assert len(answers) == len(panel.tree.leaves) and height >= 25 * len(answers)
    size = max(float(e.get("font-size")) for e in elements if e.tag == "text" and e.text.startswith("→"))
    assert min(b - a for a, b in pairwise(answers)) >= 1.5 * size
    assert any(t.startswith("+") and "more steps" in t for t in labels)  # single-solution tails fold


def test_map_of_one_path():
    rows = finished([RIGHT] * 3)
    svg = map_svg(analysed(rows).map)
    assert [t for t in svg_texts(svg) if t.startswith("→")] == ["→ 18  (3)"]
    tips = [e.text for e in svg_elements(svg) if e.tag == "title"]
    assert "answer 18: 3 solutions end here" in tips and "the problem: 3 solutions start here" in tips


HOSTILE = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "]]>", "&", "&amp;", "\x1b\x07", "\x00",
           "'", "$", "{", "}", "<!--", "<![CDATA[", "${alert(1)}", "{{value}}", "\ud800", "\ufffe", "\r", "\x85"]
SVG_ELEMENTS = {"svg", "g", "polyline", "circle", "text", "title"}


def test_hostile_model_text_stays_text_in_the_map():
    evil = "".join(HOSTILE)
    rows = finished([RIGHT] * 3 + [SLIP.replace("A baker", evil + " A baker")] * 2 + [f"{evil}\n\nso \\boxed{{{evil}}}"])
    svg = panel_of(rows).svg
    elements = svg_elements(svg)
    assert {e.tag for e in elements} <= SVG_ELEMENTS
    assert "<script" not in svg and "<img" not in svg and "\x1b" not in svg and "\ud800" not in svg
    tips = "\n".join(e.text for e in elements if e.tag == "title")
    assert "<script>alert(1)</script>" in tips and "\"><img src=x onerror=alert(1)>" in tips  # the full text, as text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS + HOSTILE) | st.text(max_size=6), max_size=30).map("".join),
                min_size=1, max_size=5))
def test_any_model_text_is_only_text_in_the_map(texts):
    rows = finished([RIGHT, SLIP] + [t + f" so 6 \\times 7 = 41 and \\boxed{{{t}}}" for t in texts])
    svg = panel_of(rows).svg
    elements = svg_elements(svg)
    assert {e.tag for e in elements} <= SVG_ELEMENTS
    assert not any(name.lower().startswith("on") for e in elements for name in e.attrib)
    assert "<script" not in svg.lower() and "<img" not in svg.lower()
    assert all("$" not in t and t.isprintable() for t in svg_texts(svg))


# --- wrong steps on the cards and the main solution ---------------------------------------------


def test_a_wrong_step_is_marked_in_its_own_card_with_the_right_value():
    rows = finished([RIGHT, SLIP, RIGHT], greedy=SLIP)
    view = view_of(rows)
    cards = cards_markdown(view).split("<details")[1:]
    assert len(cards) == 3
    assert "read as 14 × 12; that is 168, not 158" in cards[1] and "⚠ step 1: \\(14 \\times 12 = 158\\)" in cards[1]
    assert "⚠ 1 wrong step" in cards[1]  # 14 × 12 = 158; then 158 - 150 = 8 is right
    assert "that is" not in cards[0] and "that is" not in cards[2]
    main = main_solution_markdown(view)
    assert "read as 14 × 12; that is 168, not 158" in main


def test_only_finished_solutions_are_checked():
    row = Solution(1, "sampled", SLIP)  # still writing
    assert analyse_run(None, [row], None).solutions == ()
    view = RunView(rows={1: row})
    assert "that is" not in cards_markdown(view) and "wrong step" not in cards_markdown(view)


def test_an_attempt_logged_without_its_analysis_says_not_checked():
    view = view_of(finished([SLIP, RIGHT]))
    view.checks, view.checked, view.map, view.not_checked = {}, None, None, True
    cards = cards_markdown(view)
    assert "steps not checked" in cards and "that is" not in cards
    votes = vote_markdown(view)
    assert "Checked vote" in votes and "not checked" in votes.split("Checked vote")[1]


def test_claims_are_typeset_or_literal_never_markup():
    assert claim_math("20% of 50 = 12") == "\\(20\\% \\text{ of } 50 = 12\\)"
    assert claim_math("14 \\times 12 = 158") == "\\(14 \\times 12 = 158\\)"
    shown = claim_math("<img src=x> = 3")
    assert "<img" not in shown


@settings(max_examples=150, deadline=None)
@given(st.lists(model_text, min_size=1, max_size=5))
def test_a_marked_card_never_takes_another_with_it(texts):
    rows = finished([t + " So $14 \\times 12 = 158$ and 7 + 8 = 16." for t in texts])
    page = cards_markdown(view_of(rows))
    remaining, blocks = gradio_delimiter_pass(page)
    assert not any("<details" in b or "</details>" in b for b in blocks)
    assert not DELIMITER_TOKENS.search(remaining)
    assert remaining.count("<details class='card") == len(texts) == remaining.count("</details>")


# --- the checked vote ---------------------------------------------------------------------------


def test_the_checked_vote_stands_beside_maj_with_its_count():
    view = view_of(finished([SLIP] * 3 + [RIGHT] * 2))
    votes = vote_markdown(view)
    assert "Majority vote (Maj@5)" in votes and "Checked vote" in votes
    maj, checked = votes.split("Checked vote")
    assert "\\(8\\)" in maj and "\\(18\\)" in checked.split("</div></div>")[0]
    assert "2 of 2 unflagged samples" in votes


def test_the_checked_vote_falls_back_to_maj_when_every_sample_slips():
    votes = vote_markdown(view_of(finished([SLIP] * 3)))
    assert "every sample has a wrong step: Maj@3 of all" in votes


def test_no_checked_vote_while_samples_are_writing():
    view = view_of(finished([RIGHT] * 2))
    view.rows[2] = Solution(2, "sampled", "half")
    view.checked = None  # the run's analysis comes with its end
    assert "Checked vote" not in vote_markdown(view)
    assert analyse_run(None, list(view.samples), None).checked is None


# --- the Teacher's view of one problem across the class -----------------------------------------


def _log(store: Store, texts: list[str], *, greedy: str | None = None, problem: str = PROBLEM) -> str:
    rows = finished(texts, greedy=greedy)
    samples = [r for r in rows if r.kind == "sampled"]
    vote = majority_vote([s.answer for s in samples])
    analysis = analysed(rows)
    attempt = store.start_attempt(make_start(new_session_id(), problem)).attempt_id
    outcome = make_outcome(greedy_answer=rows[0].answer if greedy else None, maj_answer=vote.answer, maj_count=vote.count,
                           n=len(samples), rm_index=None, rm_answer=None, weighted_answer=None,
                           **analysis_values(analysis))
    store.finish_attempt(attempt, outcome, sample_records(rows, analysis))
    return attempt


def test_the_class_view_counts_answers_recurring_slips_and_where_they_leave(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as store:
        alice = _log(store, [RIGHT, RIGHT, RIGHT, SLIP], greedy=RIGHT)
        bob = _log(store, [SLIP, SLIP, RIGHT, RIGHT], greedy=SLIP)
        carol = _log(store, [SLIP, SLIP, RIGHT.replace("= 18", "= 28").replace("{18}", "{28}")])
        _log(store, [SLIP] * 4, problem=PROBLEM + " Show your work.")  # another problem: not read
        token = store.teacher_login(PASSWORD)
        store.teacher_add_feedback(token, bob, FeedbackInput("wrong", correct_answer="18"))
        words, drawn = class_view(SimpleNamespace(store=store), token, carol)
        work = teacher_class(store, token, carol)
    assert words["visible"] and drawn["visible"] and svg_texts(drawn["value"])
    text = words["value"]
    assert "Same problem across the class" in text and "3 runs of this problem, from 3 sessions" in text
    assert "Right answer (from feedback): \\(18\\)" in text
    assert "**Recurring wrong answers:** \\(8\\) (in 3 runs, 6 solutions)" in text  # Bob's tie went to 8
    assert "\\(28\\)" in text.split("Recurring")[0]  # in the table, but it does not recur
    assert "say \\(14 \\times 12 = 168\\)" in text and "say \\(= 158\\)" in text  # where the slip leaves

    assert work.runs == 3 and work.map_reached and work.right_from == "feedback"
    rows = {r.answer: (r.solutions, r.in_runs, r.concluded, r.right) for r in work.rows}
    assert rows == {"18": (6, 2, 1, True), "8": (6, 3, 2, False), "28": (1, 1, 0, False)}


def test_feedback_answer_prefers_a_teacher_and_reads_right_verdicts(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as store:
        attempt = _log(store, [RIGHT, SLIP, SLIP])
        token = store.teacher_login(PASSWORD)
        detail = store.teacher_get_attempt(token, attempt)
        assert feedback_answer([detail]) is None
        store.teacher_add_feedback(token, attempt, FeedbackInput("right", target="majority"))
        assert feedback_answer([store.teacher_get_attempt(token, attempt)]) == "8"
        store.teacher_add_feedback(token, attempt, FeedbackInput("wrong", correct_answer="18"))
        assert feedback_answer([store.teacher_get_attempt(token, attempt)]) == "18"
