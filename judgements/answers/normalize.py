"""Normalisation: parse a cleaned answer into its shape (`Form`) and give it a canonical key.

A form is a scalar (number, choice letter, words, other LaTeX), an ordered tuple or interval,
or an unordered set or list. Equal keys mean equivalent answers; `equivalence` decides the
rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from judgements.answers.extract import as_text
from judgements.answers.limits import CACHE_SIZE, MAX_NORMALIZE_CHARS, MAX_NUMBER_DIGITS
from judgements.answers.surface import surface
from judgements.latex import enclosing_pair, top_level_split

_CMD_SPACE_RE = re.compile(r"(\\[A-Za-z]+) +(?=[A-Za-z0-9])")
_FRAC_SHORT_RE = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_HALF_SHORT_RE = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d)|\\frac\s*(\d)\s*(\{[^{}]*\})")
_SQRT_SHORT_RE = re.compile(r"\\sqrt\s*(\d)|\\sqrt\s+([A-Za-z])")
_MC_RE = re.compile(r"^\(?([A-E])\)?[.:]?$|^\(([A-E])\)\s*[^\s,;].*$")
# A numeral with its base: 1011_2, 1011_{2}, 1011_{(2)}, A3F_{16}.
_BASE_RE = re.compile(r"^([0-9A-Za-z]{1,64})_(?:\{\(?(\d{1,2})\)?\}|(\d))$")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DECIMAL_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)$")
_E_NOTATION_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d{1,3}$")  # 6e23, 1.5e-3
_REPEATING_RE = re.compile(r"^([-+]?)(\d*)\.(\d*)\\overline\{(\d{1,20})\}$")  # 0.1\overline{6}
_FRACTION_RE = re.compile(r"^([-+]?)\\frac\{([-+]?\d+)\}\{([-+]?\d+)\}$|^([-+]?\d+)/([-+]?\d+)$")
_MIXED_RE = re.compile(r"^([-+]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}$")
_WORDS_RE = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+)*$")
_GREEK = (
    r"alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|kappa|lambda|mu|nu|xi|rho|sigma|tau|phi|varphi"
    r"|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega"
)
_SUBSCRIPT = r"(?:_(?:\{[A-Za-z0-9]+\}|[A-Za-z0-9]))?"
_VARIABLE = r"(?:[A-Za-z]{1,3}" + _SUBSCRIPT + r"(?:\([A-Za-z]\))?|\\(?:" + _GREEK + r")(?![A-Za-z])" + _SUBSCRIPT + ")"
_ASSIGNMENT_RE = re.compile(r"^(" + _VARIABLE + r")\s*=\s*(?P<rhs>.+)$")
_MEMBERSHIP_RE = re.compile(r"^(" + _VARIABLE + r")\s*\\in\s*(?P<rhs>.+)$")
_NUMERIC_CMDS_RE = re.compile(r"\\(?:frac|sqrt|cdot|times|div)(?![A-Za-z])")
_CONSTANT_RE = re.compile(r"^[\d\s.,+\-*/^(){}\[\]]+$")
_MATRIX_RE = re.compile(r"^\\begin\{pmatrix\}.*\\end\{pmatrix\}$", re.DOTALL)


@dataclass(frozen=True)
class Form:
    """The parsed shape of one normalised answer (internal to this package).

    `scalar`: one value, compared by number, text or sympy; a numeral with a base subscript
    has `base` (2-36) and its digits, upper case, as `latex`. `ordered`: a tuple, point,
    interval or vector written with brackets; `brackets` holds the opening and closing
    characters. `unordered`: a set or a bare list; `items` are deduplicated and sorted by key.
    `assigned`: for a list that assigns distinct variables (`x=1, y=2`), its values as the
    tuple `(1, 2)` in the order written.
    """

    kind: Literal["scalar", "ordered", "unordered"]
    key: str
    latex: str = ""
    number: Fraction | None = None
    approximate: bool = False
    text: bool = False
    choice: bool = False
    base: int = 0
    brackets: str = ""
    items: tuple[Form, ...] = ()
    assigned: Form | None = None



def _compact(text: str) -> str:
    """Remove spaces, except one between a LaTeX command and a following letter or digit."""
    text = _CMD_SPACE_RE.sub("\\1\x00", text)
    return text.replace(" ", "").replace("\x00", " ")


def _number(text: str) -> tuple[Fraction, bool] | None:
    """(exact value, written as a decimal?) of a plain number, fraction or mixed number."""
    if len(text) > MAX_NUMBER_DIGITS:
        return None
    if _DECIMAL_RE.match(text):
        return Fraction(text), "." in text
    if _E_NOTATION_RE.match(text):
        return Fraction(text), "." in text.lower().split("e")[0]
    repeating = _REPEATING_RE.match(text)
    if repeating:
        sign, whole, fixed, period = repeating.groups()
        value = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
        value += Fraction(int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
        return (-value if sign == "-" else value), False
    frac = _FRACTION_RE.match(text)
    if frac:
        sign, num, den = (frac.group(1), frac.group(2), frac.group(3)) if frac.group(2) else ("", frac.group(4), frac.group(5))
        if int(den) == 0:
            return None
        value = Fraction(int(num), int(den))
        return (-value if sign == "-" else value), False
    mixed = _MIXED_RE.match(text)
    if mixed and int(mixed.group(4)) != 0:
        value = int(mixed.group(2)) + Fraction(int(mixed.group(3)), int(mixed.group(4)))
        return (-value if mixed.group(1) == "-" else value), False
    return None


def _number_key(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _unassign(text: str) -> str:
    """`x=3` -> `3`, `x = 1+2 = 3` -> `3`, `\\frac{6}{2} = 3` -> `3`, `x \\in [0,1)` -> `[0,1)`;
    other text unchanged."""
    member = _MEMBERSHIP_RE.match(text)
    if member:
        return member.group("rhs").strip()
    assignment = _ASSIGNMENT_RE.match(text)
    if assignment:
        return assignment.group("rhs").split("=")[-1].strip() or text
    sides = text.split("=")
    if len(sides) > 1 and sides[-1].strip() and all(_CONSTANT_RE.match(_NUMERIC_CMDS_RE.sub("", s)) for s in sides):
        return sides[-1].strip()  # \frac{6}{2} = 3: a computation that ends in its value
    return text


def _scalar(text: str) -> Form:
    text = _FRAC_SHORT_RE.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_HALF_SHORT_RE.sub(
        lambda m: f"\\frac{m.group(1)}{{{m.group(2)}}}" if m.group(1) else f"\\frac{{{m.group(3)}}}{m.group(4)}", text
    )
    text = _SQRT_SHORT_RE.sub(lambda m: "\\sqrt{" + (m.group(1) or m.group(2)) + "}", text)
    key = _compact(text)
    if text.startswith("+") and not text.startswith("+-"):
        key = key[1:]
    number = _number(key)
    if number is not None:
        value, approximate = number
        plain = key if _DECIMAL_RE.match(key) or _FRACTION_RE.match(key) else None  # 2\\frac12 is 2*1/2 to sympy
        exact = f"\\frac{{{value.numerator}}}{{{value.denominator}}}" if value.denominator != 1 else str(value)
        latex = plain or exact
        return Form("scalar", _number_key(value), latex=latex, number=value, approximate=approximate)
    based = _based_numeral(key)
    if based is not None:
        return based
    choice = _MC_RE.match(text.strip())
    if choice:
        letter = choice.group(1) or choice.group(2)
        return Form("scalar", letter, latex=letter, choice=True)
    words = " ".join(text.split())
    if _WORDS_RE.match(words) and len(words) >= 3:
        return Form("scalar", words.casefold(), latex=key, text=True)
    return Form("scalar", key, latex=key)


def _based_numeral(key: str) -> Form | None:
    """`1011_2` -> its digits in base 2; None unless every digit is valid in that base."""
    match = _BASE_RE.match(key)
    if not match:
        return None
    digits, base = match.group(1).upper(), int(match.group(2) or match.group(3))
    # A digit, or (base > 10) two or more capitals: `F_{16}` is more likely a variable than 15.
    if not 2 <= base <= 36 or not (re.search(r"\d", digits) or (base > 10 and len(digits) > 1 and match.group(1).isupper())):
        return None
    try:
        int(digits, base)
    except ValueError:
        return None
    return Form("scalar", f"{digits}_{{{base}}}", latex=digits, base=base)


def _collection(kind: Literal["ordered", "unordered"], parts: Sequence[Form], brackets: str = "") -> Form:
    if kind == "unordered":
        unique = {part.key: part for part in parts}
        items = tuple(unique[k] for k in sorted(unique))
        if len(items) == 1:
            return items[0]
        return Form("unordered", "\\{" + ",".join(f.key for f in items) + "\\}", items=items)
    items = tuple(parts)
    key = brackets[0] + ",".join(f.key for f in items) + brackets[1:]
    return Form("ordered", key, brackets=brackets, items=items)


def _plus_minus(text: str) -> list[str] | None:
    """`1\\pm\\sqrt2` -> [`1+\\sqrt2`, `1-\\sqrt2`] when there is exactly one `\\pm`."""
    if text.count("\\pm") != 1 or "\\pmatrix" in text:
        return None
    head, tail = text.split("\\pm")
    return [f"{head}+{tail}", f"{head}-{tail}"]


def _build_form(text: str, depth: int = 0, unassign: bool = True) -> Form:
    """Parse a surface-cleaned answer into its `Form` (sets, tuples, lists, scalars).

    `unassign=False` keeps `x=1` as an equation (items of a list that assigns several
    variables, such as `x=1, y=2`).
    """
    text = text.strip()
    if depth > 8 or not text:
        return Form("scalar", _compact(text), latex=_compact(text))
    if _THOUSANDS_RE.match(text):
        return _scalar(text.replace(",", ""))
    if _MC_RE.match(text):
        return _scalar(text)
    wrapped = enclosing_pair(text)
    if wrapped is not None:
        open_, inner, close = wrapped
        parts = [p.strip() for p in top_level_split(inner)]
        if open_ == "\\{":
            return _unordered_form(parts, depth)
        if len(parts) == 1 and open_ != "\\{":
            parts = [p.strip() for p in top_level_split(inner, ";")]  # (0;-2;6)
        if len(parts) >= 2 and all(parts):
            return _collection("ordered", [_build_form(p, depth + 1) for p in parts], open_ + close)
        if len(parts) == 1 and (open_ + close == "()" or _MATRIX_RE.match(inner)):
            return _build_form(inner, depth + 1, unassign)
    parts = [p.strip() for p in top_level_split(text)]
    if len([p for p in parts if p]) >= 2:
        return _unordered_form(parts, depth)
    single = parts[0] if parts else ""
    if unassign:
        stripped = _unassign(single)
        if stripped != single:
            value = _build_form(stripped, depth + 1)
            if value.kind == "scalar" and value.number is None and not (value.text or value.choice):
                # Same key as the bare value (y=2x+3 ~ 2x+3), but sympy sees the equation, so
                # that y=-x/2+3/4 still equals 2x+4y-3=0.
                return replace(value, latex=_compact(single))
            return value
    expanded = _plus_minus(single)
    if expanded is not None:
        return _collection("unordered", [_scalar(p) for p in expanded])
    return _scalar(single)


def _unordered_form(parts: list[str], depth: int) -> Form:
    """A set or bare list; `x=` is stripped only when every item assigns the same variable."""
    parts = [p for p in parts if p]
    names = set()
    for part in parts:
        match = _ASSIGNMENT_RE.match(part) or _MEMBERSHIP_RE.match(part)
        names.add(match.group(1) if match else None)
    same_variable = len(names) == 1 and None not in names
    items = [_unassign(p) if same_variable else p for p in parts]
    form = _collection("unordered", [_build_form(p, depth + 1, unassign=False) for p in items])
    if form.kind == "unordered" and len(names) == len(parts) and None not in names:
        # x=1, y=2: distinct variables, so also the tuple (1, 2) for a reference written so.
        values = tuple(_build_form(_unassign(p), depth + 1) for p in parts)
        form = replace(form, assigned=_collection("ordered", values, "()"))
    return form


@lru_cache(maxsize=CACHE_SIZE)
def answer_form(text: str) -> Form:
    """The cached `Form` of an answer; cheap and deterministic."""
    clean = as_text(text)
    if len(clean) > MAX_NORMALIZE_CHARS:
        key = " ".join(clean.split())
        return Form("scalar", key, latex=key)
    return _build_form(surface(clean))


def normalize_answer(text: str) -> str:
    """Canonical key of an answer: cheap (no sympy), deterministic, never raises.

    Equal keys mean equivalent answers; different keys may still be equivalent (`0.333333`
    and `\\frac{1}{3}`, `2\\sqrt2` and `\\sqrt8`), which `equivalent` decides. Exact numbers
    become `p/q` or `p` (`\\frac{6}{8}`, `0.75` -> `3/4`), unordered lists and sets become a
    sorted `\\{...\\}`, multiple-choice answers their letter, text answers lower case; an
    empty or missing answer gives `""`.
    """
    return answer_form(as_text(text)).key
