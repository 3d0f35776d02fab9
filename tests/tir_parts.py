"""Parts for the tool-integrated reasoning tests: a model that writes a Python cell, code runners
that answer at once or hold a run until released, and a hook that makes one slot of the real
decode step say a given text (teacher forcing) while recording what the step computed.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.crafted import build_scripted_model

CELL = "```python\nprint(6 * 7)\n```\n"
SCRIPT = "Let me compute." + CELL + "```output"


def build_coding_model(tokenizer: Any, path: Path) -> Path:
    """A scripted model (`tests.crafted`) that writes "Let me compute.", a cell printing 6 * 7 and
    the output fence, then stops; after an output block (which ends in a newline, where prompts
    end too) it starts over, so a tool-integrated row runs its cell until the limit. The pieces
    are added tokens, so the script repeats none. A server reads the row's text again as one
    string, whose output block may end in another token ("```" and the newline merged): that
    token starts the script over too."""
    import torch
    from transformers import Qwen2ForCausalLM

    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.add_tokens(["Let me compute.", CELL, "```output"])
    build_scripted_model(tokenizer, SCRIPT, path, loop=False)
    model = Qwen2ForCausalLM.from_pretrained(path)
    first = tokenizer.encode(SCRIPT, add_special_tokens=False)[0]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    last = tokenizer.encode(SCRIPT + "\n42\n```\n", add_special_tokens=False)[-1]
    with torch.no_grad():
        embedding = model.model.embed_tokens.weight[last]
        if model.lm_head.weight[first] @ embedding < 0.5:  # not mapped to the script's start yet
            model.lm_head.weight[first] += embedding
            model.lm_head.weight[im_end] -= embedding
    model.save_pretrained(path)
    return path


@dataclass
class Ran:
    """What a runner returns: the fields the model layer reads of `sandbox.RunResult`."""

    output: str
    ok: bool = True
    elapsed_s: float = 0.001


class Runner:
    """Answers every run with `output` (the last cell's text when None); `hold` keeps the first
    run waiting until `release()`; records the cells of every run."""

    def __init__(self, output: str | None = "42", *, hold: bool = False) -> None:
        self.output = output
        self.runs: list[list[str]] = []
        self.started = threading.Event()
        self.released = threading.Event()
        if not hold:
            self.released.set()

    def run(self, cells, *, timeout_s=None) -> Ran:
        self.runs.append(list(cells))
        self.started.set()
        self.released.wait(30)
        return Ran(self.output if self.output is not None else cells[-1].strip())

    def release(self) -> None:
        self.released.set()


class Forcing:
    """Makes the row in slot `slot` draw `script` (token ids) first, then decode freely, and
    records (token, log-prob) of that slot for every choice the SlotModel makes afterwards
    (first tokens after a prompt or a tool's output, and steps)."""

    def __init__(self, slots: Any, script: list[int], slot: int = 0) -> None:
        self.slots, self.script, self.slot = slots, list(script), slot
        self.seen: list[tuple[int, float]] = []
        self._first, self._step = slots._first_tokens, slots.step
        slots._first_tokens, slots.step = self._first_tokens, self.step_

    def _take(self, tokens: list[int], logprobs: list[float], index: int) -> None:
        if self.script:
            tokens[index] = self.script.pop(0)
            self.slots.tokens[self.slot] = tokens[index]
        else:
            self.seen.append((tokens[index], logprobs[index]))

    def _first_tokens(self, logits, start, length, settings, step=0):
        tokens, logprobs = self._first(logits, start, length, settings, step)
        if start == self.slot:
            self._take(tokens, logprobs, 0)
        return tokens, logprobs

    def step_(self, rows, groups, sampling=True):
        tokens, logprobs = self._step(rows, groups, sampling)
        if any(start <= self.slot < start + size for start, size, _ in groups):
            self._take(tokens, logprobs, self.slot)
        return tokens, logprobs

    def undo(self) -> None:
        self.slots._first_tokens, self.slots.step = self._first, self._step


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False
