"""Incremental, UTF-8-safe detokenization: one decoder per streamed row.

Byte-level BPE splits a multi-byte character (é, π, 🙂) across tokens; decoding a prefix that
ends inside such a character yields U+FFFD. The decoder holds text back until the character is
complete, so the deltas a row emits always join to exactly the text of its tokens.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    """Turns a stream of token ids into a stream of text deltas.

    Keeps two offsets into the ids (as text-generation servers do): text before
    `prefix_offset` is already emitted and never re-decoded; `read_offset` marks where the
    last emitted delta ended. Each push decodes only the short window after `prefix_offset`.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._emitted: list[str] = []

    @property
    def ids(self) -> list[int]:
        return self._ids

    @property
    def text(self) -> str:
        """All text emitted so far."""
        return "".join(self._emitted)

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes (possibly empty)."""
        self._ids.append(token_id)
        prefix_text = self._decode(self._ids[self._prefix_offset : self._read_offset])
        new_text = self._decode(self._ids[self._prefix_offset :])
        if len(new_text) > len(prefix_text) and not new_text.endswith(REPLACEMENT):
            delta = new_text[len(prefix_text) :]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
            self._emitted.append(delta)
            return delta
        return ""

    def flush(self) -> str:
        """Emit whatever is held back (at the end of a row, an incomplete character stays U+FFFD)."""
        prefix_text = self._decode(self._ids[self._prefix_offset : self._read_offset])
        new_text = self._decode(self._ids[self._prefix_offset :])
        delta = new_text[len(prefix_text) :] if len(new_text) > len(prefix_text) else ""
        self._prefix_offset = self._read_offset = len(self._ids)
        if delta:
            self._emitted.append(delta)
        return delta
