"""Final answers: extract them from a solution, normalise them, compare them, vote on them.

One module per phase, each importing only those before it: `limits`, `extract`, `surface`,
`normalize`, `bounded`, `symbolic`, `equivalence`, `vote`. The rules they implement are
in docs/answers.md. This package imports neither gradio nor torch.
"""

from __future__ import annotations

from judgements.answers.equivalence import equivalent, warm_up
from judgements.answers.extract import extract_answer
from judgements.answers.limits import DEFAULT_TIMEOUT_S, VOTE_TIMEOUT_S
from judgements.answers.normalize import normalize_answer
from judgements.answers.vote import (
    TIE_RULE,
    Cluster,
    Standing,
    Vote,
    cluster_answers,
    majority_vote,
    shown_answer,
    standing_of,
    vote_from_assignments,
)
from judgements.latex import brace_pairs

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIE_RULE",
    "VOTE_TIMEOUT_S",
    "Cluster",
    "Standing",
    "Vote",
    "brace_pairs",
    "cluster_answers",
    "equivalent",
    "extract_answer",
    "majority_vote",
    "normalize_answer",
    "shown_answer",
    "standing_of",
    "vote_from_assignments",
    "warm_up",
]
