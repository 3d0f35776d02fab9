"""Reward scoring and ranking of sampled solutions: RM@N, the reward-weighted vote, agreement.

Scorers follow one protocol, `RewardScorer.score(problem, solutions) -> list[Score]`, and are
dispatched by the `SCORERS` table:

- `orm`: an outcome reward model in the format of `Qwen/Qwen2.5-Math-RM-72B`. The whole chat
  (system `Please reason step by step, and put your final answer within \\boxed{}.`, user = the
  problem, assistant = the solution), rendered by the reward model's own chat template, runs
  through a Qwen2 trunk; the head Linear(h, h) -> ReLU -> Linear(h, 1) is read at the last
  token. One unnormalised scalar per solution (Bradley-Terry style: only differences mean
  anything).
- `prm`: a process reward model in the format of `Qwen/Qwen2.5-Math-PRM-7B`. The solution is
  split into steps on blank lines, `<extra_0>` follows every step; the head Linear(h, h) ->
  ReLU -> Linear(h, 2) is read at each `<extra_0>` and softmax(...)[1] is that step's
  probability of being correct. The step rewards are kept (the UI draws them as a heatmap);
  the total is the minimum over the steps: a derivation is only as sound as its weakest step,
  the minimum does not punish long solutions for their length the way a product does, and
  unlike the last step alone it looks at the process.
- `likelihood`: a verifier *language model* read as an outcome reward model (the bundled
  reward model is one). The policy's prompt and the solution run through a Qwen2 causal LM;
  each solution token (and the closing `<|im_end|>`) gets its log-probability given
  everything before it; the head `score` Linear(2, 1) maps the solution's mean and lowest
  token log-probability to one unnormalised reward, trained on right/wrong-labelled samples.
  A second model that knows the same arithmetic but slips elsewhere finds the policy's slips
  surprising, where the policy's own likelihood does not (see the README's evaluation).
- `logprob`: the fallback without a reward model. It ranks by the policy's own mean token
  log-probability and is named and labelled as *confidence*, never as a reward.

On-disk format (what `load_scorer` reads and `save_reward_model` writes), as the real
checkpoints: `config.json` with `model_type: qwen2` and `architectures: [Qwen2ForRewardModel]`,
`[Qwen2ForProcessRewardModel]` or `[Qwen2ForLikelihoodRewardModel]`; safetensors (one file or
shards plus `model.safetensors.index.json`) holding the trunk under `model.` (`model.embed_tokens.weight`,
`model.layers.{i}.self_attn.q_proj.weight`, ..., `model.norm.weight`) and the head as the
`score` Sequential: `score.0.weight` [h, h], `score.0.bias` [h], `score.2.weight` [labels, h],
`score.2.bias` [labels]. These are the names of Qwen's own remote code (`modeling_qwen2_rm.py`)
and of vLLM's `qwen2_rm.py`. The likelihood kind has the same trunk and files, its head
`score.weight` [1, 2] and `score.bias` [1], `lm_head.weight` only when the embeddings are not
tied, and `prompt_family` in `config.json` (the chat its LM was trained on). Weights load into
this module's own classes by those names; remote code is never run (no `trust_remote_code`
anywhere).

Precision: fp32 on the CPU. On CUDA the trunk follows the policy: NF4 or int8 through
bitsandbytes (transformers' `BitsAndBytesConfig`, the head left unquantized; int8 computes in
fp16, as LLM.int8 does) when the policy is nf4/int8, bf16 otherwise, and NF4 when bf16 would not
fit in the share of free memory the reward model may take (`RM_MEMORY_FRACTION`). A reward model that is not
configured, not found, or does not fit degrades to the confidence fallback, with a reason a
person can read.

Inputs longer than the reward model's context: the ORM drops tokens from the *start* of the
solution (its verdict is read at the end, where the final answer is); the PRM keeps the
*leading* steps that fit and scores those: attention is causal, so the rewards of the kept
steps are exactly what the whole solution would have given them, and `steps[i]` stays step i
of `split_steps(text)`; the likelihood kind likewise scores the leading tokens that fit. Either
way `Score.truncated` is set.

Ranking (`rank_solutions`):
- RM@N is the sample with the highest total. Ties go to the lowest sample index; NaN and
  -inf totals never win; with no finite total there is no pick.
- The reward-weighted vote sums a weight per sample over each answer cluster of the vote.
  Weights (`WEIGHTINGS`), chosen so that a sum means something:
  `softmax` for ORM rewards (exp(r_i - max r) / sum: invariant to the additive constant a
  Bradley-Terry reward is only defined up to; a cluster's weight is then the probability that
  the best sample lies in it); `probability` for PRM totals (already in [0, 1]); `exp` for
  confidence (exp(mean log-prob), the geometric-mean token probability, in (0, 1]). Non-finite
  totals weigh 0. Cluster sums within 1e-9 (relative) of each other tie, and a tie goes to the
  cluster that comes first in the majority vote's order, so the weighted vote falls back on
  Maj@N's own (documented) tie-break.
- `Agreement` says whether greedy, Maj@N, RM@N and the weighted vote pick the same answer,
  with flags and a one-line summary such as "greedy, majority and reward pick agree".
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn
from transformers.models.qwen2.modeling_qwen2 import Qwen2Model, Qwen2PreTrainedModel

from model.errors import ConfigError, OutOfMemoryError, RewardModelError
from model.prompts import BOXED_INSTRUCTION, QWEN2_MATH, QWEN25_MATH, build_prompt
from model.ranking import (  # noqa: F401  (re-exported: the scorers' protocol and the ranking)
    CONFIDENCE_NAME,
    WEIGHTINGS,
    Agreement,
    ConfidenceScorer,
    Ranking,
    RewardScorer,
    Score,
    infer_weighting,
    rank_by_reward,
    rank_solutions,
    softmax_weights,
)
from model.types import Solution

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where the bundled tiny outcome reward model lives (written with `save_reward_model`).
BUNDLED_RM_DIR = REPO_ROOT / "assets" / "bundled-rm"

ORM_ARCHITECTURE = "Qwen2ForRewardModel"
PRM_ARCHITECTURE = "Qwen2ForProcessRewardModel"
LIKELIHOOD_ARCHITECTURE = "Qwen2ForLikelihoodRewardModel"
# What the likelihood reward model's `score` head reads, in the order of its weights.
LIKELIHOOD_FEATURES = ("mean token log-probability", "lowest token log-probability")
# Positions whose vocabulary logits are materialised at once (a 152k vocabulary: ~80 MB a row).
_LOGPROB_CHUNK = 128
# Qwen2.5-Math-PRM's step separator (id 151651 in its tokenizer).
STEP_TOKEN = "<extra_0>"

# The official reward model for each policy family; `auto` uses it only if already cached.
FAMILY_REWARD_MODELS: Mapping[str, str] = {
    QWEN2_MATH: "Qwen/Qwen2-Math-RM-72B",
    QWEN25_MATH: "Qwen/Qwen2.5-Math-RM-72B",
}

DEFAULT_BATCH_SIZE = 8
# Share of the free memory a reward model may take: the rest is the policy's KV cache of N rows.
RM_MEMORY_FRACTION = 0.8
# Working room beyond the weights (activations of one batch, the CUDA context); rough.
RM_HEADROOM_BYTES = 1024**3
# Bytes per trunk Linear weight as loaded; embeddings, norms and the head stay at the compute
# dtype (bitsandbytes quantizes Linear layers only). NF4 adds one fp32 absmax per 64 weights.
_LINEAR_BYTES = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "nf4": 0.5625}
_OTHER_BYTES = {"fp32": 4.0, "bf16": 2.0, "int8": 2.0, "nf4": 2.0}
# Reward-model precision on CUDA for each policy precision ("quantized like the policy").
_CUDA_PRECISION = {"auto": "bf16", "bf16": "bf16", "fp32": "bf16", "nf4": "nf4", "int8": "int8"}
_QUANTIZED = ("nf4", "int8")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BLANK_LINE = re.compile(r"\n\s*\n")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]
# Errors that mean "this checkpoint could not be loaded here" rather than a bug in this module.
_LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, RuntimeError, ImportError, KeyError)


# --- modules: our own classes, with the real checkpoints' parameter names ---------------------


class RewardHead(nn.Sequential):
    """Linear(h, h) -> ReLU -> Linear(h, labels); parameters `0.weight`, `0.bias`, `2.*`."""

    def __init__(self, hidden_size: int, labels: int) -> None:
        super().__init__(nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, labels))


class _Qwen2RewardBase(Qwen2PreTrainedModel):
    """A Qwen2 trunk under `model.` and a `score` head, as in Qwen's reward checkpoints."""

    labels: int = 1
    # Some reward checkpoints still carry the causal LM's output layer; it is not used.
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\."]

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model = Qwen2Model(config)
        self.score = self._build_head(config)
        self.post_init()

    def _build_head(self, config: Any) -> nn.Module:
        return RewardHead(config.hidden_size, self.labels)

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.score(hidden.to(self.score[0].weight.dtype)).float()

    def _hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        # [B, T, h]; right padding only: position ids are 0..T-1 for every row.
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state


