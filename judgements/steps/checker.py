"""The step checker: a solution's steps, and every arithmetic claim in them checked exactly.

- `split_steps(text)`: the steps of a solution: display equations (`$$...$$`, `\\[...\\]`,
  `\\begin{align*}...`) and the non-empty lines between them. Each step knows its paragraph
  (blank-line-separated, as a process reward model numbers its steps).
- `check_solution(text)`: every claim `a op b = c` (chains `a = b = c`, `≈`) in every step:
  "right", "wrong" (with the right value) or "not checked". `wrong_claims(text)` keeps the
  wrong ones: `14 \\times 12 = 158` is wrong and should be 168.
- `checked_vote(samples)`: Maj@N among the samples with no wrong claim, else Maj@N.
- `step_key(text)`: what a step says, normalised (spacing, `\\left`, `1,000` = `1000`,
  `2.50` = `2.5`); for a step with an equation, the equation itself (for `judgements.reasoning_map`).

Values are computed with `Fraction` under hard size bounds (`judgements.steps.values`); nothing here
calls sympy, so a check never waits on a parser. A claim the checker cannot read (a variable,
`\\pi`, a number past the bounds such as `10^{10^{10}}`) is "not checked", never "wrong". Prose
that only looks like arithmetic is not read as a claim (`judgements.steps.tokens`): dates and ranges
(`2019-2020`, `3-5 days`), ratios `3:4`, labels (`step 1 = ...`: a bare number right after a
word is not compared with a result), unit conversions (`1 hour = 60 minutes`, `2 hours = 2
\\times 60`), remainders (`100 \\div 7 = 14 R 2`), and two bare numbers unless a computation
earlier in the chain makes the second a result (`3 \\times 4 = 12 = 13` is wrong). A step that
starts with `=` (an align row, the next display) continues the previous step's last side.

Rounding, a judgement call: a written decimal is right when it is the exact value rounded to
its number of decimals or cut there (`10/3 = 3.33`, `2/3 = 0.66`; not `10/3 = 3.32`, not
`\\sqrt{2} = 1.5`); a whole number after `=` must be exact (`10/3 = 3` is wrong), after `≈` it
may be rounded (`10/3 ≈ 3`); `≈` with no written precision (`1024 ≈ 10^3`) is not checked. A
number a claim rounded stands for its rounding later on (`10/3 ≈ 3.33`, then `3.33 \\times 3 =
10` is right). A bare percent reads as a share or as the number (`\\frac{30}{120} \\times 100 =
25\\%` is right). `12 + 3 = 15 + 1 = 16` is a running total, not an equation: a side that starts
from the previous result is not compared with it.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from judgements.latex import group_end
from judgements.steps.tokens import NUM, Chain, Side, chains, tokenize
from judgements.steps.values import Reading, Unreadable, first_number, side_readings

if TYPE_CHECKING:
    from judgements.answers import Vote
    from judgements.solution import Solution

MAX_TEXT_CHARS = 200_000
"""Only this much of a solution is split and checked (the answers module's bound)."""

MAX_STEP_CHARS = 20_000
"""A longer step is kept as a step but its claims are not checked."""

MAX_STEPS = 2_000
"""Steps past this many are not split off (the rest of the text is left out)."""

MAX_CLAIMS = 4_000
"""Claims past this many in one solution are not checked."""

ClaimStatus = Literal["right", "wrong", "not checked"]
StepKind = Literal["line", "display"]


@dataclass(frozen=True)
class Step:
    """One step: `text[start:end]` of the solution, its position and its paragraph."""

    index: int
    paragraph: int
    start: int
    end: int
    text: str
    kind: StepKind


@dataclass(frozen=True)
class Claim:
    """One relation between two sides, as written: `text` is `14 \\times 12 = 158`, `written`
    the side taken as the result (`158`), `right` the value it should have (`168`, only when
    wrong), `span` the [start, end) of the claim in the solution text, `reason` why it was not
    checked."""

    step: int
    text: str
    written: str
    right: str | None
    span: tuple[int, int]
    status: ClaimStatus
    relation: str = "="
    reason: str = ""


@dataclass(frozen=True)
class SolutionCheck:
    """A solution's steps and claims; `truncated` when a bound left part of it unchecked."""

    steps: tuple[Step, ...]
    claims: tuple[Claim, ...]
    truncated: bool = False

    @property
    def wrong(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if c.status == "wrong")

    @property
    def wrong_steps(self) -> frozenset[int]:
        return frozenset(c.step for c in self.wrong)

    @property
    def has_wrong(self) -> bool:
        return any(c.status == "wrong" for c in self.claims)

    @property
    def checked(self) -> int:
        """Claims read and checked (right or wrong)."""
        return sum(c.status != "not checked" for c in self.claims)

    def in_step(self, step: int) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if c.step == step)


