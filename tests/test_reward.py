"""Reward scoring and ranking: tiny ORM/PRM checkpoints in the real on-disk format, the
confidence fallback, loading and degrading, and RM@N / weighted vote / agreement logic.

The checkpoints are built here with random weights: one written by hand exactly as Qwen's
reward checkpoints are laid out (sharded safetensors, `model.`-prefixed Qwen2 trunk, `score`
Sequential, a config with `auto_map` pointing at remote code that does not exist), so loading
it proves that no remote code runs; the others through `save_reward_model`.
Votes are stand-ins with the `judgements.answers` contract's fields, so the ranking tests do not
depend on answer equivalence.
"""

from __future__ import annotations

import ast
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from model import reward
from judgements.answers import majority_vote
from model.errors import RewardModelError
from model.prompts import BOXED_INSTRUCTION
from judgements.ranking import (
    ConfidenceScorer,
    RewardScorer,
    Score,
    rank_by_reward,
    rank_solutions,
    softmax_weights,
)
from model.reward import (
    STEP_TOKEN,
    LikelihoodRewardScorer,
    OutcomeRewardScorer,
    ProcessRewardScorer,
    Qwen2ForLikelihoodRewardModel,
    Qwen2ForProcessRewardModel,
    Qwen2ForRewardModel,
    RewardHead,
    load_scorer,
    make_scorer,
    save_outcome_rm,
    save_reward_model,
    split_steps,
)
from model.reward import loader as reward_loader
from training.tiny_rm import build_tiny_orm, build_tiny_prm
from judgements.solution import Solution
from tests.conftest import TINY_CORPUS

PROBLEM = "Tom has 12 apples and buys 7 more. How many apples does he have?"
THREE_STEPS = "Tom starts with 12 apples.\n\nHe buys 7 more: 12 + 7 = 19.\n\nThe answer is \\boxed{19}."
LAYERS = 2
CONFIDENCE = "policy log-probability"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rm_tokenizer():
    """The tiny tokenizer plus Qwen2.5-Math-PRM's `<extra_0>` step token (a fresh copy)."""
    from training.tiny import train_tokenizer

    tokenizer = train_tokenizer(TINY_CORPUS * 20, vocab_size=400)
    tokenizer.add_tokens([STEP_TOKEN], special_tokens=True)
    return tokenizer


def _spread(module: torch.nn.Module, std: float = 0.5, seed: int = 1) -> None:
    """Re-draw the head with a large spread, so that scores differ visibly between inputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * std)


def _bf16_round(module: torch.nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.bfloat16().float())


def _expected_names(layers: int) -> set[str]:
    """Parameter names of Qwen's reward checkpoints (Qwen2 trunk under `model.`, `score` head)."""
    names = {"model.embed_tokens.weight", "model.norm.weight"}
    names |= {"score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias"}
    for i in range(layers):
        p = f"model.layers.{i}."
        names |= {p + "input_layernorm.weight", p + "post_attention_layernorm.weight"}
        names |= {p + f"mlp.{m}_proj.weight" for m in ("gate", "up", "down")}
        names |= {p + f"self_attn.{x}_proj.{w}" for x in "qkv" for w in ("weight", "bias")}
        names.add(p + "self_attn.o_proj.weight")
    return names


@dataclass
class HandBuilt:
    path: Path
    trunk: torch.nn.Module
    head: RewardHead


def _write_real_format(path: Path, architecture: str, tokenizer, labels: int, seed: int) -> HandBuilt:
    """A checkpoint written tensor by tensor as Qwen's are: bf16, two shards plus an index,
    a transformers-4.x-style config with `auto_map` to remote code that is not there."""
    from transformers import Qwen2Model

    from training.tiny import tiny_qwen2_config

    torch.manual_seed(seed)
    config = tiny_qwen2_config(len(tokenizer), layers=LAYERS, tie_word_embeddings=False)
    trunk = Qwen2Model(config).eval()
    head = RewardHead(config.hidden_size, labels).eval()
    _spread(head, seed=seed)
    _bf16_round(trunk)
    _bf16_round(head)
    tensors = {f"model.{k}": v.bfloat16().contiguous() for k, v in trunk.state_dict().items()}
    tensors |= {f"score.{k}": v.bfloat16().contiguous() for k, v in head.state_dict().items()}
    # A leftover output layer, as some reward checkpoints carry; it must be ignored.
    tensors["lm_head.weight"] = torch.zeros(len(tokenizer), config.hidden_size, dtype=torch.bfloat16)
    path.mkdir(parents=True)
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for file, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(path / file), metadata={"format": "pt"})
        weight_map |= {k: file for k in keys}
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    (path / "config.json").write_text(
        json.dumps(
            {
                "architectures": [architecture],
                "auto_map": {
                    "AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
                    "AutoModel": f"modeling_qwen2_rm.{architecture}",
                },
                "attention_dropout": 0.0,
                "bos_token_id": tokenizer.pad_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                "hidden_act": "silu",
                "hidden_size": config.hidden_size,
                "initializer_range": 0.02,
                "intermediate_size": config.intermediate_size,
                "max_position_embeddings": 4096,
                "max_window_layers": LAYERS,
                "model_type": "qwen2",
                "num_attention_heads": config.num_attention_heads,
                "num_hidden_layers": LAYERS,
                "num_key_value_heads": config.num_key_value_heads,
                "rms_norm_eps": 1e-06,
                "rope_theta": 10000.0,
                "sliding_window": 4096,
                "tie_word_embeddings": False,
                "torch_dtype": "bfloat16",
                "transformers_version": "4.40.0",
                "use_cache": False,
                "use_sliding_window": False,
                "vocab_size": len(tokenizer),
            }
        )
    )
    tokenizer.save_pretrained(path)
    return HandBuilt(path, trunk, head)


