"""Exact values of the sides of a claim (for `judgements.steps.checker`), with `Fraction` and hard bounds.

A side's tokens (`judgements.steps.tokens`) are parsed by a small recursive-descent parser:
`+ -`, `* /` and implicit products, unary signs, `^` (integer exponents), postfix `%` and
`!`, brackets and TeX groups, `\\frac{a}{b}` (and `\\frac12`), `\\sqrt{...}` (exact for a perfect
square, else pinned to `SQRT_DIGITS` places). A value is an interval `(lo, hi)` of Fractions: exact numbers have `lo == hi`; a
number that an earlier claim of the same solution rounded (`10/3 ≈ 3.33`, then `3.33 × 3`)
stands for anything within one unit of its last digit, so a later claim built on it is not
called wrong for the rounding.

Bounds, so that `10^{10^{10}}`, `99999!` or a 200,000-digit number return at once as
unreadable: every intermediate numerator and denominator stays within `MAX_VALUE_BITS`
(checked before a power or a factorial is computed, from the sizes of its inputs), brackets
nest at most `MAX_DEPTH` deep and a side has at most `MAX_SIDE_TOKENS` tokens. Anything
outside the bounds, or that the parser cannot read (a variable, division by zero, a
fractional power), raises `Unreadable`: the claim is then "not checked", never "wrong".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from judgements.steps.tokens import FACT, FRAC, LP, NUM, OP, PCT, RP, SQRT, Side, Tok

MAX_VALUE_BITS = 10_000
"""Largest numerator or denominator (in bits, about 3,000 digits) any step may compute."""

SQRT_DIGITS = 30
"""Decimal places to which the square root of a non-square is pinned."""

MAX_DEPTH = 40
"""Deepest bracket nesting read."""

MAX_SIDE_TOKENS = 400
"""Longest side read, in tokens."""

Interval = tuple[Fraction, Fraction]
_CLOSING = {"(": ")", "[": "]", "{": "}"}


class Unreadable(Exception):
    """A side the checker does not read: its claim is not checked."""


@dataclass(frozen=True)
class Reading:
    """One way to read a side: its value and, for a written number, the size of its last
    digit (`ulp`: 0.01 for `3.33`, 1 for `158`, 10^153 for `9.33 \\times 10^{155}`)."""

    value: Interval
    ulp: Fraction | None = None


def _bounded(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_VALUE_BITS or x.denominator.bit_length() > MAX_VALUE_BITS:
        raise Unreadable("number too large")
    return x


def _exact(x: Fraction) -> Interval:
    x = _bounded(x)
    return (x, x)


def _add(a: Interval, b: Interval) -> Interval:
    return (_bounded(a[0] + b[0]), _bounded(a[1] + b[1]))


def _neg(a: Interval) -> Interval:
    return (-a[1], -a[0])


def _mul(a: Interval, b: Interval) -> Interval:
    if a[0] == a[1] and b[0] == b[1]:
        return _exact(a[0] * b[0])
    products = [_bounded(x * y) for x in a for y in b]
    return (min(products), max(products))


def _div(a: Interval, b: Interval) -> Interval:
    if b[0] <= 0 <= b[1]:
        raise Unreadable("division by zero")
    return _mul(a, (1 / b[1], 1 / b[0]))


def _bits(x: Fraction) -> int:
    return max(abs(x.numerator).bit_length(), x.denominator.bit_length())


def _pow(a: Interval, e: Interval) -> Interval:
    if e[0] != e[1] or e[0].denominator != 1:
        raise Unreadable("exponent not a whole number")
    n = e[0].numerator
    if max(_bits(a[0]), _bits(a[1])) - 1 > MAX_VALUE_BITS // max(abs(n), 1):
        raise Unreadable("power too large")
    if n < 0:
        if a[0] <= 0 <= a[1]:
            raise Unreadable("zero to a negative power")
        a, n = (1 / a[1], 1 / a[0]), -n
    ends = sorted((_bounded(a[0] ** n), _bounded(a[1] ** n)))
    if n % 2 == 0 and a[0] < 0 < a[1]:
        return (Fraction(0), ends[1])
    return (ends[0], ends[1])


def _factorial(a: Interval) -> Interval:
    x = a[0]
    if a[0] != a[1] or x.denominator != 1 or x < 0:
        raise Unreadable("factorial of a non-integer")
    n = x.numerator
    if n > 2 and n * math.log2(n) > MAX_VALUE_BITS:
        raise Unreadable("factorial too large")
    return _exact(Fraction(math.factorial(n)))


def _sqrt(a: Interval) -> Interval:
    x = a[0]
    if a[0] != a[1] or x < 0:
        raise Unreadable("square root of an inexact or negative number")
    num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
    if num * num == x.numerator and den * den == x.denominator:
        return _exact(Fraction(num, den))
    # Irrational: an interval 10^-SQRT_DIGITS wide around it, so `\sqrt{2} \approx 1.414` reads.
    scale = 10**SQRT_DIGITS
    q = x.numerator * scale * scale // x.denominator
    return (Fraction(math.isqrt(q), scale), Fraction(math.isqrt(q + 1) + 1, scale))


def _number(tok: Tok, rounded: frozenset[str]) -> Interval:
    value = tok.value
    assert isinstance(value, Fraction)
    if tok.text in rounded and tok.decimals:
        ulp = Fraction(1, 10**tok.decimals)
        return (value - ulp, value + ulp)
    return _exact(value)


class _Parser:
    """One side's tokens (units removed) to one interval; `mixed` reads `2\\frac{1}{2}` as 5/2."""

    def __init__(self, toks: list[Tok], rounded: frozenset[str], mixed: bool) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.rounded = rounded
        self.mixed = mixed
        self.saw_mixed = False
        self.pending: Fraction | None = None  # the denominator digit of `\frac12`

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise Unreadable("side ends early")
        self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == OP and tok.value in ops

    def parse(self) -> Interval:
        value = self.expr()
        if self.i != len(self.toks):
            raise Unreadable("tokens left over")
        return value

    def expr(self) -> Interval:
        value = self.term()
        while self.is_op("+", "-"):
            op = self.take().value
            right = self.term()
            value = _add(value, right if op == "+" else _neg(right))
        return value

    def term(self) -> Interval:
        value = self.unary()
        while True:
            tok = self.peek()
            if self.is_op("*", "/"):
                op = self.take().value
                right = self.unary()
                value = _mul(value, right) if op == "*" else _div(value, right)
            elif tok is not None and tok.kind in (NUM, LP, FRAC, SQRT):
                value = _mul(value, self.power())  # an implicit product: `3(4)`, `(2)(3)`
            else:
                return value

    def unary(self) -> Interval:
        if self.is_op("+", "-"):
            op = self.take().value
            value = self.unary()
            return value if op == "+" else _neg(value)
        return self.power()

    def power(self) -> Interval:
        base = self.postfix()
        if self.is_op("^"):
            self.take()
            return _pow(base, self.unary())
        return base

    def postfix(self) -> Interval:
        value = self.atom()
        while True:
            tok = self.peek()
            if tok is not None and tok.kind == PCT:
                self.take()
                value = _mul(value, _exact(Fraction(1, 100)))
            elif tok is not None and tok.kind == FACT:
                self.take()
                value = _factorial(value)
            else:
                return value

    def atom(self) -> Interval:
        tok = self.take()
        if tok.kind == NUM:
            value = _number(tok, self.rounded)
            after = self.peek()
            if after is not None and after.kind == FRAC and tok.decimals == 0:
                self.saw_mixed = True
                if self.mixed:  # 2\frac{1}{2} = 5/2
                    part = self.atom()
                    return _add(value, part)
            return value
        if tok.kind == LP:
            return self.bracketed(tok)
        if tok.kind == FRAC:
            return _div(self.group(), self.group(denominator=True))
        if tok.kind == SQRT:
            return _sqrt(self.group())
        raise Unreadable(f"unexpected {tok.kind}")

    def bracketed(self, opening: Tok) -> Interval:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unreadable("brackets nest too deep")
        value = self.expr()
        closing = self.take()
        if closing.kind != RP or closing.value != _CLOSING[str(opening.value)]:
            raise Unreadable("unbalanced brackets")
        self.depth -= 1
        return value

    def group(self, denominator: bool = False) -> Interval:
        """A `\\frac` or `\\sqrt` argument: `{...}`, or one digit of `\\frac12`."""
        tok = self.peek()
        if tok is not None and tok.kind == LP and tok.value == "{":
            return self.bracketed(self.take())
        if tok is not None and tok.kind == NUM and tok.decimals == 0 and len(tok.text) == 2 and not denominator:
            self.take()
            self.pending = Fraction(int(tok.text[1]))
            return _exact(Fraction(int(tok.text[0])))
        if denominator and self.pending is not None:
            value, self.pending = self.pending, None
            return _exact(value)
        raise Unreadable("\\frac or \\sqrt without a braced argument")


