"""The arithmetic in one step of a solution, as tokens and relation chains (for `judgements.steps.checker`).

`tokenize(text)` reads plain text and LaTeX alike (`$...$`, `\\(...\\)`, `\\[...\\]`, align
rows) into a flat list of `Tok`s: numbers (thousands separators and decimals read, units and
currency after a number marked as units), operators, brackets, `\\frac`, `\\sqrt`, percent,
factorial, relations (`=`, `≈`), prose words, breaks (sentence ends, other relations, `\\quad`)
and poison (anything that makes a side unreadable: variables, `\\pi`, ellipses, ratios `3:4`,
ranges `3-5`). `chains(tokens)` cuts them into relation chains `side = side ≈ side ...`, each
side trimmed of the prose around it and flagged when a variable or word takes part in it.

The rules that keep prose from passing as arithmetic live here:

- A word before a number ends the side (`has 25 × 2`); a word joined to an operator
  (`x + 3`, `f(3)`) poisons it. A word right after a number is its unit (`5 cm`, `$5`,
  `\\text{ apples}`), except single letters other than `m g s h L` (`2 x + 3` is algebra).
- Implicit products (`3(4)`, `(2)(3)`) need no space between, or math mode; `(2) 3 + 4` in
  prose is a list marker, and two numbers side by side never multiply.
- Outside math mode a hyphen between digits without spaces is a range or a date
  (`2019-2020`, `3-5 days`), `!` is an exclamation, `:` between digits a ratio or a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from judgements.latex import group_end

MAX_NUMBER_DIGITS = 1_000
"""A number with more digits than this is not read (the answers module's bound)."""

MAX_TEXT_GROUP = 200
"""A `\\text{...}` longer than this is not looked into (units and words are short)."""

# Token kinds.
NUM, OP, PCT, FACT, LP, RP, FRAC, SQRT, REL, UNIT, WORD, POISON, BREAK = (
    "num", "op", "pct", "fact", "lp", "rp", "frac", "sqrt", "rel", "unit", "word", "poison", "break",
)


@dataclass(slots=True)
class Tok:
    """One token: `start`/`end` index the step text; `value` is a Fraction for numbers, the
    canonical symbol for operators (`+ - * / ^`), relations (`=`, `≈`) and brackets."""

    kind: str
    start: int
    end: int
    value: object = None
    space: bool = False  # whitespace (or a dropped command) right before it
    math: bool = False  # inside math delimiters
    decimals: int = 0  # digits after the decimal point, for numbers
    text: str = ""  # numbers: as written without separators; words and units: as written


@dataclass
class Side:
    """One side of a relation: its tokens (units kept, flagged), span, and what it is."""

    toks: list[Tok]
    start: int
    end: int
    poisoned: bool = False
    after_word: bool = False  # a prose word right before it (`step 1 = ...`)
    after: list[str] = field(default_factory=list)  # its unit words and the word after it

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
    def has_unit(self) -> bool:
        return any(t.kind in (UNIT, PCT) for t in self.toks)


@dataclass
class Chain:
    """`sides[0] rels[0] sides[1] rels[1] ...`; `rels[i]` is `=` or `≈`."""

    sides: list[Side] = field(default_factory=list)
    rels: list[str] = field(default_factory=list)


_NUM_GROUPED = re.compile(r"\d{1,3}(?:(?:,|\{,\}|\\,)\d{3})+(?![\d])(?:\.\d+)?")
_NUM = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_WORD = re.compile(r"[^\W\d_¹²³⁰⁴-⁹]+")  # letters; superscript digits are powers
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_SPACE = re.compile(r"\s+")
_DEGREE = re.compile(r"\^\s*(?:\\circ|\{\s*\\circ\s*\})")
_UNIT_TAIL = re.compile(r"/[^\W\d_]+|\^\s*(?:\{\s*[23]\s*\}|[23])|[²³]")
_PER_UNIT = re.compile(r"/(?:[^\W\d_]{2,}|[mgshL])(?![^\W\d_])")
_CONTINUES = re.compile(r"(?:\\\\|\s)*&?\s*(?:=|\\approx)")

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "·": "*", "⋅": "*", "∙": "*", "÷": "/", "/": "/", "^": "^"}
_OP_COMMANDS = {"times": "*", "cdot": "*", "ast": "*", "div": "/"}
_APPROX = {"approx", "simeq", "thickapprox", "approxeq", "doteq"}
_BREAK_COMMANDS = {
    "le", "leq", "ge", "geq", "ne", "neq", "lt", "gt", "ll", "gg", "leqslant", "geqslant", "equiv",
    "implies", "Rightarrow", "Longrightarrow", "rightarrow", "longrightarrow", "to", "iff", "therefore",
    "because", "quad", "qquad", "hline", "newline", "item", "label", "tag", "notag", "nonumber", "sim",
}
_SIZING_COMMANDS = {
    "left", "right", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "big", "Big", "bigg", "Bigg", "middle",
}
_SKIP_COMMANDS = {
    "displaystyle", "textstyle", "boxed", "fbox", "limits", "mathbf", "bm", "mathbb",
    "phantom", "hspace", "color", "textcolor",
}
_TEXT_COMMANDS = {
    "text", "textrm", "textit", "textbf", "textsf", "texttt", "textnormal", "mathrm", "mathit", "mbox",
    "operatorname", "emph", "mathsf", "mathtt",
}
_FRAC_COMMANDS = {"frac", "dfrac", "tfrac", "cfrac"}
_SPACE_COMMANDS = {",", ";", ":", "!", " ", ">", "enspace", "thinspace", "medspace", "thickspace"}
_RELS = {"=": "=", "≈": "≈", "≃": "≈", "≅": "≈"}
_BREAK_CHARS = set("<>≤≥≠→⇒⟹;?\"'#—,.:!`")
_CURRENCY = set("€£¥₹¢")
_MATH_ENVS = re.compile(r"\\(begin|end)\{([A-Za-z*]+)\}")
_ARRAY_ENVS = {"array", "matrix", "pmatrix", "bmatrix", "vmatrix", "Bmatrix", "smallmatrix", "tabular"}
# Words after a number that are not its unit.
_NOT_UNITS = frozenset(
    [
        "of", "and", "or", "is", "are", "was", "were", "be", "been", "to", "so", "then", "than", "that",
        "this", "these", "those", "which", "who", "the", "a", "an", "in", "on", "at", "for", "from",
        "with", "by", "if", "it", "its", "as", "not", "plus", "minus", "times", "divided", "over",
        "into", "equals", "equal", "gives", "makes", "make", "we", "he", "she", "they", "i", "you", "x",
        "y", "z", "n", "k", "t", "r", "p", "q", "e", "d", "c", "b", "w", "v", "u", "mod", "remainder",
        "rem"
    ]
)
_SINGLE_LETTER_UNITS = frozenset("mgshL")
_ATTACHED_UNITS = frozenset(
    [
        "cm", "mm", "m", "km", "kg", "g", "mg", "ml", "l", "s", "h", "hr", "hrs", "min", "mins", "sec",
        "ft", "yd", "mi", "lb", "lbs", "oz", "in", "pm", "am", "k", "kb", "mb", "gb"
    ]
)
_ORDINALS = frozenset(["st", "nd", "rd", "th"])
_MAX_UNIT_WORDS = 3


