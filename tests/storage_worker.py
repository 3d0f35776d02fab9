"""Record builders for the storage tests, and a worker process they start and kill.

As a module: `make_start`, `make_samples`, `make_outcome` build realistic input records.

As a script (`python -m tests.storage_worker MODE DB_URL`), a second app process:
- `hold`: start one attempt, log two of its solutions, print `READY <attempt_id>` and sleep
  (the test kills it with SIGKILL, or checks that a live owner's attempt is left alone);
- `hammer`: log attempts with 8 solutions each as fast as it can, printing `READY` after the
  first; the test kills it at an arbitrary moment, mid-transaction or not.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from storage import AttemptOutcome, AttemptStart, AttemptTimings, SampleRecord, Store

PARAMS: dict[str, Any] = {"n": 8, "temperature": 1.0, "top_p": 0.9, "max_new_tokens": 2048, "seed": 1234}


def make_start(session_id: str, problem: str = "What is 12 + 7?", **changes: Any) -> AttemptStart:
    """An attempt as the UI would start it."""
    values: dict[str, Any] = {
        "session_id": session_id,
        "problem": problem,
        "model_id": "Qwen/Qwen2-Math-1.5B-Instruct",
        "precision": "bf16",
        "device": "cuda",
        "params": dict(PARAMS),
    }
    values.update(changes)
    return AttemptStart(**values)


def make_samples(count: int = 8, *, greedy: bool = True, tag: str = "") -> list[SampleRecord]:
    """`count` solutions: row 0 greedy (if asked), the rest sampled, with rewards, steps and
    vote weights; the last row has the highest reward (what `make_outcome` calls the pick)."""
    samples = []
    for index in range(count):
        answer = "19" if index % 3 else "20"
        samples.append(
            SampleRecord(
                index=index,
                kind="greedy" if greedy and index == 0 else "sampled",
                text=f"{tag}Step 1: 12 + 7 = 19.\n\nSo the answer is \\boxed{{{answer}}}. ({index})",
                tokens=30 + index,
                finish_reason="stop" if index % 4 else "length",
                mean_logprob=-0.125 * (index + 1),
                answer=answer,
                cluster=0 if answer == "19" else 1,
                reward=0.25 * index - 0.5,
                step_rewards=[0.9, 0.5 + index / 100],
                weight=(index + 1) / 64,
            )
        )
    return samples


def make_outcome(status: str = "done", **changes: Any) -> AttemptOutcome:
    """A finished attempt's conclusions."""
    values: dict[str, Any] = {
        "status": status,
        "timings": AttemptTimings(
            queued_s=0.5, ttft_s=0.25, total_s=4.0, prompt_tokens=40, generated_tokens=300, tokens_per_s=75.0
        ),
        "greedy_answer": "20",
        "maj_answer": "19",
        "maj_count": 5,
        "n": 8,
        "rm_answer": "19",
        "rm_score": 1.25,
        "rm_label": "reward",
        "rm_index": 7,  # make_samples(8)'s best reward, 0.25 * 7 - 0.5
        "scorer": "bundled reward model",
        "weighted_answer": "19",
        "agreement": "greedy differs",
        "all_agree": False,
        "error": None,
    }
    values.update(changes)
    return AttemptOutcome(**values)


def _hold(url: str) -> None:
    store = Store.open(url)
    status = store.start_attempt(make_start("worker-session-0001", "A problem the worker never finishes"))
    store.add_samples(status.attempt_id, make_samples(2))
    print(f"READY {status.attempt_id} {status.ok}", flush=True)
    time.sleep(600)


def _hammer(url: str) -> None:
    store = Store.open(url)
    number = 0
    while True:
        status = store.start_attempt(make_start("worker-session-0002", f"Problem {number}"))
        store.finish_attempt(status.attempt_id, make_outcome(), make_samples(8, tag="x" * 2000))
        if number == 0:
            print("READY", flush=True)
        number += 1


if __name__ == "__main__":
    mode, db_url = sys.argv[1], sys.argv[2]
    {"hold": _hold, "hammer": _hammer}[mode](db_url)


def check_server_attempt_round_trip(store: Any, session_id: str) -> None:
    """A server-backed attempt written after an upgrade reads back with 0003's fields."""
    start = make_start(session_id, backend="server", server_url="http://gpu-box:8000/v1")
    attempt_id = store.start_attempt(start).attempt_id
    assert store.finish_attempt(attempt_id, make_outcome(), make_samples(8)).ok
    detail = store.get_attempt(attempt_id, session_id=session_id)
    assert (detail.backend, detail.server_url, detail.rm_index, detail.scorer) == (
        "server", "http://gpu-box:8000/v1", 7, "bundled reward model"
    )
    assert [s.weight for s in detail.samples] == [(i + 1) / 64 for i in range(8)]
