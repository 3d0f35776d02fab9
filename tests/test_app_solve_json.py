"""`/solve_json`: the result as one JSON object for scripts, logged as Solve logs it.

`model.result_json.run_json` is a function of data, tested on a hand-made `RunResult`; the
endpoint is tested through gradio_client against the launched app, and the attempt id it
returns is looked up in the SQLite file itself.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from gradio_client import Client

from judgements.analysis import CheckedVote, RunAnalysis
from judgements.answers import majority_vote
from judgements.ranking import Agreement, Ranking
from judgements.solution import Solution
from model.result_json import run_json
from model.types import RunResult, Timings
from tests.servers import SCRIPT, scripted_model_dir, start_app


@pytest.fixture(scope="module")
def json_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("solve-json")
    app = start_app(scripted_model_dir(root), root / "app.sqlite3")
    yield app, root / "app.sqlite3"
    app.close()


def made_result() -> RunResult:
    greedy = Solution(0, "greedy", "so \\boxed{4}", 5, "stop", -0.1, "4")
    samples = [Solution(1, "sampled", "\\boxed{4}", 4, "stop", -0.2, "4", reward=-0.2),
               Solution(2, "sampled", "\\boxed{5}", 4, "stop", -0.9, "5", reward=-0.9),
               Solution(3, "sampled", "no idea", 9, "length", None, None, reward=float("-inf"))]
    vote = majority_vote([s.answer for s in samples])
    for sample, cluster in zip(samples, vote.assignments):
        sample.cluster = cluster
    agreement = Agreement(True, True, True, True, True, "greedy, Maj@3 and RM@3 agree")
    ranking = Ranking("policy log-probability", "confidence", 0, "4", -0.2, 0, "4", 0, (0.7, 0.3), (0.6, 0.3, 0.0),
                      "softmax", agreement)
    analysis = RunAnalysis((), CheckedVote("4", 1, (1,), 3, False, True), None)
    return RunResult("What is 2+2?", 11, 64, greedy, samples, Timings(0.0, 0.1, 1.0, 20, 22, 22.0, 8.0),
                     vote=vote, ranking=ranking, analysis=analysis)


def test_the_json_of_a_run_holds_every_solution_and_every_vote():
    data = run_json(made_result(), model="qwen", attempt_id="abc")
    json.dumps(data, allow_nan=False)  # plain JSON: no infinities
    assert (data["problem"], data["model"], data["seed"], data["attempt_id"], data["status"]) == \
        ("What is 2+2?", "qwen", 11, "abc", "done")
    assert [(s["index"], s["kind"], s["answer"], s["cluster"], s["finish_reason"]) for s in data["solutions"]] == [
        (0, "greedy", "4", None, "stop"), (1, "sampled", "4", 0, "stop"), (2, "sampled", "5", 1, "stop"),
        (3, "sampled", None, None, "length")]
    assert data["solutions"][3]["reward"] is None  # -inf said as null
    votes = data["votes"]
    assert votes["majority"]["answer"] == "4" and (votes["majority"]["count"], votes["majority"]["n"]) == (1, 3)
    assert votes["majority"]["clusters"][0]["members"] == [1]  # solution indices, not positions
    checked = {k: votes["checked"][k] for k in ("answer", "count", "kept", "total", "fell_back", "agrees")}
    assert checked == {"answer": "4", "count": 1, "kept": [1], "total": 3, "fell_back": False, "agrees": True}
    assert votes["reward_pick"] == {"answer": "4", "index": 1, "score": -0.2, "label": "confidence",
                                    "scorer": "policy log-probability"}
    assert votes["weighted"]["answer"] == "4" and votes["agreement"].endswith("agree")


def test_solve_json_answers_with_the_result_and_logs_the_attempt(json_app):
    app, db = json_app
    client = Client(app.url, verbose=False)
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/solve_json"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == [
        "problem", "n", "temperature", "top_p", "max_new_tokens", "seed"]
    data = client.predict("What is $2+3$?", 3, 1.0, 0.9, 64, 7, api_name="/solve_json")
    assert data["problem"] == "What is $2+3$?" and data["seed"] == 7 and data["model"] == app.resources.solver.info.model
    assert data["status"] == "done" and data["logged"] is True
    solutions = data["solutions"]
    assert [(s["index"], s["kind"]) for s in solutions] == [(0, "greedy"), (1, "sampled"), (2, "sampled"), (3, "sampled")]
    assert all(s["text"] == SCRIPT and s["answer"] == "5" and s["finish_reason"] == "stop" for s in solutions)
    assert all(s["cluster"] == 0 and isinstance(s["reward"], float) for s in solutions[1:])
    votes = data["votes"]
    assert {k: votes["majority"][k] for k in ("answer", "count", "n")} == {"answer": "5", "count": 3, "n": 3}
    assert votes["checked"]["answer"] == "5" and votes["checked"]["kept"] == [1, 2, 3]
    assert votes["reward_pick"]["answer"] == "5" and votes["reward_pick"]["label"] == "confidence"
    assert votes["reward_pick"]["index"] in (1, 2, 3) and votes["weighted"]["answer"] == "5"

    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT status, problem, seed, maj_answer FROM attempts WHERE id = ?",
                                 (data["attempt_id"],)).fetchone()
        samples = connection.execute("SELECT COUNT(*) FROM samples WHERE attempt_id = ?", (data["attempt_id"],)).fetchone()
    assert row == ("done", "What is $2+3$?", 7, "5") and samples == (4,)


@pytest.mark.parametrize("problem, n, max_new, said", [
    ("", 2, 64, "empty"),
    ("What is 1+1?", 400, 64, "between 0 and 64"),
    ("What is 1+1?", 2, 0, "max"),
])
def test_bad_input_answers_an_error_object(json_app, problem, n, max_new, said):
    app, _ = json_app
    data = Client(app.url, verbose=False).predict(problem, n, 1.0, 0.9, max_new, None, api_name="/solve_json")
    assert set(data) == {"error"} and said in data["error"] and "Traceback" not in data["error"]