def _number(match: str) -> tuple[Fraction, int, str]:
    digits = match.replace("{,}", "").replace("\\,", "").replace(",", "")
    decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
    return Fraction(digits), decimals, digits


def _continues(text: str, i: int) -> bool:
    """Whether the next line (or align row) starts with `=`: the chain goes on. A short look."""
    return _CONTINUES.match(text[i:i + 64]) is not None


def _next_char(text: str, i: int) -> str:
    m = _SPACE.match(text, i)
    j = m.end() if m else i
    return text[j] if j < len(text) else ""


class _Scanner:
    """One pass over a step's text, appending tokens; `math` tracks the delimiters seen."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[Tok] = []
        self.math = False
        self.space = False

    def add(self, kind: str, start: int, end: int, value: object = None, **extra: object) -> Tok:
        if kind in (UNIT, WORD):
            extra.setdefault("text", self.text[start:end])
        tok = Tok(kind, start, end, value, space=self.space, math=self.math, **extra)  # type: ignore[arg-type]
        self.toks.append(tok)
        self.space = False
        return tok

    def prev(self) -> Tok | None:
        return self.toks[-1] if self.toks else None

    def after_number(self) -> bool:
        p = self.prev()
        return p is not None and p.kind in (NUM, UNIT, RP, PCT)

    def run(self) -> list[Tok]:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            i = self.step(text, i, n)
        return self.toks

    def step(self, text: str, i: int, n: int) -> int:
        c = text[i]
        if c.isspace():
            j = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if "\n" in text[i:j] and not self.math and not _continues(text, j):
                self.add(BREAK, i, j)
            else:
                self.space = True
            return j
        if "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= text[i + 1] <= "9"):
            return self.number(text, i)
        if c.isalpha():
            return self.word(text, i)
        if c == "\\":
            return self.command(text, i, n)
        if c == "$":
            j = i + 2 if text.startswith("$$", i) else i + 1
            self.math = not self.math
            self.space = True
            return j
        if c == "^" and _DEGREE.match(text, i):
            return self.add(UNIT, i, _DEGREE.match(text, i).end()).end  # type: ignore[union-attr]
        p = self.prev()
        if p is not None and p.kind == UNIT and not self.space:
            unit = _UNIT_TAIL.match(text, i)  # km/h, m^2, cm²: still the unit
            if unit:
                self.add(UNIT, i, unit.end())
                return unit.end()
        if p is not None and p.kind == NUM and not self.space:
            rate = _PER_UNIT.match(text, i)  # $15/hour, 5/s: a rate's unit, not a division
            if rate:
                self.add(UNIT, i, rate.end())
                return rate.end()
        if c in "²³":
            self.add(OP, i, i, "^")
            self.add(NUM, i, i + 1, Fraction(2 if c == "²" else 3), text="2" if c == "²" else "3")
            return i + 1
        if c == "-" and self.is_bullet(text, i):
            self.add(BREAK, i, i + 1)
            return i + 1
        if c == "–" or (c == "-" and self.is_range(text, i)):
            self.add(POISON, i, i + 1)
            return i + 1
        if c in "+-−×·⋅∙÷/^":
            self.add(OP, i, i + 1, _OPS[c])
            return i + 1
        if c == "*":
            return self.star(text, i)
        if c in _RELS:
            self.add(REL, i, i + 1, _RELS[c])
            return i + 1
        if c in "([{":
            self.add(LP, i, i + 1, c)
            return i + 1
        if c in ")]}":
            self.add(RP, i, i + 1, c)
            return i + 1
        if c == "%":
            self.add(PCT, i, i + 1)
            return i + 1
        if c == "&":
            self.space = True
            return i + 1
        if c == "!" and self.math and not self.space and self.after_number():
            self.add(FACT, i, i + 1)
            return i + 1
        if c == ":" and i + 1 < n and text[i + 1].isdigit() and i and text[i - 1].isdigit():
            self.add(POISON, i, i + 1)
            return i + 1
        if c in _CURRENCY or c == "°":
            if c == "°":
                self.add(UNIT, i, i + 1)
            else:
                self.space = True
            return i + 1
        if c in _BREAK_CHARS:
            self.add(BREAK, i, i + 1)
            return i + 1
        if c in "…|_~":
            if c == "~":
                self.space = True
            else:
                self.add(POISON, i, i + 1)
            return i + 1
        self.add(BREAK, i, i + 1)
        return i + 1

    def is_range(self, text: str, i: int) -> bool:
        """`2019-2020`, `3-5`: a hyphen between digits, unspaced, outside math."""
        return not self.math and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()

    def is_bullet(self, text: str, i: int) -> bool:
        """`- 3 + 4 = 7` at the start of a line is a list item, not a minus."""
        p = self.prev()
        return (p is None or p.kind == BREAK) and text[i + 1:i + 2] in (" ", "\t")

    def star(self, text: str, i: int) -> int:
        """`*` multiplies between operands; `**bold**` and a `* item` are markdown."""
        if text.startswith("**", i) or not self.after_number() or not re.match(r"\s*[\d(\[{\\.-]", text[i + 1:i + 3]):
            j = i + 2 if text.startswith("**", i) else i + 1
            self.add(BREAK, i, j)
            return j
        self.add(OP, i, i + 1, "*")
        return i + 1

    def number(self, text: str, i: int) -> int:
        m = _NUM_GROUPED.match(text, i) or _NUM.match(text, i)
        assert m is not None
        j = m.end()
        if j - i > MAX_NUMBER_DIGITS:
            self.add(POISON, i, j)
            return j
        p = self.prev()
        if p is not None and p.kind == WORD and not self.space:
            self.add(POISON, i, j)  # x2, H2O: part of a name
            return j
        value, decimals, digits = _number(m.group())
        self.add(NUM, i, j, value, decimals=decimals, text=digits)
        w = _WORD.match(text, j)
        if w:  # letters glued to the number: 5cm is a unit, 2x a variable, 3rd a label
            word = w.group()
            kind = UNIT if word.lower() in _ATTACHED_UNITS or word == "L" else POISON
            if word.lower() in _ORDINALS:
                kind = POISON
            self.add(kind, j, w.end())
            return w.end()
        return j

    def word(self, text: str, i: int) -> int:
        m = _WORD.match(text, i)
        assert m is not None
        j = m.end()
        word = m.group()
        lower = word.lower()
        p = self.prev()
        ahead = _next_char(text, j)
        operand_ahead = ahead.isdigit() or ahead in "(\\"
        if lower in ("times", "x") and p is not None and p.kind in (NUM, RP, UNIT) and self.space and operand_ahead or lower == "of" and p is not None and p.kind == PCT:
            self.add(OP, i, j, "*")
        elif lower == "percent" and p is not None and p.kind == NUM:
            self.add(PCT, i, j)
        elif lower == "divided" and re.match(r"\s+by\b", text[j:j + 5]):
            k = j + re.match(r"\s+by", text[j:]).end()  # type: ignore[union-attr]
            self.add(OP, i, k, "/")
            return k
        elif self.is_unit(lower, word, p):
            self.add(UNIT, i, j)
        else:
            self.add(WORD, i, j, word)
        return j

    def is_unit(self, lower: str, word: str, p: Tok | None) -> bool:
        if p is None or p.kind not in (NUM, UNIT, PCT) or lower in _NOT_UNITS:
            return lower == "per" and p is not None and p.kind == UNIT
        if p.kind == UNIT and sum(1 for t in self.toks[-_MAX_UNIT_WORDS:] if t.kind == UNIT) >= _MAX_UNIT_WORDS:
            return False
        return len(word) > 1 or word in _SINGLE_LETTER_UNITS

    def command(self, text: str, i: int, n: int) -> int:
        m = _COMMAND.match(text, i)
        if m is None:  # a lone backslash at the end
            return i + 1
        name, j = m.group(1), m.end()
        if name in ("(", "["):
            self.math, self.space = True, True
        elif name in (")", "]"):
            self.math, self.space = False, True
        elif name == "\\":
            if not _continues(text, j):
                self.add(BREAK, i, j)
        elif name in _SPACE_COMMANDS:
            self.space = True
        elif name == "%":
            self.add(PCT, i, j)
        elif name == "$":
            self.space = True
        elif name in _OP_COMMANDS:
            self.add(OP, i, j, _OP_COMMANDS[name])
        elif name in _APPROX:
            self.add(REL, i, j, "≈")
        elif name in _FRAC_COMMANDS:
            self.add(FRAC, i, j)
        elif name == "sqrt":
            self.add(POISON if _next_char(text, j) == "[" else SQRT, i, j)
        elif name in ("begin", "end"):
            return self.environment(text, i)
        elif name in _TEXT_COMMANDS:
            return self.text_command(text, i, j)
        elif name in _SIZING_COMMANDS:
            pass  # part of the bracket that follows: `3\left(4\right)` is still a product
        elif name in _SKIP_COMMANDS:
            self.space = True
        elif name in ("circ", "degree"):
            self.add(UNIT, i, j)
        elif name in _BREAK_COMMANDS or not name.isalpha() and name not in "{}_#&":
            self.add(BREAK, i, j)
        else:  # \pi, \cdots, \{, \log, \alpha, any command we do not read
            self.add(POISON, i, j)
        return j

    def environment(self, text: str, i: int) -> int:
        m = _MATH_ENVS.match(text, i)
        if m is None:
            self.add(POISON, i, i + 1)
            return i + 1
        if m.group(2) in _ARRAY_ENVS:
            self.add(POISON, i, m.end())
        else:
            self.math = m.group(1) == "begin"
            self.add(BREAK, i, m.end())
        return m.end()

    def text_command(self, text: str, i: int, j: int) -> int:
        k = _SPACE.match(text, j).end() if _SPACE.match(text, j) else j  # type: ignore[union-attr]
        end = group_end(text, k, MAX_TEXT_GROUP) if k < len(text) and text[k] == "{" else None
        if end is None:
            self.space = True
            return j
        inner = text[k + 1:end - 1]
        words = _WORD.findall(inner)
        if not inner.strip():
            self.space = True
        elif re.fullmatch(r"[^\W\d_]+(?:[ \-./][^\W\d_]+)*", inner.strip()):
            p = self.prev()
            lower = inner.strip().lower()
            if lower == "of" and p is not None and p.kind == PCT or lower == "times" and self.after_number():
                self.add(OP, i, end, "*")
            elif p is not None and p.kind in (NUM, UNIT, PCT) and words[0].lower() not in _NOT_UNITS:
                self.add(UNIT, i, end)
            else:
                self.add(WORD, i, end, inner.strip())
        else:
            self.add(WORD, i, end, inner.strip())
        return end


def tokenize(text: str) -> list[Tok]:
    """The tokens of one step (see the module docstring)."""
    return _Scanner(text).run()


_OPERANDS = (NUM, LP, FRAC, SQRT)
_ENDS = (NUM, RP, PCT, FACT, UNIT)


def _joins(left: Tok, right: Tok) -> bool:
    """Whether two neighbouring tokens belong to one side (juxtaposition is checked here)."""
    if left.kind in _ENDS and right.kind in _OPERANDS:
        if left.kind in (NUM, UNIT) and right.kind == NUM or left.kind == UNIT:
            return False  # two numbers side by side, or `5 apples (4)`: not a product
        if left.kind == NUM and right.kind == FRAC:
            return True  # a mixed number or a product; both readings are tried
        return not right.space or right.math
    return True


def _left_side(toks: list[Tok], rel: int, lo: int) -> Side:
    """The side ending just before `toks[rel]`, scanning back to `lo` (a break or an earlier side)."""
    depth = 0
    i = rel - 1
    side: list[Tok] = []
    poisoned = after_word = False
    lead = None  # where a poisoning word or symbol starts, to show it with the side
    while i >= lo:
        t = toks[i]
        if t.kind == POISON:
            poisoned, lead = True, t.start
            break
        if t.kind == WORD:
            first = side[-1] if side else None
            joined = first is None or first.kind in (OP, RP, PCT, FACT) or (first.kind == LP and not first.space)
            if joined or depth > 0:
                poisoned, lead = True, t.start  # `x + 3`, `f(3)`, `total = ...`
            else:
                after_word = True
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
            poisoned = poisoned or (t.kind == NUM and side[-1].kind == NUM) or (t.kind in (NUM, RP) and side[-1].kind == LP)
            break
        side.append(t)  # backwards; reversed below
        i -= 1
    side.reverse()
    found = _side(side, poisoned, after_word)
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
    while i < hi:
        t = toks[i]
        if t.kind == POISON:
            poisoned = True
            break
        if t.kind == WORD:
            last = side[-1] if side else None
            if last is None or last.kind == OP or depth > 0:
                poisoned = True  # `= x`, `= 3 + x`, `= (a + b)`
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
    found.after = [t.text for t in side if t.kind == UNIT] + [t.text for t in toks[i:i + 1] if t.kind == WORD]
    return found, i


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
