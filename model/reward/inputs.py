"""What a reward model reads: the chat it was trained on, a solution's steps, the step token.

The scorers (`model.reward.scorers`) tokenize these; the bundled reward model's trainer
builds its training inputs with the same `rm_messages`.
"""

from __future__ import annotations

import re
from typing import Any

from model.errors import RewardModelError
from model.prompts import BOXED_INSTRUCTION, QWEN2_MATH, QWEN25_MATH

# Qwen2.5-Math-PRM's step separator (id 151651 in its tokenizer).
STEP_TOKEN = "<extra_0>"
_BLANK_LINE = re.compile(r"\n\s*\n")


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


def rm_format_of(name: str) -> str:
    """Qwen2-Math-RM checkpoints read the Qwen2-Math chat; everything else Qwen2.5-Math's."""
    return QWEN2_MATH if "qwen2-math-rm" in name.lower().replace("_", "-") else QWEN25_MATH


def step_token_id(tokenizer: Any) -> int:
    """The id of `STEP_TOKEN`; a tokenizer without it as one token (not a PRM's) raises."""
    ids = tokenizer.encode(STEP_TOKEN, add_special_tokens=False)
    if len(ids) != 1:
        raise RewardModelError(
            f"This process reward model's tokenizer has no single {STEP_TOKEN} token (it encodes to "
            f"{len(ids)} tokens); Qwen2.5-Math-PRM checkpoints ship one. Is this a PRM tokenizer?"
        )
    return int(ids[0])