def _scientific_ulp(core: list[Tok]) -> Fraction | None:
    """The last digit's size of `d.dd \\times 10^{k}` (k a signed integer), else None."""
    kinds = [t.kind for t in core]
    if kinds[:4] != [NUM, OP, NUM, OP] or core[1].value != "*" or core[2].text != "10" or core[3].value != "^":
        return None
    rest = [t for t in core[4:] if not (t.kind in (LP, RP) and t.value in "{}")]
    sign = 1
    if rest and rest[0].kind == OP and rest[0].value in "+-":
        sign = -1 if rest[0].value == "-" else 1
        rest = rest[1:]
    if len(rest) != 1 or rest[0].kind != NUM or rest[0].decimals or len(rest[0].text) > 6:
        return None
    return Fraction(10) ** (sign * int(rest[0].text) - core[0].decimals)


def side_readings(side: Side, rounded: frozenset[str] = frozenset()) -> list[Reading]:
    """Every reading of a side (one, or two when it is ambiguous); raises `Unreadable`."""
    if side.poisoned:
        raise Unreadable("a variable, a word or a symbol the checker does not read takes part")
    core = side.core
    if len(core) > MAX_SIDE_TOKENS:
        raise Unreadable("side too long")
    if side.bare:
        sign = -1 if core[0].kind == OP and core[0].value == "-" else 1
        number = core[1] if core[0].kind == OP else core[0]
        low, high = _number(number, rounded)
        value = (low, high) if sign == 1 else (-high, -low)
        ulp = Fraction(1, 10**number.decimals)
        if core[-1].kind == PCT:  # 25% is 0.25 or, as a label of `x \times 100`, 25
            hundredth = Fraction(1, 100)
            return [Reading(_mul(value, _exact(hundredth)), ulp * hundredth), Reading(value, ulp)]
        return [Reading(value, ulp)]
    parser = _Parser(core, rounded, mixed=False)
    readings = [Reading(parser.parse(), _scientific_ulp(core))]
    if parser.saw_mixed:  # `2\frac{1}{2}`: the mixed number first, the product second
        try:
            readings.insert(0, Reading(_Parser(core, rounded, mixed=True).parse()))
        except Unreadable:
            pass
    return readings


def first_number(side: Side) -> Tok | None:
    """The side's first number when it starts with one (for running totals: `= 15 + 1`)."""
    core = side.core
    return core[0] if core and core[0].kind == NUM else None


__all__ = ["MAX_DEPTH", "MAX_SIDE_TOKENS", "MAX_VALUE_BITS", "Reading", "Unreadable", "first_number", "side_readings"]