# --- steps ---------------------------------------------------------------------------------------

_DISPLAY = re.compile(r"\$\$|\\\[|\\begin\{(align|aligned|equation|gather|eqnarray|multline|flalign|alignat)(\*?)\}")
_BLANK_LINE = re.compile(r"\n\s*\n")


def _display_end(text: str, match: re.Match[str]) -> int | None:
    opener = match.group()
    if opener == "$$":
        closer = "$$"
    elif opener == "\\[":
        closer = "\\]"
    else:
        closer = f"\\end{{{match.group(1)}{match.group(2)}}}"
    at = text.find(closer, match.end())
    return None if at < 0 else at + len(closer)


def _paragraph_starts(text: str) -> list[int]:
    """Where each non-empty blank-line-separated paragraph starts."""
    starts, pos = [], 0
    for gap in _BLANK_LINE.finditer(text):
        if text[pos:gap.start()].strip():
            starts.append(pos)
        pos = gap.end()
    if text[pos:].strip():
        starts.append(pos)
    return starts


def split_steps(text: str) -> list[Step]:
    """The steps of a solution, in order (see the module docstring)."""
    text = (text or "")[:MAX_TEXT_CHARS]
    starts = _paragraph_starts(text)
    pieces: list[tuple[int, int, StepKind]] = []

    def lines(lo: int, hi: int) -> None:
        for line in re.finditer(r"[^\n]+", text[lo:hi]):
            raw = line.group()
            if raw.strip():
                begin = lo + line.start() + (len(raw) - len(raw.lstrip()))
                pieces.append((begin, lo + line.start() + len(raw.rstrip()), "line"))

    pos = 0
    for match in _DISPLAY.finditer(text):
        if match.start() < pos:
            continue
        lines(pos, match.start())
        end = _display_end(text, match)
        if end is None:  # never closed: the display runs to the end of its paragraph
            gap = _BLANK_LINE.search(text, match.end())
            end = gap.start() if gap else len(text)
        pieces.append((match.start(), end, "display"))
        pos = end
        if len(pieces) >= MAX_STEPS:
            break
    if len(pieces) < MAX_STEPS:
        lines(pos, len(text))
    return [
        Step(i, max(bisect.bisect_right(starts, lo) - 1, 0), lo, hi, text[lo:hi], kind)
        for i, (lo, hi, kind) in enumerate(pieces[:MAX_STEPS])
    ]


# --- claims --------------------------------------------------------------------------------------


def _number_text(x: Fraction) -> str:
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


def _value_text(value: tuple[Fraction, Fraction]) -> str:
    if value[0] == value[1]:
        return _number_text(value[0])
    middle = (value[0] + value[1]) / 2
    return f"≈ {float(middle):.4g}" if abs(middle) < 10**300 else "≈ " + _number_text(Fraction(round(middle)))


def _rounds_to(lo: Fraction, hi: Fraction, written: Fraction, ulp: Fraction) -> bool:
    """Whether `written` (a multiple of `ulp`) is some value in [lo, hi] rounded to the
    nearest multiple of `ulp` or cut toward zero at it."""
    k, a, b = written / ulp, lo / ulp, hi / ulp
    low = math.floor(a) if lo >= 0 else math.ceil(a - Fraction(1, 2))
    high = math.ceil(b) if hi <= 0 else math.floor(b + Fraction(1, 2))
    return low <= k <= high