class Qwen2ForRewardModel(_Qwen2RewardBase):
    """Outcome reward model (Qwen2.5-Math-RM-72B format); `forward` gives one reward per row."""

    labels = 1

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Rewards [B] (fp32), read at each row's last real token. Differentiable (for training)."""
        hidden = self._hidden(input_ids, attention_mask)
        batch, length = input_ids.shape
        if attention_mask is None:
            last = torch.full((batch,), length - 1, device=input_ids.device)
        else:
            positions = torch.arange(length, device=input_ids.device)
            last = (attention_mask.to(positions.dtype) * positions).argmax(dim=-1)
        picked = hidden[torch.arange(batch, device=input_ids.device), last]  # [B, h]
        return self._head(picked).squeeze(-1)


class Qwen2ForProcessRewardModel(_Qwen2RewardBase):
    """Process reward model (Qwen2.5-Math-PRM-7B format); `forward` gives per-token logits."""

    labels = 2

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, T, 2] (fp32); softmax(...)[..., 1] at `<extra_0>` is a step's reward."""
        return self._head(self._hidden(input_ids, attention_mask))


class Qwen2ForLikelihoodRewardModel(_Qwen2RewardBase):
    """A verifier language model read as an outcome reward model; `forward` gives one reward per row.

    The trunk and the LM output layer (the input embeddings when `tie_word_embeddings`, else
    `lm_head`) give every token its log-probability given the tokens before it; `score`
    Linear(2, 1) maps the mean and the lowest of them over the solution's tokens
    (`LIKELIHOOD_FEATURES`) to the reward.
    """

    labels = 1
    _keys_to_ignore_on_load_unexpected: list[str] = []

    def _build_head(self, config: Any) -> nn.Module:
        if not config.tie_word_embeddings:
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        return nn.Linear(len(LIKELIHOOD_FEATURES), 1)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.tie_word_embeddings:
            return nn.functional.linear(hidden, self.model.embed_tokens.weight).float()
        return self.lm_head(hidden).float()

    def token_logprobs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, T-1] fp32: log p(token t+1 | tokens <= t), vocabulary logits a chunk of positions at a time."""
        hidden = self._hidden(input_ids, attention_mask)[:, :-1]
        targets = input_ids[:, 1:]
        parts = []
        for start in range(0, targets.shape[1], _LOGPROB_CHUNK):
            logits = self._logits(hidden[:, start : start + _LOGPROB_CHUNK])
            taken = logits.gather(-1, targets[:, start : start + _LOGPROB_CHUNK, None]).squeeze(-1)
            parts.append(taken - torch.logsumexp(logits, dim=-1))
        return torch.cat(parts, dim=1)

    def features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, solution_mask: torch.Tensor
    ) -> torch.Tensor:
        """[B, 2] fp32: `LIKELIHOOD_FEATURES` over the tokens `solution_mask` [B, T] marks.

        The first token of a row cannot be scored (nothing precedes it); every row must mark
        at least one other token.
        """
        logprobs = self.token_logprobs(input_ids, attention_mask)
        marked = solution_mask[:, 1:].bool()
        if not bool(marked.any(dim=1).all()):
            raise ValueError("every row needs at least one scored token after its first")
        count = marked.sum(dim=1)
        mean = torch.where(marked, logprobs, torch.zeros_like(logprobs)).sum(dim=1) / count
        lowest = torch.where(marked, logprobs, torch.full_like(logprobs, math.inf)).amin(dim=1)
        return torch.stack([mean, lowest], dim=1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        solution_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Rewards [B] (fp32); `solution_mask` defaults to every real token. Differentiable."""
        if solution_mask is None:
            solution_mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        feats = self.features(input_ids, attention_mask, solution_mask)
        # The head in fp32 whatever the trunk's precision: bf16 would round nearby means together.
        return nn.functional.linear(feats, self.score.weight.float(), self.score.bias.float()).squeeze(-1)