@pytest.fixture(scope="session")
def hand_orm(tmp_path_factory, rm_tokenizer) -> HandBuilt:
    return _write_real_format(tmp_path_factory.mktemp("rm") / "tiny-Math-RM", "Qwen2ForRewardModel", rm_tokenizer, 1, 3)


@pytest.fixture(scope="session")
def hand_prm(tmp_path_factory, rm_tokenizer) -> HandBuilt:
    return _write_real_format(
        tmp_path_factory.mktemp("prm") / "tiny-Math-PRM", "Qwen2ForProcessRewardModel", rm_tokenizer, 2, 4
    )


@pytest.fixture(scope="session")
def orm_scorer(hand_orm) -> OutcomeRewardScorer:
    scorer, reason = load_scorer(str(hand_orm.path), device="cpu", precision="auto")
    assert reason is None
    return scorer


@pytest.fixture(scope="session")
def prm_scorer(hand_prm) -> ProcessRewardScorer:
    scorer, reason = load_scorer(str(hand_prm.path), device="cpu", precision="auto")
    assert reason is None
    return scorer


def _solution(index: int, text: str = "", answer: str | None = None, logprob: float | None = -0.5) -> Solution:
    return Solution(
        index=index, kind="sampled", text=text, tokens=len(text), finish_reason="stop",
        mean_logprob=logprob, answer=answer,
    )


SOLUTIONS = [
    _solution(1, THREE_STEPS),
    _solution(2, "12 + 7 = 19"),
    _solution(3, "Twelve and seven.\n\n\\boxed{20}"),
    _solution(4, ""),
    _solution(5, "A longer one. " * 12 + "\n\nSo \\boxed{19}."),
]


