"""A real-size model on a CPU is announced: smaller defaults, a banner pointing to a GPU or a
model server, and before each run an estimate of how long it may take, from the decode speed
measured on finished runs (a rough prior from the model's size before any).

No real-size model is available here: the app test lowers `model.speed.REAL_SIZE_PARAMETERS`
so that the tiny scripted model counts as one; the estimates are checked against the Solver's
own numbers, not against the clock.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from gradio_client import Client

import model.speed
from model.backends.protocol import BackendInfo
from model.speed import DecodeSpeed, real_size_on_cpu
from settings import AppConfig, default_sampling
from tests.servers import scripted_model_dir, start_app
from ui.pace import duration_words, speed_words

QWEN_1_5B = BackendInfo(kind="local", model="Qwen/Qwen2-Math-1.5B-Instruct", family="qwen2-math", precision="fp32",
                        device="cpu", context_length=4096, seeds=True, logprobs=True, parameters=1_543_714_304)


def test_the_prior_scales_with_the_model_the_device_and_the_rows():
    speed = DecodeSpeed.for_backend(QWEN_1_5B, cores=2)
    one = speed.estimate(1)
    assert not one.measured and one.tokens_per_s == pytest.approx(2.9, abs=0.2)  # ~3 tok/s, as measured on 2 cores
    assert speed.estimate(4).tokens_per_s == pytest.approx(2 * one.tokens_per_s)  # batching helps, sublinearly
    gpu = DecodeSpeed.for_backend(QWEN_1_5B.__class__(**{**QWEN_1_5B.__dict__, "device": "cuda:0"}))
    assert gpu.estimate(1).tokens_per_s > 100 * one.tokens_per_s
    server = DecodeSpeed.for_backend(QWEN_1_5B.__class__(**{**QWEN_1_5B.__dict__, "kind": "server", "parameters": None}))
    assert server.estimate(3) is None  # a server's model size is not known: measurement only


def test_finished_runs_replace_the_prior_and_keep_a_running_estimate():
    speed = DecodeSpeed.for_backend(QWEN_1_5B, cores=2)
    speed.record(rows=3, tokens=5, seconds=1.0)  # too short to say anything
    assert not speed.estimate(3).measured
    speed.record(rows=4, tokens=800, seconds=100.0)  # 8 tok/s for 4 rows
    assert speed.estimate(4).measured and speed.estimate(4).tokens_per_s == pytest.approx(8.0)
    assert speed.estimate(1).tokens_per_s == pytest.approx(4.0)  # the same backend, one row
    speed.record(rows=4, tokens=1600, seconds=100.0)  # 16 tok/s: the estimate moves halfway
    assert speed.estimate(4).tokens_per_s == pytest.approx(12.0)
    assert speed.estimate(4).seconds(1200) == pytest.approx(100.0)


def test_a_real_size_model_on_a_cpu_starts_with_fewer_shorter_samples():
    assert real_size_on_cpu(QWEN_1_5B)
    slow = default_sampling(AppConfig(), "qwen2-math", on_gpu=False, slow_cpu=True)
    assert (slow.n, slow.max_new_tokens) == (2, 512)
    usual = default_sampling(AppConfig(), "qwen2-math", on_gpu=False)
    assert (usual.n, usual.max_new_tokens) == (8, 1024)
    chosen = default_sampling(AppConfig(n_samples=6, max_new_tokens=300), "qwen2-math", on_gpu=False, slow_cpu=True)
    assert (chosen.n, chosen.max_new_tokens) == (6, 300)  # the operator's own settings win


def component(config: dict, label: str) -> dict:
    return next(c["props"] for c in config["components"] if c.get("props", {}).get("label") == label)


def test_the_page_warns_and_says_how_long_a_run_may_take(tmp_path, monkeypatch):
    monkeypatch.setattr(model.speed, "REAL_SIZE_PARAMETERS", 1)  # the tiny model counts as real-size
    app = start_app(scripted_model_dir(tmp_path), tmp_path / "app.sqlite3")
    try:
        config = json.loads(urllib.request.urlopen(app.url + "config").read())
        assert component(config, "N sampled solutions (0 = greedy only)")["value"] == 2
        assert component(config, "max new tokens per solution")["value"] == 512
        banners = next(c["props"]["value"] for c in config["components"] if c["props"].get("elem_id") == "banners")
        assert "Slow hardware" in banners and "GPU" in banners and "--server-url" in banners

        solver = app.resources.solver
        client = Client(app.url, verbose=False)
        prior = solver.speed.estimate(3)
        assert not prior.measured
        job = client.submit("What is $2+3$?", 2, 1.0, 0.9, 512, 1, "pace-session-0123456789", api_name="/solve")
        first = list(job)[0][0]  # the status before the run starts
        job.result()
        said = (f"up to {duration_words(prior.seconds(3 * 512))} at {speed_words(prior.tokens_per_s)} tok/s "
                "on this CPU (a rough guess from the model's size)")
        assert said in first

        measured = solver.speed.estimate(3)
        assert measured.measured and measured.tokens_per_s != prior.tokens_per_s
        job = client.submit("What is $3+4$?", 2, 1.0, 0.9, 512, 2, "pace-session-0123456789", api_name="/solve")
        first = list(job)[0][0]
        job.result()
        assert f"at {speed_words(measured.tokens_per_s)} tok/s on this CPU (measured)" in first
    finally:
        app.close()