# --- building and saving (the bundled RM's trainer imports these) -----------------------------


def reward_config(tokenizer: Any, kind: str = "orm", **overrides: Any) -> Any:
    """A small `Qwen2Config` for a reward model over `tokenizer` (see `model.tiny`)."""
    from model.tiny import tiny_qwen2_config

    model_class = _model_class(kind)
    overrides.setdefault("tie_word_embeddings", False)
    config = tiny_qwen2_config(len(tokenizer), **overrides)
    config.architectures = [model_class.__name__]
    config.pad_token_id = tokenizer.pad_token_id
    return config


def build_tiny_orm(tokenizer: Any, *, seed: int = 0, **config_overrides: Any) -> Qwen2ForRewardModel:
    """A fresh, randomly initialised fp32 outcome reward model over `tokenizer`, ready to train."""
    torch.manual_seed(seed)
    return Qwen2ForRewardModel(reward_config(tokenizer, "orm", **config_overrides))


def build_tiny_prm(tokenizer: Any, *, seed: int = 0, **config_overrides: Any) -> Qwen2ForProcessRewardModel:
    """A fresh random fp32 process reward model; the tokenizer must know `<extra_0>`."""
    _step_token_id(tokenizer)
    torch.manual_seed(seed)
    return Qwen2ForProcessRewardModel(reward_config(tokenizer, "prm", **config_overrides))