def _chat_ids(tokenizer, problem: str, assistant: str) -> list[int]:
    messages = [
        {"role": "system", "content": BOXED_INSTRUCTION},
        {"role": "user", "content": problem},
        {"role": "assistant", "content": assistant},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert text.startswith("<|im_start|>system\nPlease reason step by step")
    assert text.endswith(assistant + "<|im_end|>\n")
    return tokenizer.encode(text, add_special_tokens=False)


@torch.inference_mode()
def _reference_orm(built: HandBuilt, tokenizer, problem: str, text: str) -> float:
    """Qwen2.5-Math-RM's recipe written out: trunk, head at the last token of the chat."""
    ids = torch.tensor([_chat_ids(tokenizer, problem, text)])
    hidden = built.trunk(input_ids=ids).last_hidden_state[0, -1]
    w0, b0, w2, b2 = (built.head.state_dict()[k] for k in ("0.weight", "0.bias", "2.weight", "2.bias"))
    return float(torch.relu(hidden @ w0.T + b0) @ w2.T + b2)


@torch.inference_mode()
def _reference_prm(built: HandBuilt, tokenizer, problem: str, steps: list[str]) -> list[float]:
    """Qwen2.5-Math-PRM's recipe: `<extra_0>` after each step, softmax class 1 at each."""
    ids = torch.tensor([_chat_ids(tokenizer, problem, STEP_TOKEN.join(steps) + STEP_TOKEN)])
    logits = built.head(built.trunk(input_ids=ids).last_hidden_state[0])
    mask = ids[0] == tokenizer.convert_tokens_to_ids(STEP_TOKEN)
    return torch.softmax(logits[mask], dim=-1)[:, 1].tolist()


# --- on-disk format ----------------------------------------------------------------------------


def test_module_classes_use_the_real_parameter_names(rm_tokenizer):
    for model, labels in ((build_tiny_orm(rm_tokenizer), 1), (build_tiny_prm(rm_tokenizer), 2)):
        state = model.state_dict()
        assert set(state) == _expected_names(LAYERS)
        h = model.config.hidden_size
        assert state["score.0.weight"].shape == (h, h) and state["score.0.bias"].shape == (h,)
        assert state["score.2.weight"].shape == (labels, h) and state["score.2.bias"].shape == (labels,)


def test_save_reward_model_writes_the_real_format(tmp_path, rm_tokenizer):
    for model, architecture in (
        (build_tiny_orm(rm_tokenizer), "Qwen2ForRewardModel"),
        (build_tiny_prm(rm_tokenizer), "Qwen2ForProcessRewardModel"),
    ):
        path = save_reward_model(model, rm_tokenizer, tmp_path / architecture)
        config = json.loads((path / "config.json").read_text())
        assert config["architectures"] == [architecture]
        assert config["model_type"] == "qwen2"
        assert "auto_map" not in config
        assert config["rope_theta"] == 10000.0  # what transformers 4.x reads
        with safe_open(str(path / "model.safetensors"), "pt") as f:
            assert set(f.keys()) == _expected_names(LAYERS)


def test_save_outcome_rm_round_trips_through_load_scorer(tmp_path, rm_tokenizer):
    model = build_tiny_orm(rm_tokenizer, seed=5)
    _spread(model.score, seed=5)
    path = save_outcome_rm(model.model.state_dict(), model.score, model.config, rm_tokenizer, tmp_path / "orm")
    scorer, reason = load_scorer(str(path), device="cpu", precision="fp32")
    assert reason is None and isinstance(scorer, OutcomeRewardScorer)
    ids = torch.tensor([_chat_ids(rm_tokenizer, PROBLEM, THREE_STEPS)])
    with torch.inference_mode():
        expected = float(model.eval()(ids)[0])
    (got,) = scorer.score(PROBLEM, [_solution(1, THREE_STEPS)])
    assert got.total == pytest.approx(expected, abs=1e-5)


def test_hand_written_checkpoint_loads_without_remote_code(orm_scorer, prm_scorer):
    assert isinstance(orm_scorer, OutcomeRewardScorer) and isinstance(prm_scorer, ProcessRewardScorer)
    assert isinstance(orm_scorer, RewardScorer) and isinstance(prm_scorer, RewardScorer)
    assert orm_scorer.name == "tiny-Math-RM" and orm_scorer.label == "reward"
    assert type(orm_scorer.model) is Qwen2ForRewardModel and type(prm_scorer.model) is Qwen2ForProcessRewardModel
    assert orm_scorer.precision == "fp32" and orm_scorer.device == "cpu"
    assert next(orm_scorer.model.parameters()).dtype == torch.float32


# --- likelihood reward model ------------------------------------------------------------------


def _causal_lm_dir(path: Path, tokenizer, *, tied: bool, seed: int) -> Path:
    """A saved tiny random causal LM (tied or untied output layer) with the tokenizer."""
    from transformers import Qwen2ForCausalLM

    from training.tiny import tiny_qwen2_config

    torch.manual_seed(seed)
    lm = Qwen2ForCausalLM(tiny_qwen2_config(len(tokenizer), layers=LAYERS, tie_word_embeddings=tied))
    lm.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@torch.inference_mode()
def _reference_likelihood(lm_dir: Path, tokenizer, weight: list[float], bias: float, problem: str, text: str) -> float:
    """The likelihood reward written out: the policy's prompt, the solution and <|im_end|> through
    the plain causal LM; w . (mean, lowest log-probability of the solution's tokens) + b."""
    from transformers import AutoModelForCausalLM

    from model.prompts import QWEN2_MATH, build_prompt

    lm = AutoModelForCausalLM.from_pretrained(str(lm_dir), dtype=torch.float32).eval()
    prompt = build_prompt(tokenizer, problem, QWEN2_MATH)
    solution = tokenizer.encode(text, add_special_tokens=False) + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    ids = torch.tensor([prompt + solution])
    logprobs = torch.log_softmax(lm(ids).logits[0].double(), dim=-1)
    own = [float(logprobs[len(prompt) + i - 1, t]) for i, t in enumerate(solution)]
    return weight[0] * sum(own) / len(own) + weight[1] * min(own) + bias


@pytest.mark.parametrize("tied", [True, False])
def test_likelihood_rm_matches_the_reference_and_round_trips(tmp_path, rm_tokenizer, tied):
    from training.train_bundled_rm import build_likelihood_model

    lm_dir = _causal_lm_dir(tmp_path / "lm", rm_tokenizer, tied=tied, seed=6)
    model = build_likelihood_model(lm_dir)
    weight, bias = [3.0, 0.25], -0.5
    with torch.no_grad():
        model.score.weight.copy_(torch.tensor([weight]))
        model.score.bias.fill_(bias)
    path = save_reward_model(model, rm_tokenizer, tmp_path / "lrm")
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForLikelihoodRewardModel"] and config["prompt_family"] == "qwen2-math"
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        names = set(f.keys())
    assert {"score.weight", "score.bias", "model.embed_tokens.weight"} <= names
    assert ("lm_head.weight" in names) is not tied
    assert all(n.startswith(("model.", "score.", "lm_head.")) for n in names)

    scorer, reason = load_scorer(str(path), device="cpu", precision="auto")
    assert reason is None and isinstance(scorer, LikelihoodRewardScorer) and scorer.label == "reward"
    assert type(scorer.model) is Qwen2ForLikelihoodRewardModel
    texts = [THREE_STEPS, "12 + 7 = 19", "", "A longer one. " * 12 + "\n\nSo \\boxed{19}."]
    scores = scorer.score(PROBLEM, [_solution(i + 1, t) for i, t in enumerate(texts)])
    for text, got in zip(texts, scores):
        expected = _reference_likelihood(lm_dir, rm_tokenizer, weight, bias, PROBLEM, text)
        assert got.total == pytest.approx(expected, abs=1e-4) and not got.truncated
    # Batching (right padding, longest first) changes nothing.
    scorer.batch_size = 1
    assert [s.total for s in scorer.score(PROBLEM, [_solution(i + 1, t) for i, t in enumerate(texts)])] == pytest.approx(
        [s.total for s in scores], abs=1e-5)


def test_likelihood_rm_scores_the_leading_tokens_that_fit(tmp_path, rm_tokenizer):
    from training.train_bundled_rm import build_likelihood_model

    model = build_likelihood_model(_causal_lm_dir(tmp_path / "lm", rm_tokenizer, tied=True, seed=7))
    with torch.no_grad():
        model.score.weight.copy_(torch.tensor([[1.0, 1.0]]))
    scorer = LikelihoodRewardScorer(model, rm_tokenizer, name="tiny-lrm")
    long_text = "Tom counts apples. " * 60
    prompt_len = len(scorer.encode(PROBLEM, "")[0].ids) - 1
    scorer.max_tokens = prompt_len + 20
    (cut,) = scorer.score(PROBLEM, [_solution(1, long_text)])
    assert cut.truncated and math.isfinite(cut.total)
    # The leading tokens are kept (causal attention: they score exactly as in the whole solution).
    row, _ = scorer.encode(PROBLEM, long_text)
    prompt = row.ids[:prompt_len]
    assert row.ids == (prompt + rm_tokenizer.encode(long_text, add_special_tokens=False))[: prompt_len + 20]
    ids = torch.tensor([row.ids])
    solution = torch.zeros_like(ids)
    solution[0, prompt_len:] = 1
    with torch.inference_mode():
        assert cut.total == pytest.approx(float(model(ids, torch.ones_like(ids), solution)[0]), abs=1e-6)
    scorer.max_tokens = prompt_len
    with pytest.raises(RewardModelError, match="shorten the problem"):
        scorer.score(PROBLEM, [_solution(1, "x")])


def test_likelihood_rm_memory_estimate_counts_an_untied_output_layer():
    raw = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "intermediate_size": 128, "vocab_size": 1000, "architectures": ["Qwen2ForLikelihoodRewardModel"]}
    untied, _ = reward.parameter_split(raw | {"tie_word_embeddings": False}, 1)
    tied, _ = reward.parameter_split(raw | {"tie_word_embeddings": True}, 1)
    orm, _ = reward.parameter_split(raw | {"architectures": ["Qwen2ForRewardModel"]}, 1)
    assert untied - tied == 1000 * 64 and tied == orm


