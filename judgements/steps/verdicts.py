"""The verdict on one relation `a = b` of a step (for `judgements.steps.checker`): right, wrong, or not checked.

`judge(link)` compares the readings of the two sides (`judgements.steps.values`). The side
that computes is compared with the side that states a result (`14 \\times 12 = 158`: `158`).

- Right when some reading of each side agrees, exactly or at the written precision (`10/3 =
  3.33`; see the checker's docstring for rounding), or after converting known units
  (`1 foot^2 = 144 inches^2`).
- After `≈` a round whole number may be rounded to its last non-zero digit (`52 \\times 48
  \\approx 2500`); one within a tenth of the value may be an estimate made from rounded
  operands (`7 \\times 48 \\approx 350`): not checked.
- Not checked when only another meaning of the notation makes it hold: square brackets as the
  integer part (`\\left[ 22.8 \\right] = 22`), `÷` as the whole quotient (`49 \\div 9 = 5`
  complete cycles); or when it is a running total (`12 + 3 = 15 + 1`), a unit conversion, a
  label, two bare numbers.
- A quotient with its remainder said in words (`18 \\div 4 = 4 \\text{ remainder } 2`) is
  checked as such: 4 × 4 + 2 = 18.
- A result said to be rounded (`1000 / 3 = 333` (rounded down), to the nearest dollar) is
  compared as with `≈`; one said to be rounded up or down may be either whole neighbour
  (`250 / 48 = 6` buses (rounded up)).
- Once a solution works modulo m (`(mod 7)`, `\\pmod{7}`, "modulo 7", a 12-hour clock, in
  this step or an earlier one), a whole-number claim that holds modulo m is right (`3 \\cdot
  5 = 1`). A congruence `a ≡ b` is right when it holds modulo one of the moduli read, wrong
  only when it fails modulo the one written right after it (`16 \\equiv 2 \\pmod 5`).
- Wrong otherwise, and `certain` when no reading hides another meaning: a reading that
  assumed something (`x` in prose as ×), adds unlike units (`19g + 17h`), or whose units
  could turn the numbers into each other (`0.054 = 5.4 cents`: a factor 100) is not certain,
  and an uncertain wrong claim is reported as "not checked", with its would-be right value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from judgements.steps.chains import Side
from judgements.steps.tokens import BREAK, LP, NUM, OP, RP, UNIT, WORD
from judgements.steps.units import Units, conversion_ratios, convertible, describe, size
from judgements.steps.values import Reading, Unreadable, first_number

_REMAINDER_WORDS = {"remainder", "r", "rem", "remainders"}
# Words after a result that say it is a whole quotient: `= 5` complete cycles, `= 2 (quotient)`.
_QUOTIENT_WORDS = _REMAINDER_WORDS | {
    "quotient", "complete", "completed", "full", "whole", "left", "leftover", "leftovers", "remaining",
    "remain", "remains", "rest", "over", "times",
}
# Words after a result that say it is rounded: `=` then means `≈`.
_ROUNDING_WORDS = {"rounded", "rounding", "round", "approximately", "approx", "about", "roughly", "nearest", "estimated"}
_UP, _DOWN = {"up", "upward", "upwards", "ceiling"}, {"down", "downward", "downwards", "floor"}  # `= 6` (rounded up)
# Words after which a fraction is a quantity the sentence names (`the sum of 1/2 and 1/4`, a date
# `from 1/15 to 1/20`), not a computation: `She ate 3/8 = 0.325` is still checked.
_CONNECTIVES = {
    "and", "or", "to", "from", "between", "of", "by", "than", "until", "till", "through", "since", "on",
    "at", "with", "over", "into", "per", "as",
}
_WHOLE_DIVISIONS = ("÷", "\\div", "divided")  # not `/` or `\frac`: those are exact divisions


@dataclass(frozen=True)
class Verdict:
    """How one link was judged: `right` is the value it should have (wrong, or uncertain)."""

    status: str
    reason: str = ""
    right: str | None = None
    read_as: str = ""
    certain: bool = False


@dataclass
class Link:
    """One `a relation b` with both sides' readings (or why a side is unreadable)."""

    a: Side
    b: Side
    ra: list[Reading] | Unreadable
    rb: list[Reading] | Unreadable
    relation: str
    first: bool
    computed_before: bool
    moduli: tuple[int, ...] = ()  # the step works modulo these (`(mod 7)`, `\\pmod{7}`)
    carried: tuple[int, ...] = ()  # and earlier steps stated these (`We work mod 10.`)
    stated: tuple[int, ...] = ()  # written right after the chain (`16 \\equiv 2 \\pmod 5`)


