"""Shared fixtures: tiny Qwen2 models and tokenizers built locally, isolated temp folders.

Nothing here touches the network. The tiny tokenizer is trained once per test session on a
small corpus of math-like text and carries Qwen2's ChatML special tokens and chat template.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Never reach for the Hub from a test, whatever the machine can do.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

TINY_CORPUS = [
    "Tom has 12 apples and buys 7 more. 12 + 7 = 19. The answer is \\boxed{19}.",
    "Solve for $x$: $2x + 3 = 11$. Subtract 3: $2x = 8$, so $x = 4$. \\boxed{4}",
    "The area is \\( \\frac{1}{2} b h = \\frac{1}{2} \\cdot 6 \\cdot 4 = 12 \\). \\[ A = 12 \\]",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "You are a helpful assistant. What is the sum of 3 and 5? 3 + 5 = 8.",
    "Ünïcödé ✓ π ≈ 3.14159, √2, ∑, 数学, emoji 🙂 and more text.",
]


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A small byte-level BPE tokenizer with Qwen2's special tokens and chat template."""
    from training.tiny import train_tokenizer

    return train_tokenizer(TINY_CORPUS * 20, vocab_size=400)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """A saved tiny random Qwen2ForCausalLM + tokenizer, loadable with from_pretrained."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    from training.tiny import tiny_qwen2_config

    path = tmp_path_factory.mktemp("tiny-qwen2-math")
    stop_ids = [tiny_tokenizer.convert_tokens_to_ids("<|im_end|>"), tiny_tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    config = tiny_qwen2_config(len(tiny_tokenizer), eos_token_id=stop_ids)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=stop_ids, pad_token_id=stop_ids[1])
    model.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


@pytest.fixture()
def tmp_db_url(tmp_path) -> str:
    """A SQLAlchemy URL for a fresh SQLite file in this test's own folder."""
    return f"sqlite:///{tmp_path / 'log' / 'mathapp.sqlite3'}"
