"""The bounds on all answer work: input sizes, number sizes, time budgets, cache sizes.

Why each exists, and what happens at each bound, is in docs/answers.md ("Bounded work").
"""

from __future__ import annotations

MAX_TEXT_CHARS = 200_000
"""Text longer than this is cut (keeping its end, where the answer is) before extraction."""

MAX_NORMALIZE_CHARS = 2_000
"""Answers longer than this get a whitespace-collapsed key and no further normalisation."""

MAX_SYMPY_CHARS = 300
"""Scalar answers with a longer key are compared by key only, never parsed by sympy."""

MAX_RESULT_BITS = 1 << 20
"""Largest number (in bits, about 315,000 digits) that an expression may make sympy compute."""

MAX_NUMBER_DIGITS = 1_000
"""Numbers with more digits than this are compared as text, not converted to fractions."""

DEFAULT_TIMEOUT_S = 1.5
"""Wall-clock budget of one `equivalent` call, in seconds."""

VOTE_TIMEOUT_S = 3.0
"""Wall-clock budget of all sympy work in one `cluster_answers` / `majority_vote` call."""

CACHE_SIZE = 4096
"""Entries in the cache of parsed forms; the sympy caches hold this many parses and 4x comparisons."""

FLOAT_DECIMALS = 6
"""Decimal places to which an answer written as a decimal must agree (math-verify's `float_rounding`)."""
