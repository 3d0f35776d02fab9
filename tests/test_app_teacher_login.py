"""Teacher-password guessing slows the guessing address down and never locks the teacher out.

Through the running app (gradio_client): many wrong passwords from one client, then the right
one from another client gets in at once, and the right one from the guessing client gets in
too (after its wait). The slowing is measured as the waits the limiter decides, not by the
clock; the limiter's own curve is tested on a fake clock.

The tests' clients all connect from 127.0.0.1, which uvicorn trusts by default to say whom it
forwards for (`FORWARDED_ALLOW_IPS`): each client names its own address in `X-Forwarded-For`,
as a reverse proxy on the same machine would.
"""

from __future__ import annotations

import pytest
from gradio_client import Client

from storage.login_throttle import GuessThrottle
from tests.servers import scripted_model_dir, start_app

PASSWORD = "correct-horse-battery"
GUESSER = "203.0.113.7"
TEACHER = "198.51.100.4"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return scripted_model_dir(tmp_path_factory.mktemp("teacher-login-model"))


@pytest.fixture(scope="module")
def teacher_app(tmp_path_factory, model_dir):
    app = start_app(model_dir, tmp_path_factory.mktemp("teacher-login-app") / "app.sqlite3", teacher_password=PASSWORD)
    yield app
    app.close()


def from_address(app, address: str) -> Client:
    """A client whose requests the app sees as coming from `address` (forwarded for by 127.0.0.1)."""
    return Client(app.url, verbose=False, headers={"X-Forwarded-For": f"10.9.9.9, {address}"})


def test_guessing_slows_the_guesser_and_never_locks_the_teacher_out(teacher_app):
    throttle = teacher_app.resources.store.teacher_throttle
    throttle.first_wait_s, throttle.max_wait_s = 0.01, 0.08  # the same curve, quicker to run
    guesser = from_address(teacher_app, GUESSER)
    waits = []
    for attempt in range(12):
        token_message = guesser.predict(f"wrong-guess-{attempt}", api_name="/teacher_login")
        assert "Wrong teacher password" in token_message
        waits.append(throttle.wait_s(GUESSER))
    assert waits[:throttle.free_guesses - 1] == [0.0] * (throttle.free_guesses - 1)
    assert all(later >= earlier for earlier, later in zip(waits, waits[1:]))  # each guess waits longer...
    assert waits[throttle.free_guesses] > waits[throttle.free_guesses - 1] > 0
    assert waits[-1] == pytest.approx(throttle.max_wait_s)  # ...up to the cap

    # A teacher at another address has not been guessing: no wait, and in.
    assert throttle.wait_s(TEACHER) == 0.0
    assert from_address(teacher_app, TEACHER).predict(PASSWORD, api_name="/teacher_login") == "Logged in."
    # The guessing address is slowed, never refused: the right password still gets in, and its count starts again.
    assert guesser.predict(PASSWORD, api_name="/teacher_login") == "Logged in."
    assert throttle.wait_s(GUESSER) == 0.0


def test_the_forwarded_header_counts_only_from_a_proxy_the_operator_trusts(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.250")  # the operator's proxy is elsewhere
    app = start_app(model_dir, tmp_path / "app.sqlite3", teacher_password=PASSWORD)
    try:
        throttle = app.resources.store.teacher_throttle
        spoofer = from_address(app, "192.0.2.1")
        for attempt in range(throttle.free_guesses + 1):
            assert "Wrong teacher password" in spoofer.predict(f"nope-{attempt}", api_name="/teacher_login")
        # The header was ignored: the guesses count against the connection's own address.
        assert throttle.wait_s("192.0.2.1") == 0.0
        assert throttle.wait_s("127.0.0.1") > 0.0
    finally:
        app.close()


def test_the_wait_doubles_per_wrong_password_up_to_a_cap_and_is_forgotten():
    throttle = GuessThrottle(free_guesses=3, first_wait_s=0.25, max_wait_s=4.0, forget_after_s=600.0)
    seen = []
    for _ in range(10):
        seen.append(throttle.wait_s("a", now=0.0))
        throttle.failed("a", now=0.0)
    assert seen == [0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert throttle.wait_s("b", now=0.0) == 0.0  # another address is not slowed at all
    assert throttle.wait_s("a", now=601.0) == 0.0  # forgotten after a quiet while


def test_attempts_arriving_together_take_turns_but_none_waits_past_the_cap():
    throttle = GuessThrottle(free_guesses=0, first_wait_s=1.0, max_wait_s=4.0)
    throttle.failed("a", now=0.0)  # now 2 s per attempt
    assert [throttle.reserve("a", now=0.0) for _ in range(4)] == [2.0, 4.0, 4.0, 4.0]
    assert throttle.reserve("b", now=0.0) == 0.0


def test_the_table_of_addresses_is_bounded():
    throttle = GuessThrottle(max_addresses=100)
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", now=0.0)
    assert len(throttle._table) == 100
