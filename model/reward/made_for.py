"""Which policy a reward model was made for, so that RM@N is only ever a reward that means something.

A reward model judges the solutions of the policies it was trained on: the bundled reward model
knows only the bundled tiny model's arithmetic; Qwen's Qwen2.5-Math-RM-72B and
Qwen2.5-Math-PRM-7B were made for the Qwen2-Math and Qwen2.5-Math policies. A checkpoint
records this in its `config.json` as `made_for` (a list of policy families: `bundled`,
`qwen2-math`, `qwen2.5-math`); Qwen's own checkpoints, which lack the key, are known by name
or by their Qwen2.5-Math vocabulary. `policy_of(source, family)` names the running policy's
family the same way. `mismatch(...)` says, in words, when the two do not go together, and
`HOW_TO_ADD` how to give the app a reward model made for a real Qwen policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from model.prompts import QWEN2_MATH, QWEN25_MATH

BUNDLED = "bundled"
"""The policy family of the bundled tiny model."""

MADE_FOR_KEY = "made_for"
"""The `config.json` key that lists the policy families a reward model was made for."""

QWEN_MATH = (QWEN2_MATH, QWEN25_MATH)
# Qwen's reward models, by Hub id: all made on Qwen2/2.5-Math policies' solutions.
OFFICIAL: Mapping[str, tuple[str, ...]] = {
    "Qwen/Qwen2.5-Math-RM-72B": QWEN_MATH,
    "Qwen/Qwen2.5-Math-PRM-7B": QWEN_MATH,
    "Qwen/Qwen2.5-Math-PRM-72B": QWEN_MATH,
    "Qwen/Qwen2-Math-RM-72B": QWEN_MATH,
}
QWEN_VOCABULARY = 151_000
"""A reward model with at least this many tokens shares the Qwen2/2.5-Math vocabulary."""

HOW_TO_ADD = (
    "To rank by a reward model made for Qwen2-Math and Qwen2.5-Math policies, give one with "
    "--reward-model: a Hub id, Qwen/Qwen2.5-Math-PRM-7B (process reward, 7B) or "
    "Qwen/Qwen2.5-Math-RM-72B (outcome reward, 72B: a large GPU, or NF4 with bitsandbytes), "
    "fetched once into the Hugging Face cache; or --reward-model DIR for a local copy of either."
)

_NAMES = {BUNDLED: "the bundled tiny model", QWEN2_MATH: "Qwen2-Math", QWEN25_MATH: "Qwen2.5-Math"}


def policy_of(source: str, family: str | None) -> str | None:
    """The policy family of a running model: `bundled`, else its prompt family (None: unknown)."""
    return BUNDLED if source == BUNDLED else family


def made_for(
    raw: Mapping[str, Any], path: Path | None = None, repo_id: str | None = None, *, bundled_dir: Path | None = None
) -> tuple[str, ...]:
    """The policy families a reward model was made for; `()` when it does not say.

    `config.json`'s `made_for` first; else the bundled directory is the bundled policy's; else
    Qwen's checkpoints by Hub id, or by a Qwen2.5-Math-sized vocabulary."""
    recorded = raw.get(MADE_FOR_KEY)
    if isinstance(recorded, str):
        return (recorded,)
    if isinstance(recorded, (list, tuple)) and all(isinstance(x, str) for x in recorded):
        return tuple(recorded)
    if path is not None and bundled_dir is not None and _same(path, bundled_dir):
        return (BUNDLED,)
    if repo_id in OFFICIAL:
        return OFFICIAL[repo_id]
    name = str(raw.get("_name_or_path") or "")
    if name in OFFICIAL:
        return OFFICIAL[name]
    if int(raw.get("vocab_size") or 0) >= QWEN_VOCABULARY:
        return QWEN_MATH
    return ()


def describe(families: tuple[str, ...] | str | None) -> str:
    """Policy families in words: `the bundled tiny model`, `Qwen2-Math or Qwen2.5-Math`."""
    if families is None or families == ():
        return "an unknown policy"
    if isinstance(families, str):
        families = (families,)
    return " or ".join(_NAMES.get(f, f) for f in families)


def mismatch(name: str, families: tuple[str, ...], policy: str | None) -> str | None:
    """Why reward model `name` does not go with the running policy, in words; None when it does
    (or when either side is unknown)."""
    if policy is None or not families or policy in families:
        return None
    return (
        f"Reward model {name} was made for {describe(families)} policies, not for the policy running here "
        f"({describe(policy)}): its rewards would not mean anything for these solutions, so it is not used."
    )


def unrecorded(name: str, policy: str | None) -> str | None:
    """A note when a reward model does not say which policy it was made for."""
    if policy is None:
        return None
    return (
        f"Reward model {name} does not record which policy it was made for (`{MADE_FOR_KEY}` in its "
        f"config.json); RM@N trusts that it fits the policy running here ({describe(policy)})."
    )


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


__all__ = [
    "BUNDLED", "HOW_TO_ADD", "MADE_FOR_KEY", "OFFICIAL", "QWEN_MATH", "describe", "made_for", "mismatch",
    "policy_of", "unrecorded",
]