# --- outcome reward model ----------------------------------------------------------------------


def test_orm_matches_the_reference_recipe(orm_scorer, hand_orm, rm_tokenizer):
    scores = orm_scorer.score(PROBLEM, SOLUTIONS)
    assert len(scores) == len(SOLUTIONS)
    for solution, score in zip(SOLUTIONS, scores):
        assert score.steps is None and not score.truncated
        assert score.total == pytest.approx(_reference_orm(hand_orm, rm_tokenizer, PROBLEM, solution.text), abs=1e-4)
    assert len({round(s.total, 4) for s in scores}) > 1


@pytest.mark.parametrize("batch_size", [1, 2, 3, 8])
def test_orm_batching_gives_the_same_scores(hand_orm, orm_scorer, batch_size):
    one_by_one = [orm_scorer.score(PROBLEM, [s])[0].total for s in SOLUTIONS]
    batched, _ = load_scorer(str(hand_orm.path), device="cpu", precision="auto", batch_size=batch_size)
    assert [s.total for s in batched.score(PROBLEM, SOLUTIONS)] == pytest.approx(one_by_one, abs=1e-5)


def test_orm_drops_the_start_of_a_solution_too_long_for_its_context(orm_scorer, rm_tokenizer):
    base = len(_chat_ids(rm_tokenizer, PROBLEM, ""))
    short = OutcomeRewardScorer(orm_scorer.model, rm_tokenizer, name="short", max_tokens=base + 12)
    ending = " so 12 + 7 = 19 and the answer is \\boxed{19}."
    first, second = _solution(1, "Tom has apples. " * 20 + ending), _solution(2, "Seven more. " * 30 + ending)
    scores = short.score(PROBLEM, [first, second, _solution(3, "19")])
    assert scores[0].truncated and scores[1].truncated and not scores[2].truncated
    # Only the shared ending was read: the different beginnings were cut off.
    assert scores[0].total == pytest.approx(scores[1].total, abs=1e-5)
    tiny = OutcomeRewardScorer(orm_scorer.model, rm_tokenizer, name="tiny", max_tokens=base - 1)
    with pytest.raises(RewardModelError, match="problem alone"):
        tiny.score(PROBLEM, [first])


# --- process reward model ----------------------------------------------------------------------


def test_split_steps_on_blank_lines():
    assert split_steps(THREE_STEPS) == [
        "Tom starts with 12 apples.", "He buys 7 more: 12 + 7 = 19.", "The answer is \\boxed{19}."
    ]
    assert split_steps("a\n \t\n\n\nb\r\n\r\nc\nd\n\n") == ["a", "b", "c\nd"]
    assert split_steps("  \n\n ") == []
    assert split_steps(f"x{STEP_TOKEN}y\n\nz") == ["xy", "z"]


def test_prm_gives_one_probability_per_step(prm_scorer, hand_prm, rm_tokenizer):
    (score,) = prm_scorer.score(PROBLEM, [_solution(1, THREE_STEPS)])
    assert score.steps is not None and len(score.steps) == 3
    assert all(0.0 <= p <= 1.0 for p in score.steps)
    assert score.total == min(score.steps)
    expected = _reference_prm(hand_prm, rm_tokenizer, PROBLEM, split_steps(THREE_STEPS))
    assert list(score.steps) == pytest.approx(expected, abs=1e-5)


def test_prm_empty_solution_has_no_steps(prm_scorer):
    (score,) = prm_scorer.score(PROBLEM, [_solution(1, "  \n\n")])
    assert score.steps == () and score.total == 0.0


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_prm_batching_gives_the_same_scores(hand_prm, prm_scorer, batch_size):
    one_by_one = [prm_scorer.score(PROBLEM, [s])[0] for s in SOLUTIONS]
    batched, _ = load_scorer(str(hand_prm.path), device="cpu", precision="auto", batch_size=batch_size)
    for single, together in zip(one_by_one, batched.score(PROBLEM, SOLUTIONS)):
        assert len(together.steps) == len(single.steps)
        assert list(together.steps) == pytest.approx(list(single.steps), abs=1e-5)
        assert together.total == pytest.approx(single.total, abs=1e-5)