def number_text(x: Fraction) -> str:
    """A value as a person writes it: `168`, `2.5`, `10/3 ≈ 3.33333`, `933262…0000 (156 digits)`."""
    sign, x = ("-" if x < 0 else ""), abs(x)
    if x.denominator == 1:
        digits = str(x.numerator)
        return sign + (digits if len(digits) <= 40 else f"{digits[:6]}…{digits[-4:]} ({len(digits)} digits)")
    den = x.denominator
    while den % 2 == 0:
        den //= 2
    while den % 5 == 0:
        den //= 5
    if den == 1:
        places = 0
        while (x * 10**places).denominator != 1:
            places += 1
        if places <= 12 and x < 10**40:
            whole, part = divmod(x.numerator * 10**places // x.denominator, 10**places)
            return f"{sign}{whole}.{part:0{places}d}"
    if x < 10**40 and x.denominator < 10**12:
        return f"{sign}{x.numerator}/{x.denominator} ≈ {sign}{float(x):.6g}"
    return f"≈ {sign}{float(x):.6g}" if x < 10**300 else "a very large number"


def value_text(value: tuple[Fraction, Fraction]) -> str:
    if value[0] == value[1]:
        return number_text(value[0])
    middle = (value[0] + value[1]) / 2
    return f"≈ {float(middle):.4g}" if abs(middle) < 10**300 else "≈ " + number_text(Fraction(round(middle)))


def _rounds_to(lo: Fraction, hi: Fraction, written: Fraction, ulp: Fraction) -> bool:
    """Whether `written` (a multiple of `ulp`) is some value in [lo, hi] rounded to the
    nearest multiple of `ulp` or cut toward zero at it."""
    k, a, b = written / ulp, lo / ulp, hi / ulp
    low = math.floor(a) if lo >= 0 else math.ceil(a - Fraction(1, 2))
    high = math.ceil(b) if hi <= 0 else math.floor(b + Fraction(1, 2))
    return low <= k <= high


def _round_unit(x: Fraction) -> Fraction:
    """The unit a whole number may be rounded to, by its trailing zeros (2500: 100; 7: 1)."""
    if x.denominator != 1 or x == 0:
        return Fraction(1)
    n, unit = abs(x.numerator), 1
    while n % 10 == 0:
        n, unit = n // 10, unit * 10
    return Fraction(unit)


def consistent(computed: tuple[Fraction, Fraction], written: Reading, relation: str) -> tuple[bool, bool]:
    """(the computed value and the written reading agree, only thanks to rounding)."""
    lo, hi = computed
    wlo, whi = written.value
    if lo <= whi and wlo <= hi:
        return True, lo != hi or wlo != whi
    ulp = written.ulp
    if relation == "≈" and ulp == 1 and wlo == whi and _round_unit(wlo) > 1:  # `≈ 2500`: to the hundred, maybe
        half = _round_unit(wlo) / 2
        return lo <= wlo + half and wlo - half <= hi, True
    if ulp is None or (relation == "=" and ulp == 1):
        return False, False  # with `=`, a whole number is exact
    if relation == "=" and lo == hi and (lo / ulp).denominator == 1:
        return False, False  # the exact value is writable at this precision, and was not
    return _rounds_to(lo, hi, (wlo + whi) / 2, ulp), True


def _converted(c: Reading, w: Reading) -> tuple[Fraction, Fraction] | None:
    """The computed value in the written side's units, when both are known units of one kind."""
    if c.mixed or w.mixed or c.units == w.units or not convertible(c.units, w.units):
        return None
    factor = size(c.units) / size(w.units)
    return (c.value[0] * factor, c.value[1] * factor)


def _measure(units: Units) -> Units:
    """The units of a size one can convert (lengths, times, money...); count nouns dropped."""
    return tuple((name, p) for name, p in units if conversion_ratios(((name, 1),)))


def _doubt(c: Reading, w: Reading) -> str:
    """Why a mismatch between these readings may not be a slip ("" when it is one for sure)."""
    if c.mixed or w.mixed:
        return "it adds quantities in unlike units, so the numbers alone may not be what is meant"
    if c.assumed or w.assumed:
        return f"the reading assumed {c.assumed or w.assumed}"
    cu, wu = _measure(c.units), _measure(w.units)
    if cu == wu:
        return ""
    units = f"{describe(cu)} against {describe(wu)}"
    (clo, chi), (wlo, whi) = c.value, w.value
    if clo <= 0 <= chi or wlo <= 0 <= whi:
        return "" if clo == chi == 0 or wlo == whi == 0 else f"the units differ ({units})"  # 0 is 0 in any unit
    ends = [w_ / c_ for w_ in (wlo, whi) for c_ in (clo, chi)]
    for ratio in conversion_ratios(cu + wu):  # a number without its unit may be in another unit
        if min(ends) <= ratio <= max(ends):
            return f"it may convert units ({units}): the numbers differ by a factor {number_text(ratio)}"
    return ""


def _whole_division(side: Side) -> tuple[int, int] | None:
    """(dividend, divisor) when a side is `a ÷ b` of two whole numbers, written with ÷ or words."""
    core = side.core
    if len(core) != 3 or core[0].kind != NUM or core[2].kind != NUM or core[1].kind != OP or core[1].value != "/":
        return None
    a, b = core[0].value, core[2].value
    if not isinstance(a, Fraction) or not isinstance(b, Fraction) or a.denominator != 1 or b.denominator != 1 or b <= 0:
        return None
    return (a.numerator, b.numerator) if core[1].text.startswith(_WHOLE_DIVISIONS) else None


def _remainder(side: Side) -> int | None:
    """The remainder said right after a result (`4 remainder 2`, `1 with a remainder of 77`)."""
    toks = side.after_toks
    for k, t in enumerate(toks):
        if t.kind == WORD and str(t.value).lower() in _REMAINDER_WORDS:
            for u in toks[k + 1:k + 3]:
                if u.kind == NUM and isinstance(u.value, Fraction) and u.value.denominator == 1:
                    return u.value.numerator
                if u.kind != WORD:
                    break
            return None
        if t.kind not in (WORD, UNIT):
            return None
    return None


def _says(side: Side, words: set[str]) -> bool:
    """Whether the words right after a result hold one of `words` (`= 5` complete cycles,
    `= 2 \\quad \\text{(quotient)}`, `= 333` (rounded))."""
    for t in [t for t in side.toks if t.kind == UNIT] + side.after_toks:
        if t.kind in (LP, RP) or t.kind == BREAK and t.text.startswith("\\q"):  # `\quad (quotient)`
            continue
        if t.kind not in (WORD, UNIT):
            return False
        if any(w.lower() in words for w in re.findall(r"[^\W\d_]+", t.text)):
            return True
    return False


def _quotient(link: Link, computed_side: Side, written: list[Reading]) -> Verdict | None:
    """A whole division against a whole number: with its remainder, or as the whole quotient."""
    division = _whole_division(computed_side)
    bare = [w for w in written if w.value[0] == w.value[1] and w.value[0].denominator == 1]
    if division is None or not bare or computed_side is not link.a:
        return None
    a, b = division
    q = bare[0].value[0].numerator
    shown = f"{a} ÷ {b}"
    r = _remainder(link.b)
    if r is not None:
        if q * b + r == a and 0 <= r < b:
            return Verdict("right", read_as=f"{shown} = {q} remainder {r}", certain=True)
        quotient, rest = divmod(a, b)
        return Verdict("wrong", right=f"{quotient} remainder {rest}", read_as=f"{shown} = {q} remainder {r}", certain=True)
    if q in (a // b, -(-a // b)) and _says(link.b, _QUOTIENT_WORDS):
        return Verdict("not checked", f"{q} is the whole quotient of {shown} (a remainder may be meant)", read_as=shown)
    return None


def _congruent(c: Reading, written: list[Reading], moduli: tuple[int, ...], residue: bool = False) -> int | None:
    """The modulus under which the computed and a written whole number agree, if any; with
    `residue`, only where the written number is a residue and the computed one is not (`81 = 1`
    with mod 10 stated steps before, but not `7 \\times 8 = 54` after a word on parity)."""
    lo, hi = c.value
    if lo != hi or lo.denominator != 1:
        return None
    for w in written:
        if w.value[0] == w.value[1] and w.value[0].denominator == 1:
            x = w.value[0].numerator
            for m in moduli:
                if residue and not (0 <= x < m and not 0 <= lo.numerator < m):
                    continue
                if m > 1 and (lo.numerator - x) % m == 0:
                    return m
    return None


def _congruence(link: Link) -> Verdict:
    """`a ≡ b`: right when whole readings agree modulo a modulus the solution works in; wrong
    only when exactly one modulus is written right after it (`16 \\equiv 2 \\pmod 5`: 16 ≡ 1);
    `100 \\equiv 4` after a word on Fermat mod 7 may reduce an exponent mod 6."""
    ra, rb = link.ra, link.rb
    if isinstance(ra, Unreadable) or isinstance(rb, Unreadable):
        return Verdict("not checked", str(ra if isinstance(ra, Unreadable) else rb))
    moduli = link.moduli + link.carried
    if not moduli:
        return Verdict("not checked", "a congruence with no modulus read")
    whole = [(x, y) for x in ra for y in rb if not x.alternative and not y.alternative]
    if not whole or any(r.value[0] != r.value[1] or r.value[0].denominator != 1 for pair in whole for r in pair):
        return Verdict("not checked", "a congruence between numbers that are not whole")
    c, w = whole[0]
    if any(_congruent(x, [y], moduli) is not None or x.value == y.value for x, y in whole):
        modulus = next((m for x, y in whole if (m := _congruent(x, [y], moduli))), None)
        return Verdict("right", read_as=f"{c.read_as} (mod {modulus})" if modulus else c.read_as, certain=True)
    if len(link.stated) != 1:
        return Verdict("not checked", f"a congruence with no single modulus written after it ({moduli})")
    m = link.stated[0]
    right = str(c.value[0].numerator % m)
    certain = not (c.assumed or w.assumed)
    if not certain:
        return Verdict("not checked", f"not marked: the reading assumed {c.assumed or w.assumed}", right, c.read_as)
    return Verdict("wrong", "", right, f"{c.read_as} (mod {m})", True)


def _estimate(computed: tuple[Fraction, Fraction], written: Reading) -> bool:
    """Whether a written whole round number (`350`) is within a tenth of the value (336): the
    operands may have been rounded first (`48 ≈ 50`), as in an estimate."""
    w = written.value[0]
    if w != written.value[1] or written.ulp != 1 or _round_unit(w) == 1:
        return False
    return abs(computed[0] - w) <= abs(w) / 10 and abs(computed[1] - w) <= abs(w) / 10


def judge(link: Link, rounded: set[str]) -> Verdict:
    """The verdict on one link; `rounded` collects the written numbers a right claim rounded."""
    a, b, ra, rb, relation = link.a, link.b, link.ra, link.rb, link.relation
    if relation == "≡":
        return _congruence(link)
    if relation == "=" and _says(b, _ROUNDING_WORDS):
        relation = "≈"  # `1000 / 3 = 333` (rounded down)
    if isinstance(ra, Unreadable) or isinstance(rb, Unreadable):
        return Verdict("not checked", str(ra if isinstance(ra, Unreadable) else rb))
    if a.bare and b.bare and not link.computed_before:
        return Verdict("not checked", "two numbers, no computation")
    if a.bare and b.bare and (a.has_unit or b.has_unit):
        return Verdict("not checked", "a unit conversion")
    if link.first and a.after_word and (a.bare or a.fraction and a.word.lower() in _CONNECTIVES):  # `of 1/2 and 1/4 = 3/4`
        return Verdict("not checked", "a number after a word is a label or a quantity")
    computed_side, computed, written = (a, ra, rb) if b.bare or not a.bare else (b, rb, ra)
    primary = [c for c in computed if not c.alternative]
    up, down = _says(b, _UP), _says(b, _DOWN)
    if (up or down) and _says(b, _ROUNDING_WORDS):  # `250/48 ≈ 6` buses (rounded up)
        for c in primary:
            ends = {math.ceil(c.value[1])} if up else set()
            ends |= {math.floor(c.value[0])} if down else set()
            if any(w.value[0] == w.value[1] and w.value[0] in ends for w in written):
                return Verdict("right", read_as=f"{c.read_as}, rounded {'up' if up else 'down'}", certain=True)
    for c in primary:
        for w in written:
            ok, by_rounding = consistent(c.value, w, relation)
            converted = None if ok else _converted(c, w)
            if converted is not None:
                ok, by_rounding = consistent(converted, w, relation)
            if ok:
                if by_rounding or relation == "≈":
                    written_side = a if computed_side is b else b
                    rounded.update(t.text for t in written_side.core if t.kind == NUM and t.decimals)
                return Verdict("right", read_as=c.read_as, certain=not (c.assumed or w.assumed))
    if a.bare and a.has_unit and not b.bare:
        return Verdict("not checked", "a unit conversion")  # 2 hours = 2 \times 60
    for c in computed:
        if c.alternative and any(consistent(c.value, w, relation)[0] for w in written):
            return Verdict("not checked", f"it holds if {c.alternative} ({c.read_as})", read_as=c.read_as)
    quotient = _quotient(link, computed_side, written)
    if quotient is not None:
        return quotient
    if relation == "≈" and all(r.ulp is None for r in rb):
        return Verdict("not checked", "an approximation without a written precision")  # 1024 ≈ 10^3
    if relation == "≈" and any(_estimate(c.value, w) for c in primary for w in written):
        return Verdict("not checked", "an estimate: a round number near the value")  # 7 × 48 ≈ 350
    lead = first_number(b)
    if lead is not None and not b.bare and any(r.value[0] <= lead.value <= r.value[1] for r in ra):  # type: ignore[operator]
        return Verdict("not checked", "a running total")
    if {w.lower() for w in b.after} & _REMAINDER_WORDS:
        return Verdict("not checked", "a division with a remainder")  # 100 \div 7 = 14 R 2
    c, w = primary[0], written[0]
    modulus = _congruent(c, written, link.moduli) or _congruent(c, written, link.carried, residue=True)
    if modulus is not None:
        return Verdict("right", read_as=f"{c.read_as} (mod {modulus})", certain=True)
    right = value_text(c.value)
    doubts = [_doubt(x, y) for x in primary for y in written]
    doubt = next((d for d in doubts if d), "")
    if doubt:
        return Verdict("not checked", f"not marked: {doubt}", right, c.read_as, False)
    return Verdict("wrong", "", right, c.read_as, True)


__all__ = ["Link", "Verdict", "consistent", "judge", "number_text", "value_text"]
