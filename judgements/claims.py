"""A checked claim (`judgements.steps.checker.Claim`) as plain JSON values, and back.

The log, the exports and the run's analysis keep claims in this dict form. It is written from
the dataclass's own fields (`dataclasses.fields`), so a field the step checker adds flows into
the log with no change here; read back, a field the dict lacks (a claim logged by an older
checker) takes the field's default, or an empty value of its type when it has none, and keys
the dataclass does not know (a claim logged by a newer one) are ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from judgements.steps.checker import Claim

# A missing field with no default: what it means when an older log lacks it. `status`: a claim
# whose verdict is unknown was not checked.
_MISSING: dict[str, Any] = {"status": "not checked"}


def claim_to_dict(claim: Claim) -> dict[str, Any]:
    """Every field of the claim, tuples as lists (JSON)."""
    return {f.name: _plain(getattr(claim, f.name)) for f in dataclasses.fields(claim)}


def claim_from_dict(data: dict[str, Any]) -> Claim:
    """A claim from its dict form, tolerant of missing and unknown keys (see the module doc)."""
    hints = _hints()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Claim):
        if f.name in data:
            values[f.name] = _typed(data[f.name], hints[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            values[f.name] = _MISSING.get(f.name, _empty(hints[f.name]))
    return Claim(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


_HINTS: dict[str, Any] = {}


def _hints() -> dict[str, Any]:
    if not _HINTS:
        _HINTS.update(typing.get_type_hints(Claim))
    return _HINTS


def _members(hint: Any) -> tuple[Any, bool]:
    """(the type without `None`, whether None is allowed)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return hint, False


def _typed(value: Any, hint: Any) -> Any:
    """A JSON value as the field holds it: lists become tuples where the field is a tuple."""
    inner, _ = _members(hint)
    if typing.get_origin(inner) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def _empty(hint: Any) -> Any:
    """The value a missing field without a default takes: None where allowed, else empty."""
    inner, optional = _members(hint)
    if optional:
        return None
    origin = typing.get_origin(inner) or inner
    if origin is typing.Literal:
        return typing.get_args(inner)[-1]
    empty = {str: "", bool: False, int: 0, float: 0.0, tuple: (), list: []}
    return empty.get(origin, None)


__all__ = ["claim_from_dict", "claim_to_dict"]
