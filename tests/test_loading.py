"""Loading: the precision table, size estimates, sources, and the errors a person sees."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from model import hub, loading
from settings import AppConfig
from model.errors import (
    ModelNotFoundError,
    ModelTooLargeError,
    NotACausalLMError,
    QuantizationUnavailableError,
)
from model.loading import (
    check_fits,
    choose_precision,
    estimate_parameters,
    load_causal_lm,
    load_model,
    resolve_source,
)
from model.memory import free_bytes, qwen2_parameter_split

QWEN2_MATH_15B = SimpleNamespace(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                                 intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True)
QWEN2_MATH_7B = SimpleNamespace(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                                intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False)
QWEN2_MATH_72B = SimpleNamespace(hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
                                 intermediate_size=29568, vocab_size=152064, tie_word_embeddings=False)


@pytest.mark.parametrize(
    "requested, device, parameters, expected",
    [
        ("auto", "cuda", 1_540_000_000, "bf16"),
        ("auto", "cuda", 7_620_000_000, "nf4"),
        ("auto", "cuda", 72_700_000_000, "nf4"),
        ("auto", "cpu", 1_540_000_000, "fp32"),
        ("auto", "cpu", 7_620_000_000, "fp32"),
        ("bf16", "cpu", 1_540_000_000, "bf16"),
        ("int8", "cuda", 1_540_000_000, "int8"),
        ("fp32", "cuda", 7_620_000_000, "fp32"),
    ],
)
def test_auto_precision_table(requested, device, parameters, expected):
    assert choose_precision(requested, device, parameters) == expected


@pytest.mark.parametrize("precision", ["nf4", "int8"])
def test_bitsandbytes_only_on_cuda(precision):
    with pytest.raises(QuantizationUnavailableError, match="CUDA GPU"):
        choose_precision(precision, "cpu", 1_000_000)


def test_parameter_estimates_match_the_published_sizes():
    assert estimate_parameters(QWEN2_MATH_15B) == pytest.approx(1.54e9, rel=0.01)
    assert estimate_parameters(QWEN2_MATH_7B) == pytest.approx(7.62e9, rel=0.01)
    assert estimate_parameters(QWEN2_MATH_72B) == pytest.approx(72.7e9, rel=0.01)


def test_estimate_matches_a_real_model(tiny_model_dir):
    loaded = load_causal_lm(str(tiny_model_dir))
    assert estimate_parameters(loaded.model.config) == sum(p.numel() for p in loaded.model.parameters())
    info = loaded.info
    assert (info.source, info.precision, info.device) == ("local", "fp32", "cpu")
    assert info.memory_bytes == pytest.approx(info.parameters * 4, rel=0.01)
    assert info.context_length == 4096
    assert "fp32" in info.describe() and "cpu" in info.describe()


def test_trunk_split_counts_the_linear_weights_a_quantizer_takes(tiny_model_dir):
    """`qwen2_parameter_split` (shared with the reward models' memory plan): the layers' Linear
    weights, and everything else of the trunk, counted on a real model."""
    from torch import nn

    trunk = load_causal_lm(str(tiny_model_dir)).model.model
    linear = sum(m.weight.numel() for m in trunk.layers.modules() if isinstance(m, nn.Linear))
    total = sum(p.numel() for p in trunk.parameters())
    assert qwen2_parameter_split(trunk.config) == (linear, total - linear)
    # The config object and its config.json dict give the same counts.
    assert qwen2_parameter_split(trunk.config.to_dict()) == (linear, total - linear)


def test_check_fits_refuses_by_free_memory_and_goes_on_when_unknown(monkeypatch):
    seven_b = estimate_parameters(QWEN2_MATH_7B)
    monkeypatch.setattr(loading, "free_bytes", lambda device: 8 * 1024**3)
    with pytest.raises(ModelTooLargeError, match="nf4 precision or a smaller model"):
        check_fits("7b", seven_b, "bf16", "cuda")
    check_fits("7b", seven_b, "nf4", "cuda")  # ~4 GiB of weights + 2 GiB headroom fit in 8
    monkeypatch.setattr(loading, "free_bytes", lambda device: None)
    check_fits("7b", seven_b, "fp32", "cpu")  # memory unknown (e.g. ZeroGPU before a GPU call)


def test_free_ram_is_read():
    free = free_bytes("cpu")
    assert isinstance(free, int) and free > 0


@pytest.mark.parametrize("value, offline", [("1", True), ("ON", True), (" yes ", True), ("true", True),
                                            ("0", False), ("", False), ("off", False)])
def test_hf_hub_offline_is_read_as_huggingface_hub_reads_it(monkeypatch, value, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub.offline() is offline


def test_context_override_caps_the_models_own(tiny_model_dir):
    assert load_causal_lm(str(tiny_model_dir), context_length=512).info.context_length == 512


def test_missing_local_directory_says_so():
    with pytest.raises(ModelNotFoundError, match="neither an existing local directory"):
        resolve_source("./no/such/model/dir")


def test_hub_unreachable_says_how_to_use_a_local_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="--model ./qwen2-math-7b-instruct"):
        load_causal_lm("Qwen/Qwen2-Math-7B-Instruct")


def test_directory_without_config_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NotACausalLMError, match="no config.json"):
        load_causal_lm(str(tmp_path))


def test_reward_model_is_not_a_causal_lm(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForRewardModel"]}))
    with pytest.raises(NotACausalLMError, match="reward model"):
        load_causal_lm(str(tmp_path))


def test_unknown_model_type_is_refused_without_running_code(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "my_custom", "auto_map": {"AutoModelForCausalLM": "x.Y"}}))
    with pytest.raises(NotACausalLMError, match="without running downloaded code"):
        load_causal_lm(str(tmp_path))


def test_config_without_weights(tmp_path, tiny_model_dir):
    (tmp_path / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(NotACausalLMError, match="no weights"):
        load_causal_lm(str(tmp_path))


def test_unavailable_model_falls_back_to_bundled_with_a_reason(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(loading, "BUNDLED_DIR", tiny_model_dir)
    loaded = load_model(AppConfig(model="Qwen/Qwen2-Math-1.5B-Instruct"))
    assert loaded.info.source == "bundled"
    assert "Qwen/Qwen2-Math-1.5B-Instruct is not available here" in loaded.info.fallback_reason
    assert loaded.info.family == "qwen2-math"


def test_fallback_can_be_turned_off(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(loading, "BUNDLED_DIR", tiny_model_dir)
    with pytest.raises(ModelNotFoundError):
        load_model(AppConfig(model="Qwen/Qwen2-Math-1.5B-Instruct", fallback_to_bundled=False))


def test_offline_loads_bundled_without_fallback_note(monkeypatch, tiny_model_dir):
    monkeypatch.setattr(loading, "BUNDLED_DIR", tiny_model_dir)
    loaded = load_model(AppConfig(offline=True))
    assert loaded.info.source == "bundled" and loaded.info.fallback_reason is None
