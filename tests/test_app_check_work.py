"""Check my work through the running app's API (`/check_work(problem, solution)`), with
gradio_client: the JSON's shape, the slip in step 2, the answer kept back, bad input answered
with a message. The scripted model answers every problem "... \\boxed{5}"."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client

from tests.servers import scripted_model_dir, start_app

SLIP = "There are 14 rows of 12 eggs.\n$14 \\times 12 = 158$ eggs\n$158 - 8 = 150$ are left\nSo \\boxed{150}"
EGGS = "A box holds 14 rows of 12 eggs. 8 eggs break. How many eggs are left?"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("check-work-app")
    running = start_app(scripted_model_dir(root), root / "app.sqlite3", n_samples=4, max_new_tokens=48)
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def test_check_work_endpoint_returns_the_verdicts_as_json(client):
    data = client.predict(EGGS, SLIP, api_name="/check_work")
    assert isinstance(data, dict)
    assert data["steps"] == SLIP.split("\n")
    assert [v["step"] for v in data["verdicts"]] == [0, 1, 2, 3]
    assert all(v["verdict"] in ("right", "wrong", "unsure") and isinstance(v["reasons"], list) for v in data["verdicts"])
    assert data["first_wrong_step"] == 1
    assert any("14 × 12 = 168, not 158" in r for r in data["verdicts"][1]["reasons"])
    names = [j["name"] for j in data["judges"]]
    assert names == ["step checker", "process reward model", "model's solutions"]
    samples = data["judges"][2]
    assert samples["used"] and samples["details"]["samples"] == 4 and samples["details"]["agreement"] == 4
    assert "answer" not in samples["details"]  # never revealed through the API


def test_the_final_answer_is_kept_back(client):
    data = client.predict("What is $2+3$?", "I add them.\n$2 + 3 = 6$\n\\boxed{6}", api_name="/check_work")
    assert data["first_wrong_step"] == 1
    said = json.dumps([v["reasons"] for v in data["verdicts"]] + [j["said"] for j in data["judges"]])
    assert "5" not in said and "your final answer differs" in said


@pytest.mark.parametrize("solution, words", [
    ("", "empty"),
    ("1 + 1 = 2\n" * 10_240, "limit is 20,000"),
])
def test_bad_input_is_answered_with_a_message(client, solution, words):
    data = client.predict(EGGS, solution, api_name="/check_work")
    assert data["refused"] and words in data["message"] and data["first_wrong_step"] is None and data["verdicts"] == []


def test_markup_and_unbalanced_latex_are_checked_and_noticed(client):
    data = client.predict(EGGS, "<script>alert(1)</script>\n$14 \\times 12 = 158\n\\frac{1", api_name="/check_work")
    assert not data["refused"] and data["steps"][0] == "<script>alert(1)</script>"
    assert any("HTML" in n for n in data["notices"]) and any("unbalanced" in n for n in data["notices"])


def test_a_check_through_the_api_is_logged_for_its_client_only(client, app):
    from sqlalchemy import text

    from storage import Store

    client.predict(EGGS, SLIP + "\n% logged", api_name="/check_work")
    with Store.open(app.config.db_url, recover=False) as store, store.engine.connect() as conn:
        rows = conn.execute(text("SELECT solution, first_wrong_step, status, session_key FROM work_checks")).all()
    logged = [r for r in rows if r[0] == SLIP + "\n% logged"]
    assert [(r[1], r[2]) for r in logged] == [(1, "checked")] and len(logged[0][3]) == 64  # a hashed session key


def test_a_checks_transcript_is_escaped_and_has_no_scripts():
    from datetime import datetime, timezone

    from storage.work_log import CheckedWork
    from ui.check_work_log import check_markdown, transcript_html

    check = CheckedWork("c" * 32, datetime(2026, 12, 7, tzinfo=timezone.utc), "checked", "<script>alert(1)</script> $2+3$",
                        "x", ["<img src=x onerror=alert(1)>", "$2 + 3 = 6$"],
                        [{"step": 0, "verdict": "unsure", "reasons": ["<b>no</b>"]},
                         {"step": 1, "verdict": "wrong", "reasons": ["2 + 3 is not 6"]}], 1,
                        [{"name": "step checker", "said": "<i>x</i>"}], [], ["Think <script>"])
    page = transcript_html(check)
    assert "<script" not in page and "<img" not in page and "&lt;img" in page and "(the first wrong step)" in page
    assert "<math" in page  # formulas as MathML
    shown = check_markdown(check)
    assert "<script" not in shown and "<img" not in shown and "id='work-step-2'" in shown
