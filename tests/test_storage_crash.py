"""A process killed mid-attempt (SIGKILL: no clean-up runs) leaves an `interrupted` attempt
and a sound database; a live process's running attempts are left alone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import Store
from storage.models import utcnow
from storage.owner import ProcessOwner, current_owner, owner_state

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL and /proc are POSIX")


@pytest.fixture()
def workers():
    """Start worker processes; any still running when the test ends is killed."""
    started: list[subprocess.Popen] = []

    def start(mode: str, url: str) -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.storage_worker", mode, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        line = proc.stdout.readline()
        assert line.startswith("READY"), f"worker said {line!r}"
        return proc, line

    yield start
    for proc in started:
        if proc.poll() is None:
            _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)  # reap it: until then it is a zombie and its pid still exists
    proc.stdout.close()


def _integrity(url: str) -> str:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _status(url: str, attempt_id: str) -> tuple[str, int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        status = conn.execute("SELECT status FROM attempts WHERE id = ?", (attempt_id,)).fetchone()[0]
        samples = conn.execute("SELECT count(*) FROM samples WHERE attempt_id = ?", (attempt_id,)).fetchone()[0]
    return status, samples


def test_a_process_killed_mid_attempt_leaves_an_interrupted_attempt(tmp_db_url, workers):
    proc, line = workers("hold", tmp_db_url)
    _ready, attempt_id, logged = line.split()
    assert logged == "True"
    _kill(proc)
    assert _status(tmp_db_url, attempt_id) == ("running", 2)  # nobody has looked yet

    Store.open(tmp_db_url).close()  # the next start-up

    assert _status(tmp_db_url, attempt_id) == ("interrupted", 2)  # kept, not deleted
    assert _integrity(tmp_db_url) == "ok"


def test_a_live_processs_running_attempt_is_left_alone(tmp_db_url, workers):
    proc, line = workers("hold", tmp_db_url)
    attempt_id = line.split()[1]
    Store.open(tmp_db_url).close()  # another app process starting beside the live one
    assert _status(tmp_db_url, attempt_id)[0] == "running"
    _kill(proc)
    Store.open(tmp_db_url).close()
    assert _status(tmp_db_url, attempt_id)[0] == "interrupted"


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.9])
def test_killing_a_busy_writer_at_any_moment_keeps_the_database_sound(tmp_db_url, delay, workers):
    proc, _line = workers("hammer", tmp_db_url)
    time.sleep(delay)
    _kill(proc)
    assert _integrity(tmp_db_url) == "ok"
    with Store.open(tmp_db_url) as store, store.engine.connect() as conn:
        statuses = dict(conn.exec_driver_sql("SELECT status, count(*) FROM attempts GROUP BY status").all())
        unfinished_samples = conn.exec_driver_sql(
            "SELECT count(*) FROM samples JOIN attempts ON attempts.id = samples.attempt_id "
            "WHERE attempts.status = 'done' GROUP BY attempts.id HAVING count(*) != 8"
        ).all()
    assert statuses.get("done", 0) >= 1 and "running" not in statuses
    assert statuses.get("interrupted", 0) <= 1  # at most the one it was working on
    assert unfinished_samples == []  # a finish is all or nothing
    assert _integrity(tmp_db_url) == "ok"


def test_owner_states():
    me = current_owner()
    assert owner_state(me) == "alive"
    assert ProcessOwner.parse(me.token()) == me
    assert owner_state(None) == "gone"
    assert ProcessOwner.parse("garbage") is None and ProcessOwner.parse(None) is None
    assert owner_state(ProcessOwner(me.host, me.pid, "1")) == "gone"  # same pid, other process
    assert owner_state(ProcessOwner("another-host.example", 1, "1")) == "unknown"
    # a pid that certainly does not exist now
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert owner_state(ProcessOwner(me.host, proc.pid, "-")) == "gone"


def test_attempts_of_another_host_are_interrupted_only_when_stale(tmp_db_url):
    with Store.open(tmp_db_url) as store:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO sessions VALUES ('k', '2024-01-01 00:00:00', '2024-01-01 00:00:00')")
            for attempt_id, started in (("a" * 32, utcnow()), ("b" * 32, utcnow().replace(year=2020))):
                conn.exec_driver_sql(
                    "INSERT INTO attempts (id, session_key, started_at, status, owner, problem, model_id, precision, device, params) "
                    "VALUES (?, 'k', ?, 'running', 'another-host.example/1/1', 'p', 'm', 'bf16', 'cpu', '{}')",
                    (attempt_id, started.replace(tzinfo=None).isoformat(sep=" ")),
                )
        assert store.recover_interrupted() == 1
    assert _status(tmp_db_url, "a" * 32)[0] == "running"
    assert _status(tmp_db_url, "b" * 32)[0] == "interrupted"
