"""The step checker: a solution's steps, and every arithmetic claim in them checked exactly.

- `split_steps(text)`: the steps of a solution: display equations (`$$...$$`, `\\[...\\]`,
  `\\begin{align*}...`) and the non-empty lines between them. Each step knows its paragraph
  (blank-line-separated, as a process reward model numbers its steps).
- `check_solution(text, problem="")`: every claim `a op b = c` (chains `a = b = c`, `≈`) in
  every step: "right", "wrong" (with the right value) or "not checked" (with the reason). Each
  claim says what it read (`read_as`: `14 × 12`) and whether that reading involved a guess
  (`certain`); `Claim.mark()` is the sentence a page shows ("read as 14 × 12; that is 168, not
  158"). A claim is "wrong" only when it is wrong under every reading of its notation and the
  reading guessed nothing; one that would be wrong under a guessed reading (`x` in prose as ×,
  unlike units, a possible unit conversion) is "not checked", with its would-be right value
  (`SolutionCheck.unsure`). `SolutionCheck.wrong` (what a page marks) holds only certain ones:
  `14 \\times 12 = 158` is wrong and should be 168.
- `checked_vote(samples)`: Maj@N among the samples with no wrong claim, else Maj@N.
- `step_key(text)`: what a step says, normalised (spacing, `\\left`, `1,000` = `1000`,
  `2.50` = `2.5`); for a step with an equation, the equation itself (for `judgements.reasoning_map`).

How real text is read (the modules of this package, each with the rules of its job):
`delimiters` (where math is; a `$` is money unless it pairs as math; nested delimiters),
`tokens` (numbers, letters, units, operators: a letter in math is a variable, never dropped;
a symbol the problem defines, `@`, `\\star`, `\\circ`, is no arithmetic), `chains` (where a
side starts and ends), `values` (exact values, units, the readings of a side), `units` (unit
words and conversions), `verdicts` (right, wrong or not checked, and how sure), `marks` (the
sentence). Values are computed with `Fraction` under hard size bounds; nothing calls sympy, so
a check never waits on a parser. A claim the checker cannot read (a variable, a function value
`f'(5) = 0`, `\\pi`, a number past the bounds such as `10^{10^{10}}`) is "not checked", never
"wrong". Prose that only looks like arithmetic is not read as a claim: dates and ranges
(`2019-2020`, `3-5 days`), ratios `3:4`, labels (`step 1 = ...`: a bare number right after a
prose word is not compared with a result), unit conversions (`1 hour = 60 minutes`, `2 hours =
2 \\times 60`), a whole quotient said in words (`49 \\div 9 = 5` complete cycles; with its
remainder, `18 \\div 4 = 4 \\text{ remainder } 2` is checked as such), a claim the sentence
itself rejects (`..., which is not true`), asks (`Is 7 \\times 8 = 54? No.`) or takes back
(`7 \\times 8 = 54. Wait, ...`), and two bare numbers unless a computation earlier in
the chain makes the second a result (`3 \\times 4 = 12 = 13` is wrong). A step that starts with
`=` (an align row, the next display) continues the previous step's last side. A modulus the
solution states (`(mod 7)`, `\\pmod{7}`, "we work modulo 10", a 12-hour clock) holds from that
step on: a claim that holds modulo it is right, and `a \\equiv b` is checked against it.

Rounding, a judgement call: a written decimal is right when it is the exact value rounded to
its number of decimals or cut there (`10/3 = 3.33`, `2/3 = 0.66`; not `10/3 = 3.32`, not
`\\sqrt{2} = 1.5`); a whole number after `=` must be exact (`10/3 = 3` is wrong), after `≈` it
may be rounded (`10/3 ≈ 3`); `≈` with no written precision (`1024 ≈ 10^3`) is not checked. A
number a claim rounded stands for its rounding later on (`10/3 ≈ 3.33`, then `3.33 \\times 3 =
10` is right), and a decimal operand may itself be rounded (`3.14 \\times 25 = 78.54` is not
checked; money is exact). A bare percent reads as a share or as the number (`\\frac{30}{120}
\\times 100 = 25\\%` is right). `12 + 3 = 15 + 1 = 16` is a running total, not an equation: a
side that starts from the previous result is not compared with it."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from judgements.latex import group_end
from judgements.steps.chains import Chain, Side, chains
from judgements.steps.marks import mark_text
from judgements.steps.tokens import defines_star, tokenize
from judgements.steps.values import Reading, Unreadable, side_readings
from judgements.steps.verdicts import Link, Verdict, judge

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
    the side taken as the result (`158`), `right` the value it should have (`168`: when wrong,
    and when it would be wrong but the reading is not certain), `span` the [start, end) of the
    claim in the solution text, `reason` why it was not checked. `read_as` is the computing
    side as the checker read it (`14 × 12`), `certain` whether that reading involved no guess
    (a wrong claim that is not certain is reported "not checked": see `mark_text`)."""

    step: int
    text: str
    written: str
    right: str | None
    span: tuple[int, int]
    status: ClaimStatus
    relation: str = "="
    reason: str = ""
    read_as: str = ""
    certain: bool = True

    def mark(self) -> str:
        """The sentence a page shows for this claim (`judgements.steps.marks.mark_text`)."""
        return mark_text(self)


