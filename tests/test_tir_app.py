"""Reasoning with Python in the running app: the switch, the sandbox's layers said at start, code
and output shown as code on the cards with their run count and sandbox time, and the runs in the
log, History, the transcript and the exports. A scripted model writes a cell printing 6 * 7; the
real sandbox runs it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from gradio_client import Client

from sandbox import Layer, Sandbox
from settings import AppConfig
from storage.formats import read_csv, to_text, write_csv, write_jsonl
from storage.store import Store
from tests.optional import require
from tests.servers import start_app
from tests.tir_parts import build_coding_model
from ui import code_sandbox
from ui.code_sandbox import open_sandbox

BROWSER = "tir-session-0123456789abcdef00"


def confined() -> bool:
    with Sandbox() as box:
        return box.confined_enough()


@pytest.fixture(scope="module")
def tir_app(tmp_path_factory, tiny_tokenizer):
    require(confined(), "a sandbox with every required layer (seccomp, Landlock)")
    root = tmp_path_factory.mktemp("tir-app")
    app = start_app(build_coding_model(tiny_tokenizer, root / "coding"), root / "log" / "app.sqlite3", tir="on")
    yield app
    app.close()


def solve(client, reasoning: str, n: int = 2):
    job = client.submit("What is 6 times 7?", n, 1.0, 0.9, 300, 1, BROWSER, reasoning, api_name="/solve")
    outputs = [o for o in job]
    return outputs, job.result()


def test_a_solve_with_python_shows_logs_and_replays_its_code(tir_app):
    assert tir_app.resources.code.offered and tir_app.resources.solver.info.tools
    client = Client(tir_app.url, verbose=False)
    outputs, final = solve(client, "with Python")
    status, main, _answer, cards = final[:4]
    assert "Python in a sandbox" in status
    assert "<pre class='tir-code'><code>print(6 * 7)</code></pre>" in main
    assert "<pre class='tir-output'><code>42</code></pre>" in main and "4 Python runs" in main
    assert cards.count("4 Python runs") == 2 and "s in the sandbox" in cards
    assert "&#96;" not in main  # no fence shown as text, streamed or not
    assert all("&#96;&#96;&#96;" not in (o[1] or "") for o in outputs)

    with Store.open(tir_app.config.db_url, recover=False) as store:
        attempt = store.history(BROWSER).items[0]
        detail = store.get_attempt(attempt.id, session_id=BROWSER)
    for sample in detail.samples:
        assert [c.output for c in sample.tool_calls] == ["42"] * 4 and all(c.ok for c in sample.tool_calls)
        assert sample.tool_calls[0].code == "print(6 * 7)\n" and sample.tool_calls[0].elapsed_s > 0
    jsonl = to_text(write_jsonl, [detail])
    assert '"tool_calls": [{"code": "print(6 * 7)\\n", "output": "42", "ok": true' in jsonl
    back = read_csv(to_text(write_csv, [detail]))
    assert back[0]["samples"][0]["tool_calls"][0]["output"] == "42"

    _problem, replay_main, _a, replay_cards = client.predict(attempt.id, BROWSER, api_name="/open_attempt")[:4]
    assert "<pre class='tir-code'>" in replay_main and replay_cards.count("4 Python runs") == 2
    html = Path(client.predict(attempt.id, BROWSER, api_name="/transcript")).read_text(encoding="utf-8")
    assert "<pre class='tir-code'><code>print(6 * 7)</code></pre>" in html and "4 Python runs" in html


def test_in_words_runs_no_code(tir_app):
    client = Client(tir_app.url, verbose=False)
    _, final = solve(client, "in words", n=1)
    assert "Python run" not in final[3] and "tir-output" not in final[1]


def test_without_a_sandbox_the_switch_is_off_and_says_why(tmp_path, tiny_tokenizer):
    app = start_app(build_coding_model(tiny_tokenizer, tmp_path / "coding"), tmp_path / "app.sqlite3", tir="off")
    try:
        assert not app.resources.code.offered and app.resources.sandbox is None
        assert "switched off" in app.resources.code.note
        client = Client(app.url, verbose=False)
        try:
            said = solve(client, "with Python", n=1)[1][0]
        except Exception as exc:  # noqa: BLE001 - the page may answer with an error instead of a line
            said = str(exc)
        assert "not offered here" in said
    finally:
        app.close()


def test_the_layers_are_logged_at_start(tmp_path, caplog):
    require(confined(), "a sandbox with every required layer (seccomp, Landlock)")
    with caplog.at_level(logging.INFO, logger="ui.code_sandbox"):
        box, offer = open_sandbox(AppConfig(db_url=f"sqlite:///{tmp_path / 'log.sqlite3'}"))
    try:
        assert offer.offered and {"seccomp", "landlock_fs", "rlimits"} <= set(offer.layers)
        lines = [r.getMessage() for r in caplog.records]
        assert any(line.startswith("sandbox layer seccomp: active") for line in lines)
        assert any("Reasoning with Python is offered" in line for line in lines)
    finally:
        box.close()


def test_a_missing_required_layer_keeps_the_mode_off(tmp_path, monkeypatch, caplog):
    class NoSeccomp:
        def __init__(self, policy):
            self.policy = policy
            self.closed = False

        def start(self):
            return [Layer("seccomp", False, "sockets", "network, programs, signals", "pyseccomp missing"),
                    Layer("landlock_fs", True, "files", "every file")]

        def confined_enough(self):
            return False

        def close(self):
            self.closed = True

    monkeypatch.setattr(code_sandbox, "Sandbox", NoSeccomp)
    with caplog.at_level(logging.INFO, logger="ui.code_sandbox"):
        box, offer = open_sandbox(AppConfig(db_url=f"sqlite:///{tmp_path / 'log.sqlite3'}"))
    assert box is None and not offer.offered
    assert "lacks seccomp" in offer.note and "never runs unconfined" in offer.note
    assert any(r.levelno == logging.WARNING and "seccomp: MISSING" in r.getMessage() for r in caplog.records)