def test_prm_scores_the_leading_steps_that_fit(prm_scorer, rm_tokenizer):
    steps = ["First step here.", "Second step here.", "Third step, a long one. " * 6, "The answer is 19."]
    text = "\n\n".join(steps)
    (full,) = prm_scorer.score(PROBLEM, [_solution(1, text)])
    assert len(full.steps) == 4 and not full.truncated
    fits = len(_chat_ids(rm_tokenizer, PROBLEM, STEP_TOKEN.join(steps[:2]) + STEP_TOKEN))
    short = ProcessRewardScorer(prm_scorer.model, rm_tokenizer, name="short", max_tokens=fits + 3)
    (cut,) = short.score(PROBLEM, [_solution(1, text)])
    assert cut.truncated and len(cut.steps) == 2
    # Causal attention: the kept steps get exactly the rewards the whole solution gives them.
    assert list(cut.steps) == pytest.approx(list(full.steps[:2]), abs=1e-5)
    assert cut.total == min(cut.steps)


def test_prm_tokenizer_without_step_token_is_refused(prm_scorer):
    from training.tiny import train_tokenizer

    plain = train_tokenizer(TINY_CORPUS, vocab_size=300)
    with pytest.raises(RewardModelError, match=STEP_TOKEN):
        ProcessRewardScorer(prm_scorer.model, plain, name="no-step-token")


# --- confidence fallback, dispatch and loading -------------------------------------------------


def test_logprob_fallback_is_labelled_confidence():
    scorer, reason = load_scorer("logprob", device="cpu", precision="auto")
    assert reason is None
    assert isinstance(scorer, ConfidenceScorer) and isinstance(scorer, RewardScorer)
    assert scorer.label == "confidence" and "reward" not in scorer.name.lower()
    assert scorer.name == "policy log-probability"
    scores = scorer.score(PROBLEM, [_solution(1, logprob=-0.25), _solution(2, logprob=None)])
    assert scores[0] == Score(total=-0.25) and scores[1].total == float("-inf")


def test_scorer_table_dispatch_and_unknown_names():
    assert set(reward.SCORERS) == {"orm", "prm", "likelihood", "logprob"}
    assert isinstance(make_scorer("logprob"), ConfidenceScorer)
    with pytest.raises(RewardModelError, match="Unknown scorer"):
        make_scorer("bogus")
    with pytest.raises(RewardModelError, match="Unknown reward model"):
        load_scorer("not-a-model", device="cpu", precision="auto")


def test_a_causal_lm_is_not_a_reward_model(tiny_model_dir):
    with pytest.raises(RewardModelError, match="not a reward model"):
        load_scorer(str(tiny_model_dir), device="cpu", precision="auto")