@dataclass(frozen=True)
class SolutionCheck:
    """A solution's steps and claims; `truncated` when a bound left part of it unchecked."""

    steps: tuple[Step, ...]
    claims: tuple[Claim, ...]
    truncated: bool = False

    @property
    def wrong(self) -> tuple[Claim, ...]:
        """The claims wrong with certainty: the only ones a page marks."""
        return tuple(c for c in self.claims if c.status == "wrong" and c.certain)

    @property
    def wrong_steps(self) -> frozenset[int]:
        return frozenset(c.step for c in self.wrong)

    @property
    def has_wrong(self) -> bool:
        return any(c.status == "wrong" and c.certain for c in self.claims)

    @property
    def unsure(self) -> tuple[Claim, ...]:
        """Claims that would be wrong under the checker's reading, a reading it is not sure of."""
        return tuple(c for c in self.claims if c.status == "not checked" and c.right is not None)

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


@dataclass
class _Carry:
    """The last side of a step, which a next step starting with `=` continues."""

    side: Side
    readings: list[Reading] | Unreadable
    text: str
    computed: bool


_STARTS_WITH_RELATION = re.compile(r"\s*(?:\$\$?|\\\[|\\\(|\\begin\{[^}]*\})?\s*&?\s*(?:=|\\approx|≈)")
_ENDS_AFTER = re.compile(r"[\s$.,;\\\])]*(?:\\end\{[^}]*\})?[\s$.,]*")


def _readings(side: Side, rounded: set[str]) -> list[Reading] | Unreadable:
    try:
        return side_readings(side, frozenset(rounded))
    except Unreadable as exc:
        return exc


