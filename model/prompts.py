"""Prompts exactly as Qwen evaluates its math models, built with the tokenizer's chat template.

Qwen2-Math-Instruct ("qwen-boxed"): system `You are a helpful assistant.`, user
`{problem}\\nPlease reason step by step, and put your final answer within \\boxed{}.`
Qwen2.5-Math-Instruct: system `Please reason step by step, and put your final answer within
\\boxed{}.`, user = the bare problem. Both are ChatML (`<|im_start|>role\\n...<|im_end|>\\n`),
rendered by the tokenizer's own template, never by hand.

Tool-integrated reasoning (`tir=True`, any family): system `Please integrate natural language
reasoning with programs to solve the problem above, and put your final answer within
\\boxed{}.`, user = the bare problem (Qwen2.5-Math-Instruct's "tool-integrated" format).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from model.errors import ConfigError, NotACausalLMError

QWEN2_MATH = "qwen2-math"
QWEN25_MATH = "qwen2.5-math"

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
TIR_INSTRUCTION = (
    "Please integrate natural language reasoning with programs to solve the problem above, "
    "and put your final answer within \\boxed{}."
)

# ChatML stop tokens, by text; their ids come from the tokenizer (151645 and 151643 in Qwen2).
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")

# (temperature, top_p) Qwen reports for sampling each family.
_SAMPLING_DEFAULTS: Mapping[str, tuple[float, float]] = {
    QWEN2_MATH: (1.0, 0.9),
    QWEN25_MATH: (0.7, 0.8),
}


def build_messages(problem: str, family: str, tir: bool = False) -> list[dict[str, str]]:
    """The chat messages for one problem, in the family's evaluation format (`tir`: the
    tool-integrated format, whatever the family)."""
    if family not in _SAMPLING_DEFAULTS:
        raise ConfigError(f"Unknown prompt family {family!r}; use {QWEN2_MATH} or {QWEN25_MATH}.")
    if tir:
        return [
            {"role": "system", "content": TIR_INSTRUCTION},
            {"role": "user", "content": problem},
        ]
    if family == QWEN2_MATH:
        return [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"{problem}\n{BOXED_INSTRUCTION}"},
        ]
    return [
        {"role": "system", "content": BOXED_INSTRUCTION},
        {"role": "user", "content": problem},
    ]


def build_prompt(tokenizer: Any, problem: str, family: str, tir: bool = False) -> list[int]:
    """Token ids of the prompt, ending with the assistant header so the model answers next."""
    return chat_prompt_ids(tokenizer, build_messages(problem, family, tir))


def render_prompt(tokenizer: Any, problem: str, family: str, tir: bool = False) -> str:
    """The prompt as text (for display, logs and tests)."""
    return chat_prompt_text(tokenizer, build_messages(problem, family, tir))


def chat_prompt_ids(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """Token ids of any chat through the tokenizer's own template, ending with the assistant
    header (the solve prompt and the follow-up conversations of `model.conversation`)."""
    if not getattr(tokenizer, "chat_template", None):
        raise NotACausalLMError(
            "This tokenizer has no chat template; Qwen2-Math-Instruct checkpoints ship one. "
            "Is this a base (non-Instruct) model?"
        )
    ids = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    # transformers 5 returns a BatchEncoding from apply_chat_template(tokenize=True).
    if hasattr(ids, "keys") and "input_ids" in ids:
        ids = ids["input_ids"]
    return list(ids)


def chat_prompt_text(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """The same chat as text: what a server backend sends."""
    return tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)


def detect_family(model_name: str, tokenizer: Any | None = None, override: str = "auto") -> str:
    """Which prompt format a model was trained with.

    An explicit override wins. Otherwise the name decides (`Qwen2.5-Math` vs `Qwen2-Math`);
    for a local directory with an uninformative name, the tokenizer does: Qwen2.5's carries
    tool-call and fill-in-the-middle tokens that Qwen2's lacks.
    """
    if override != "auto":
        if override not in _SAMPLING_DEFAULTS:
            raise ConfigError(f"Unknown prompt family {override!r}; use {QWEN2_MATH} or {QWEN25_MATH}.")
        return override
    lowered = model_name.lower().replace("_", "-")
    if "qwen2.5" in lowered or "qwen2-5" in lowered:
        return QWEN25_MATH
    if "qwen2" in lowered:
        return QWEN2_MATH
    if tokenizer is not None:
        vocab = tokenizer.get_vocab()
        if "<tool_call>" in vocab or "<|fim_prefix|>" in vocab:
            return QWEN25_MATH
    return QWEN2_MATH


def family_sampling_defaults(family: str) -> tuple[float, float]:
    """(temperature, top_p) that Qwen used when sampling this family."""
    try:
        return _SAMPLING_DEFAULTS[family]
    except KeyError:
        raise ConfigError(f"Unknown prompt family {family!r}.") from None


def stop_token_ids(tokenizer: Any, generation_eos: int | list[int] | None = None) -> list[int]:
    """Ids that end a solution: `<|im_end|>`, `<|endoftext|>` and the checkpoint's own eos ids."""
    ids: set[int] = set()
    vocab = tokenizer.get_vocab()
    for text in STOP_TOKENS:
        if text in vocab:
            ids.add(int(vocab[text]))
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if isinstance(generation_eos, int):
        ids.add(generation_eos)
    elif generation_eos:
        ids.update(int(i) for i in generation_eos)
    if not ids:
        raise NotACausalLMError("The tokenizer has no end-of-turn token (<|im_end|>); not a chat model.")
    return sorted(ids)