def save_reward_model(model: _Qwen2RewardBase, tokenizer: Any, path: str | os.PathLike[str]) -> Path:
    """Write `model` and `tokenizer` to `path` in the real checkpoints' on-disk format.

    `config.json` also gets the top-level `rope_theta`/`torch_dtype` that transformers 4.x
    reads, and never an `auto_map` (no remote code is needed to load it).
    """
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    config_file = path / "config.json"
    raw = json.loads(config_file.read_text(encoding="utf-8"))
    raw["architectures"] = [type(model).__name__]
    raw["model_type"] = "qwen2"
    raw.pop("auto_map", None)
    rope = raw.get("rope_parameters") or {}
    if "rope_theta" not in raw and "rope_theta" in rope:
        raw["rope_theta"] = rope["rope_theta"]
    if "torch_dtype" not in raw and "dtype" in raw:
        raw["torch_dtype"] = raw["dtype"]
    config_file.write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def save_outcome_rm(
    trunk_state: Mapping[str, torch.Tensor] | nn.Module,
    head: Mapping[str, torch.Tensor] | nn.Module,
    config: Any,
    tokenizer: Any,
    path: str | os.PathLike[str],
) -> Path:
    """Save a trunk (a `Qwen2Model` or its state dict) and a `RewardHead` (or its state dict,
    keys `0.weight` ... `2.bias`) as an outcome reward model in the real on-disk format."""
    trunk = trunk_state.state_dict() if isinstance(trunk_state, nn.Module) else trunk_state
    head_state = head.state_dict() if isinstance(head, nn.Module) else head
    model = Qwen2ForRewardModel(config)
    state = {f"model.{k}": v for k, v in trunk.items()} | {f"score.{k}": v for k, v in head_state.items()}
    model.load_state_dict(state, strict=True)
    return save_reward_model(model, tokenizer, path)


# --- inputs ------------------------------------------------------------------------------------


def split_steps(text: str) -> list[str]:
    """A solution's steps as the PRM sees them: split on blank lines, stripped, empty ones dropped."""
    cleaned = text.replace("\r\n", "\n").replace(STEP_TOKEN, "")
    return [part.strip() for part in _BLANK_LINE.split(cleaned) if part.strip()]


def rm_messages(problem: str, assistant: str, rm_format: str = QWEN25_MATH) -> list[dict[str, str]]:
    """The chat a reward model reads, in the format it was trained on.

    Qwen2.5-Math RMs (and the default): system = the boxed instruction, user = the problem.
    Qwen2-Math-RM-72B (its model card): empty system, user = problem + newline + instruction.
    """
    problem = problem.replace(STEP_TOKEN, "")
    if rm_format == QWEN2_MATH:
        system, user = "", f"{problem}\n{BOXED_INSTRUCTION}"
    else:
        system, user = BOXED_INSTRUCTION, problem
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]


def _rm_format(name: str) -> str:
    """Qwen2-Math-RM checkpoints read the Qwen2-Math chat; everything else Qwen2.5-Math's."""
    return QWEN2_MATH if "qwen2-math-rm" in name.lower().replace("_", "-") else QWEN25_MATH


def _step_token_id(tokenizer: Any) -> int:
    ids = tokenizer.encode(STEP_TOKEN, add_special_tokens=False)
    if len(ids) != 1:
        raise RewardModelError(
            f"This process reward model's tokenizer has no single {STEP_TOKEN} token (it encodes to "
            f"{len(ids)} tokens); Qwen2.5-Math-PRM checkpoints ship one. Is this a PRM tokenizer?"
        )
    return int(ids[0])


# --- scorers -----------------------------------------------------------------------------------


class _CheckpointScorer:
    """Shared by the ORM and PRM scorers: chat rendering, batching, the context guard."""

    label = "reward"
    kind = ""
    model_class: type[_Qwen2RewardBase] = _Qwen2RewardBase

    def __init__(
        self,
        model: _Qwen2RewardBase,
        tokenizer: Any,
        *,
        name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int | None = None,
        precision: str = "fp32",
        rm_format: str | None = None,
    ) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise RewardModelError(
                f"The tokenizer of reward model {name} has no chat template; the reward model must "
                "read the chat exactly as it was trained on, so it cannot be used."
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1; got {batch_size}.")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.max_tokens = int(max_tokens or model.config.max_position_embeddings)
        self.precision = precision
        self.rm_format = rm_format or _rm_format(name)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad) if pad is not None else 0

    @property
    def device(self) -> str:
        return str(next(self.model.parameters()).device)

    @property
    def memory_bytes(self) -> int:
        return int(self.model.get_memory_footprint())

    def _render(self, problem: str, assistant: str) -> list[int]:
        text = self.tokenizer.apply_chat_template(
            rm_messages(problem, assistant, self.rm_format), tokenize=False, add_generation_prompt=False
        )
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _check_prefix(self, problem: str) -> int:
        base = len(self._render(problem, ""))
        if base >= self.max_tokens:
            raise RewardModelError(
                f"The problem alone takes {base} tokens, more than reward model {self.name}'s context "
                f"of {self.max_tokens}; shorten the problem to get a reward."
            )
        return base

    @torch.inference_mode()
    def _run(self, sequences: list[Any]) -> list[Any]:
        """Forward all sequences (token id lists, or rows with a length) in right-padded batches,
        longest first; outputs in input order."""
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        outputs: list[Any] = [None] * len(sequences)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            for index, out in zip(chunk, self._forward_chunk([sequences[i] for i in chunk])):
                outputs[index] = out
        return outputs

    def _scalar_scores(self, encoded: Sequence[tuple[Any, bool]]) -> list[Score]:
        """One scalar reward per (model input, truncated) pair, run in batches."""
        totals = self._run([row for row, _ in encoded])
        return [Score(total=float(t), truncated=cut) for t, (_, cut) in zip(totals, encoded)]

    def _forward_chunk(self, rows: list[list[int]]) -> list[Any]:
        """One batch; halves it on CUDA out-of-memory until a single row does not fit."""
        try:
            return self._forward_rows(rows)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(rows) == 1:
                raise OutOfMemoryError(
                    f"Reward model {self.name} ran out of GPU memory on a single {len(rows[0])}-token "
                    "solution; use a smaller reward model or --reward-model none."
                ) from None
            half = len(rows) // 2
            return self._forward_chunk(rows[:half]) + self._forward_chunk(rows[half:])

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.model.parameters()).device
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids.to(device), mask.to(device)

    def _forward_rows(self, rows: list[list[int]]) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str,
        device: str,
        precision: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> _CheckpointScorer:
        """Load a checkpoint directory into this scorer's model class; no remote code."""
        from transformers import AutoTokenizer

        model = _load_weights(cls.model_class, str(path), device, precision)
        tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
        return cls(model, tokenizer, name=name, batch_size=batch_size, precision=precision)