_MODULUS = re.compile(
    r"(?:\\[pb]?mod\s*\{?\s*|\bmod(?:ulo)?\s*\$?\s*|\\text\{\s*mod(?:ulo)?\s*\}\s*)(\d+)|\b(\d+)[- ]hour\s+clock"
)
_SENTENCE_END = re.compile(r"[.;!?\n]|\\\\|\\\]")
_DENIAL = re.compile(
    r"\b(?:(?:is|are|was|isn't|not)\s+(?:not\s+)?(?:true|correct|equal|valid|possible|right)|false|untrue|incorrect|"
    r"wrong|contradiction|contradicts|impossible|extraneous|invalid|fails|"
    r"(?:does|do|did)\s*n[o']t\s+(?:hold|work|satisfy|equal|match|check)|(?:does|do|did)\s*n[o']t\s*$|doesn't|"
    r"not\s+(?:hold|work|satisfy|satisfied|the case|so)|cannot|can't|can\s+not|absurd|"
    r"(?:is\s+)?never\s+(?:holds?|works?|happens?|equals?|true))\b|"
    r"^[\s$,)]*(?:[-—–]\s*)?(?:(?:it|this|that)\s+)?should\s+(?:be|have\s+been)\b|"
    r"\(no\)|—\s*no\b|✗|❌",
    re.IGNORECASE,
)
DENIAL_REACH = 60
"""How far after a claim (characters) a denial of it may stand."""
# Words that start a clause about something else between a claim and a denial.
_NEW_CLAUSE = re.compile(
    r"\b(?:so|then|therefore|thus|hence|because|since|meaning|means|if|when|while|he|she|they|we|you|i|there)\b",
    re.IGNORECASE,
)
# Before a claim, in its sentence: it is supposed or said not to hold (`It is not true that ...`).
_DENIED_BEFORE = re.compile(
    r"\b(?:suppos(?:e|ing)|assum(?:e|ing)|not true that|false that|incorrect|mistake|wrong)\b[^.;!?\n]*$|"
    r"(?:^|[.;:!?\n]\s*)not\s*\$?\s*$",
    re.IGNORECASE,
)


_CORRECTION = re.compile(
    r"[\s.$)]*(?:no\b\s*[,.!]|no,?\s+wait|wait\b|actually\b|oops\b|hmm\b|correction\b|sorry\b|scratch that|"
    r"let me (?:re|double)|let's (?:re|double)|that's not right|i made)",
    re.IGNORECASE,
)


def _denied(text: str, start: int, end: int) -> bool:
    """Whether the text right after a claim says it does not hold (`1 = \\sqrt{9} + 4`, which
    is not true), asks it (`Is 7 \\times 8 = 54? No.`) or takes it back (`7 \\times 8 = 54. Wait,
    ...`), or the text before it supposes it or says it is false (`Suppose 2 \\times 4 = 9`): a
    candidate being rejected or a slip corrected on the spot, not a slip left standing."""
    before = text[max(0, start - 80):start].replace("$", " ")
    if _DENIED_BEFORE.search(before):
        return True
    rest = text[end:end + 120]
    cut = _SENTENCE_END.search(rest.replace("$", " "))
    if cut is None:
        return _says_no(rest)
    if _says_no(rest[:cut.start()]) or cut.group() == "?":
        return True
    return _CORRECTION.match(rest, cut.end()) is not None


def _says_no(sentence: str) -> bool:
    """Whether the rest of a claim's sentence says that the claim does not hold: a denial close
    after it (`, which is impossible`, `is false`, `(no)`), not one that a new clause says of
    something else (`so she cannot share them`, `and we should be careful`)."""
    found = _DENIAL.search(sentence[:DENIAL_REACH])
    return found is not None and _NEW_CLAUSE.search(sentence[:found.start()]) is None


_LETTER_MODULUS = re.compile(r"(?:\\[pb]?mod\s*\{?\s*|\bmod(?:ulo)?\s+\$?\s*|\\text\{\s*mod(?:ulo)?\s*\}\s*)[A-Za-z\\]")


_STATED_MODULUS = re.compile(
    r"[\s$]*(?:\\[,;: !]|\\q?quad\b|~)*[\s$]*\(?\s*(?:\\[pb]?mod\b|\bmod(?:ulo)?\b|\\text\{\s*mod)"
)
"""A modulus written right after a chain (`\\pmod 5`, `(mod 5)`, `\\quad (\\text{mod } 5)`)."""

_Moduli = tuple[tuple[int, ...], tuple[int, ...]]
"""The moduli a step states, and those only earlier steps stated."""


def _moduli(text: str) -> tuple[int, ...]:
    """The moduli a text works in: `(mod 7)`, `\\pmod{7}`, "modulo 7", a 12-hour clock."""
    found = (m.group(1) or m.group(2) for m in _MODULUS.finditer(text[:MAX_TEXT_CHARS]))
    return tuple(dict.fromkeys(int(m) for m in found if len(m) <= 12))[:8]


