"""Relation chains in a step's tokens: `side = side ≈ side ...` (for `judgements.steps.checker`).

`chains(tokens)` cuts a step's tokens (`judgements.steps.tokens`) into chains. Each side is
trimmed of the prose around it and flagged when a variable, a function or an operation the
checker does not know takes part in it (`poisoned`: its claim is then not checked):

- scanning away from a relation, a side takes operands and operators; a prose word before a
  number ends it (`has 25 × 2`), a word joined to an operator (`x + 3`, `f(3)`), a function's
  name (`cos 60° × 2`, `= 2 sin 30°`) or an operation in words (`5 less than 3 × 6`) poisons it;
- two numbers side by side never multiply (`1 000` is not read), and an implicit product
  needs no space between or math mode (`(2) 3 + 4` in prose is a list marker); a side that
  continues a measure (`2 h 30 min × 2`, `5 ft 10 in`) is not read;
- on the right, a unit or word after the number ends the side; the tokens after it are kept
  (`after_toks`) so the checker can read a remainder said in words (`= 4 remainder 2`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from judgements.steps.tokens import (
    BINOM, BREAK, FACT, FRAC, LP, NUM, OP, PCT, POISON, REL, RP, SQRT, SUBFACT, UNIT, WORD, Tok,
)
from judgements.steps.units import known, unit_powers

TRAILING_TOKENS = 6
"""Tokens kept after a right side, for what is said right after a result."""


@dataclass
class Side:
    """One side of a relation: its tokens (units kept, flagged), span, and what it is."""

    toks: list[Tok]
    start: int
    end: int
    poisoned: bool = False
    after_word: bool = False  # a prose word right before it (`step 1 = ...`)
    word: str = ""  # that word
    after: list[str] = field(default_factory=list)  # its unit words and the word after it
    after_toks: list[Tok] = field(default_factory=list)  # the tokens right after it

    @property
    def core(self) -> list[Tok]:
        return [t for t in self.toks if t.kind != UNIT]

    @property
    def bare(self) -> bool:
        """A single number (maybe signed, with a percent or a unit), no computation."""
        core = self.core
        if core and core[0].kind == OP and core[0].value in "+-":
            core = core[1:]
        return len(core) >= 1 and core[0].kind == NUM and all(t.kind == PCT for t in core[1:]) and len(core) <= 2

    @property
    def fraction(self) -> bool:
        """A number written as a fraction, `3/4` (no spaces), and nothing else."""
        core = self.core
        return (
            len(core) == 3 and core[0].kind == NUM and core[2].kind == NUM and core[1].kind == OP
            and core[1].value == "/" and not core[1].space and not core[2].space
            and not core[0].decimals and not core[2].decimals
        )

    @property
    def has_unit(self) -> bool:
        return any(t.kind in (UNIT, PCT) for t in self.toks)


@dataclass
class Chain:
    """`sides[0] rels[0] sides[1] rels[1] ...`; `rels[i]` is `=` or `≈`."""

    sides: list[Side] = field(default_factory=list)
    rels: list[str] = field(default_factory=list)


_OPERANDS = (NUM, LP, FRAC, SQRT, BINOM, SUBFACT)
# Function names written in prose: the number after one is its argument (`cos 60° × 2`), the
# number before one a coefficient (`= 2 sin 30°`), never a value of their own; and operations
# said in words, whose order is anyone's guess (`3 plus 4 times 2`).
_FUNCTION_WORDS = frozenset(
    "sin cos tan cot sec csc sinh cosh tanh arcsin arccos arctan log ln lg exp sqrt gcd lcm max min abs "
    "det floor ceil round plus minus twice double triple thrice quadruple halve".split()
)
_ENDS = (NUM, RP, PCT, FACT, UNIT)


# Operations said in two words after a number: `5 less than 3 × 6`, `20 increased by 3 × 2`.
_VERBAL_OPERATIONS = {
    "than": {"less", "more", "fewer", "greater", "larger", "smaller"},
    "by": {"increased", "decreased", "reduced", "multiplied", "raised", "lowered"},
    "to": {"added"},
    "from": {"subtracted", "taken"},
}


def _verbal_operation(toks: list[Tok], i: int) -> bool:
    """Whether the word `toks[i]` ends an operation said in words after a number (`5 less than`)."""
    verbs = _VERBAL_OPERATIONS.get(toks[i].text.lower())
    return (
        verbs is not None and i >= 2 and toks[i - 1].kind in (WORD, UNIT) and toks[i - 1].text.lower() in verbs
        and toks[i - 2].kind in (NUM, UNIT, PCT, RP)
    )


def _joins(left: Tok, right: Tok) -> bool:
    """Whether two neighbouring tokens belong to one side (juxtaposition is checked here)."""
    if left.kind in _ENDS and right.kind in _OPERANDS:
        if left.kind in (NUM, UNIT) and right.kind == NUM or left.kind == UNIT and not (left.math and right.math):
            return False  # two numbers side by side, or `5 apples (4)` in prose: not a product
        if left.kind == NUM and right.kind == FRAC:
            return True  # a mixed number or a product; both readings are tried
        if left.kind == RP and right.kind == NUM and right.space:
            return False  # `\[ (3)\; 2 \times 5 \]` in math: a label or a product, not read
        return not right.space or right.math
    return True


def _left_side(toks: list[Tok], rel: int, lo: int) -> Side:
    """The side ending just before `toks[rel]`, scanning back to `lo` (a break or an earlier side)."""
    depth = 0
    i = rel - 1
    side: list[Tok] = []
    poisoned = after_word = False
    word = ""
    lead = None  # where a poisoning word or symbol starts, to show it with the side
    while i >= lo:
        t = toks[i]
        if t.kind == POISON:
            poisoned, lead = True, _reach_back(toks, i, lo)
            break
        if t.kind == WORD:
            first = side[-1] if side else None
            joined = first is None or first.kind in (OP, RP, PCT, FACT) or (first.kind == LP and not first.space)
            if joined or depth > 0 or t.text.lower() in _FUNCTION_WORDS or _verbal_operation(toks, i):
                poisoned, lead = True, t.start  # `x + 3`, `f(3)`, `total = ...`, `cos 60° × 2`, `5 less than 3 × 6`
            else:  # `step 1 = ...`; but in `note that $6084 = 78^2$` math starts after the word
                after_word = not (first is not None and first.math and not t.math)
                word = t.text
            break
        if t.kind in (BREAK, REL):
            break
        if t.kind == RP:
            depth += 1
        elif t.kind == LP:
            if depth == 0:
                break
            depth -= 1
        if side and not _joins(t, side[-1]):
            # `1 000` is not two numbers, and `3 (4 + 5)` in prose may be a product
            poisoned = (
                poisoned
                or (t.kind == NUM and side[-1].kind == NUM)
                or (t.kind in (NUM, RP, PCT, FACT) and side[-1].kind == LP)
                or (t.kind == UNIT and t.end > t.start and side[-1].kind == NUM  # `2 h 30 min × 2`: one duration,
                    and known(unit_powers([t.text])))  # but `2 boxes hold 2 × 7`: a count, then the side
                or (t.kind == RP and side[-1].kind == NUM and side[-1].math)  # `\log_{10} 1000`, `(3)\; 2`
            )
            break
        side.append(t)  # backwards; reversed below
        i -= 1
    side.reverse()
    found = _side(side, poisoned, after_word)
    found.word = word if after_word else ""
    if lead is not None:
        found.start = lead
        found.end = max(found.end, toks[i].end)
    return found


def _right_side(toks: list[Tok], rel: int, hi: int) -> tuple[Side, int]:
    """The side starting just after `toks[rel]`; also the index where it stopped."""
    depth = 0
    i = rel + 1
    side: list[Tok] = []
    poisoned = False
    reach = None  # how far a poisoned side goes, to show it whole
    while i < hi:
        t = toks[i]
        if t.kind == POISON:
            poisoned, reach = True, _reach_on(toks, i, hi)
            break
        if t.kind == WORD:
            last = side[-1] if side else None
            if last is None or last.kind == OP or depth > 0 or t.text.lower() in _FUNCTION_WORDS:
                poisoned = True  # `= x`, `= 3 + x`, `= (a + b)`, `= 2 sin 30°`
            break
        if t.kind in (BREAK, REL):
            break
        if t.kind == LP:
            depth += 1
        elif t.kind == RP:
            if depth == 0:
                break
            depth -= 1
        if side and not _joins(side[-1], t):
            poisoned = poisoned or (t.kind == NUM and side[-1].kind == NUM)
            break
        side.append(t)
        i += 1
    while side and side[-1].kind == OP:  # `= 15 -` trailing dash: not an operand
        side.pop()
        poisoned = True
    found = _side(side, poisoned, False)
    if reach is not None:
        found.end = max(found.end, reach)
    found.after = [t.text for t in side if t.kind == UNIT] + [t.text for t in toks[i:i + 1] if t.kind == WORD]
    found.after_toks = toks[i:i + TRAILING_TOKENS]
    return found, i


def _reach_back(toks: list[Tok], i: int, lo: int) -> int:
    """Where an unreadable side begins, for showing it: back over its variables and numbers."""
    while i > lo and toks[i - 1].kind not in (BREAK, REL, WORD) and i - lo < 200:
        i -= 1
    return toks[i].start


def _reach_on(toks: list[Tok], i: int, hi: int) -> int:
    """Where an unreadable side ends, for showing it."""
    j = i
    while j + 1 < hi and toks[j + 1].kind not in (BREAK, REL, WORD) and j - i < 200:
        j += 1
    return toks[j].end


def _side(toks: list[Tok], poisoned: bool, after_word: bool) -> Side:
    core = [t for t in toks if t.kind != UNIT]
    start = toks[0].start if toks else 0
    end = core[-1].end if core else start
    return Side(toks, start, end, poisoned or not core, after_word)


def chains(toks: list[Tok], limit: int = 1_000) -> list[Chain]:
    """The relation chains among the tokens, in order, up to `limit` relations in all."""
    found: list[Chain] = []
    i, n = 0, len(toks)
    current: Chain | None = None
    last_stop = 0
    relations = 0
    while i < n and relations < limit:
        t = toks[i]
        if t.kind == BREAK:
            current = None
            last_stop = i + 1
        elif t.kind == REL:
            if current is None:
                current = Chain(sides=[_left_side(toks, i, last_stop)])
                found.append(current)
            right, stop = _right_side(toks, i, n)
            relations += 1
            current.rels.append(str(t.value))
            current.sides.append(right)
            if stop < n and toks[stop].kind == REL:
                i = stop
                continue
            current = None
            last_stop = stop
            i = stop
            continue
        i += 1
    return found


__all__ = ["Chain", "Side", "chains"]
