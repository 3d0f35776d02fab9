"""The arithmetic in one step of a solution, as tokens (for `judgements.steps.chains` and the checker).

`tokenize(text)` reads plain text and LaTeX alike into a flat list of `Tok`s: numbers
(thousands separators such as `1,000`, `15,\\!000` and `12\\,000`, decimals, repeating
decimals `0.\\overline{6}`), operators, brackets (`\\lfloor`/`\\lceil` as the integer part),
`\\frac`, `\\sqrt` and `√`, `\\binom`, percent, factorial and subfactorial (`!5`), relations (`=`,
`≈`, `≡`), units, prose words, breaks (sentence ends, other relations, `\\quad`) and poison
(anything that makes a side unreadable).

What a character means depends on where it is (`judgements.steps.delimiters` finds the math
and tells a math `$` from money):

- In math mode every letter outside `\\text{...}` is a variable or a function's name:
  poison, never prose and never a unit (`5 = \\frac{5}{2}x`, `k\\sqrt{2}`, `f'(5)`, `10^5 s`).
  Units in math are written `\\text{ cm}`, `\\mbox{ inches}^2`.
- `of` after a percent or a fraction multiplies (`20% of 50`, `1/4 of 120`, `\\frac{2}{3}` of 12).
- In prose a word right after a number is its unit (`5 cm`, `3 hours`, `12 apples`), a
  single letter is a variable (`n = 5`, `6S + 9`) except `a`, `I` and the unit letters
  `m g s h L` after a number, and `x` between numbers is a product (a guess: the reading is
  then not certain).
- Money (`$5`, `\\$0.72`, `€3`) is a unit, `dollar`, of the number it stands before.
- A symbol the checker does not know between two operands (`@`, `\\star`, `\\circ`, `\\#`,
  `*` when the text defines `a * b`) is an operator of the problem's own: poison. Elsewhere
  (`$\\bullet$ Brazil`) it ends the side.
- Outside math a hyphen between digits without spaces is a range or a date (`2019-2020`),
  `!` is an exclamation, `:` between digits a ratio or a time. A comma between digits that
  does not group thousands (`2,5`, `1,2`) is a decimal comma or a list: unread.
- A number grouped by a bare comma alone in brackets (`(120,180)`) may be a pair (a gcd, a
  point): read as one number, but as an assumption, so that it is never marked wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from judgements.latex import group_end
from judgements.steps.delimiters import CLOSE, MONEY, OPEN, MathMap, math_map

MAX_NUMBER_DIGITS = 1_000
"""A number with more digits than this is not read (the answers module's bound)."""

MAX_TEXT_GROUP = 200
"""A `\\text{...}` longer than this is not looked into (units and words are short)."""

# Token kinds.
NUM, OP, PCT, FACT, LP, RP, FRAC, SQRT, REL, UNIT, WORD, POISON, BREAK, BINOM, SUBFACT = (
    "num", "op", "pct", "fact", "lp", "rp", "frac", "sqrt", "rel", "unit", "word", "poison", "break",
    "binom", "subfact",
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
    exact: bool = False  # a number written exactly even with decimals (a repeating decimal)
    assumed: str = ""  # what reading this token as it is read assumes (`x` as ×)


_NUM_GROUPED = re.compile(r"\d{1,3}(?:(?:,\\!|\{,\}\\!|,|\{,\}|\\,)\d{3})+(?![\d])(?:\.\d+)?")
_NUM = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_REPEATING = re.compile(r"(\.?)\\overline\s*\{(\d{1,40})\}")
_WORD = re.compile(r"[^\W\d_¹²³⁰⁴-⁹]+")  # letters; superscript digits are powers
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_SPACE = re.compile(r"\s+")
_DEGREE = re.compile(r"\^\s*(?:\\circ|\{\s*\\circ\s*\})")
_UNIT_TAIL = re.compile(r"/[^\W\d_]+|\^\s*(?:\{\s*[23]\s*\}|[23])|[²³]")
_PER_UNIT = re.compile(
    r"/(?:[^\W\d_]{2,}|[mgshL])(?![^\W\d_])|/\s*\\(?:text|mbox|mathrm)\s*\{\s*[^\W\d_]+(?:\s[^\W\d_]+)?\s*\}"
)
_MODULUS_ARG = re.compile(r"\s*(?:(\{)|(\d+))?")  # after `\pmod`: a group or a number
_ROW_OPERATOR = re.compile(r"(?:\s|&|\\q?quad\b|\\[,;:! ])*(?:(\+|\\times\b|\\cdot\b|×|·)|(-|−))")
_CONTINUES = re.compile(r"(?:\\\\|\s)*&?\s*(?:=|\\approx)")

_OPS = {"+": "+", "-": "-", "−": "-", "*": "*", "×": "*", "·": "*", "⋅": "*", "∙": "*", "÷": "/", "/": "/", "^": "^"}
_OP_COMMANDS = {"times": "*", "cdot": "*", "div": "/"}
_APPROX = {"approx", "simeq", "thickapprox", "approxeq", "doteq"}
_BREAK_COMMANDS = {
    "le", "leq", "ge", "geq", "ne", "neq", "lt", "gt", "ll", "gg", "leqslant", "geqslant",
    "implies", "Rightarrow", "Longrightarrow", "rightarrow", "longrightarrow", "to", "iff", "therefore",
    "because", "quad", "qquad", "hline", "newline", "item", "label", "tag", "notag", "nonumber", "sim",
    "in", "notin", "subset", "subseteq", "supset", "supseteq", "mid", "nmid", "parallel", "perp",
    "propto", "cong", "colon", "Leftrightarrow", "leftrightarrow", "mapsto", "land", "lor", "text{and}",
}
# Operators LaTeX has that arithmetic has not: between operands, an operation the problem defines.
_FOREIGN_OPERATORS = {
    "star", "ast", "bullet", "circ", "diamond", "Diamond", "oplus", "ominus", "otimes", "oslash", "odot",
    "bigcirc", "dagger", "ddagger", "amalg", "triangleleft", "triangleright", "bigtriangleup",
    "bigtriangledown", "uplus", "sqcap", "sqcup", "wedge", "vee", "cap", "cup", "setminus", "wr",
    "boxplus", "boxtimes", "boxdot", "boxminus", "square", "Box", "heartsuit", "clubsuit", "spadesuit",
    "diamondsuit", "triangle", "nabla", "#", "&", "bowtie", "bigstar", "blacksquare",
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
_BINOM_COMMANDS = {"binom", "dbinom", "tbinom"}
_FLOORS = {"lfloor": (LP, "⌊"), "rfloor": (RP, "⌋"), "lceil": (LP, "⌈"), "rceil": (RP, "⌉")}
_SPACE_COMMANDS = {",", ";", ":", "!", " ", ">", "enspace", "thinspace", "medspace", "thickspace"}
_RELS = {"=": "=", "≈": "≈", "≃": "≈", "≡": "≡"}
_BREAK_CHARS = set("<>≤≥≠→⇒⟹;?\"#—,.:!`'@")
_STRANGERS = set("@")  # a symbol no arithmetic uses: between operands, a defined operation
_CURRENCY = {"€": "€", "£": "£", "¥": "¥", "₹": "₹"}
_MATH_ENVS = re.compile(r"\\(begin|end)\{([A-Za-z*]+)\}")
_ARRAY_ENVS = {"array", "matrix", "pmatrix", "bmatrix", "vmatrix", "Bmatrix", "smallmatrix", "tabular"}
# Words after a number that are not its unit.
_NOT_UNITS = frozenset(
    [
        "of", "and", "or", "is", "are", "was", "were", "be", "been", "to", "so", "then", "than", "that",
        "this", "these", "those", "which", "who", "the", "a", "an", "in", "on", "at", "for", "from",
        "with", "by", "if", "it", "its", "as", "not", "plus", "minus", "times", "divided", "over",
        "into", "equals", "equal", "gives", "makes", "make", "we", "he", "she", "they", "i", "you",
        "mod", "remainder", "rem", "r", "since", "because", "but", "when", "where", "while", "thus",
        "hence", "therefore", "has", "have", "had", "will", "would", "can", "could", "should", "must",
        "left", "more", "less", "fewer", "each", "every", "per", "total", "all", "both", "such", "no",
    ]
)
_PROSE_LETTERS = frozenset("aAI")  # single letters that are English words
_SINGLE_LETTER_UNITS = frozenset("mgshL")
_ATTACHED_UNITS = frozenset(
    [
        "cm", "mm", "m", "km", "kg", "g", "mg", "ml", "l", "s", "h", "hr", "hrs", "min", "mins", "sec",
        "ft", "yd", "mi", "lb", "lbs", "oz", "in", "pm", "am", "k", "kb", "mb", "gb"
    ]
)
_ORDINALS = frozenset(["st", "nd", "rd", "th"])
_MAX_UNIT_WORDS = 3
_GAP = re.compile(r"(?:\s|\\[,;: !]|\{\})*")  # between a money sign and its number
_DEFINED_STAR = re.compile(r"(?<![A-Za-z\\])[A-Za-z]\s*(?:\*|\\ast)\s*[A-Za-z](?![A-Za-z])")


def _number(match: str) -> tuple[Fraction, int, str]:
    digits = match.replace("{,}", "").replace("\\,", "").replace("\\!", "").replace(",", "")
    decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
    return Fraction(digits), decimals, digits


def _continues(text: str, i: int) -> bool:
    """Whether the next line (or align row) starts with `=`: the chain goes on. A short look."""
    return _CONTINUES.match(text[i:i + 64]) is not None


def _next_char(text: str, i: int) -> str:
    m = _SPACE.match(text, i)
    j = m.end() if m else i
    return text[j] if j < len(text) else ""


def defines_star(text: str) -> bool:
    """Whether a text writes `a * b` with letters: `*` is then an operation of its own."""
    return _DEFINED_STAR.search(text) is not None


class _Scanner:
    """One pass over a step's text, appending tokens; the math map says where math is."""

    def __init__(self, text: str, star_defined: bool) -> None:
        self.text = text
        self.toks: list[Tok] = []
        self.map: MathMap = math_map(text)
        self.math = False
        self.space = False
        self.star_defined = star_defined
        self.currency: tuple[str, int] | None = None  # a money sign waiting for its number, where it ends

    def add(self, kind: str, start: int, end: int, value: object = None, **extra: object) -> Tok:
        if kind in (UNIT, WORD, OP, BREAK):
            extra.setdefault("text", self.text[start:end])
        tok = Tok(kind, start, end, value, space=self.space, math=self.math, **extra)  # type: ignore[arg-type]
        self.toks.append(tok)
        self.space = False
        return tok

    def prev(self) -> Tok | None:
        return self.toks[-1] if self.toks else None

    def after_number(self) -> bool:
        p = self.prev()
        return p is not None and p.kind in (NUM, UNIT, RP, PCT, FACT)

    def after_operand(self) -> bool:
        p = self.prev()
        return p is not None and p.kind in (NUM, UNIT, RP, PCT, FACT, POISON)

    def run(self) -> list[Tok]:
        text, n, i = self.text, len(self.text), 0
        spans, k = self.map.spans, 0
        while i < n:
            while k < len(spans) and spans[k][1] <= i:  # the scan only moves forward
                k += 1
            self.math = k < len(spans) and spans[k][0] <= i
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
            return self.dollar(text, i)
        if c == "^" and _DEGREE.match(text, i):
            return self.add(UNIT, i, _DEGREE.match(text, i).end(), text="°").end  # type: ignore[union-attr]
        p = self.prev()
        if p is not None and p.kind == UNIT and not self.space:
            unit = _UNIT_TAIL.match(text, i)  # km/h, m^2, cm²: still the unit
            if unit:
                self.add(UNIT, i, unit.end())
                return unit.end()
        if p is not None and p.kind in (NUM, UNIT) and not self.space:
            rate = _PER_UNIT.match(text, i)  # $15/hour, 5/s: a rate's unit, not a division
            if rate:
                self.add(UNIT, i, rate.end())
                return rate.end()
        if c in "²³":
            self.add(OP, i, i, "^")
            self.add(NUM, i, i + 1, Fraction(2 if c == "²" else 3), text="2" if c == "²" else "3")
            return i + 1
        if c in "√∛∜":  # √225, √(81 + 144); a cube or fourth root is not read
            self.add(SQRT if c == "√" else POISON, i, i + 1, c)
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
        if c == "!":
            return self.bang(text, i)
        if c == ":" and i + 1 < n and text[i + 1].isdigit() and i and text[i - 1].isdigit():
            self.add(POISON, i, i + 1)
            return i + 1
        if c == "," and 0 < i < n - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
            self.add(POISON, i, i + 1)  # 2,5: a decimal comma, or a list with no space (not 1,000)
            return i + 1
        if c in _CURRENCY:
            self.currency, self.space = (_CURRENCY[c], i + 1), True
            return i + 1
        if c == "°":
            self.add(UNIT, i, i + 1)
            return i + 1
        if c == "'" and p is not None and not self.space and (self.math or p.kind in (WORD, POISON)):
            self.add(POISON, i, i + 1)  # a prime: f'(5), q''
            return i + 1
        if c in _STRANGERS or self.math and c in "#?":
            self.add(POISON, i, i + 1)  # a @ b: an operation of the problem's own
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

    def dollar(self, text: str, i: int) -> int:
        """A math delimiter (the map says which) changes nothing here; money waits for its number."""
        mark = self.map.marks.get(i)
        j = i + 2 if mark in (OPEN, CLOSE) and text.startswith("$$", i) and i + 1 not in self.map.marks else i + 1
        if mark == MONEY:
            self.currency = ("$", j)
        self.space = True
        return j

    def bang(self, text: str, i: int) -> int:
        """`5!` in math is a factorial, `!5` a subfactorial; in prose `!` ends a sentence."""
        if self.math and not self.space and self.after_number():
            self.add(FACT, i, i + 1)
        elif text[i + 1:i + 2].isdigit() and not self.after_operand() and (self.math or self.prev() is None or self.space):
            self.add(SUBFACT, i, i + 1)
        else:
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
        if text.startswith("**", i) or not self.after_number() or not re.match(r"\s*[\d(\[{\\.$-]", text[i + 1:i + 3]):
            j = i + 2 if text.startswith("**", i) else i + 1
            self.add(BREAK, i, j)
            return j
        if self.star_defined:
            self.add(POISON, i, i + 1)  # the text defines a * b: not a product
        else:
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
        if p is not None and p.kind in (WORD, POISON) and not self.space and p.end == i:
            self.add(POISON, i, j)  # x2, H2O, a_1: part of a name
            return j
        value, decimals, digits = _number(m.group())
        exact = False
        repeat = _REPEATING.match(text, j)
        if repeat and (repeat.group(1) == "." if decimals == 0 and "." not in m.group() else repeat.group(1) == ""):
            cycle = repeat.group(2)  # 0.\overline{6}, 0.1\overline{6}: a repeating decimal, exact
            value += Fraction(int(cycle), (10 ** len(cycle) - 1) * 10**decimals)
            digits, decimals, exact, j = f"{digits}{'' if '.' in digits else '.'}({cycle})", 0, True, repeat.end()
        money, self.currency = self.currency, None
        num = self.add(NUM, i, j, value, decimals=decimals, text=digits, exact=exact)
        before = self.toks[-2] if len(self.toks) > 1 else None
        if before is not None and before.kind == LP and re.search(r"\d,\d", m.group()) and text.startswith(")", j):
            num.assumed = f"({m.group()}) read as one number, not a pair"  # (120,180) = 60: a gcd
        if money is not None and _GAP.fullmatch(text, money[1], i):
            self.add(UNIT, j, j, text=money[0])  # $5: five dollars
        w = _WORD.match(text, j)
        if w:  # letters glued to the number: 5cm is a unit, 2x or 6S a variable, 3rd a label
            word = w.group()
            is_unit = not self.math and (word in _ATTACHED_UNITS or word == "L")  # 6S: a variable
            unit = self.add(UNIT if is_unit and word.lower() not in _ORDINALS else POISON, j, w.end())
            if unit.kind == UNIT and len(word) == 1:  # 4m + 2m = 30: metres, or a variable m
                unit.assumed = f"{word} glued to a number read as a unit, not a variable"
            return w.end()
        return j

    def word(self, text: str, i: int) -> int:
        m = _WORD.match(text, i)
        assert m is not None
        j = m.end()
        word = m.group()
        if self.math:  # a variable, a function or a constant: not a number
            self.add(POISON, i, j)
            return j
        lower = word.lower()
        p = self.prev()
        ahead = _next_char(text, j)
        operand_ahead = ahead.isdigit() or ahead in "(\\$"
        if lower == "times" and p is not None and p.kind in (NUM, RP, UNIT) and operand_ahead:
            self.add(OP, i, j, "*")
        elif word == "x" and p is not None and p.kind in (NUM, RP, UNIT) and self.space and operand_ahead:
            self.add(OP, i, j, "*", assumed="x read as ×")
        elif lower == "of" and p is not None and (p.kind == PCT or self.after_fraction()) and operand_ahead:
            self.add(OP, i, j, "*")  # 20% of 50, 1/4 of 120, \frac{2}{3} of 12
        elif lower == "percent" and p is not None and p.kind == NUM:
            self.add(PCT, i, j)
        elif lower == "divided" and re.match(r"\s+by\b", text[j:j + 5]):
            k = j + re.match(r"\s+by", text[j:]).end()  # type: ignore[union-attr]
            self.add(OP, i, k, "/")
            return k
        elif self.is_unit(lower, word, p):
            self.add(UNIT, i, j)
        elif lower == "r" and p is not None and p.kind == NUM and ahead.isdigit():
            self.add(WORD, i, j, word)  # 14 R 2: a remainder
        elif len(word) == 1 and word not in _PROSE_LETTERS:
            self.add(POISON, i, j)  # n = 5, 6 S: a variable
        else:
            self.add(WORD, i, j, word)
        return j

    def after_fraction(self) -> bool:
        """Whether the last tokens are a fraction: `1/4` or `\\frac{1}{4}`."""
        toks = self.toks
        if len(toks) >= 3 and toks[-1].kind == NUM and toks[-2].kind == OP and toks[-2].value == "/" and toks[-3].kind == NUM:
            return not toks[-1].space and not toks[-2].space
        depth, k = 0, len(toks) - 1
        for _ in range(2):  # `{1}{4}` after `\frac`, read backwards
            if k < 0 or toks[k].kind != RP or toks[k].value != "}":
                return False
            while k >= 0:
                depth += {RP: 1, LP: -1}.get(toks[k].kind, 0)
                k -= 1
                if depth == 0:
                    break
            if k - len(toks) < -60:
                return False
        return k >= 0 and toks[k].kind == FRAC

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
        if name in ("(", "[", ")", "]"):
            self.space = True
        elif name == "\\":
            row = _ROW_OPERATOR.match(text, j, min(j + 64, len(text)))
            if row and row.group(1):  # `\\ &\quad + 4 + 5`: the sum goes on
                return row.start(1)
            if row or not _continues(text, j):
                self.add(BREAK, i, j)
            if row:  # `\\ & - 5`: a row that subtracts, or one that starts negative: unread
                self.add(POISON, row.start(2), row.start(2))
        elif name in _SPACE_COMMANDS:
            self.space = True
        elif name == "%":
            self.add(PCT, i, j)
        elif name == "$":
            self.currency, self.space = ("$", j), True
        elif name in _OP_COMMANDS:
            self.add(OP, i, j, _OP_COMMANDS[name])
        elif name in _APPROX:
            self.add(REL, i, j, "≈")
        elif name == "equiv":
            self.add(REL, i, j, "≡")
        elif name == "pmod":  # `\pmod{7}` ends the side before it, argument and all
            arg = _MODULUS_ARG.match(text, j)
            end = group_end(text, arg.start(1), MAX_TEXT_GROUP) if arg.group(1) else None
            j = end if end is not None else arg.end(2) if arg.group(2) else j
            self.add(BREAK, i, j)
        elif name in _FRAC_COMMANDS:
            self.add(FRAC, i, j)
        elif name in _BINOM_COMMANDS:
            self.add(BINOM, i, j)
        elif name in _FLOORS:
            self.add(_FLOORS[name][0], i, j, _FLOORS[name][1])
        elif name == "sqrt":
            self.add(POISON if _next_char(text, j) == "[" else SQRT, i, j)
        elif name in ("begin", "end"):
            return self.environment(text, i)
        elif name in _TEXT_COMMANDS:
            return self.text_command(text, i, j)
        elif name in _SIZING_COMMANDS:
            if text[j:j + 1] == ".":  # \left. and \right. draw nothing
                return j + 1
        elif name in _SKIP_COMMANDS:
            self.space = True
        elif name in ("circ", "degree") and self.prev() is not None and self.prev().kind == NUM and not self.space:  # type: ignore[union-attr]
            self.add(UNIT, i, j, text="°")
        elif name in _FOREIGN_OPERATORS or name in ("overline",):
            self.add(POISON if self.after_operand() or name in ("overline",) else BREAK, i, j)
        elif name in _BREAK_COMMANDS or not name.isalpha() and name not in "{}_":
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
        elif inner.strip() in ("\\$", "$"):
            self.currency, self.space = ("$", end), True
        else:
            self.add(WORD, i, end, inner.strip())
        return end


def tokenize(text: str, *, star_defined: bool = False) -> list[Tok]:
    """The tokens of one step (see the module docstring); `star_defined`: the solution or its
    problem defines an operation `a * b`, so `*` is not a product."""
    return _Scanner(text, star_defined).run()


__all__ = [
    "BINOM", "BREAK", "FACT", "FRAC", "LP", "NUM", "OP", "PCT", "POISON", "REL", "RP", "SQRT", "SUBFACT",
    "UNIT", "WORD", "Tok", "defines_star", "tokenize",
]