def test_unknown_architecture_raises(tmp_path, hand_orm):
    config = json.loads((hand_orm.path / "config.json").read_text())
    config["architectures"] = ["Qwen2ForSequenceClassification"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(RewardModelError, match="Qwen2ForSequenceClassification"):
        load_scorer(str(tmp_path), device="cpu", precision="auto")


def test_missing_checkpoint_degrades_to_confidence_with_a_reason(tmp_path):
    missing = tmp_path / "no" / "such-rm"
    scorer, reason = load_scorer(str(missing), device="cpu", precision="auto")
    assert isinstance(scorer, ConfidenceScorer)
    assert reason is not None and "not found" in reason and "confidence" in reason
    empty = tmp_path / "empty"
    empty.mkdir()
    scorer, reason = load_scorer(str(empty), device="cpu", precision="auto")
    assert isinstance(scorer, ConfidenceScorer) and "config.json" in reason


def test_none_is_confidence_with_a_reason():
    scorer, reason = load_scorer("none", device="cpu", precision="auto")
    assert isinstance(scorer, ConfidenceScorer) and "No reward model is configured" in reason


def test_a_reward_model_that_does_not_fit_degrades(hand_orm):
    scorer, reason = load_scorer(str(hand_orm.path), device="cpu", precision="auto", max_memory_bytes=10_000)
    assert isinstance(scorer, ConfidenceScorer)
    assert "does not fit" in reason and "fp32" in reason


def test_hub_id_not_in_the_offline_cache_degrades(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    scorer, reason = load_scorer("Qwen/Qwen2.5-Math-RM-72B", device="cpu", precision="auto")
    assert isinstance(scorer, ConfidenceScorer)
    assert "Qwen/Qwen2.5-Math-RM-72B" in reason and "HF_HUB_OFFLINE" in reason


def _fake_hub_cache(cache: Path, repo_id: str, source: Path) -> None:
    """Lay `source`'s files out as huggingface_hub's cache holds a downloaded snapshot."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for file in source.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())


def test_hub_id_and_auto_load_from_the_offline_cache(tmp_path, monkeypatch, hand_orm, orm_scorer):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(reward_loader, "BUNDLED_RM_DIR", tmp_path / "no-bundled-rm")
    _fake_hub_cache(tmp_path, "Qwen/Qwen2.5-Math-RM-72B", hand_orm.path)
    expected = orm_scorer.score(PROBLEM, SOLUTIONS[:2])
    scorer, reason = load_scorer("Qwen/Qwen2.5-Math-RM-72B", device="cpu", precision="auto")
    assert reason is None and scorer.name == "Qwen2.5-Math-RM-72B"
    assert [s.total for s in scorer.score(PROBLEM, SOLUTIONS[:2])] == pytest.approx([s.total for s in expected])
    scorer, reason = load_scorer("auto", device="cpu", precision="auto", policy_family="qwen2.5-math")
    assert reason is None and scorer.name == "Qwen2.5-Math-RM-72B"
    # Qwen2-Math-RM-72B is not cached; Qwen2.5-Math-RM-72B, made for Qwen2-Math policies too, is.
    scorer, reason = load_scorer("auto", device="cpu", precision="auto", policy_family="qwen2-math", policy="qwen2-math")
    assert reason is None and scorer.name == "Qwen2.5-Math-RM-72B"
    # Nothing cached and nothing bundled.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    scorer, reason = load_scorer("auto", device="cpu", precision="auto", policy_family="qwen2-math")
    assert isinstance(scorer, ConfidenceScorer) and "Qwen/Qwen2-Math-RM-72B" in reason


def test_bundled_and_auto_use_the_bundled_directory(tmp_path, monkeypatch, hand_orm):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(reward_loader, "BUNDLED_RM_DIR", tmp_path / "bundled-rm")
    scorer, reason = load_scorer("bundled", device="cpu", precision="auto")
    assert isinstance(scorer, ConfidenceScorer) and "bundled reward model is missing" in reason
    monkeypatch.setattr(reward_loader, "BUNDLED_RM_DIR", hand_orm.path)
    for spec in ("bundled", "auto"):
        scorer, reason = load_scorer(spec, device="cpu", precision="auto")
        assert reason is None and isinstance(scorer, OutcomeRewardScorer)


def test_cuda_precision_plan(monkeypatch):
    """CPU: fp32. CUDA: like the policy, NF4 when bf16 does not fit, no bitsandbytes: refuse."""
    import importlib.util

    raw = {"hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
           "num_key_value_heads": 8, "intermediate_size": 29568, "vocab_size": 152064}
    linear, other = reward.parameter_split(raw, 1)
    assert 70e9 < linear + other < 73e9  # Qwen2.5-Math-RM-72B: the 72B trunk without lm_head
    bf16, nf4 = reward.estimate_rm_bytes(raw, "bf16"), reward.estimate_rm_bytes(raw, "nf4")
    assert nf4 < bf16 / 3
    assert reward.plan_precision("rm", raw, "cpu", "auto", 10**13) == ("fp32", None)

    real_find_spec = importlib.util.find_spec

    def bitsandbytes(present: bool):
        return lambda n, *a: (object() if present else None) if n == "bitsandbytes" else real_find_spec(n, *a)

    monkeypatch.setattr(importlib.util, "find_spec", bitsandbytes(False))
    precision, why = reward.plan_precision("rm", raw, "cuda", "nf4", 10**12)
    assert precision is None and "bitsandbytes" in why
    assert reward.plan_precision("rm", raw, "cuda", "bf16", 10**12) == ("bf16", None)

    monkeypatch.setattr(importlib.util, "find_spec", bitsandbytes(True))
    assert reward.plan_precision("rm", raw, "cuda", "int8", 10**12) == ("int8", None)
    assert reward.plan_precision("rm", raw, "cuda", "auto", 10**12) == ("bf16", None)
    assert reward.plan_precision("rm", raw, "cuda", "auto", nf4 + 2 * 1024**3) == ("nf4", None)
    precision, why = reward.plan_precision("rm", raw, "cuda", "auto", 10 * 1024**3)
    assert precision is None and "does not fit" in why and "nf4" in why


def test_model_package_does_not_import_gradio():
    code = "import sys, model.reward; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ranking_needs_no_torch_and_types_do_not_import_it():
    """The ranking is torch-free (History and the log use it), and `model.types` -> `judgements.ranking`
    is one-way: the ranking imports nothing of the model layer, not even for type checking."""
    code = "import sys, judgements.ranking, model.types; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    tree = ast.parse((Path(__file__).parents[1] / "judgements" / "ranking.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(name and name.split(".")[0] == "model" for name in imported)


# --- ranking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cluster:
    key: str
    answer: str
    members: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class _Vote:
    answer: str | None
    count: int
    total: int
    clusters: tuple[_Cluster, ...]


def _vote(groups: dict[str, tuple[int, ...]], total: int) -> _Vote:
    """Clusters in the given order (the winner first), as `majority_vote` returns them."""
    clusters = tuple(_Cluster(key=a, answer=a, members=m) for a, m in groups.items())
    return _Vote(clusters[0].answer if clusters else None, clusters[0].count if clusters else 0, total, clusters)


def _samples(answers: list[str | None]) -> list[Solution]:
    return [_solution(i + 1, answer=a) for i, a in enumerate(answers)]


def _same(a: str, b: str) -> bool:
    return a == b


def test_rm_at_n_and_softmax_weighted_vote_for_orm_rewards():
    samples = _samples(["19", "20", "19", "19", "20"])
    vote = _vote({"19": (0, 2, 3), "20": (1, 4)}, 5)
    totals = [1.0, 3.0, 0.5, 0.2, -1.0]
    ranking = rank_solutions(
        samples, vote, [Score(t) for t in totals],
        scorer_name="RM", label="reward", greedy_answer="19", same_answer=_same,
    )
    assert (ranking.rm_index, ranking.rm_answer, ranking.rm_score, ranking.rm_cluster) == (1, "20", 3.0, 1)
    assert ranking.weighting == "softmax"
    e = [math.exp(t - 3.0) for t in totals]
    expected = (sum(e[i] for i in (0, 2, 3)) / sum(e), (e[1] + e[4]) / sum(e))
    assert ranking.weighted_scores == pytest.approx(expected)
    assert ranking.weighted_answer == "20" and ranking.weighted_cluster == 1
    a = ranking.agreement
    assert (a.greedy_majority, a.greedy_rm, a.majority_rm, a.majority_weighted, a.rm_weighted) == (
        True, False, False, False, True
    )
    assert ranking.summary == "greedy and majority agree; reward pick differs; the reward-weighted vote favours 20"
    assert not a.all_agree


def test_rm_ties_go_to_the_lowest_index_and_nan_never_wins():
    assert rank_by_reward([2.0, 5.0, 5.0, 1.0]) == 1
    assert rank_by_reward([float("nan"), 0.1, float("nan")]) == 1
    assert rank_by_reward([float("-inf"), float("nan")]) is None
    assert rank_by_reward([]) is None


def test_weighted_vote_ties_follow_the_majority_vote_order():
    samples = _samples(["3", "4", "3", "4"])
    vote = _vote({"3": (0, 2), "4": (1, 3)}, 4)
    scores = [Score(0.5, (0.5,)), Score(0.25, (0.25,)), Score(0.25, (0.25,)), Score(0.5, (0.5,))]
    ranking = rank_solutions(samples, vote, scores, scorer_name="PRM", label="reward", same_answer=_same)
    assert ranking.weighting == "probability"
    assert ranking.weighted_scores == pytest.approx((0.75, 0.75))
    assert ranking.weighted_answer == "3"  # a tie: the cluster Maj@N put first
    assert ranking.rm_index == 0  # 0.5 at samples 0 and 3: the lowest index


def test_prm_totals_weigh_as_probabilities_and_all_agree():
    samples = _samples(["7", "7", "8"])
    vote = _vote({"7": (0, 1), "8": (2,)}, 3)
    scores = [Score(0.9, (0.95, 0.9)), Score(0.6, (0.6,)), Score(0.2, (0.2,))]
    ranking = rank_solutions(
        samples, vote, scores, scorer_name="PRM", label="reward", greedy_answer="7", same_answer=_same
    )
    assert ranking.weights == pytest.approx((0.9, 0.6, 0.2))
    assert ranking.weighted_scores == pytest.approx((1.5, 0.2))
    assert ranking.summary == "greedy, majority and reward pick agree"
    assert ranking.agreement.all_agree


def test_confidence_ranking_uses_exp_mean_logprob():
    samples = _samples(["1", "2", None])
    vote = _vote({"1": (0,), "2": (1,)}, 3)
    logprobs = [_solution(1, logprob=-1.0), _solution(2, logprob=-0.1), _solution(3, logprob=None)]
    scores = ConfidenceScorer().score(PROBLEM, logprobs)
    ranking = rank_solutions(
        samples, vote, scores, scorer_name=CONFIDENCE, label="confidence", greedy_answer="5", same_answer=_same
    )
    assert ranking.weighting == "exp"
    assert ranking.weights == pytest.approx((math.exp(-1.0), math.exp(-0.1), 0.0))
    assert (ranking.rm_index, ranking.rm_answer, ranking.weighted_answer) == (1, "2", "2")
    assert ranking.summary == (
        "greedy, majority and confidence pick all differ; the confidence-weighted vote favours 2"
    )


def test_agreement_without_greedy_or_answers():
    samples = _samples(["5", "5"])
    vote = _vote({"5": (0, 1)}, 2)
    ranking = rank_solutions(samples, vote, [Score(0.1), Score(0.3)], scorer_name="RM", label="reward")
    assert ranking.summary == "majority and reward pick agree; no greedy answer"
    assert ranking.agreement.greedy_majority is None and ranking.agreement.all_agree

    nothing = rank_solutions(
        _samples([None, None]), _vote({}, 2), [Score(0.1), Score(0.3)], scorer_name="RM", label="reward"
    )
    assert nothing.rm_index == 1 and nothing.rm_answer is None and nothing.weighted_answer is None
    assert nothing.weighted_scores == ()
    assert nothing.summary == "no answer to compare"

    greedy_only = rank_solutions(
        _samples([None]), _vote({}, 1), [Score(0.0)], scorer_name="RM", label="reward", greedy_answer="4"
    )
    assert greedy_only.summary.startswith("only the greedy has an answer")


def test_rank_solutions_checks_lengths_and_weighting():
    samples = _samples(["1"])
    with pytest.raises(ValueError, match="1 samples"):
        rank_solutions(samples, _vote({"1": (0,)}, 1), [], scorer_name="RM", label="reward")
    with pytest.raises(ValueError, match="weighting"):
        rank_solutions(samples, _vote({"1": (0,)}, 1), [Score(1.0)], scorer_name="RM", label="reward", weighting="max")


def test_rank_solutions_with_the_real_majority_vote():
    samples = _samples(["3/4", "0.75", "2", None])
    vote = majority_vote([s.answer for s in samples])
    ranking = rank_solutions(
        samples, vote, [Score(0.1), Score(0.2), Score(5.0), Score(9.0)],
        scorer_name="RM", label="reward", greedy_answer="\\frac{3}{4}",
    )
    assert ranking.rm_index == 3 and ranking.rm_answer is None
    assert ranking.agreement.greedy_majority is True
    assert ranking.agreement.majority_weighted is False  # 5.0 outweighs 0.1 + 0.2 after softmax


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-50, max_value=50), min_size=1, max_size=12))
def test_rank_by_reward_is_the_first_maximum(totals):
    best = rank_by_reward(totals)
    assert totals[best] == max(totals)
    assert all(t < totals[best] for t in totals[:best])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=-30, max_value=30), min_size=1, max_size=12),
    st.floats(min_value=-20, max_value=20),
)
def test_softmax_weights_sum_to_one_and_ignore_a_constant_shift(totals, shift):
    weights = softmax_weights(totals)
    assert math.fsum(weights) == pytest.approx(1.0)
    assert softmax_weights([t + shift for t in totals]) == pytest.approx(weights, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(min_value=-10, max_value=10)), min_size=1, max_size=10))
def test_cluster_weights_are_a_distribution_over_answers(rows):
    samples = _samples([a for a, _ in rows])
    groups: dict[str, list[int]] = {}
    for i, (a, _) in enumerate(rows):
        groups.setdefault(a, []).append(i)
    ordered = dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0])))
    vote = _vote({a: tuple(m) for a, m in ordered.items()}, len(rows))
    scores = [Score(t) for _, t in rows]
    ranking = rank_solutions(samples, vote, scores, scorer_name="RM", label="reward", same_answer=_same)
    assert math.fsum(ranking.weighted_scores) == pytest.approx(1.0)
    assert ranking.weighted_scores[ranking.weighted_cluster] == pytest.approx(max(ranking.weighted_scores))
    assert ranking.rm_answer == rows[ranking.rm_index][0]


# --- which policy a reward model was made for ------------------------------------------------------


def test_the_bundled_reward_model_records_the_bundled_policy():
    from model.reward.made_for import BUNDLED, QWEN_MATH, made_for

    raw = json.loads((reward_loader.BUNDLED_RM_DIR / "config.json").read_text(encoding="utf-8"))
    assert raw["made_for"] == [BUNDLED]
    assert made_for({}, reward_loader.BUNDLED_RM_DIR, bundled_dir=reward_loader.BUNDLED_RM_DIR) == (BUNDLED,)
    for repo in ("Qwen/Qwen2.5-Math-RM-72B", "Qwen/Qwen2.5-Math-PRM-7B"):
        assert made_for({"vocab_size": 938}, repo_id=repo) == QWEN_MATH  # known by name
    assert made_for({"vocab_size": 152064}) == QWEN_MATH  # Qwen2.5-Math's vocabulary
    assert made_for({"vocab_size": 400}) == ()


@pytest.fixture(scope="session")
def bundled_style_rm(tmp_path_factory, rm_tokenizer) -> Path:
    """A tiny outcome reward model that says it was made for the bundled policy."""
    path = tmp_path_factory.mktemp("bundled-style-rm")
    save_reward_model(build_tiny_orm(rm_tokenizer, seed=3), rm_tokenizer, path, made_for=("bundled",))
    return path


def test_a_reward_model_made_for_another_policy_is_refused(bundled_style_rm):
    assert json.loads((bundled_style_rm / "config.json").read_text())["made_for"] == ["bundled"]
    scorer, note = load_scorer(str(bundled_style_rm), device="cpu", precision="auto", policy="qwen2-math")
    assert isinstance(scorer, ConfidenceScorer) and scorer.label == "confidence"
    assert "made for the bundled tiny model" in note and "not for the policy running here (Qwen2-Math)" in note
    assert "Qwen/Qwen2.5-Math-PRM-7B" in note and "Qwen/Qwen2.5-Math-RM-72B" in note and "--reward-model DIR" in note
    scorer, note = load_scorer(str(bundled_style_rm), device="cpu", precision="auto", policy="bundled")
    assert isinstance(scorer, OutcomeRewardScorer) and note is None


def test_auto_and_bundled_on_a_real_policy_rank_by_confidence_and_say_how_to_add_one(tmp_path, monkeypatch, bundled_style_rm):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(reward_loader, "BUNDLED_RM_DIR", bundled_style_rm)
    for policy in ("qwen2-math", "qwen2.5-math"):
        scorer, note = load_scorer("auto", device="cpu", precision="auto", policy_family=policy, policy=policy)
        assert isinstance(scorer, ConfidenceScorer), policy  # never the bundled reward model
        assert "bundled reward model knows only the bundled tiny model" in note
        assert "--reward-model" in note and "Qwen/Qwen2.5-Math-PRM-7B" in note and "confidence" in note
        scorer, note = load_scorer("bundled", device="cpu", precision="auto", policy=policy)
        assert isinstance(scorer, ConfidenceScorer) and "made for the bundled tiny model" in note
    scorer, note = load_scorer("auto", device="cpu", precision="auto", policy_family="qwen2-math", policy="bundled")
    assert isinstance(scorer, OutcomeRewardScorer) and note is None


def test_a_reward_model_that_does_not_say_its_policy_loads_with_a_note(hand_orm):
    scorer, note = load_scorer(str(hand_orm.path), device="cpu", precision="auto", policy="qwen2.5-math")
    assert isinstance(scorer, OutcomeRewardScorer)
    assert "does not record which policy it was made for" in note


def test_auto_on_a_tiny_random_qwen2_policy_ranks_by_confidence(tiny_model_dir, tmp_path, monkeypatch):
    """The whole path the app takes: a real (non-bundled) Qwen2-shaped policy in a directory of its
    own, `--reward-model auto`, no reward model made for it: confidence, labelled so, with a note."""
    import huggingface_hub.constants

    from model.solver import open_solver
    from settings import AppConfig

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    assert (reward_loader.BUNDLED_RM_DIR / "config.json").is_file()  # there, and not used
    config = AppConfig(model=str(tiny_model_dir), reward_model="auto", device="cpu", fallback_to_bundled=False,
                       db_url=f"sqlite:///{tmp_path / 'app.sqlite3'}")
    solver, note = open_solver(config, inline=True)
    try:
        assert solver.info.source != "bundled"
        assert isinstance(solver.scorer, ConfidenceScorer) and solver.scorer.label == "confidence"
        assert "Qwen/Qwen2.5-Math-RM-72B" in note and "Qwen/Qwen2.5-Math-PRM-7B" in note and "--reward-model DIR" in note
    finally:
        solver.close()