def _consistent(computed: Reading, written: Reading, relation: str) -> tuple[bool, bool]:
    """(the two readings agree, only thanks to rounding at the written precision)."""
    lo, hi = computed.value
    wlo, whi = written.value
    if lo <= whi and wlo <= hi:
        return True, lo != hi or wlo != whi
    ulp = written.ulp
    if ulp is None or (relation == "=" and ulp == 1):
        return False, False  # with `=`, a whole number is exact
    if relation == "=" and lo == hi and (lo / ulp).denominator == 1:
        return False, False  # the exact value is writable at this precision, and was not
    return _rounds_to(lo, hi, (wlo + whi) / 2, ulp), True


def _link_status(
    left: list[Reading], right: list[Reading], left_side: Side, right_side: Side, relation: str
) -> tuple[bool, bool, list[Reading]]:
    """(consistent, only by rounding, the computed side's readings) of one `left rel right`."""
    if right_side.bare or not left_side.bare:
        computed, written = left, right
    else:
        computed, written = right, left
    for c in computed:
        for w in written:
            ok, rounded = _consistent(c, w, relation)
            if ok:
                return True, rounded, computed
    return False, False, computed


@dataclass
class _Carry:
    """The last side of a step, which a next step starting with `=` continues."""

    side: Side
    readings: list[Reading] | Unreadable
    text: str
    computed: bool


_STARTS_WITH_RELATION = re.compile(r"\s*(?:\$\$?|\\\[|\\\(|\\begin\{[^}]*\})?\s*&?\s*(?:=|\\approx|≈)")
_ENDS_AFTER = re.compile(r"[\s$.,;\\\])]*(?:\\end\{[^}]*\})?[\s$.,]*")
_REMAINDER = {"remainder", "r", "rem"}


def _readings(side: Side, rounded: set[str]) -> list[Reading] | Unreadable:
    try:
        return side_readings(side, frozenset(rounded))
    except Unreadable as exc:
        return exc


def _verdict(
    a: Side, b: Side, ra: list[Reading] | Unreadable, rb: list[Reading] | Unreadable, relation: str, first: bool,
    computed_before: bool, rounded: set[str],
) -> tuple[ClaimStatus, str, str | None]:
    """(status, why not checked, right value when wrong) of one link `a relation b`."""
    if isinstance(ra, Unreadable) or isinstance(rb, Unreadable):
        return "not checked", str(ra if isinstance(ra, Unreadable) else rb), None
    if a.bare and b.bare and not computed_before:
        return "not checked", "two numbers, no computation", None
    if a.bare and b.bare and (a.has_unit or b.has_unit):
        return "not checked", "a unit conversion", None
    if a.bare and first and a.after_word:
        return "not checked", "a number after a word is a label or a quantity", None
    if a.bare and a.has_unit and not b.bare:
        return "not checked", "a unit conversion", None  # 2 hours = 2 \times 60
    ok, by_rounding, computed = _link_status(ra, rb, a, b, relation)
    if not ok and relation == "≈" and all(r.ulp is None for r in rb):
        return "not checked", "an approximation without a written precision", None  # 1024 ≈ 10^3
    if ok:
        if by_rounding or relation == "≈":
            written = a if (a.bare and not b.bare) else b
            rounded.update(t.text for t in written.core if t.kind == NUM and t.decimals)
        return "right", "", None
    lead = first_number(b)
    if lead is not None and not b.bare and any(r.value[0] <= lead.value <= r.value[1] for r in ra):  # type: ignore[operator]
        return "not checked", "a running total", None
    if {w.lower() for w in b.after} & _REMAINDER:
        return "not checked", "a division with a remainder", None  # 100 \div 7 = 14 R 2
    return "wrong", "", _value_text(computed[0].value)


