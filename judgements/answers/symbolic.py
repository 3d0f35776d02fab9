"""Symbolic comparison of two scalar answers with HF math-verify (sympy), bounded and cached.

Parses are refused when too long or when they could build huge numbers (`9^{9^9}`, `10^6!`);
the rest runs through `bounded.run_bounded`. Results are cached by LaTeX string.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from judgements.answers.bounded import LRU, TIMED_OUT, run_bounded
from judgements.answers.limits import CACHE_SIZE, MAX_RESULT_BITS, MAX_SYMPY_CHARS


class _MathVerifyTimeoutNotice(logging.Filter):
    """Drops math-verify's one-time warning that its (signal-based) timeout is disabled."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_MathVerifyTimeoutNotice())

_PARSED = LRU(CACHE_SIZE)
_COMPARED = LRU(CACHE_SIZE * 4)
_UNPARSEABLE = object()


def _size_bits(expr: Any, budget: list[int]) -> float:
    """Upper bound of log2 of the largest number evaluating `expr` could build.

    `budget` counts visited nodes; past it the expression counts as too big.
    """
    import sympy

    budget[0] -= 1
    if budget[0] < 0:
        return math.inf
    if isinstance(expr, sympy.MatrixBase):
        return max((_size_bits(e, budget) for e in expr), default=1.0)
    if not isinstance(expr, sympy.Basic):
        return 64.0
    if isinstance(expr, sympy.Integer):
        return float(max(int(expr).bit_length(), 1))
    if isinstance(expr, sympy.Rational):
        return float(max(expr.p.bit_length(), expr.q.bit_length(), 1))
    if isinstance(expr, sympy.Float):
        magnitude = abs(float(expr))
        return math.log2(magnitude + 1.0) + 1.0 if math.isfinite(magnitude) else math.inf
    if not expr.args:
        return 8.0  # symbols, pi, E, oo
    args = [_size_bits(a, budget) for a in expr.args]
    if isinstance(expr, sympy.Pow):
        base, exponent = args[0], args[1]
        return math.inf if exponent > 60 else base * 2.0**exponent
    if isinstance(expr, (sympy.factorial, sympy.gamma, sympy.subfactorial, sympy.factorial2)):
        return math.inf if args[0] > 60 else 2.0 ** args[0] * max(args[0], 1.0)
    if isinstance(expr, sympy.binomial):
        return math.inf if args[0] > 60 else 2.0 ** args[0]
    if isinstance(expr, (sympy.Sum, sympy.Product)):
        limits = max(args[1:], default=1.0)
        return math.inf if limits > 60 else 2.0**limits * (args[0] + 1.0)
    if isinstance(expr, sympy.Mul):
        return sum(args)
    return max(args) + math.log2(len(args) + 1)


# An exponent that holds another power (a tower) or a literal of 7 or more digits.
_TOWER_RE = re.compile(r"(?:\^|\*\*)\s*(?:\{[^{}]*(?:\^|\*\*)|\(?[-+]?\d{7})")


def _latex_guard(latex: str) -> bool:
    """Cheap textual checks before parsing: the parser itself evaluates some things (binomials)."""
    if len(latex) > MAX_SYMPY_CHARS or not latex.strip():
        return False
    if _TOWER_RE.search(latex):
        return False
    if re.search(r"binom|choose", latex) and ("^" in latex or any(len(d) > 4 for d in re.findall(r"\d+", latex))):
        return False
    return latex.count("{") == latex.count("}")


