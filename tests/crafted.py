"""Hand-built Qwen2 models whose next token is a known function of the current token.

All attention and MLP outputs are zeroed, so the last hidden state is the current token's
embedding. Embeddings are orthonormal rows (hidden >= vocab), and `lm_head` row j is the sum of
the embeddings of the tokens that should be followed by j. The argmax, and with a logit gap of
sqrt(hidden) practically every sample, follows the map exactly. That gives real models that
say a fixed sentence and stop, or say it forever, for testing stop tokens, the repetition guard
and cancellation through the real engine.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GenerationConfig, Qwen2ForCausalLM

from training.tiny import tiny_qwen2_config


def build_scripted_model(tokenizer, text: str, path: Path, *, loop: bool) -> Path:
    """Save a model that answers any prompt with `text`, then stops (or repeats it if `loop`)."""
    vocab = len(tokenizer)
    hidden = 1 << (vocab - 1).bit_length()  # a power of two >= vocab, so rows can be orthonormal
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    endoftext = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    script = tokenizer.encode(text, add_special_tokens=False)
    if len(set(script)) != len(script):
        raise ValueError("the scripted text must not repeat a token (the map would be ambiguous)")
    prompt_end = tokenizer.encode("\n", add_special_tokens=False)[-1]  # prompts end "assistant\n"
    if prompt_end in script:
        raise ValueError("the scripted text must not contain a newline token")

    follows = {i: im_end for i in range(vocab)}
    follows[prompt_end] = script[0]
    for current, following in zip(script, script[1:]):
        follows[current] = following
    follows[script[-1]] = script[0] if loop else im_end

    config = tiny_qwen2_config(
        vocab, hidden_size=hidden, layers=1, heads=4, kv_heads=2, intermediate_size=16,
        eos_token_id=[im_end, endoftext], tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        embeddings = torch.linalg.qr(torch.randn(hidden, hidden, generator=torch.Generator().manual_seed(0)))[0][:vocab]
        model.model.embed_tokens.weight.copy_(embeddings)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.zeros(vocab, hidden)
        for current, following in follows.items():
            head[following] += embeddings[current]
        model.lm_head.weight.copy_(head)
    model.generation_config = GenerationConfig(eos_token_id=[im_end, endoftext], pad_token_id=endoftext)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
