"""Exact values of the sides of a claim (for `judgements.steps.checker`), with `Fraction` and hard bounds.

A side's tokens (`judgements.steps.tokens`) are parsed by a small recursive-descent parser:
`+ -`, `* /` and implicit products, unary signs, `^` (integer exponents), postfix `%`, `!`
and `!!` (the double factorial), the subfactorial `!n`, brackets and TeX groups, `\\lfloor x
\\rfloor` and `\\lceil x \\rceil`, `\\frac{a}{b}` (and `\\frac12`), `\\binom{n}{k}`,
`\\sqrt{...}`, `√225` and `√(81 + 144)` (exact for a perfect square, else pinned to
`SQRT_DIGITS` places). A value is an interval `(lo, hi)` of Fractions:
exact numbers have `lo == hi`; a number that an earlier claim of the same solution rounded
(`10/3 ≈ 3.33`, then `3.33 × 3`) stands for anything within one unit of its last digit, so a
later claim built on it is not called wrong for the rounding.

Each value carries its units (`judgements.steps.units`: `3 hours × $15/hour` is in dollars;
a sum of unlike units is marked `mixed`) and how it was read (`read_as`: `14 × 12`, `3/4 × 8`),
which the page shows beside a mark. A side can have several readings (`Reading`):
`2\\frac{1}{2}` is the mixed number 5/2 or the product 1; a bare `25%` is 0.25 or 25; these are
all tried, and a claim is wrong only when every one of them is. Square brackets around a
non-integer may mean its integer part (`\\left[ 22.8 \\right] = 22`), and a percent in a
computation its number (`60\\% - 45\\% = 15` percentage points), and a slash divide all that
comes before it (`6 \\div 1/2` as 6 ÷ 1 ÷ 2, where a person reads the fraction 1/2 first):
such a reading is an `alternative`, which can spare a claim but never condemn one. A reading that assumed something
(`x` in prose read as ×, a product across a space) says so in `assumed`.

Bounds, so that `10^{10^{10}}`, `99999!` or a 200,000-digit number return at once as
unreadable: every intermediate numerator and denominator stays within `MAX_VALUE_BITS`
(checked before a power or factorial is computed), brackets nest at most `MAX_DEPTH` deep
and a side has at most `MAX_SIDE_TOKENS` tokens. Anything outside the bounds, or that the
parser cannot read (a variable, division by zero, a fractional power), raises `Unreadable`:
the claim is then "not checked", never "wrong".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from judgements.steps.chains import Side
from judgements.steps.tokens import BINOM, FACT, FRAC, LP, NUM, OP, PCT, RP, SQRT, SUBFACT, UNIT, Tok
from judgements.steps.units import Units, multiply, power, unit_powers

MAX_VALUE_BITS = 10_000
"""Largest numerator or denominator (in bits, about 3,000 digits) any step may compute."""

SQRT_DIGITS = 30
"""Decimal places to which the square root of a non-square is pinned."""

MAX_DEPTH = 40
"""Deepest bracket nesting read."""

MAX_SIDE_TOKENS = 400
"""Longest side read, in tokens."""

ROUNDED_SLACK = Fraction(1, 200)
"""How far (relatively) a decimal operand read as rounded (`0.1667` for 1/6) may move a value."""

Interval = tuple[Fraction, Fraction]
_CLOSING = {"(": ")", "[": "]", "{": "}", "⌊": "⌋", "⌈": "⌉"}
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5  # precedence, for writing `read_as`


class Unreadable(Exception):
    """A side the checker does not read: its claim is not checked."""


@dataclass(frozen=True)
class Reading:
    """One way to read a side: its value, the size of its last written digit (`ulp`: 0.01
    for `3.33`, 1 for `158`, 10^153 for `9.33 \\times 10^{155}`; None for an exact
    computation), its units, and how it was read (see the module docstring)."""

    value: Interval
    ulp: Fraction | None = None
    units: Units = ()
    mixed: bool = False
    assumed: str = ""
    alternative: str = ""
    read_as: str = ""


@dataclass(frozen=True, slots=True)
class _Val:
    lo: Fraction
    hi: Fraction
    units: Units = ()
    mixed: bool = False
    text: str = ""
    prec: int = _ATOM


def _bounded(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_VALUE_BITS or x.denominator.bit_length() > MAX_VALUE_BITS:
        raise Unreadable("number too large")
    return x


def _wrap(v: _Val, below: int) -> str:
    return f"({v.text})" if v.prec < below else v.text


def _bits(x: Fraction) -> int:
    return max(abs(x.numerator).bit_length(), x.denominator.bit_length())


def _add(a: _Val, b: _Val, sign: int = 1) -> _Val:
    lo, hi = (b.lo, b.hi) if sign > 0 else (-b.hi, -b.lo)
    same = a.units == b.units
    text = f"{a.text} {'+' if sign > 0 else '−'} {_wrap(b, _SUM + (sign < 0))}"
    return _Val(_bounded(a.lo + lo), _bounded(a.hi + hi), a.units if same else a.units or b.units,
                a.mixed or b.mixed or not same, text, _SUM)


def _mul_interval(a: _Val, b: _Val) -> Interval:
    if a.lo == a.hi and b.lo == b.hi:
        x = _bounded(a.lo * b.lo)
        return (x, x)
    products = [_bounded(x * y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return (min(products), max(products))


def _mul(a: _Val, b: _Val, symbol: str = "×") -> _Val:
    lo, hi = _mul_interval(a, b)
    text = f"{_wrap(a, _PRODUCT)} {symbol} {_wrap(b, _PRODUCT + 1)}"
    return _Val(lo, hi, multiply(a.units, b.units), a.mixed or b.mixed, text, _PRODUCT)


def _div(a: _Val, b: _Val, symbol: str = "÷") -> _Val:
    if b.lo <= 0 <= b.hi:
        raise Unreadable("division by zero")
    inverse = _Val(1 / b.hi, 1 / b.lo)
    lo, hi = _mul_interval(a, inverse)
    if symbol == "/":
        text = f"{_wrap(a, _POWER)}/{_wrap(b, _POWER)}"
    else:
        text = f"{_wrap(a, _PRODUCT)} {symbol} {_wrap(b, _PRODUCT + 1)}"
    return _Val(lo, hi, multiply(a.units, b.units, -1), a.mixed or b.mixed, text, _PRODUCT)


def _pow(a: _Val, e: _Val) -> _Val:
    if e.lo != e.hi or e.lo.denominator != 1 or e.units:
        raise Unreadable("exponent not a whole number")
    n = e.lo.numerator
    if max(_bits(a.lo), _bits(a.hi)) - 1 > MAX_VALUE_BITS // max(abs(n), 1):
        raise Unreadable("power too large")
    lo, hi = a.lo, a.hi
    if n < 0:
        if lo <= 0 <= hi:
            raise Unreadable("zero to a negative power")
        lo, hi, m = 1 / hi, 1 / lo, -n
    else:
        m = n
    ends = sorted((_bounded(lo**m), _bounded(hi**m)))
    if m % 2 == 0 and lo < 0 < hi:
        ends = [Fraction(0), ends[1]]
    return _Val(ends[0], ends[1], power(a.units, n), a.mixed, f"{_wrap(a, _ATOM)}^{_wrap(e, _ATOM)}", _POWER)


def _whole(a: _Val, what: str) -> int:
    if a.lo != a.hi or a.lo.denominator != 1 or a.lo < 0:
        raise Unreadable(f"{what} of a non-integer")
    return a.lo.numerator


def _factorial(a: _Val, step: int = 1) -> _Val:
    """`n!`, or with `step` 2 the double factorial `n!! = n (n - 2) (n - 4) ...`."""
    n = _whole(a, "factorial")
    if n > 2 and n * math.log2(n) > MAX_VALUE_BITS * step:
        raise Unreadable("factorial too large")
    x = Fraction(math.factorial(n) if step == 1 else math.prod(range(n, 0, -step)))
    return _Val(x, x, (), a.mixed or bool(a.units), f"{_wrap(a, _ATOM)}{'!' * step}", _POWER)


def _subfactorial(a: _Val) -> _Val:
    n = _whole(a, "subfactorial")
    if n > 2 and n * math.log2(n) > MAX_VALUE_BITS:
        raise Unreadable("subfactorial too large")
    d_prev, d = 1, 0  # !0, !1
    for k in range(2, n + 1):
        d_prev, d = d, (k - 1) * (d + d_prev)
    x = Fraction(1 if n == 0 else d)
    return _Val(x, x, (), a.mixed or bool(a.units), f"!{_wrap(a, _ATOM)}", _POWER)


def _binom(n: _Val, k: _Val) -> _Val:
    top, bottom = _whole(n, "binomial"), _whole(k, "binomial")
    if top > 100_000:
        raise Unreadable("binomial too large")
    x = _bounded(Fraction(math.comb(top, bottom)))
    return _Val(x, x, (), n.mixed or k.mixed, f"C({n.text}, {k.text})", _ATOM)


def _sqrt(a: _Val) -> _Val:
    x = a.lo
    if a.lo != a.hi or x < 0:
        raise Unreadable("square root of an inexact or negative number")
    text = f"√{_wrap(a, _ATOM)}"
    halves = all(p % 2 == 0 for _, p in a.units)
    units = tuple((u, p // 2) for u, p in a.units) if halves else a.units
    num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
    if num * num == x.numerator and den * den == x.denominator:
        return _Val(Fraction(num, den), Fraction(num, den), units, a.mixed or not halves, text, _POWER)
    # Irrational: an interval 10^-SQRT_DIGITS wide around it, so `\sqrt{2} \approx 1.414` reads.
    scale = 10**SQRT_DIGITS
    q = x.numerator * scale * scale // x.denominator
    return _Val(Fraction(math.isqrt(q), scale), Fraction(math.isqrt(q + 1) + 1, scale), units,
                a.mixed or not halves, text, _POWER)


def _number(tok: Tok, rounded: frozenset[str], loose: bool = False) -> _Val:
    value = tok.value
    assert isinstance(value, Fraction)
    if tok.text in rounded and tok.decimals:
        ulp = Fraction(1, 10**tok.decimals)
        return _Val(value - ulp, value + ulp, text=tok.text)
    if loose and tok.decimals and not tok.exact:  # 0.1667 may stand for 1/6
        half = Fraction(1, 2 * 10**tok.decimals)
        return _Val(value - half, value + half, text=tok.text)
    value = _bounded(value)
    return _Val(value, value, text=tok.text)


def _integer_part(v: _Val, closer: str) -> _Val:
    f = math.floor if closer in ("⌋", "]") else math.ceil
    lo, hi = Fraction(f(v.lo)), Fraction(f(v.hi))
    left, right = ("⌊", "⌋") if f is math.floor else ("⌈", "⌉")
    return _Val(lo, hi, v.units, v.mixed, f"{left}{v.text}{right}", _ATOM)


class _Parser:
    """One side's tokens to one value; `mixed` reads `2\\frac{1}{2}` as 5/2, `floors` reads
    square brackets as the integer part, `loose` a decimal (not money) as maybe rounded."""

    def __init__(
        self, toks: list[Tok], rounded: frozenset[str], mixed: bool, floors: bool = False, loose: bool = False
    ) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.rounded = rounded
        self.mixed = mixed
        self.floors = floors
        self.loose = loose
        self.saw_decimal = False  # a decimal operand that may have been rounded
        self.saw_mixed = False
        self.saw_square = False  # square brackets around a non-integer
        self.assumed: list[str] = []
        self.exponent = 0  # inside an exponent: units after it belong to the power
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

    def parse(self) -> _Val:
        value = self.expr()
        if self.i != len(self.toks):
            raise Unreadable("tokens left over")
        return value

    def expr(self) -> _Val:
        value = self.term()
        while self.is_op("+", "-"):
            op = self.take().value
            term = self.term()
            if term.text.endswith("%") and term.prec == _ATOM and not value.text.endswith("%"):
                self.assumed.append("a percent added to a number read as a share, not as a share of it")  # 100 + 20%
            value = _add(value, term, 1 if op == "+" else -1)
        return value

    def term(self) -> _Val:
        value = self.unary()
        while True:
            tok = self.peek()
            if self.is_op("*", "/"):
                op = self.take()
                if op.assumed:
                    self.assumed.append(op.assumed)
                right = self.unary()
                value = _mul(value, right) if op.value == "*" else _div(value, right)
            elif tok is not None and tok.kind in (NUM, LP, FRAC, SQRT, BINOM):
                if tok.kind == NUM and value.text.endswith("%"):
                    raise Unreadable("a number right after %: % may be the remainder operator (`17 % 5`)")
                value = _mul(value, self.power())  # an implicit product: `3(4)`, `(2)(3)`
            else:
                return value

    def unary(self) -> _Val:
        if self.is_op("+", "-"):
            op = self.take().value
            value = self.unary()
            if op == "+":
                return value
            return _Val(-value.hi, -value.lo, value.units, value.mixed, f"−{_wrap(value, _UNARY)}", _UNARY)
        tok = self.peek()
        if tok is not None and tok.kind == SUBFACT:
            self.take()
            return _subfactorial(self.postfix())
        return self.power()

    def power(self) -> _Val:
        base = self.postfix()
        if self.is_op("^"):
            self.take()
            self.exponent += 1
            exponent = self.unary()
            self.exponent -= 1
            return self.units(_pow(base, exponent))
        return base

    def postfix(self) -> _Val:
        value = self.atom()
        while True:
            tok = self.peek()
            if tok is not None and tok.kind == PCT:
                self.take()
                value = _Val(value.lo / 100, value.hi / 100, value.units, value.mixed, f"{_wrap(value, _ATOM)}%", _ATOM)
            elif tok is not None and tok.kind == FACT:
                self.take()
                after = self.peek()
                double = after is not None and after.kind == FACT and after.start == tok.end  # 5!! = 5 × 3 × 1
                if double:
                    self.take()
                value = _factorial(value, 2 if double else 1)
            elif tok is not None and tok.kind == UNIT and not self.exponent:
                value = self.units(value)
            else:
                return value

    def units(self, value: _Val) -> _Val:
        """The unit words after a value, multiplied into its units (`12^2 \\mbox{ inches}^2`)."""
        texts = []
        while self.peek() is not None and self.peek().kind == UNIT:  # type: ignore[union-attr]
            tok = self.take()
            texts.append(tok.text)
            if tok.assumed:
                self.assumed.append(tok.assumed)
        if not texts:
            return value
        units = multiply(value.units, unit_powers(texts))
        return _Val(value.lo, value.hi, units, value.mixed, value.text, value.prec)

    def atom(self) -> _Val:
        tok = self.take()
        if tok.kind == NUM:
            if tok.assumed:
                self.assumed.append(tok.assumed)
            after = self.peek()
            money = after is not None and after.kind == UNIT and after.start == after.end  # $2.25: exact
            if tok.decimals and not tok.exact and not money:
                self.saw_decimal = True
            value = _number(tok, self.rounded, self.loose and not money)
            after = self.peek()
            if after is not None and after.kind == FRAC and tok.decimals == 0:
                self.saw_mixed = True
                if self.mixed:  # 2\frac{1}{2} = 5/2
                    part = self.atom()
                    whole = _add(value, part)
                    return _Val(whole.lo, whole.hi, whole.units, whole.mixed, f"({value.text} + {part.text})", _ATOM)
            return value
        if tok.kind == LP:
            return self.bracketed(tok)
        if tok.kind == FRAC:
            top, bottom = self.group(), self.group(denominator=True)
            return _div(top, bottom, "/")
        if tok.kind == SQRT and tok.value == "√":  # √225, √(81 + 144): a number or a bracket
            after = self.peek()
            if after is not None and after.kind == NUM and not after.space:
                return _sqrt(_number(self.take(), self.rounded))
            if after is not None and after.kind == LP and after.value == "(":
                return _sqrt(self.bracketed(self.take()))
            raise Unreadable("√ without a number or a bracket after it")
        if tok.kind == SQRT:
            return _sqrt(self.group())
        if tok.kind == BINOM:
            return _binom(self.group(), self.group())
        raise Unreadable(f"unexpected {tok.kind}")

    def bracketed(self, opening: Tok) -> _Val:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unreadable("brackets nest too deep")
        value = self.expr()
        closing = self.take()
        if closing.kind != RP or closing.value != _CLOSING[str(opening.value)]:
            raise Unreadable("unbalanced brackets")
        self.depth -= 1
        if opening.value in ("⌊", "⌈"):
            return _integer_part(value, str(closing.value))
        if opening.value == "[" and (value.lo != value.hi or value.lo.denominator != 1):
            self.saw_square = True
            if self.floors:
                return _integer_part(value, "]")
        if opening.value == "{":
            return value
        return _Val(value.lo, value.hi, value.units, value.mixed, f"({value.text})", _ATOM)

    def group(self, denominator: bool = False) -> _Val:
        """A `\\frac`, `\\sqrt` or `\\binom` argument: `{...}`, or one digit of `\\frac12`."""
        tok = self.peek()
        if tok is not None and tok.kind == LP and tok.value == "{":
            return self.bracketed(self.take())
        if tok is not None and tok.kind == NUM and tok.decimals == 0 and len(tok.text) == 2 and not denominator:
            self.take()
            self.pending = Fraction(int(tok.text[1]))
            x = Fraction(int(tok.text[0]))
            return _Val(x, x, text=tok.text[0])
        if denominator and self.pending is not None:
            value, self.pending = self.pending, None
            return _Val(value, value, text=str(value))
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


def _bare_readings(side: Side, rounded: frozenset[str]) -> list[Reading]:
    core = side.core
    sign = -1 if core[0].kind == OP and core[0].value == "-" else 1
    number = core[1] if core[0].kind == OP else core[0]
    v = _number(number, rounded)
    value = (v.lo, v.hi) if sign == 1 else (-v.hi, -v.lo)
    ulp = None if number.exact else Fraction(1, 10**number.decimals)
    units = unit_powers([t.text for t in side.toks if t.kind == UNIT])
    assumed = "; ".join(t.assumed for t in side.toks if t.kind == UNIT and t.assumed)
    text = ("−" if sign < 0 else "") + number.text
    if core[-1].kind == PCT:  # 25% is 0.25 or, as a label of `x \times 100`, 25
        share = (value[0] / 100, value[1] / 100)
        return [
            Reading(share, ulp / 100 if ulp else None, units, assumed=assumed, read_as=f"{text}%"),
            Reading(value, ulp, units, assumed=assumed, read_as=text),
        ]
    return [Reading(value, ulp, units, assumed=assumed, read_as=text)]


def side_readings(side: Side, rounded: frozenset[str] = frozenset()) -> list[Reading]:
    """Every reading of a side (see the module docstring); raises `Unreadable`."""
    if side.poisoned:
        raise Unreadable("a variable, a word or a symbol the checker does not read takes part")
    if len(side.toks) > MAX_SIDE_TOKENS:
        raise Unreadable("side too long")
    if side.bare:
        return _bare_readings(side, rounded)
    toks = side.toks
    while toks and toks[0].kind == UNIT:  # a unit with no number before it: not part of the value
        toks = toks[1:]
    parser = _Parser(toks, rounded, mixed=False)
    v = parser.parse()
    assumed = "; ".join(dict.fromkeys(parser.assumed))
    ulp = _scientific_ulp(side.core)
    readings = [Reading((v.lo, v.hi), ulp, v.units, v.mixed, assumed, read_as=v.text)]
    if parser.saw_mixed:  # `2\frac{1}{2}`: the mixed number first, the product second
        try:
            m = _Parser(toks, rounded, mixed=True).parse()
            readings.insert(0, Reading((m.lo, m.hi), None, m.units, m.mixed, assumed, read_as=m.text))
        except Unreadable:
            pass
    if parser.saw_decimal:  # `0.1667 \\times 60 = 10`: the decimal may be 1/6 rounded
        try:
            d = _Parser(toks, rounded, mixed=False, loose=True).parse()
            slack = max(abs(v.lo), abs(v.hi)) * ROUNDED_SLACK  # and never further than this from the exact value
            lo, hi = max(d.lo, v.lo - slack), min(d.hi, v.hi + slack)
            readings.append(Reading((lo, hi), None, d.units, d.mixed, assumed, "a decimal written was rounded", d.text))
        except Unreadable:
            pass
    if any(t.kind == PCT for t in toks):  # `60% − 45% = 15` percentage points
        try:
            n = _Parser([t for t in toks if t.kind != PCT], rounded, mixed=False).parse()
            readings.append(Reading((n.lo, n.hi), None, n.units, n.mixed, assumed, "each percent is read as its number", n.text))
        except Unreadable:
            pass
    if parser.saw_square:  # `[22.8]`: maybe the integer part
        try:
            f = _Parser(toks, rounded, mixed=False, floors=True).parse()
            readings.append(Reading((f.lo, f.hi), None, f.units, f.mixed, assumed, "[...] read as the integer part", f.text))
        except Unreadable:
            pass
    grouped = _tight_fractions(toks)
    if grouped is not None:  # `6 ÷ 1/2`: the fraction 1/2 first; 6 ÷ 1 ÷ 2 can only spare the claim
        # (`9^1/2` raises Unreadable here: a fractional power)
        g = _Parser(grouped, rounded, mixed=False).parse()
        divides = "a slash divides all that comes before it"
        readings = [Reading((g.lo, g.hi), ulp, g.units, g.mixed, assumed, read_as=g.text)] + [
            replace(r, alternative=r.alternative or divides) for r in readings
        ]
    return readings


def _tight_fractions(toks: list[Tok]) -> list[Tok] | None:
    """The tokens with each whole fraction written tight (`1/2`) right after a division or a
    power put in brackets, or None when there is none: `6 ÷ 1/2` is 6 ÷ (1/2) as a person reads
    it, and `9^1/2` is 9^(1/2), a root this module does not read."""
    out: list[Tok] = []
    i, found = 0, False
    while i < len(toks):
        t = toks[i]
        out.append(t)
        rest = toks[i + 1:i + 4]
        after = toks[i + 4] if i + 4 < len(toks) else None  # `3^7/3^3`: no fraction there
        binds = after is not None and (after.kind in (FACT, PCT) or after.kind == OP and after.value == "^")
        if not binds and (
            t.kind == OP and t.value in ("/", "^") and len(rest) == 3 and [r.kind for r in rest] == [NUM, OP, NUM]
            and rest[1].value == "/" and not rest[1].space and not rest[2].space
            and not rest[0].decimals and not rest[2].decimals
        ):
            out += [Tok(LP, rest[0].start, rest[0].start, "("), *rest, Tok(RP, rest[2].end, rest[2].end, ")")]
            i, found = i + 4, True
            continue
        i += 1
    return out if found else None


def first_number(side: Side) -> Tok | None:
    """The side's first number when it starts with one (for running totals: `= 15 + 1`)."""
    core = side.core
    return core[0] if core and core[0].kind == NUM else None


__all__ = ["MAX_DEPTH", "MAX_SIDE_TOKENS", "MAX_VALUE_BITS", "Reading", "Unreadable", "first_number", "side_readings"]