class OutcomeRewardScorer(_CheckpointScorer):
    """Qwen2.5-Math-RM-style outcome reward: one unnormalised scalar per solution."""

    kind = "orm"
    model_class = Qwen2ForRewardModel

    def score(self, problem: str, solutions: Sequence[Solution]) -> list[Score]:
        if not solutions:
            return []
        base = self._check_prefix(problem)
        return self._scalar_scores([self._encode(problem, s.text, base) for s in solutions])

    def _encode(self, problem: str, text: str, base: int) -> tuple[list[int], bool]:
        ids = self._render(problem, text)
        if len(ids) <= self.max_tokens:
            return ids, False
        # Keep the end of the solution (the final answer); re-render, since token boundaries
        # may shift by a token or two after decoding a cut.
        solution_ids = self.tokenizer.encode(text, add_special_tokens=False)
        keep = self.max_tokens - base
        while keep > 0:
            ids = self._render(problem, self.tokenizer.decode(solution_ids[-keep:]))
            if len(ids) <= self.max_tokens:
                return ids, True
            keep -= len(ids) - self.max_tokens
        return self._render(problem, ""), True

    def _forward_rows(self, rows: list[list[int]]) -> list[float]:
        ids, mask = self._pad(rows)
        return self.model(ids, mask).tolist()


