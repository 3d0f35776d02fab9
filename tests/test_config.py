"""Configuration: defaults, environment, flags, validation messages, prompts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from settings import AppConfig, build_arg_parser, load_config
from model.params import SamplingParams, resolve_model_alias
from model.errors import ConfigError
from model.prompts import (
    QWEN2_MATH,
    QWEN25_MATH,
    build_messages,
    build_prompt,
    detect_family,
    family_sampling_defaults,
    render_prompt,
    stop_token_ids,
)


def test_defaults_are_qwen2_math_15b_on_localhost():
    config = load_config([], {})
    assert config.model_id == "Qwen/Qwen2-Math-1.5B-Instruct"
    assert (config.host, config.port, config.share) == ("127.0.0.1", 7860, False)
    assert config.db_url == "sqlite:///data/mathapp.sqlite3"
    assert config.teacher_password is None


def test_environment_then_flags_win():
    env = {"MATHAPP_MODEL": "7b", "MATHAPP_N_SAMPLES": "16", "MATHAPP_SHARE": "yes", "MATHAPP_PORT": "9000"}
    config = load_config(["--port", "8000", "--no-share"], env)
    assert config.model_id == "Qwen/Qwen2-Math-7B-Instruct"
    assert config.n_samples == 16
    assert config.port == 8000 and config.share is False


def test_offline_forces_bundled_model():
    assert load_config(["--offline", "--model", "72b"], {}).model_id == "bundled"


@pytest.mark.parametrize(
    "alias, expected",
    [
        ("1.5b", "Qwen/Qwen2-Math-1.5B-Instruct"),
        ("7B", "Qwen/Qwen2-Math-7B-Instruct"),
        ("72b", "Qwen/Qwen2-Math-72B-Instruct"),
        ("2.5-7b", "Qwen/Qwen2.5-Math-7B-Instruct"),
        ("./my-model", "./my-model"),
    ],
)
def test_size_aliases(alias, expected):
    assert resolve_model_alias(alias) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"precision": "fp8"}, "precision must be one of"),
        ({"device": "tpu"}, "device must be one of"),
        ({"device": "cpu", "precision": "nf4"}, "needs bitsandbytes on a CUDA GPU"),
        ({"n_samples": 65}, "between 0 and 64"),
        ({"n_samples": -1}, "between 0 and 64"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"port": 70000}, "port"),
        ({"model": "  "}, "model must name"),
        ({"teacher_password": "short"}, "at least 8"),
        ({"prompt_family": "llama"}, "prompt_family"),
    ],
)
def test_config_validation_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AppConfig(**kwargs)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="MATHAPP_N_SAMPLES"):
        load_config([], {"MATHAPP_N_SAMPLES": "many"})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 65}, "between 0 and 64"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "NaN"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 5000}, "max_new_tokens"),
        ({"seed": -3}, "seed"),
        ({"n": 0, "include_greedy": False}, "Nothing to generate"),
        ({"n": 2.5}, "whole number"),
    ],
)
def test_sampling_params_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SamplingParams(**kwargs)


def test_a_changed_config_is_validated_again():
    # The configuration is changed only through `replace`, which checks the new values too.
    assert dataclasses.replace(AppConfig(), n_samples=16).n_samples == 16
    with pytest.raises(ConfigError, match="n_samples"):
        dataclasses.replace(AppConfig(), n_samples=999)


def test_help_documents_every_option():
    out = subprocess.run([sys.executable, "app.py", "--help"], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # Every option the parser has, so the list cannot go stale as options are added.
    options = [action for action in build_arg_parser()._actions if action.dest != "help"]
    assert options
    for action in options:
        assert action.help, f"{action.option_strings} has no help text"
        for flag in action.option_strings:
            assert flag in out.stdout, f"{flag} missing from --help"
        assert f"MATHAPP_{action.dest.upper()}" in out.stdout, f"{action.dest}'s variable missing from --help"


def test_importing_model_does_not_import_gradio():
    code = (
        "import sys, model, settings, model.prompts, model.solver, model.backends, model.backends.local, model.loading, judgements.answers, model.reward;"
        "assert 'gradio' not in sys.modules, 'gradio imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_qwen2_math_prompt_is_exact(tiny_tokenizer):
    text = render_prompt(tiny_tokenizer, "What is 1+1?", QWEN2_MATH)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nWhat is 1+1?\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert tiny_tokenizer.decode(build_prompt(tiny_tokenizer, "What is 1+1?", QWEN2_MATH)) == text


def test_qwen25_math_prompt_is_exact(tiny_tokenizer):
    assert render_prompt(tiny_tokenizer, "What is 1+1?", QWEN25_MATH) == (
        "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
        "<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert build_messages("p", QWEN25_MATH)[1] == {"role": "user", "content": "p"}


def test_family_detection_and_sampling_defaults(tiny_tokenizer):
    assert detect_family("Qwen/Qwen2-Math-7B-Instruct") == QWEN2_MATH
    assert detect_family("Qwen/Qwen2.5-Math-1.5B-Instruct") == QWEN25_MATH
    assert detect_family("/models/whatever", tiny_tokenizer) == QWEN2_MATH
    assert detect_family("Qwen/Qwen2-Math-7B-Instruct", override=QWEN25_MATH) == QWEN25_MATH
    assert family_sampling_defaults(QWEN2_MATH) == (1.0, 0.9)
    assert family_sampling_defaults(QWEN25_MATH) == (0.7, 0.8)
    with pytest.raises(ConfigError):
        detect_family("x", override="gpt")


def test_stop_tokens_are_im_end_and_endoftext(tiny_tokenizer):
    ids = stop_token_ids(tiny_tokenizer)
    assert set(ids) == {tiny_tokenizer.convert_tokens_to_ids("<|im_end|>"), tiny_tokenizer.convert_tokens_to_ids("<|endoftext|>")}
