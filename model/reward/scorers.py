"""The reward scorers: outcome, process and likelihood reward models behind one protocol.

Each follows `judgements.ranking.RewardScorer` (`score(problem, solutions) -> list[Score]`), batches
its inputs, guards the model's context, and is dispatched by name through `SCORERS` /
`make_scorer` (`logprob` is `judgements.ranking.ConfidenceScorer`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model.errors import ConfigError, OutOfMemoryError, RewardModelError
from model.prompts import QWEN2_MATH, build_prompt
from judgements.ranking import ConfidenceScorer, RewardScorer, Score
from model.reward.checkpoint import load_weights
from model.reward.inputs import (
    STEP_TOKEN,
    rm_format_of,
    rm_messages,
    split_steps,
    step_token_id,
)
from model.reward.modules import (
    Qwen2ForLikelihoodRewardModel,
    Qwen2ForProcessRewardModel,
    Qwen2ForRewardModel,
    Qwen2RewardBase,
)
from judgements.solution import Solution

DEFAULT_BATCH_SIZE = 8


class _CheckpointScorer:
    """Shared by the checkpoint scorers: chat rendering, batching, the context guard."""

    label = "reward"
    kind = ""
    model_class: type[Qwen2RewardBase] = Qwen2RewardBase

    def __init__(
        self,
        model: Qwen2RewardBase,
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
        self.rm_format = rm_format or rm_format_of(name)
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

        model = load_weights(cls.model_class, str(path), device, precision)
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

    def __init__(self, model: Qwen2RewardBase, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.step_id = step_token_id(tokenizer)

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
class _RewardInput:
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

    def __init__(self, model: Qwen2RewardBase, tokenizer: Any, **kwargs: Any) -> None:
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

    def encode(self, problem: str, text: str, prompt: list[int] | None = None) -> tuple[_RewardInput, bool]:
        """The prompt, the solution's tokens and `<|im_end|>`, cut to the context (and whether it was)."""
        prompt = self._prompt(problem) if prompt is None else prompt
        ids = prompt + list(self.tokenizer.encode(text, add_special_tokens=False)) + [self.end_id]
        return _RewardInput(ids[: self.max_tokens], len(prompt)), len(ids) > self.max_tokens

    def score(self, problem: str, solutions: Sequence[Solution]) -> list[Score]:
        if not solutions:
            return []
        prompt = self._prompt(problem)
        return self._scalar_scores([self.encode(problem, s.text, prompt) for s in solutions])

    def _forward_rows(self, rows: list[_RewardInput]) -> list[float]:
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


def scorer_class(kind: str) -> Any:
    """The scorer class of a table name; unknown names raise `RewardModelError`."""
    try:
        return SCORERS[kind]
    except KeyError:
        raise RewardModelError(f"Unknown scorer {kind!r}; known: {', '.join(SCORERS)}.") from None


def make_scorer(kind: str, *args: Any, **kwargs: Any) -> RewardScorer:
    """Construct a scorer by its table name (`orm`, `prm`, `likelihood`, `logprob`); unknown
    names raise."""
    return scorer_class(kind)(*args, **kwargs)

