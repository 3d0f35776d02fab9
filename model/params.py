"""Decoding settings of one request (`SamplingParams`) and the model layer's limits and names.

`SamplingParams` validates itself with the same rules and messages as the app's settings
(`settings.AppConfig`), so the UI, the evaluation command and the tests share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from model.errors import ConfigError

BUNDLED_MODEL = "bundled"

# Size aliases accepted by --model; the Qwen2.5-Math successors load the same way.
MODEL_ALIASES: Mapping[str, str] = {
    "1.5b": "Qwen/Qwen2-Math-1.5B-Instruct",
    "7b": "Qwen/Qwen2-Math-7B-Instruct",
    "72b": "Qwen/Qwen2-Math-72B-Instruct",
    "2.5-1.5b": "Qwen/Qwen2.5-Math-1.5B-Instruct",
    "2.5-7b": "Qwen/Qwen2.5-Math-7B-Instruct",
    "2.5-72b": "Qwen/Qwen2.5-Math-72B-Instruct",
}

PRECISIONS = ("auto", "nf4", "int8", "bf16", "fp32")
DEVICES = ("auto", "cpu", "cuda")
PROMPT_FAMILIES = ("auto", "qwen2-math", "qwen2.5-math")

MAX_SAMPLES = 64
# Qwen2-Math has a 4K context; nothing in this app asks for more than that.
MAX_CONTEXT = 4096
# Qwen's evaluation budget for chain-of-thought.
DEFAULT_MAX_NEW_TOKENS_GPU = 2048
# On a CPU a 1.5B model writes a few tokens a second; keep a first run to minutes.
DEFAULT_MAX_NEW_TOKENS_CPU = 1024


def resolve_model_alias(name: str) -> str:
    """Map a size alias (`1.5b`, `7b`, `72b`, `2.5-7b`, ...) to its Hub id; anything else unchanged."""
    return MODEL_ALIASES.get(name.strip().lower(), name.strip())


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings for one request.

    `n` sampled solutions are drawn at `temperature`/`top_p` in one batch; `include_greedy`
    adds the greedy (temperature 0) solution as row 0 of the same batch. `seed=None` draws a
    fresh seed, which the result records so the run can be reproduced. `tir`: reasoning with
    Python (tool-integrated: the model's code runs in the sandbox), for every row.
    """

    n: int = 8
    temperature: float = 1.0
    top_p: float = 0.9
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS_GPU
    seed: int | None = None
    include_greedy: bool = True
    tir: bool = False

    def __post_init__(self) -> None:
        check_int("n (number of samples)", self.n, 0, MAX_SAMPLES)
        check_float("temperature", self.temperature, 0.0, 2.0)
        check_float("top_p", self.top_p, 0.0, 1.0, low_inclusive=False)
        check_int("max_new_tokens", self.max_new_tokens, 1, MAX_CONTEXT)
        if self.seed is not None:
            check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.tir, bool):
            raise ConfigError(f"tir (reasoning with Python) must be true or false; got {self.tir!r}.")
        if self.n == 0 and not self.include_greedy:
            raise ConfigError("Nothing to generate: ask for the greedy solution or at least one sample.")

    @property
    def rows(self) -> int:
        """How many sequences the batch decodes."""
        return self.n + (1 if self.include_greedy else 0)


def check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")


def check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number; got {value!r}.")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}; got {value}.")


def check_float(
    name: str, value: object, low: float, high: float, *, low_inclusive: bool = True
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number; got {value!r}.")
    if value != value:  # NaN
        raise ConfigError(f"{name} must be a number; got NaN.")
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        bracket = "[" if low_inclusive else "("
        raise ConfigError(f"{name} must be in {bracket}{low}, {high}]; got {value}.")


class EngineSettings(Protocol):
    """What the model layer reads of the app's settings (`settings.AppConfig` has all of it):
    which model and reward model to load, how, where, and how to reach a server."""

    @property
    def model_id(self) -> str: ...
    @property
    def backend(self) -> str: ...

    prompt_family: str
    precision: str
    device: str
    fallback_to_bundled: bool
    reward_model: str
    max_problem_chars: int
    context_length: int | None
    max_queue: int
    max_batch_rows: int | None
    cuda_graphs: bool
    server_url: str | None
    server_model: str | None
    server_timeout: float
    tokenizer: str | None
    server_api_key: str | None
