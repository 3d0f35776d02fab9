"""Follow-up conversations about one solution: the chat sent to the model, fitted to its context.

A student asks about a solution in front of them. The model sees, through the tokenizer's own
chat template (`model.prompts.chat_prompt_ids`):

    system     the family's system prompt, as for the solve (`build_messages`)
    user       the problem, exactly as the solve prompt put it
    assistant  the solution asked about (greedy or one sample), as the model wrote it
    user / assistant   the earlier questions and answers about that solution, oldest first
    user       the new question
    assistant header   (the generation prompt: the model answers next)

The prompt may take the context length minus the follow-up's token budget. When the
conversation outgrows that, `fit_conversation`, in this order:
1. leaves out the oldest earlier exchanges (question + answer together), keeping the system
   prompt, the problem, the solution and the latest exchanges, and counts them
   (`dropped_exchanges`);
2. when even the problem, the whole solution and the question do not fit, cuts the middle of
   the solution, keeping its first two thirds and last third of what fits, with a marker
   saying how many tokens are left out (`solution_tokens_cut`): a student mostly asks about a
   step or the final answer, and a solution that long is usually a loop;
3. when the problem and the question leave no room for `MIN_SOLUTION_TOKENS` of the
   solution, raises `PromptTooLongError` asking for a shorter question.
Pure: the Solver (`Solver.prepare_follow_up`) validates the question and runs the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from model.errors import PromptTooLongError
from model.prompts import build_messages, chat_prompt_ids, chat_prompt_text

# The least of the solution worth showing the model when its middle has to be cut.
MIN_SOLUTION_TOKENS = 64
# When cutting, the share of the kept solution tokens taken from its start (the rest: its end).
HEAD_SHARE = 2 / 3


class Exchange(NamedTuple):
    """One earlier follow-up: the student's question and the model's answer.

    A plain `(question, answer)` tuple is one too (`AttemptDetail.exchanges` gives those).
    """

    question: str
    answer: str


def cut_marker(tokens: int) -> str:
    """What replaces the middle of a solution too long for the context."""
    return f"\n\n[... {tokens:,} tokens of this solution are left out here to fit the model's context ...]\n\n"


def conversation_messages(
    family: str, problem: str, solution: str, earlier: Iterable[tuple[str, str]], question: str
) -> list[dict[str, str]]:
    """The chat messages of a follow-up, in order (see the module docstring)."""
    messages = build_messages(problem, family)
    messages.append({"role": "assistant", "content": solution})
    for asked, answered in earlier:
        messages.append({"role": "user", "content": asked})
        messages.append({"role": "assistant", "content": answered})
    messages.append({"role": "user", "content": question})
    return messages


@dataclass(frozen=True)
class ConversationPrompt:
    """A follow-up conversation as the model gets it.

    `messages` are those sent (after any fitting), `text` and `ids` the rendered prompt;
    `dropped_exchanges` counts the oldest earlier exchanges left out and `solution_tokens_cut`
    the solution's tokens left out of its middle (0: the whole solution is there).
    """

    messages: tuple[dict[str, str], ...]
    text: str
    ids: tuple[int, ...]
    dropped_exchanges: int = 0
    solution_tokens_cut: int = 0

    @property
    def notice(self) -> str | None:
        """A sentence for the page when the model does not see the whole conversation, else None."""
        parts = []
        if self.dropped_exchanges:
            count = self.dropped_exchanges
            what = "question and its answer" if count == 1 else f"{count} questions and their answers"
            parts.append(f"The conversation outgrew the model's context: the oldest {what} were left out.")
        if self.solution_tokens_cut:
            parts.append(
                f"The solution is too long to send whole: {self.solution_tokens_cut:,} tokens from its "
                "middle were left out."
            )
        return " ".join(parts) or None


def fit_conversation(
    tokenizer: Any,
    family: str,
    problem: str,
    solution: str,
    earlier: Sequence[tuple[str, str]],
    question: str,
    max_prompt_tokens: int,
) -> ConversationPrompt:
    """The follow-up prompt, fitted to `max_prompt_tokens` as the module docstring says."""
    earlier = [Exchange(*pair) for pair in earlier]
    for dropped in range(len(earlier) + 1):
        messages = conversation_messages(family, problem, solution, earlier[dropped:], question)
        ids = chat_prompt_ids(tokenizer, messages)
        if len(ids) <= max_prompt_tokens:
            return _prompt(tokenizer, messages, ids, dropped, 0)
    return _cut_solution(tokenizer, family, problem, solution, question, max_prompt_tokens, len(earlier))


def _cut_solution(
    tokenizer: Any, family: str, problem: str, solution: str, question: str, max_prompt_tokens: int, dropped: int
) -> ConversationPrompt:
    solution_ids = tokenizer.encode(solution, add_special_tokens=False)
    around = chat_prompt_ids(tokenizer, conversation_messages(family, problem, cut_marker(len(solution_ids)), [], question))
    keep = min(max_prompt_tokens - len(around), len(solution_ids) - 1)
    # Re-tokenising the cut text can merge differently at the seams: shrink by the excess, a few times.
    for _ in range(8):
        if keep < MIN_SOLUTION_TOKENS:
            break
        head = round(keep * HEAD_SHARE)
        cut = len(solution_ids) - keep
        # A seam inside a multi-byte character decodes to U+FFFD: leave the broken piece out.
        text = (
            tokenizer.decode(solution_ids[:head]).rstrip("\ufffd")
            + cut_marker(cut)
            + tokenizer.decode(solution_ids[len(solution_ids) - (keep - head):]).lstrip("\ufffd")
        )
        messages = conversation_messages(family, problem, text, [], question)
        ids = chat_prompt_ids(tokenizer, messages)
        excess = len(ids) - max_prompt_tokens
        if excess <= 0:
            return _prompt(tokenizer, messages, ids, dropped, cut)
        keep -= excess
    raise PromptTooLongError(
        f"The problem and your question take {len(around):,} tokens with the prompt, which leaves no room "
        f"for the solution within the {max_prompt_tokens:,} tokens a follow-up may use (the model's context "
        "less the answer's budget). Shorten the question."
    )


def _prompt(tokenizer: Any, messages: list[dict[str, str]], ids: list[int], dropped: int, cut: int) -> ConversationPrompt:
    return ConversationPrompt(
        messages=tuple(messages),
        text=chat_prompt_text(tokenizer, messages),
        ids=tuple(ids),
        dropped_exchanges=dropped,
        solution_tokens_cut=cut,
    )


__all__ = [
    "HEAD_SHARE",
    "MIN_SOLUTION_TOKENS",
    "ConversationPrompt",
    "Exchange",
    "conversation_messages",
    "cut_marker",
    "fit_conversation",
]
