"""A run's analysis (every claim's verdict, the checked vote, the reasoning map, how clear each
vote's win is) is computed once by the Solver, streamed to the page, logged with the attempt
(Alembic revisions 0005 and 0008), and read
back by History, the Teacher tab, transcripts, exports and the class view without being
computed again; attempts logged before 0005 still replay, as "not checked"; the Teacher can
filter on a wrong step and on the checked vote's agreement, through the store and through the
running app.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client

import judgements.analysis
import judgements.reasoning_map
import judgements.steps.checker
import storage.review
from judgements.analysis import RunAnalysis, SolutionAnalysis, analyse_run
from judgements.answers import majority_vote
from judgements.claims import claim_from_dict, claim_to_dict
from judgements.map_data import ReasoningMap
from judgements.solution import Solution
from judgements.steps.checker import Claim
from model.backends.protocol import RowFinished, TextDelta
from model.params import SamplingParams
from model.solver import Solver
from model.types import RowChecked, RunDone
from storage import AttemptQuery, FeedbackInput, Store, new_session_id, session_key
from storage.formats import LATER_COLUMNS, read_csv, read_jsonl
from storage.migrations import MIGRATIONS
from storage.records import analysis_values, sample_records
from storage.review import replay, teacher_class, teacher_replay
from tests.crafted import build_scripted_model
from tests.servers import start_app
from tests.storage_worker import make_outcome, make_start
from tests.test_solver import ScriptedBackend
from ui import logbook
from ui.classview import class_view
from ui.outputs import render_outputs
from ui.transcript import transcript_html
from ui.views import LiveRun

RIGHT = "A baker makes $14 \\times 12 = 168$ muffins.\n\nShe has $168 - 150 = 18$ left.\n\nThe answer is $\\boxed{18}$."
SLIP = "A baker makes $14 \\times 12 = 158$ muffins.\n\nShe has $158 - 150 = 8$ left.\n\nThe answer is $\\boxed{8}$."
PROBLEM = "A baker makes 14 dozen muffins and sells 150. How many are left?"
PASSWORD = "teacher password for the analysis tests"


def scripted_run(texts: list[str]) -> list:
    """Backend events: row 0 (greedy) and rows 1..N write `texts` and finish in turn."""
    events = []
    for row, text in enumerate(texts):
        events += [TextDelta(row, text), RowFinished(row, "stop", 20 + row, -0.1 * (row + 1))]
    return events


def solved(tokenizer, texts: list[str], problem: str = PROBLEM):
    """Solve through a real Solver over a scripted backend: every event, and the result."""
    solver = Solver(ScriptedBackend(scripted_run(texts), tokenizer))
    try:
        events = list(solver.stream(problem, SamplingParams(n=len(texts) - 1, seed=3)))
    finally:
        solver.close()
    return events, events[-1].result


@pytest.fixture()
def counted(monkeypatch):
    """Every call of the step checker on a whole solution, wherever it comes from."""
    calls: list[str] = []
    original = judgements.steps.checker.check_solution

    def counting(text, problem=""):
        calls.append(text)
        return original(text, problem)

    for module in (judgements.steps.checker, judgements.analysis, judgements.reasoning_map):
        monkeypatch.setattr(module, "check_solution", counting)
    return calls


def log_result(store: Store, session: str, result) -> str:
    """Log a run as the Solve tab does."""
    from model.backends.protocol import BackendInfo

    info = BackendInfo(kind="local", model="scripted", family="qwen2-math", precision="fp32", device="cpu",
                       context_length=4096, seeds=True, logprobs=True)
    start = logbook.unreachable_start(session, PROBLEM, SamplingParams(n=len(result.samples), seed=3), info)
    attempt = store.start_attempt(start).attempt_id
    assert store.finish_attempt(attempt, logbook.outcome_of(result), sample_records(result.solutions, result.analysis)).ok
    return attempt


# ------------------------------------------------------------------ computed once, in the core


def test_the_solver_streams_each_rows_verdicts_and_ends_with_the_runs_analysis(tiny_tokenizer):
    events, result = solved(tiny_tokenizer, [RIGHT, SLIP, SLIP, RIGHT, SLIP])
    analysis = result.analysis
    assert isinstance(events[-1], RunDone) and analysis is not None
    assert [s.index for s in analysis.solutions] == [0, 1, 2, 3, 4]
    assert analysis.of(1).wrong_steps == (0,) and [c.right for c in analysis.of(1).wrong] == ["168"]
    assert analysis.of(0).wrong == () and analysis.has_wrong_step
    # Maj@4 follows the slip (8, 3 votes); the checked vote keeps the 1 unflagged sample: 18.
    assert result.vote.answer == "8"
    checked = analysis.checked
    assert (checked.answer, checked.count, checked.kept, checked.total, checked.fell_back, checked.agrees) == (
        "18", 1, (3,), 4, False, False)
    assert analysis.map is not None and analysis.map.splits and analysis.map.reference == 0
    early = [e.analysis for e in events if isinstance(e, RowChecked)]
    assert all(a == analysis.of(a.index) for a in early)  # what streamed early is what the run holds


def test_an_operation_the_problem_defines_is_not_read_as_arithmetic(tiny_tokenizer):
    starred = "We compute $3 * 4 = 10$.\n\nSo the answer is $\\boxed{10}$."
    defined = "Define $a * b = 2a + b$. What is $3 * 4$?"
    _, result = solved(tiny_tokenizer, [starred, starred], problem=defined)
    assert [a.wrong for a in result.analysis.solutions] == [(), ()]  # the Solver read the problem
    _, plain = solved(tiny_tokenizer, [starred, starred], problem="What is $3 * 4$?")
    assert [c.right for c in plain.analysis.of(1).wrong] == ["12"]  # without the definition: a product


def test_a_follow_up_answer_is_not_checked(tiny_tokenizer):
    solver = Solver(ScriptedBackend(scripted_run([SLIP]), tiny_tokenizer))
    try:
        follow_up = solver.prepare_follow_up(PROBLEM, SLIP, "Why 158?")
        result = solver.follow_up(follow_up)
    finally:
        solver.close()
    assert result.greedy.text == SLIP and result.analysis is None


def test_solve_render_log_replay_transcript_export_check_each_solution_once(tiny_tokenizer, tmp_db_url, counted):
    texts = [RIGHT, SLIP, SLIP, RIGHT, SLIP]
    solver = Solver(ScriptedBackend(scripted_run(texts), tiny_tokenizer))
    try:
        live = LiveRun(range(len(texts)))
        for event in solver.stream(PROBLEM, SamplingParams(n=4, seed=3)):
            live.apply(event)
            render_outputs("model", live.snapshot(), live, plots=True)  # the page, at every event
    finally:
        solver.close()
    result = live.result
    assert len(counted) == len(texts)  # the Solver's analysis: each solution once
    page = render_outputs("model", live.snapshot(), live, plots=True)
    assert "read as 14 × 12; that is 168, not 158" in page[3] and "⚠ 1 wrong step" in page[3] and "Checked vote" in page[4]

    session = new_session_id()
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as store:
        attempt = log_result(store, session, result)
        replayed = replay(store, attempt, session_id=session)
        view = logbook.run_view_from_replay(replayed)
        shown = render_outputs("model", view, None, plots=True)
        assert shown[3] == page[3] and shown[4] == page[4]  # the replay draws what the page drew
        assert shown[7]["visible"] and "Where the solutions part ways" in shown[7]["value"]
        assert "that is 168, not 158" in transcript_html(replayed.detail)
        for fmt in ("jsonl", "csv"):
            store.export_session(session, fmt)
        token = store.teacher_login(PASSWORD)
        words, drawn = class_view(SimpleNamespace(store=store), token, attempt)
        assert "Where the wrong paths leave the right one" in words["value"] and drawn["visible"]
    assert len(counted) == len(texts)  # nothing after the solve checked a step again


# ------------------------------------------------------------------ logged


def test_the_log_holds_every_claims_verdict_and_the_checked_vote(tiny_tokenizer, tmp_db_url):
    _, result = solved(tiny_tokenizer, [SLIP, SLIP, SLIP, RIGHT, RIGHT])
    session = new_session_id()
    with Store.open(tmp_db_url) as store:
        attempt = log_result(store, session, result)
    path = Path(tmp_db_url.removeprefix("sqlite:///"))
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT maj_answer, checked_answer, checked_count, checked_kept, checked_fell_back, "
                           "checked_agrees, has_wrong_step, reasoning_map FROM attempts WHERE id = ?", (attempt,)).fetchone()
        samples = conn.execute("SELECT sample_index, claims, wrong_steps FROM samples WHERE attempt_id = ? "
                               "ORDER BY sample_index", (attempt,)).fetchall()
    finally:
        conn.close()
    maj, checked, count, kept, fell_back, agrees, wrong, tree = row
    assert (maj, checked, count, json.loads(kept), fell_back, agrees, wrong) == ("8", "18", 2, [3, 4], 0, 0, 1)
    assert ReasoningMap.from_dict(json.loads(tree)) == result.analysis.map
    by_index = {index: (json.loads(claims), wrong_steps) for index, claims, wrong_steps in samples}
    claims, wrong_steps = by_index[1]
    assert wrong_steps == 1 and [(c["text"], c["status"], c["right"]) for c in claims][:2] == [
        ("14 \\times 12 = 158", "wrong", "168"), ("158 - 150 = 8", "right", None)]
    assert by_index[4][1] == 0 and all(c["status"] == "right" for c in by_index[4][0])
    with Store.open(tmp_db_url) as store:
        detail = store.get_attempt(attempt, session_id=session)
    read = detail.analysis  # read back: every verdict, the checked vote, the map
    assert read.solutions == result.analysis.solutions and read.map == result.analysis.map
    assert (read.checked.answer, read.checked.count, read.checked.kept, read.checked.fell_back, read.checked.agrees) == (
        "18", 2, (3, 4), False, False)


def test_claims_read_back_tolerantly():
    import dataclasses

    claim = Claim(2, "14 \\times 12 = 158", "158", "168", (3, 21), "wrong")
    data = claim_to_dict(claim)
    assert data["span"] == [3, 21] and json.loads(json.dumps(data)) == data
    assert set(data) == {f.name for f in dataclasses.fields(Claim)}  # every field, new ones too
    assert claim_from_dict(data) == claim
    # A claim logged before a field existed takes the field's default (or an empty value).
    defaulted = {f.name for f in dataclasses.fields(Claim) if f.default is not dataclasses.MISSING}
    older = {k: v for k, v in data.items() if k not in defaulted | {"status"}}
    read = claim_from_dict(older)
    assert read.status == "not checked" and all(getattr(read, name) == getattr(Claim, name) for name in defaulted)
    assert claim_from_dict({**data, "unheard_of": 1}) == claim  # a field this code does not know


def test_the_analysis_and_its_map_round_trip_as_plain_json():
    rows = [Solution(i, "greedy" if i == 0 else "sampled", t, 20, "stop", -0.1, "18" if t == RIGHT else "8")
            for i, t in enumerate([RIGHT, SLIP, RIGHT, SLIP, SLIP])]
    vote = majority_vote([r.answer for r in rows[1:]])
    for row, cluster in zip(rows[1:], vote.assignments):
        row.cluster = cluster
    analysis = analyse_run(rows[0], rows[1:], vote)
    again = RunAnalysis.from_dict(json.loads(json.dumps(analysis.to_dict(), allow_nan=False)))
    assert again == analysis and again.map.nodes[1].label  # labels kept for the page
    assert RunAnalysis.from_dict({"solutions": [{"index": 1}]}).of(1) == SolutionAnalysis(1)


def test_each_votes_standing_is_logged_and_replayed_without_voting_again(tiny_tokenizer, tmp_db_url, monkeypatch):
    # Samples 8, 18, 18, 8: Maj@4 is a tie, broken by the answer given first (#1); the checked
    # vote keeps the two unflagged samples (#2, #3) and wins clearly.
    _, result = solved(tiny_tokenizer, [RIGHT, SLIP, RIGHT, RIGHT, SLIP])
    analysis = result.analysis
    assert (analysis.standing.kind, analysis.standing.tied, analysis.first) == ("tie", ("8", "18"), 1)
    assert (analysis.checked.standing.kind, analysis.checked.first) == ("majority", 2)
    session = new_session_id()
    with Store.open(tmp_db_url) as store:
        attempt = log_result(store, session, result)
    conn = sqlite3.connect(Path(tmp_db_url.removeprefix("sqlite:///")))
    try:
        logged = json.loads(conn.execute("SELECT vote_standings FROM attempts WHERE id = ?", (attempt,)).fetchone()[0])
    finally:
        conn.close()
    assert logged["majority"]["kind"] == "tie" and logged["majority"]["first_sample"] == 1
    assert logged["checked"]["kind"] == "majority" and logged["checked"]["first_sample"] == 2

    def never(*_args, **_kwargs):
        raise AssertionError("a logged standing was worked out again")

    monkeypatch.setattr(judgements.analysis, "logged_standing", never)
    monkeypatch.setattr(storage.review, "logged_standing", never)
    with Store.open(tmp_db_url) as store:
        replayed = replay(store, attempt, session_id=session)
    assert (replayed.standing, replayed.first) == (analysis.standing, analysis.first)
    assert replayed.analysis.checked.standing == analysis.checked.standing
    votes = render_outputs("model", logbook.run_view_from_replay(replayed), None, plots=True)[4]
    assert "tie between" in votes and "broken by the answer given first (#1)" in votes


def test_an_attempt_logged_before_0008_reads_its_standings_back_from_its_clusters(tiny_tokenizer, tmp_db_url):
    _, result = solved(tiny_tokenizer, [RIGHT, SLIP, RIGHT, RIGHT, SLIP])
    session = new_session_id()
    with Store.open(tmp_db_url) as store:
        attempt = log_result(store, session, result)
    conn = sqlite3.connect(Path(tmp_db_url.removeprefix("sqlite:///")))
    try:
        with conn:  # as the app wrote it at 0007: no standings
            conn.execute("UPDATE attempts SET vote_standings = NULL WHERE id = ?", (attempt,))
    finally:
        conn.close()
    with Store.open(tmp_db_url) as store:
        replayed = replay(store, attempt, session_id=session)
    assert replayed.detail.vote_standings is None
    assert (replayed.standing, replayed.first) == (result.analysis.standing, result.analysis.first)
    assert (replayed.analysis.checked.standing, replayed.analysis.checked.first) == (
        result.analysis.checked.standing, result.analysis.checked.first)


# ------------------------------------------------------------------ old attempts


def test_an_attempt_logged_before_0005_still_replays_as_not_checked(tmp_db_url):
    before = MIGRATIONS[:[m.revision for m in MIGRATIONS].index("0005")]
    session = new_session_id()
    rows = [Solution(i, "greedy" if i == 0 else "sampled", t, 20, "stop", -0.1, "18" if t == RIGHT else "8",
                     cluster=None if i == 0 else (0 if t == SLIP else 1)) for i, t in enumerate([RIGHT, SLIP, SLIP, RIGHT])]
    Store.open(tmp_db_url, migrations=before, recover=False, strict=True).close()  # the schema at 0004
    attempt = "a" * 32
    conn = sqlite3.connect(Path(tmp_db_url.removeprefix("sqlite:///")))  # rows as that app wrote them
    try:
        with conn:
            conn.execute("INSERT INTO sessions VALUES (?, '2026-01-05 10:00:00', '2026-01-05 10:00:00')",
                         (session_key(session),))
            conn.execute(
                "INSERT INTO attempts (id, session_key, started_at, finished_at, status, problem, model_id, precision, "
                "device, params, greedy_answer, maj_answer, maj_count, maj_n) VALUES (?, ?, '2026-01-05 10:00:00', "
                "'2026-01-05 10:00:09', 'done', ?, 'Qwen/Qwen2-Math-1.5B-Instruct', 'bf16', 'cuda', '{}', '18', '8', 2, 3)",
                (attempt, session_key(session), PROBLEM))
            conn.executemany(
                "INSERT INTO samples (attempt_id, sample_index, kind, text, answer, cluster, tokens, finish_reason, "
                "mean_logprob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(attempt, r.index, r.kind, r.text, r.answer, r.cluster, r.tokens, r.finish_reason, r.mean_logprob)
                 for r in rows])
    finally:
        conn.close()
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as store:  # upgraded to the head on opening
        replayed = replay(store, attempt, session_id=session)
        assert replayed.analysis is None and replayed.map is None
        assert replayed.detail.has_wrong_step is None and all(s.claims is None for s in replayed.detail.samples)
        view = logbook.run_view_from_replay(replayed)
        assert view.not_checked and [view.rows[i].text for i in sorted(view.rows)] == [r.text for r in rows]
        shown = render_outputs("model", view, None, plots=True)
        assert "steps not checked" in shown[3] and "that is" not in shown[3]
        assert "not checked" in shown[4].split("Checked vote")[1] and "Maj@3" in shown[4]
        assert shown[7]["visible"] and "no step checker's verdicts" in shown[7]["value"] and not shown[8]["visible"]
        assert "Steps not checked" in transcript_html(replayed.detail)
        token = store.teacher_login(PASSWORD)
        assert store.teacher_search(token, AttemptQuery(has_wrong_step=True)).total == 0  # never checked: neither
        assert store.teacher_search(token, AttemptQuery(has_wrong_step=False)).total == 0
        work = teacher_class(store, token, attempt)  # the class map draws it, with no wrong step it never knew
        assert work.map is not None and not any(n.wrong for n in work.map.nodes)


# ------------------------------------------------------------------ feedback moves the map


def test_feedback_with_the_right_answer_remeasures_the_replayed_map(tiny_tokenizer, tmp_db_url):
    _, result = solved(tiny_tokenizer, [SLIP, SLIP, SLIP, RIGHT, RIGHT])
    session = new_session_id()
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as store:
        attempt = log_result(store, session, result)
        assert replay(store, attempt, session_id=session).map.reference == 0  # the majority's (8)
        store.add_feedback(attempt, session_id=session, feedback=FeedbackInput("wrong", correct_answer="18"))
        moved = replay(store, attempt, session_id=session)
        assert moved.reached and moved.right_answer == "18" and moved.map.reference == 1
        assert moved.analysis.map.reference == 0  # the logged map stays as logged
        token = store.teacher_login(PASSWORD)
        assert teacher_replay(store, token, attempt).map.reference == 1


# ------------------------------------------------------------------ the Teacher's filters


def log_texts(store: Store, texts: list[str], problem: str = PROBLEM) -> str:
    """Log a run of these samples (no greedy), analysed as the Solver does."""
    rows = [Solution(i + 1, "sampled", t, 20, "stop", -0.1, "18" if t == RIGHT else "8") for i, t in enumerate(texts)]
    vote = majority_vote([r.answer for r in rows])
    for row, cluster in zip(rows, vote.assignments):
        row.cluster = cluster
    analysis = analyse_run(None, rows, vote)
    attempt = store.start_attempt(make_start(new_session_id(), problem)).attempt_id
    outcome = make_outcome(greedy_answer=None, maj_answer=vote.answer, maj_count=vote.count, n=len(rows),
                           rm_index=None, rm_answer=None, **analysis_values(analysis))
    assert store.finish_attempt(attempt, outcome, sample_records(rows, analysis)).ok
    return attempt


def test_the_teacher_filters_on_a_wrong_step_and_on_the_checked_votes_agreement(tmp_db_url):
    with Store.open(tmp_db_url, teacher_password=PASSWORD) as store:
        clean = log_texts(store, [RIGHT, RIGHT])
        slipped = log_texts(store, [SLIP, RIGHT, RIGHT])  # checked vote 18 = Maj@3
        differs = log_texts(store, [SLIP, SLIP, RIGHT])  # Maj@3 8, checked vote 18
        token = store.teacher_login(PASSWORD)

        def found(**query) -> set[str]:
            return {a.id for a in store.teacher_search(token, AttemptQuery(**query)).items}

        assert found(has_wrong_step=True) == {slipped, differs} and found(has_wrong_step=False) == {clean}
        assert found(checked_agrees=False) == {differs} and found(checked_agrees=True) == {clean, slipped}
        assert found(has_wrong_step=True, checked_agrees=True) == {slipped}
        summary = store.teacher_search(token, AttemptQuery(checked_agrees=False)).items[0]
        assert (summary.checked_answer, summary.checked_count, summary.maj_answer) == ("18", 1, "8")
        with pytest.raises(Exception, match="has_wrong_step"):
            store.teacher_search(token, AttemptQuery(has_wrong_step="yes"))  # type: ignore[arg-type]


def test_exports_carry_the_analysis_and_read_back(tmp_db_url, tmp_path):
    from storage.export import main

    with Store.open(tmp_db_url) as store:
        attempt = log_texts(store, [SLIP, SLIP, RIGHT])
        jsonl = read_jsonl(store.operator_export("jsonl"))
        csv_text = store.operator_export("csv")
    [record] = jsonl
    assert (record["checked_answer"], record["checked_agrees"], record["has_wrong_step"]) == ("18", False, True)
    assert record["reasoning_map"]["splits"] and record["samples"][0]["wrong_steps"] == 1
    assert record["samples"][0]["claims"][0]["right"] == "168"
    assert read_csv(csv_text) == jsonl  # the CSV reads back the same, its map once per attempt
    rows = list(csv.reader(io.StringIO(csv_text)))
    at = rows[0].index("reasoning_map")
    assert rows[1][at] and not any(row[at] for row in rows[2:]) and len(rows) == 4
    # An export written before 0005 (no analysis columns) still reads, its analysis empty.
    kept = [i for i, name in enumerate(rows[0]) if name == "turns" or name not in LATER_COLUMNS]
    old = io.StringIO()
    csv.writer(old, lineterminator="\r\n").writerows([[row[i] for i in kept] for row in rows])
    [before] = read_csv(old.getvalue())
    assert before["reasoning_map"] is None and before["has_wrong_step"] is None
    assert before["samples"][0]["claims"] is None and before["samples"][0]["text"] == SLIP
    out = tmp_path / "wrong.jsonl"
    assert main(["--db-url", tmp_db_url, "--format", "jsonl", "--out", str(out)]) == 0
    assert [r["id"] for r in read_jsonl(out.read_text(encoding="utf-8"))] == [attempt]
    assert read_jsonl(out.read_text(encoding="utf-8"))[0]["checked_kept"] == [3]


# ------------------------------------------------------------------ through the running app

SLIP_SCRIPT = "We add $2+3 = 6$ and get \\boxed{5}."  # a wrong step, a right answer; no token twice


@pytest.fixture(scope="module")
def slipping_app(tmp_path_factory):
    from tests.conftest import TINY_CORPUS
    from training.tiny import train_tokenizer

    root = tmp_path_factory.mktemp("slipping-app")
    tokenizer = train_tokenizer(TINY_CORPUS * 20 + [SLIP_SCRIPT] * 50, vocab_size=500)
    model = build_scripted_model(tokenizer, SLIP_SCRIPT, root / "scripted", loop=False)
    app = start_app(model, root / "log" / "app.sqlite3", teacher_password=PASSWORD)
    yield app
    app.close()


def test_the_running_app_marks_logs_and_filters_a_wrong_step(slipping_app):
    client = Client(slipping_app.url, verbose=False)
    final = client.predict("What is 2 plus 3?", 3, 1.0, 0.9, 64, 1, "slip-session-0123456789abcdef", api_name="/solve")
    main, cards, votes = final[1], final[3], final[4]
    assert "that is 5, not 6" in main and cards.count("⚠ 1 wrong step") == 3
    assert "every sample has a wrong step: Maj@3 of all" in votes
    with Store.open(slipping_app.config.db_url, recover=False, teacher_password=PASSWORD) as store:
        clean = log_texts(store, [RIGHT, RIGHT])  # one attempt the checker found nothing wrong in
        [solved_here] = [a.id for a in store.history("slip-session-0123456789abcdef").items]
    teacher = Client(slipping_app.url, verbose=False)
    assert teacher.predict(PASSWORD, api_name="/teacher_login") == "Logged in."
    common = (1, "", "", "", "any", "", "any", "any")  # page, from, to, text, agreement, model, feedback, follow-ups
    table, _ = teacher.predict(*common, "with a wrong step", "any", api_name="/teacher_search")
    assert [row[-1] for row in table["data"]] == [solved_here]  # the attempt id is a row's last cell
    table, _ = teacher.predict(*common, "without", "any", api_name="/teacher_search")
    assert [row[-1] for row in table["data"]] == [clean]
    table, _ = teacher.predict(*common, "any", "agrees with Maj@N", api_name="/teacher_search")
    assert len(table["data"]) == 2  # a fall-back checked vote is Maj@N's
    table, info = teacher.predict(*common, "any", "differs from Maj@N", api_name="/teacher_search")
    assert info.startswith("0 attempts")


def test_the_evaluation_reads_the_runs_verdicts_and_checks_nothing(tiny_tokenizer, counted):
    from evaluation.scoring import Judge, evaluate_prefixes

    _, result = solved(tiny_tokenizer, [RIGHT, SLIP, SLIP, RIGHT, SLIP])
    solved_calls = len(counted)
    outcomes = evaluate_prefixes(result.samples, None, [1, 2, 4], Judge("18"), scorer_name="", label="reward",
                                 analysis=result.analysis)
    assert len(counted) == solved_calls  # the verdicts were read, not computed again
    assert outcomes[-1].checked.answer == result.analysis.checked.answer == "18" and outcomes[-1].checked.correct
    assert outcomes[-1].majority.answer == "8"