def _chain_claims(chain: Chain, step: Step, rounded: set[str], carry: _Carry | None) -> list[Claim]:
    """The claims of one chain; `carry` stands in for an empty first side (`= 18 - 9 + 1`)."""
    text, offset = step.text, step.start
    readings = [_readings(side, rounded) for side in chain.sides]
    head = chain.sides[0]
    if carry is not None and (head.toks or head.start != head.end):
        carry = None
    if carry is not None:
        readings[0] = carry.readings
    claims = []
    computed_before = carry is not None and carry.computed
    for i, relation in enumerate(chain.rels):
        a = carry.side if carry is not None and i == 0 else chain.sides[i]
        b = chain.sides[i + 1]
        ra, rb = readings[i], readings[i + 1]
        computed_before = (computed_before or not a.bare) if not isinstance(ra, Unreadable) else False
        written = a if (a.bare and not b.bare) else b
        if carry is not None and i == 0:
            start, end = b.start, b.end
            shown = f"{carry.text} {relation} {text[b.start:b.end]}"
            written_text = carry.text if written is a else text[b.start:b.end]
        else:
            start, end = (a.start if a.toks or a.poisoned else b.start), max(b.end, a.end)
            shown, written_text = text[start:end], text[written.start:written.end]
        status, reason, right = _verdict(a, b, ra, rb, relation, i == 0, computed_before, rounded)
        claims.append(Claim(step.index, shown, written_text, right, (offset + start, offset + end), status, relation, reason))
    return claims


def _check_step(step: Step, rounded: set[str], carry: _Carry | None) -> tuple[list[Claim], _Carry | None]:
    found = chains(tokenize(step.text))
    if not _STARTS_WITH_RELATION.match(step.text):
        carry = None
    claims = []
    for n, chain in enumerate(found):
        claims.extend(_chain_claims(chain, step, rounded, carry if n == 0 else None))
    if not found:
        return claims, None
    last = found[-1].sides[-1]
    if last.poisoned or len(step.text) - last.end > 64 or not _ENDS_AFTER.fullmatch(step.text, last.end):
        return claims, None
    computed = any(not side.bare for side in found[-1].sides if side.toks)
    return claims, _Carry(last, _readings(last, rounded), step.text[last.start:last.end], computed)


def check_step(step: Step, rounded: set[str] | None = None) -> list[Claim]:
    """Every claim in one step; `rounded` collects the numbers earlier claims rounded."""
    if len(step.text) > MAX_STEP_CHARS:
        return []
    return _check_step(step, set() if rounded is None else rounded, None)[0]


def check_solution(text: str) -> SolutionCheck:
    """Every step of a solution and every claim in it, in order."""
    text = text or ""
    steps = split_steps(text)
    rounded: set[str] = set()
    claims: list[Claim] = []
    truncated = len(text) > MAX_TEXT_CHARS or len(steps) >= MAX_STEPS
    carry: _Carry | None = None
    for step in steps:
        if len(step.text) > MAX_STEP_CHARS:
            truncated, carry = True, None
            continue
        found, carry = _check_step(step, rounded, carry)
        claims.extend(found)
        if len(claims) > MAX_CLAIMS:
            claims, truncated = claims[:MAX_CLAIMS], True
            break
    return SolutionCheck(tuple(steps), tuple(claims), truncated)


def wrong_claims(text: str) -> list[Claim]:
    """The claims of a solution that are wrong, each with its right value."""
    return list(check_solution(text).wrong)


# --- what a step says ----------------------------------------------------------------------------

_TEXT_WRAPPERS = re.compile(r"\\(?:text|textrm|textbf|textit|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\\[,;:! >]|\\(?:quad|qquad|enspace|thinspace|displaystyle|textstyle)(?![A-Za-z])|~")
_SIZING = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![A-Za-z])")
_DELIMITERS = re.compile(r"\\\$|\$\$?|\\[()\[\]]")
_GROUPED = re.compile(r"(?<![\d.])(\d{1,3})((?:(?:,|\{,\})\d{3})+)(?!\d)")
_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_UNICODE_OPS = {"×": "\\times", "·": "\\cdot", "⋅": "\\cdot", "÷": "\\div", "−": "-", "≈": "\\approx"}