def _chain_claims(chain: Chain, step: Step, rounded: set[str], carry: _Carry | None, moduli: _Moduli) -> list[Claim]:
    """The claims of one chain; `carry` stands in for an empty first side (`= 18 - 9 + 1`);
    `moduli` are those this step states and those earlier steps did."""
    text, offset = step.text, step.start
    readings = [_readings(side, rounded) for side in chain.sides]
    head = chain.sides[0]
    if carry is not None and (head.toks or head.start != head.end):
        carry = None
    if carry is not None:
        readings[0] = carry.readings
    claims = []
    computed_before = carry is not None and carry.computed
    tail = text[chain.sides[-1].end:chain.sides[-1].end + 60]
    stated = _moduli(tail)[:1] if _STATED_MODULUS.match(tail) else ()  # `16 \equiv 2 \pmod 5`: its own
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
        verdict = judge(Link(a, b, ra, rb, relation, i == 0, computed_before, *moduli, stated), rounded)
        if verdict.status == "wrong" and _denied(text, start, end):
            verdict = Verdict("not checked", "the text itself says it does not hold", verdict.right, verdict.read_as)
        claims.append(
            Claim(
                step.index, shown, written_text, verdict.right, (offset + start, offset + end), verdict.status,  # type: ignore[arg-type]
                relation, verdict.reason, verdict.read_as, verdict.certain,
            )
        )
    return claims


def _check_step(
    step: Step, rounded: set[str], carry: _Carry | None, star: bool, moduli: _Moduli
) -> tuple[list[Claim], _Carry | None]:
    found = chains(tokenize(step.text, star_defined=star))
    if not _STARTS_WITH_RELATION.match(step.text):
        carry = None
    claims = []
    for n, chain in enumerate(found):
        claims.extend(_chain_claims(chain, step, rounded, carry if n == 0 else None, moduli))
    if not found:
        return claims, None
    last = found[-1].sides[-1]
    if last.poisoned or len(step.text) - last.end > 64 or not _ENDS_AFTER.fullmatch(step.text, last.end):
        return claims, None
    computed = any(not side.bare for side in found[-1].sides if side.toks)
    return claims, _Carry(last, _readings(last, rounded), step.text[last.start:last.end], computed)


def check_solution(text: str, problem: str = "") -> SolutionCheck:
    """Every step of a solution and every claim in it, in order. `problem`, when given, is
    read for the operations it defines (`a * b = 2a + b`: `*` is then not a product)."""
    text = text or ""
    star = defines_star(problem[:MAX_TEXT_CHARS]) or defines_star(text[:MAX_TEXT_CHARS])
    steps = split_steps(text)
    rounded: set[str] = set()
    claims: list[Claim] = []
    truncated = len(text) > MAX_TEXT_CHARS or len(steps) >= MAX_STEPS
    carry: _Carry | None = None
    earlier = _moduli(problem)
    for step in steps:
        if len(step.text) > MAX_STEP_CHARS:
            truncated, carry = True, None
            continue
        own = _moduli(step.text)
        carried = tuple(m for m in earlier if m not in own)  # `We work mod 10.` holds from there on
        earlier = tuple(dict.fromkeys(earlier + own))[:8]
        here = ((), ()) if _LETTER_MODULUS.search(step.text[:MAX_STEP_CHARS]) else (own, carried)  # `\pmod{n}`
        found, carry = _check_step(step, rounded, carry, star, here)
        claims.extend(found)
        if len(claims) > MAX_CLAIMS:
            claims, truncated = claims[:MAX_CLAIMS], True
            break
    return SolutionCheck(tuple(steps), tuple(claims), truncated)


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
    "checked_vote",
    "equations",
    "normalize_step",
    "split_steps",
    "step_key",
]
