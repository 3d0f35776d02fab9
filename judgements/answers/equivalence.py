"""Equivalence: whether two answers are mathematically the same, from any thread, in bounded time.

Structure (tuples, intervals, sets, root lists) and exact numbers are compared here; other
scalars go to `symbolic`. The rules, with examples, are in docs/answers.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

from judgements.answers.extract import as_text
from judgements.answers.limits import DEFAULT_TIMEOUT_S, FLOAT_DECIMALS
from judgements.answers.normalize import Form, answer_form
from judgements.answers.symbolic import import_math_verify, sympy_equal, union_equal

_INEQUALITY_RE = re.compile(r"[<>]|\\[lg]eq?(?![A-Za-z])")


def _numbers_equal(a: Form, b: Form) -> bool:
    assert a.number is not None and b.number is not None
    if a.number == b.number:
        return True
    if a.approximate or b.approximate:
        return round(a.number, FLOAT_DECIMALS) == round(b.number, FLOAT_DECIMALS)
    return False


def _based_equal(a: Form, b: Form) -> bool:
    """`1011_2` = `1011_{2}` = `1011` (its digits); numerals in two bases compare by value."""
    if a.base and b.base:
        return int(a.latex, a.base) == int(b.latex, b.base)
    based, other = (a, b) if a.base else (b, a)
    return other.kind == "scalar" and other.key.upper() == based.latex


def _match_unordered(a: Sequence[Form], b: Sequence[Form], deadline: float) -> bool:
    if len(a) != len(b):
        return False
    unused = list(b)
    for item in a:
        for j, other in enumerate(unused):
            if forms_equal(item, other, deadline):
                del unused[j]
                break
        else:
            return False
    return True


def forms_equal(a: Form, b: Form, deadline: float) -> bool:
    """Whether two parsed answers are equivalent; sympy work stops at `deadline` (`time.monotonic()`)."""
    if not a.key or not b.key:
        return False
    if a.key == b.key:
        return True
    if a.base or b.base:
        return _based_equal(a, b)
    if a.kind == "ordered" and b.assigned is not None:
        return forms_equal(a, b.assigned, deadline)
    if b.kind == "ordered" and a.assigned is not None:
        return forms_equal(a.assigned, b, deadline)
    if a.kind != b.kind:
        if "scalar" not in (a.kind, b.kind):
            return False  # a tuple is never an unordered list of roots
        if a.choice or b.choice or a.text or b.text:
            return False
        listed, other = (a, b) if a.kind == "unordered" else (b, a)
        if listed.kind == "unordered" and all(_INEQUALITY_RE.search(item.latex) for item in listed.items):
            return union_equal([item.latex for item in listed.items], latex_of(other), deadline)
        return sympy_equal(latex_of(a), latex_of(b), deadline)
    if a.kind == "ordered":
        return (
            a.brackets == b.brackets
            and len(a.items) == len(b.items)
            and all(forms_equal(x, y, deadline) for x, y in zip(a.items, b.items))
        )
    if a.kind == "unordered":
        return _match_unordered(a.items, b.items, deadline)
    if a.number is not None and b.number is not None:
        return _numbers_equal(a, b)
    if a.choice or b.choice or a.text or b.text:
        return False
    return sympy_equal(a.latex, b.latex, deadline)


def latex_of(form: Form) -> str:
    """LaTeX that math-verify can parse for a form (collections are rebuilt from their items)."""
    if form.kind == "scalar":
        return form.latex
    inner = ",".join(latex_of(item) for item in form.items)
    return "\\{" + inner + "\\}" if form.kind == "unordered" else form.brackets[0] + inner + form.brackets[1:]


def equivalent(a: str, b: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when two answers are mathematically equivalent (rules in docs/answers.md).

    Symmetric, never raises, returns within about `timeout_s` seconds from any thread (plus,
    once per process, the import of math-verify); when the time runs out the parts not yet
    decided are compared by normalised key. A missing or empty answer is equivalent to
    nothing, not even another empty one.
    """
    form_a, form_b = answer_form(as_text(a)), answer_form(as_text(b))
    import_math_verify()
    deadline = time.monotonic() + timeout_s
    return forms_equal(form_a, form_b, deadline)


def warm_up() -> None:
    """Import and exercise sympy/math-verify once, so the first real vote is not the slow one."""
    equivalent("x^2+2x+1", "(x+1)^2", timeout_s=30.0)