class ProcessRewardScorer(_CheckpointScorer):
    """Qwen2.5-Math-PRM-style process reward: a probability per step, total = the minimum."""

    kind = "prm"
    model_class = Qwen2ForProcessRewardModel

    def __init__(self, model: _Qwen2RewardBase, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.step_id = _step_token_id(tokenizer)

    def score(self, problem: str, solutions: Sequence[Solution]) -> list[Score]:
        if not solutions:
            return []
        self._check_prefix(problem)
        steps = [split_steps(s.text) for s in solutions]
        sequences: list[list[int]] = []
        truncated: list[bool] = []
        for parts in steps:
            ids = self._render(problem, "".join(p + STEP_TOKEN for p in parts)) if parts else []
            truncated.append(len(ids) > self.max_tokens)
            sequences.append(ids[: self.max_tokens])
        to_run = [i for i, ids in enumerate(sequences) if ids]
        rewards: list[tuple[float, ...]] = [()] * len(solutions)
        for i, out in zip(to_run, self._run([sequences[i] for i in to_run])):
            rewards[i] = out
        # No scored step (an empty solution): total 0.0, the lowest probability.
        return [
            Score(total=min(r) if r else 0.0, steps=r, truncated=cut) for r, cut in zip(rewards, truncated)
        ]

    def _forward_rows(self, rows: list[list[int]]) -> list[tuple[float, ...]]:
        ids, mask = self._pad(rows)
        probs = torch.softmax(self.model(ids, mask), dim=-1)[..., 1]  # [B, T]
        at_steps = (ids == self.step_id) & mask.bool()
        return [tuple(probs[i][at_steps[i]].tolist()) for i in range(len(rows))]


@dataclass(frozen=True)
class _Row:
    """A likelihood reward model's input: the token ids and where the solution starts."""

    ids: list[int]
    start: int

    def __len__(self) -> int:
        return len(self.ids)


class LikelihoodRewardScorer(_CheckpointScorer):
    """A verifier language model's likelihood of the solution, through a trained head: one
    unnormalised scalar per solution, like an outcome reward model's."""

    kind = "likelihood"
    model_class = Qwen2ForLikelihoodRewardModel

    def __init__(self, model: _Qwen2RewardBase, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        # The chat the verifier was trained on; the policy's own prompt format.
        self.family = getattr(model.config, "prompt_family", None) or QWEN2_MATH
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if not isinstance(end, int) or end == tokenizer.unk_token_id:
            raise RewardModelError(f"The tokenizer of reward model {self.name} has no <|im_end|> token.")
        self.end_id = end

    def _prompt(self, problem: str) -> list[int]:
        prompt = build_prompt(self.tokenizer, problem, self.family)
        if len(prompt) >= self.max_tokens:
            raise RewardModelError(
                f"The problem alone takes {len(prompt)} tokens, more than reward model {self.name}'s context "
                f"of {self.max_tokens}; shorten the problem to get a reward."
            )
        return prompt

    def encode(self, problem: str, text: str, prompt: list[int] | None = None) -> tuple[_Row, bool]:
        """The prompt, the solution's tokens and `<|im_end|>`, cut to the context (and whether it was)."""
        prompt = self._prompt(problem) if prompt is None else prompt
        ids = prompt + list(self.tokenizer.encode(text, add_special_tokens=False)) + [self.end_id]
        return _Row(ids[: self.max_tokens], len(prompt)), len(ids) > self.max_tokens

    def score(self, problem: str, solutions: Sequence[Solution]) -> list[Score]:
        if not solutions:
            return []
        prompt = self._prompt(problem)
        return self._scalar_scores([self.encode(problem, s.text, prompt) for s in solutions])

    def _forward_rows(self, rows: list[_Row]) -> list[float]:
        ids, mask = self._pad([row.ids for row in rows])
        solution = torch.zeros_like(mask)
        for i, row in enumerate(rows):
            solution[i, row.start : len(row.ids)] = 1
        return self.model(ids, mask, solution).tolist()


SCORERS: Mapping[str, Any] = {
    "orm": OutcomeRewardScorer,
    "prm": ProcessRewardScorer,
    "likelihood": LikelihoodRewardScorer,
    "logprob": ConfidenceScorer,
}

ARCHITECTURES: Mapping[str, str] = {
    ORM_ARCHITECTURE: "orm",
    PRM_ARCHITECTURE: "prm",
    LIKELIHOOD_ARCHITECTURE: "likelihood",
}


def _scorer_class(kind: str) -> Any:
    try:
        return SCORERS[kind]
    except KeyError:
        raise RewardModelError(f"Unknown scorer {kind!r}; known: {', '.join(SCORERS)}.") from None


def _model_class(kind: str) -> type[_Qwen2RewardBase]:
    """The module class of a checkpoint kind (`orm`, `prm`, `likelihood`)."""
    scorer = _scorer_class(kind)
    if not hasattr(scorer, "model_class"):
        raise RewardModelError(f"Scorer {kind!r} has no reward model checkpoint.")
    return scorer.model_class


def make_scorer(kind: str, *args: Any, **kwargs: Any) -> RewardScorer:
    """Construct a scorer by its table name (`orm`, `prm`, `likelihood`, `logprob`); unknown
    names raise."""
    return _scorer_class(kind)(*args, **kwargs)


# --- loading -----------------------------------------------------------------------------------


def load_scorer(
    spec: str,
    *,
    device: str,
    precision: str,
    policy_family: str | None = None,
    max_memory_bytes: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[RewardScorer, str | None]:
    """The scorer for `spec`, and the reason when it fell back to confidence (else None).

    `spec`: `none` (no reward model: confidence, with a reason saying so), `logprob`
    (confidence, chosen), `auto` (the policy family's official RM if it is already in the HF
    cache and fits, else the bundled one, else confidence), `bundled`, a local directory, or
    a Hub id. The kind (ORM or PRM) comes from `config.json`'s `architectures`; any other
    architecture raises `RewardModelError`, as does a spec that is none of the above. Hub ids
    are fetched with huggingface_hub, from the local cache only when HF_HUB_OFFLINE is set;
    not found, not fitting (`max_memory_bytes` caps the memory, else a share of what is free),
    no bitsandbytes, or a failed load: the confidence fallback and a reason.
    `device`: auto | cpu | cuda; `precision`: the policy's (auto | nf4 | int8 | bf16 | fp32).
    """
    if precision not in _CUDA_PRECISION:
        raise ConfigError(f"precision must be one of {', '.join(_CUDA_PRECISION)}; got {precision!r}.")
    request = _Request(device, precision, policy_family, max_memory_bytes, batch_size)
    named = _NAMED_SPECS.get(spec.strip().lower())
    if named is not None:
        return named(request)
    return _load_spec(spec.strip(), request)


@dataclass(frozen=True)
class _Request:
    device: str
    precision: str
    policy_family: str | None
    max_memory_bytes: int | None
    batch_size: int


def _fallback(reason: str | None) -> tuple[RewardScorer, str | None]:
    if reason is None:
        return ConfidenceScorer(), None
    message = f"{reason} Ranking by the policy's confidence (mean token log-probability) instead."
    log.warning("%s", message)
    return ConfidenceScorer(), message


def _spec_none(request: _Request) -> tuple[RewardScorer, str | None]:
    return _fallback("No reward model is configured (--reward-model none).")


def _spec_logprob(request: _Request) -> tuple[RewardScorer, str | None]:
    return _fallback(None)


def _spec_bundled(request: _Request) -> tuple[RewardScorer, str | None]:
    if not (BUNDLED_RM_DIR / "config.json").is_file():
        return _fallback(f"The bundled reward model is missing ({BUNDLED_RM_DIR} has no config.json).")
    return _load_local(BUNDLED_RM_DIR, "bundled reward model", request)


def _spec_auto(request: _Request) -> tuple[RewardScorer, str | None]:
    official = FAMILY_REWARD_MODELS.get(request.policy_family or QWEN25_MATH, FAMILY_REWARD_MODELS[QWEN25_MATH])
    bundled = (BUNDLED_RM_DIR / "config.json").is_file()
    if _hub_cached(official):
        scorer, reason = _load_hub(official, request, offline=True)
        if reason is None or not bundled:
            return scorer, reason
    if bundled:
        return _load_local(BUNDLED_RM_DIR, "bundled reward model", request)
    return _fallback(
        f"No reward model is configured: {official} is not in the local Hugging Face cache and "
        "there is no bundled reward model (give one with --reward-model)."
    )


_NAMED_SPECS: Mapping[str, Callable[[_Request], tuple[RewardScorer, str | None]]] = {
    "none": _spec_none,
    "": _spec_none,
    "logprob": _spec_logprob,
    "bundled": _spec_bundled,
    "auto": _spec_auto,
}


def _load_spec(spec: str, request: _Request) -> tuple[RewardScorer, str | None]:
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_local(path, path.resolve().name, request)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        return _fallback(f"Reward model {spec!r} was not found: no such directory.")
    if _HUB_ID.match(spec):
        return _load_hub(spec, request, offline=_hub_offline())
    raise RewardModelError(
        f"Unknown reward model {spec!r}: use none, logprob, auto, bundled, a local directory or a "
        "Hugging Face Hub id such as Qwen/Qwen2.5-Math-RM-72B."
    )


def _read_kind(config_file: Path) -> tuple[str, dict[str, Any]]:
    """(kind, raw config) from `config.json`; a model that is no reward model we know raises."""
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RewardModelError(f"{config_file} is not readable JSON: {exc}") from None
    architectures = raw.get("architectures") or []
    kinds = [ARCHITECTURES[a] for a in architectures if a in ARCHITECTURES]
    if raw.get("model_type") != "qwen2" or not kinds:
        raise RewardModelError(
            f"{config_file.parent} holds a {raw.get('model_type')!r} {', '.join(architectures) or 'model'}, "
            f"not a reward model this app knows ({ORM_ARCHITECTURE}, {PRM_ARCHITECTURE} or "
            f"{LIKELIHOOD_ARCHITECTURE} with model_type qwen2)."
        )
    return kinds[0], raw


def _load_local(path: Path, name: str, request: _Request) -> tuple[RewardScorer, str | None]:
    config_file = path / "config.json"
    if not config_file.is_file():
        return _fallback(f"Reward model {name} was not found: {path} has no config.json.")
    kind, raw = _read_kind(config_file)
    if not any((path / f).is_file() for f in _WEIGHT_FILES):
        return _fallback(f"Reward model {name} has no safetensors weights in {path}.")
    return _load_checked(path, name, kind, raw, request)


def _load_checked(
    path: Path, name: str, kind: str, raw: dict[str, Any], request: _Request
) -> tuple[RewardScorer, str | None]:
    """Choose device and precision, check the memory, then load; failures fall back."""
    device = _resolve_device(request.device)
    if device is None:
        return _fallback(f"Reward model {name} was asked for on CUDA, but no CUDA GPU is visible.")
    precision, reason = plan_precision(name, raw, device, request.precision, request.max_memory_bytes, kind)
    if precision is None:
        return _fallback(reason)
    cls = _scorer_class(kind)
    try:
        scorer = cls.load(path, name=name, device=device, precision=precision, batch_size=request.batch_size)
    except RewardModelError as exc:
        return _fallback(f"Reward model {name} cannot be used: {exc}")
    except (*_LOAD_ERRORS, _safetensors_error()) as exc:
        return _fallback(f"Reward model {name} failed to load ({type(exc).__name__}: {_first_line(exc)}).")
    log.info("reward model %s (%s) loaded on %s in %s", name, kind, device, precision)
    return scorer, None


def _load_hub(repo_id: str, request: _Request, *, offline: bool) -> tuple[RewardScorer, str | None]:
    """Config first (kind and memory are known before any weight is fetched), then the rest."""
    from huggingface_hub import hf_hub_download, snapshot_download

    name = repo_id.split("/")[-1]
    where = "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "the Hugging Face Hub"
    try:
        config_file = Path(hf_hub_download(repo_id, "config.json", local_files_only=offline))
    except (OSError, ValueError) as exc:
        return _fallback(f"Reward model {repo_id} could not be had from {where} ({_first_line(exc)}).")
    kind, raw = _read_kind(config_file)
    device = _resolve_device(request.device)
    if device is None:
        return _fallback(f"Reward model {name} was asked for on CUDA, but no CUDA GPU is visible.")
    precision, reason = plan_precision(name, raw, device, request.precision, request.max_memory_bytes, kind)
    if precision is None:
        return _fallback(reason)
    try:
        path = Path(snapshot_download(repo_id, allow_patterns=_HUB_PATTERNS, local_files_only=offline))
    except (OSError, ValueError) as exc:
        return _fallback(f"Reward model {repo_id} could not be had from {where} ({_first_line(exc)}).")
    return _load_local(path, name, request)


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _resolve_device(requested: str) -> str | None:
    """`auto` -> cuda when visible, else cpu; `cuda` without a GPU -> None (the caller falls back)."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda; got {requested!r}.")
    if requested == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    return "cpu" if requested == "auto" else None


def parameter_split(raw: Mapping[str, Any], labels: int) -> tuple[int, int]:
    """(trunk Linear parameters, everything else) of a Qwen2 reward model, from its config."""
    hidden = int(raw["hidden_size"])
    layers = int(raw["num_hidden_layers"])
    heads = int(raw["num_attention_heads"])
    kv_heads = int(raw.get("num_key_value_heads") or heads)
    head_dim = int(raw.get("head_dim") or hidden // heads)
    inter = int(raw["intermediate_size"])
    vocab = int(raw["vocab_size"])
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    attention_bias = heads * head_dim + 2 * kv_heads * head_dim
    linear = layers * (attention + 3 * hidden * inter)
    other = vocab * hidden + layers * (2 * hidden + attention_bias) + hidden
    other += hidden * hidden + hidden + hidden * labels + labels  # the score head
    if LIKELIHOOD_ARCHITECTURE in (raw.get("architectures") or []) and not raw.get("tie_word_embeddings", False):
        linear += vocab * hidden  # a verifier LM's own output layer
    return linear, other


def estimate_rm_bytes(raw: Mapping[str, Any], precision: str, labels: int = 1) -> int:
    """Memory the weights take at `precision`, from the config alone."""
    linear, other = parameter_split(raw, labels)
    return int(linear * _LINEAR_BYTES[precision] + other * _OTHER_BYTES[precision])


def plan_precision(
    name: str,
    raw: Mapping[str, Any],
    device: str,
    policy_precision: str,
    max_memory_bytes: int | None,
    kind: str = "orm",
) -> tuple[str | None, str | None]:
    """(precision, None), or (None, reason) when the reward model cannot run here.

    CPU: fp32. CUDA: the policy's quantization (nf4/int8), else bf16; NF4 when that does not fit.
    """
    labels = _model_class(kind).labels
    if device == "cpu":
        candidates = ["fp32"]
    else:
        first = _CUDA_PRECISION[policy_precision]
        candidates = [first] if first == "nf4" else [first, "nf4"]
    budget = max_memory_bytes if max_memory_bytes is not None else _free_memory(device)
    where = "GPU memory" if device == "cuda" else "RAM"
    reasons: list[str] = []
    too_big = True
    for precision in candidates:
        need = estimate_rm_bytes(raw, precision, labels) + RM_HEADROOM_BYTES
        if precision in _QUANTIZED and importlib.util.find_spec("bitsandbytes") is None:
            reasons.append(f"{precision} needs bitsandbytes, which is not installed (pip install bitsandbytes)")
            too_big = False
            continue
        if budget is None or need <= budget:
            return precision, None
        reasons.append(f"needs about {_gib(need)} in {precision} but only {_gib(budget)} of {where} is available to it")
    verdict = "does not fit" if too_big else "cannot run here"
    return None, f"Reward model {name} {verdict}: {'; '.join(reasons)}."


def _free_memory(device: str) -> int | None:
    """The share of free memory a reward model may use; None when it cannot be read."""
    if device == "cuda":
        free, _total = torch.cuda.mem_get_info()
        return int(free * RM_MEMORY_FRACTION)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * RM_MEMORY_FRACTION)
    except OSError:
        return None
    return None


def _load_weights(cls: type[_Qwen2RewardBase], path: str, device: str, precision: str) -> _Qwen2RewardBase:
    """from_pretrained into our own class: fp32 on CPU; bf16, or a bitsandbytes trunk, on CUDA."""
    import transformers

    # LLM.int8 computes in fp16 (bitsandbytes casts bf16 inputs, warning on every call).
    dtype = {"fp32": torch.float32, "int8": torch.float16}.get(precision, torch.bfloat16)
    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs: dict[str, Any] = {dtype_key: dtype}
    if device == "cuda":
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if precision in _QUANTIZED:
        from transformers import BitsAndBytesConfig

        # The head stays in bf16: it is small and its output is the score itself.
        if precision == "nf4":
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_compute_dtype=torch.bfloat16,
                llm_int8_skip_modules=["score"],
            )
        else:
            kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=["score"])
    model = cls.from_pretrained(path, **kwargs)
    model.requires_grad_(False)
    return model.eval()


def _safetensors_error() -> type[BaseException]:
    from safetensors import SafetensorError

    return SafetensorError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _gib(count: float) -> str:
    return f"{count / 1024**3:.1f} GiB"