def normalize_step(text: str) -> str:
    """What a step says, with spacing, sizing, math delimiters and number formatting dropped."""
    s = text[:MAX_STEP_CHARS]
    for symbol, command in _UNICODE_OPS.items():
        s = s.replace(symbol, f" {command} ")
    s = _TEXT_WRAPPERS.sub(r" \1 ", s)
    s = _SPACING.sub(" ", s)
    s = _SIZING.sub("", s)
    s = _DELIMITERS.sub(" ", s)
    s = re.sub(r"\\[dtc]frac(?![A-Za-z])", r"\\frac", s)
    s = _GROUPED.sub(lambda m: m.group(1) + re.sub(r"\D", "", m.group(2)), s)
    s = _DECIMAL.sub(lambda m: m.group(1) + ("." + m.group(2).rstrip("0") if m.group(2).rstrip("0") else ""), s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"\s*([^\w\s\\])\s*", r"\1", s)
    s = re.sub(r"\s+(?=\\[A-Za-z])", "", s)  # `14 \times` = `14\times`
    return re.sub(r"(\\[A-Za-z]+)\s+(?![A-Za-z])", r"\1", s)


def equations(text: str, *, written: bool = False) -> tuple[str, ...]:
    """The equations a step states, each normalised: `She puts $20 - 5 = 15$ flowers` and
    `That leaves 20 − 5 = 15.` both state `20-5=15`. With `written`, as written instead
    (spaces collapsed): `20 - 5 = 15`."""
    if len(text) > MAX_STEP_CHARS:
        return ()
    found = []
    for chain in chains(tokenize(text)):
        sides = [side for side in chain.sides if side.end > side.start]
        if len(sides) >= 2:
            span = text[chain.sides[0].start:chain.sides[-1].end]
            found.append(" ".join(span.split()) if written else normalize_step(span))
    return tuple(found)


_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` of a text, or None."""
    last = None
    for last in _BOXED.finditer(text):  # only the last one is wanted
        pass
    if last is None:
        return None
    end = group_end(text, last.end() - 1)
    return text[last.end():end - 1] if end is not None else None


def step_key(text: str) -> str:
    """The key under which steps are the same in the reasoning map: the equations of a step
    with any; else, for a step that states a boxed answer, that answer (`So the answer is
    $\\boxed{7}$` = `The answer is $\\boxed{7}$`); else its normalised text."""
    found = equations(text)
    if found:
        return "= " + " ; ".join(found)
    boxed = _boxed(text[:MAX_STEP_CHARS])
    return f"boxed: {normalize_step(boxed)}" if boxed is not None else normalize_step(text)


# --- the checked vote ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedVote:
    """Maj@N among the samples with no wrong claim: `kept` are their positions in the list
    voted on; `fell_back` when none of them had an answer, so the vote is Maj@N of all."""

    vote: Vote
    kept: tuple[int, ...]
    fell_back: bool

    @property
    def answer(self) -> str | None:
        return self.vote.answer


def checked_vote(samples: Sequence[Solution], checks: Sequence[SolutionCheck] | None = None) -> CheckedVote:
    """Maj@N over the samples whose steps hold no wrong claim (`checks`, one per sample, are
    computed when not given); Maj@N over all when none of those has an answer."""
    from judgements.answers import majority_vote

    if checks is None:
        checks = [check_solution(s.text) for s in samples]
    kept = tuple(i for i, (s, c) in enumerate(zip(samples, checks)) if not c.has_wrong)
    if any(samples[i].answer for i in kept):
        return CheckedVote(majority_vote([samples[i].answer for i in kept]), kept, False)
    return CheckedVote(majority_vote([s.answer for s in samples]), kept, True)


__all__ = [
    "CheckedVote",
    "Claim",
    "SolutionCheck",
    "Step",
    "check_solution",
    "check_step",
    "checked_vote",
    "equations",
    "normalize_step",
    "split_steps",
    "step_key",
    "wrong_claims",
]