def _parse(latex: str) -> Any:
    """math-verify's parse of one answer, or `_UNPARSEABLE` (runs on a worker thread)."""
    from latex2sympy2_extended.math_normalization import NormalizationConfig
    from math_verify import LatexExtractionConfig, parse

    # math-verify's defaults, less its unit stripping: its list of units holds letters and
    # words that are variables here (`2ab` would become `2`, `2\\pi r h` `2\\pi r`). Units are
    # dropped by `surface`, by our narrower rules.
    config = NormalizationConfig(basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all")
    parsed = parse(
        "\\boxed{" + latex + "}",
        extraction_config=[LatexExtractionConfig(normalization_config=config)],
        parsing_timeout=None,  # type: ignore[arg-type]
    )
    if not parsed:
        return _UNPARSEABLE
    bounded = [p for p in parsed if isinstance(p, str) or _size_bits(p, [5000]) <= MAX_RESULT_BITS]
    if len(bounded) < len(parsed) or not any(not isinstance(p, str) for p in bounded):
        return _UNPARSEABLE
    return [_imaginary_unit(p) for p in bounded]


def _imaginary_unit(expr: Any) -> Any:
    """`i` read as the imaginary unit (math-verify reads it as a variable): final answers use
    it for nothing else, and `(1+i)^2` should equal `2i`."""
    import sympy

    if not isinstance(expr, sympy.Basic):
        return expr
    units = {s: sympy.I for s in expr.free_symbols if getattr(s, "name", "") == "i"}
    return expr.xreplace(units) if units else expr


# Positive, irregular points: inside the domains of sqrt and log, unlikely to be special.
_PROBES = (0.5731, 1.3127, 0.8419)


def _plain_expressions(a: Any, b: Any) -> bool:
    """Both sides are ordinary scalar expressions (no relations, sets, tuples or matrices)."""
    import sympy

    def plain(x: Any) -> bool:
        return isinstance(x, sympy.Expr) and not isinstance(x, (sympy.MatrixBase, sympy.MatrixExpr))

    return all(plain(x) for x in a if not isinstance(x, str)) and all(plain(x) for x in b if not isinstance(x, str))


def _differ_at_a_point(a: Any, b: Any) -> bool:
    """True when two expressions surely differ: their values disagree at a fixed point.

    A cheap rejection before math-verify's `simplify`, which dominates the cost of comparing
    different symbolic answers. Inconclusive (False) whenever evaluation is not a finite real.
    """
    import sympy

    expr_a = next(x for x in a if not isinstance(x, str))
    expr_b = next(x for x in b if not isinstance(x, str))
    symbols = sorted(expr_a.free_symbols | expr_b.free_symbols, key=str)
    if not symbols:
        return False
    for shift in range(2):
        point = {s: _PROBES[(i + shift) % len(_PROBES)] + i for i, s in enumerate(symbols)}
        try:  # evalf of `floor` with `subs` raises AttributeError (a sympy bug): inconclusive
            va = complex(expr_a.evalf(30, subs=point))
            vb = complex(expr_b.evalf(30, subs=point))
        except (TypeError, ValueError, ArithmeticError, AttributeError, sympy.SympifyError):
            return False
        if not all(math.isfinite(v.real) and math.isfinite(v.imag) for v in (va, vb)):
            return False
        if abs(va - vb) > 1e-6 * (1.0 + abs(va) + abs(vb)):
            return True
    return False


def _lone_equation(a: Any, b: Any) -> bool:
    """`a` is an equation or inequality that is not an assignment, and `b` is a plain value.

    math-verify reads such a prediction by its right-hand side (`2x+z=1` as `1`); between two
    samples that would be wrong, so the pair is unequal. A relation still meets a set
    (`x > 2` and `(2, \\infty)`), and an assignment its value (`y=2x+3` and `2x+3`).
    """
    import sympy
    from math_verify.grader import is_assignment_relation, is_relation

    exprs_a = [x for x in a if not isinstance(x, str)]
    exprs_b = [x for x in b if not isinstance(x, str)]
    return (
        any(is_relation(x) and not is_assignment_relation(x) for x in exprs_a)
        and not any(is_relation(x) or isinstance(x, sympy.Set) for x in exprs_b)
    )


def _verify_both(a: Any, b: Any) -> bool:
    """Symmetric math-verify: either side may be the 'gold' (runs on a worker thread).

    math-verify is asymmetric only for relations and sets; two plain expressions are
    compared once, after a cheap numeric probe has had the chance to tell them apart.
    """
    from math_verify import verify

    if _lone_equation(a, b) or _lone_equation(b, a):
        return False
    if _plain_expressions(a, b):
        if _differ_at_a_point(a, b):
            return False
        return bool(verify(a, b, timeout_seconds=None))  # type: ignore[arg-type]
    for gold, pred in ((a, b), (b, a)):
        if verify(gold, pred, timeout_seconds=None, allow_set_relation_comp=True):  # type: ignore[arg-type]
            return True
    return False


def import_math_verify() -> None:
    """Import math-verify (and sympy) in the calling thread, outside any time bound.

    An import interrupted half-way by the runner's stop exception could leave sympy half-initialised, so
    the one-off import cost (about a second) is never charged to a budget.
    """
    import math_verify  # noqa: F401


def _parsed(latex: str, deadline: float) -> Any:
    """Cached parse of `latex`; `_UNPARSEABLE` when it fails, is too big, or times out."""
    cached = _PARSED.get(latex)
    if cached is not None:
        return cached
    if not _latex_guard(latex):
        _PARSED.put(latex, _UNPARSEABLE)
        return _UNPARSEABLE
    import_math_verify()
    result = run_bounded(lambda: _parse(latex), deadline)
    if result is TIMED_OUT:
        return _UNPARSEABLE  # not cached: the time may have gone waiting for another thread
    result = _UNPARSEABLE if result is None else result
    _PARSED.put(latex, result)
    return result


def sympy_equal(a: str, b: str, deadline: float) -> bool:
    """math-verify equivalence of two scalar LaTeX strings, bounded and cached."""
    pair = (a, b) if a <= b else (b, a)
    cached = _COMPARED.get(pair)
    if cached is not None:
        return bool(cached)
    parsed_a = _parsed(a, deadline)
    parsed_b = _parsed(b, deadline)
    if parsed_a is _UNPARSEABLE or parsed_b is _UNPARSEABLE:
        return False
    result = run_bounded(lambda: _verify_both(parsed_a, parsed_b), deadline)
    if result is TIMED_OUT:
        return False
    _COMPARED.put(pair, bool(result))
    return bool(result)


def _union_matches(relations: list[Any], other: Any) -> bool:
    """The union of the sets that inequalities in one variable describe equals `other`'s set."""
    import sympy
    from sympy.core.relational import Relational

    rels = [next(x for x in r if not isinstance(x, str)) for r in relations]
    target = next(x for x in other if not isinstance(x, str))
    if not all(isinstance(r, Relational) and not isinstance(r, (sympy.Eq, sympy.Ne)) for r in rels):
        return False
    if len(set().union(*(r.free_symbols for r in rels))) != 1:
        return False
    union = sympy.Union(*(r.as_set() for r in rels))
    if isinstance(target, Relational):
        target = target.as_set()
    if not isinstance(target, sympy.Set):
        return False
    return bool(union == target or (sympy.Complement(union, target) == sympy.S.EmptySet
                                    and sympy.Complement(target, union) == sympy.S.EmptySet))


def union_equal(relations: list[str], other: str, deadline: float) -> bool:
    """`x < -2 or x > 2` (inequalities in one variable, read as their union) against a set or
    relation such as `(-\\infty,-2)\\cup(2,\\infty)`; bounded like `sympy_equal`, not cached."""
    parsed = [_parsed(r, deadline) for r in relations]
    parsed_other = _parsed(other, deadline)
    if parsed_other is _UNPARSEABLE or any(p is _UNPARSEABLE for p in parsed):
        return False
    result = run_bounded(lambda: _union_matches(parsed, parsed_other), deadline)
    return result is not TIMED_OUT and bool(result)
