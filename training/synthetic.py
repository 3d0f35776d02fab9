"""Seeded synthetic multi-step arithmetic word problems (GSM8K-lite) for the bundled model.

2-4 steps, one equation per paragraph, a positive integer in `\\boxed{}`; the training stream
and the held-out set never share a problem. `tir_solution` writes the same problem's solution
with Python (tool-integrated reasoning): a cell, its exact output, and prose reading it.
docs/training.md says how they are made.
`python -m training.synthetic --out assets/heldout.jsonl --n 300` writes the held-out set.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import operator
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

HELDOUT_SEED = 2024
HELDOUT_SIZE = 300
DEFAULT_HELDOUT_PATH = Path(__file__).resolve().parents[1] / "assets" / "heldout.jsonl"

# (name, subject pronoun, object pronoun, possessive)
PEOPLE = (
    ("Mia", "she", "her", "her"), ("Leo", "he", "him", "his"), ("Ava", "she", "her", "her"),
    ("Noah", "he", "him", "his"), ("Emma", "she", "her", "her"), ("Liam", "he", "him", "his"),
    ("Zoe", "she", "her", "her"), ("Omar", "he", "him", "his"), ("Lily", "she", "her", "her"),
    ("Sam", "he", "him", "his"), ("Nora", "she", "her", "her"), ("Ben", "he", "him", "his"),
    ("Ella", "she", "her", "her"), ("Ravi", "he", "him", "his"), ("Sofia", "she", "her", "her"),
    ("Jack", "he", "him", "his"), ("Grace", "she", "her", "her"), ("Max", "he", "him", "his"),
    ("Chloe", "she", "her", "her"), ("Ali", "he", "him", "his"), ("Ruby", "she", "her", "her"),
    ("Tom", "he", "him", "his"), ("Lucy", "she", "her", "her"), ("Ethan", "he", "him", "his"),
    ("Hana", "she", "her", "her"), ("Finn", "he", "him", "his"), ("Maya", "she", "her", "her"),
    ("Owen", "he", "him", "his"), ("Anna", "she", "her", "her"), ("Kai", "he", "him", "his"),
)

# (plural, container, containers) for things people collect.
COUNTABLES = (
    ("stickers", "pack", "packs"), ("marbles", "bag", "bags"), ("apples", "basket", "baskets"),
    ("pencils", "box", "boxes"), ("stamps", "album", "albums"), ("cookies", "tin", "tins"),
    ("shells", "bucket", "buckets"), ("cards", "pack", "packs"), ("beads", "jar", "jars"),
    ("oranges", "crate", "crates"), ("eggs", "carton", "cartons"), ("balloons", "bag", "bags"),
    ("crayons", "box", "boxes"), ("buttons", "jar", "jars"), ("books", "box", "boxes"),
    ("toy cars", "box", "boxes"),
)

# (singular, plural, lowest price, highest price) in dollars.
GOODS = (
    ("notebook", "notebooks", 2, 9), ("pen", "pens", 1, 5), ("sandwich", "sandwiches", 3, 9),
    ("ticket", "tickets", 4, 15), ("book", "books", 5, 15), ("candle", "candles", 2, 8),
    ("toy", "toys", 3, 12), ("shirt", "shirts", 6, 15), ("mug", "mugs", 3, 9),
    ("plant", "plants", 4, 12), ("cupcake", "cupcakes", 2, 5), ("puzzle", "puzzles", 5, 14),
)

# (maker, product, unit of time)
MAKERS = (
    ("A bakery", "loaves of bread", "hour"), ("A factory", "toys", "hour"),
    ("A printer", "pages", "minute"), ("A farm", "eggs", "day"),
    ("A machine", "bottles", "minute"), ("A workshop", "shirts", "day"),
    ("A pottery studio", "bowls", "day"), ("A robot", "cans", "minute"),
)
# unit of time -> (larger unit, lowest count, highest count)
TIME_UNITS = {"minute": ("hour", 2, 9), "hour": ("day", 2, 9), "day": ("week", 2, 7)}

VEHICLES = (("A train", "miles"), ("A car", "miles"), ("A bus", "kilometers"),
            ("A ferry", "kilometers"), ("A boat", "miles"), ("A truck", "kilometers"))

# (plural, container, containers)
PRODUCE = (("apples", "bag", "bags"), ("lemons", "bag", "bags"), ("peaches", "box", "boxes"),
           ("flowers", "bunch", "bunches"), ("carrots", "bundle", "bundles"),
           ("muffins", "box", "boxes"), ("tomatoes", "basket", "baskets"), ("plums", "bag", "bags"))

SPENDS = ("a bike", "a game", "a jacket", "a camera", "a scooter", "a lamp", "a backpack",
          "a guitar", "a watch", "a tent")

BILLS = (20, 50, 100, 200, 500)

TIMES = "\\times"
DIV = "\\div"

ANSWER_LINES = ("The answer is $\\boxed{{{n}}}$.", "So the answer is $\\boxed{{{n}}}$.",
                "Therefore, the answer is $\\boxed{{{n}}}$.")


@dataclass(frozen=True)
class Problem:
    """One word problem: its text, a step-by-step solution ending in \\boxed{}, the answer."""

    problem: str
    solution: str
    answer: str

    def to_json(self) -> str:
        """One JSONL line with fields `problem`, `solution`, `answer`."""
        return json.dumps(asdict(self), ensure_ascii=False)


class _Person:
    """Names and pronouns for one character, with capitalised forms for sentence starts."""

    def __init__(self, rng: random.Random, avoid: str = "") -> None:
        choices = [p for p in PEOPLE if p[0] != avoid]
        self.name, self.he, self.him, self.his = rng.choice(choices)
        self.He = self.he.capitalize()
        self.His = self.his.capitalize()
        self.has = "has"


def _eq(left: str, value: int) -> str:
    """An equation as inline LaTeX: `$12 \\times 4 = 48$`."""
    return f"${left} = {value}$"


def _inventory_steps(
    rng: random.Random, p: _Person, things: str, containers: str, total: int, events: list[tuple]
) -> list[str]:
    """One line per change to the collection, applied in the order given."""
    steps: list[str] = []
    for kind, *amounts in events:
        if kind == "add":
            b = amounts[0]
            steps.append(rng.choice((
                f"{p.name} gets {b} more, so {p.he} has {_eq(f'{total} + {b}', total + b)} {things}.",
                f"After getting {b} more, {p.he} has {_eq(f'{total} + {b}', total + b)} {things}.",
            )))
            total += b
        elif kind == "sub":
            b = amounts[0]
            steps.append(rng.choice((
                f"{p.name} has {b} fewer, so {p.he} has {_eq(f'{total} - {b}', total - b)} {things} left.",
                f"After that, {p.he} has {_eq(f'{total} - {b}', total - b)} {things}.",
            )))
            total -= b
        elif kind == "pack":
            k, m = amounts
            steps.append(rng.choice((
                f"The {k} {containers} hold {_eq(f'{k} {TIMES} {m}', k * m)} {things}.",
                f"{p.He} buys {_eq(f'{k} {TIMES} {m}', k * m)} new {things}.",
            )))
            steps.append(f"Now {p.he} has {_eq(f'{total} + {k * m}', total + k * m)} {things}.")
            total += k * m
        else:
            d = amounts[0]
            steps.append(f"One group has {_eq(f'{total} {DIV} {d}', total // d)} {things}, so {p.he} keeps {total // d}.")
            total //= d
    return steps


def _inventory(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """Someone's collection changes a few times; how many do they have at the end?

    Without a split into groups, the changes can also be applied gains first, then losses:
    the same answer by different sums.
    """
    p = _Person(rng)
    friend = _Person(rng, avoid=p.name)
    things, container, containers = rng.choice(COUNTABLES)
    start = total = rng.randint(12, 60)
    story = [f"{p.name} has {total} {things}."]
    events: list[tuple] = []
    left = n_ops
    while left > 0:
        kinds = ["add", "sub"] if total >= 6 else ["add"]
        if left >= 2:
            kinds += ["pack", "pack"]
        divisors = [d for d in range(2, 7) if total % d == 0 and total // d >= 3]
        if divisors and events:
            kinds.append("share")
        kind = rng.choice(kinds)
        if kind == "add":
            b = rng.randint(5, 49)
            story.append(rng.choice((
                f"{p.He} buys {b} more {things}.",
                f"{friend.name} gives {p.him} {b} {things}.",
                f"Then {p.he} finds {b} more {things}.",
            )))
            events.append(("add", b))
            total += b
            left -= 1
        elif kind == "sub":
            b = rng.randint(2, min(total - 2, 49))
            story.append(rng.choice((
                f"{p.He} gives {b} {things} to {friend.name}.",
                f"{p.He} loses {b} of them.",
                f"Then {p.he} uses {b} {things} for a school project.",
            )))
            events.append(("sub", b))
            total -= b
            left -= 1
        elif kind == "pack":
            k, m = rng.randint(2, 9), rng.randint(3, 12)
            story.append(f"{p.He} buys {k} {containers} of {things} with {m} {things} in each {container}.")
            events.append(("pack", k, m))
            total += k * m
            left -= 2
        else:
            d = rng.choice(divisors)
            story.append(f"{p.He} splits {p.his} {things} into {d} equal groups and keeps one group.")
            events.append(("share", d))
            total //= d
            left -= 1
    if all(e[0] != "share" for e in events) and rng.randrange(2):
        events = [e for e in events if e[0] != "sub"] + [e for e in events if e[0] == "sub"]
    story.append(rng.choice((
        f"How many {things} does {p.name} have now?",
        f"How many {things} does {p.name} have in the end?",
    )))
    return story, _inventory_steps(rng, p, things, containers, start, events), total


def _shopping(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """Buying a few things at a price each, and perhaps the change from a bill."""
    p = _Person(rng)
    (_s1, pl1, lo1, hi1), (_s2, pl2, lo2, hi2) = rng.sample(GOODS, 2)
    k1, c1 = rng.randint(2, 9), rng.randint(lo1, hi1)
    k2, c2 = rng.randint(2, 9), rng.randint(lo2, hi2)
    t1, t2 = k1 * c1, k2 * c2
    if n_ops == 2:
        bill = rng.choice([b for b in BILLS if b > t1][:2])
        story = [f"{p.name} buys {k1} {pl1} for {c1} dollars each.",
                 f"{p.He} pays with a {bill}-dollar bill.",
                 f"How much change does {p.name} get?"]
        steps = [f"The {pl1} cost {_eq(f'{k1} {TIMES} {c1}', t1)} dollars.",
                 f"{p.His} change is {_eq(f'{bill} - {t1}', bill - t1)} dollars."]
        return story, steps, bill - t1
    story = [f"{p.name} buys {k1} {pl1} for {c1} dollars each and {k2} {pl2} for {c2} dollars each."]
    items = [(pl1, f"{k1} {TIMES} {c1}", t1), (pl2, f"{k2} {TIMES} {c2}", t2)]
    steps = [f"The {name} cost {_eq(product, cost)} dollars." for name, product, cost in items]
    (name_a, _, a), (name_b, _, b) = items
    if n_ops == 3:
        steps.append(f"Together that is {_eq(f'{a} + {b}', a + b)} dollars.")
        story.append(f"How much money does {p.name} spend in total?")
        return story, steps, a + b
    bill = rng.choice([x for x in BILLS if x > a + b][:2])
    story.append(f"{p.He} pays with a {bill}-dollar bill. How much change does {p.he} get?")
    if rng.randrange(2):
        steps.append(f"Together that is {_eq(f'{a} + {b}', a + b)} dollars.")
        steps.append(f"{p.His} change is {_eq(f'{bill} - {a + b}', bill - a - b)} dollars.")
    else:
        steps.append(f"After paying for the {name_a}, {_eq(f'{bill} - {a}', bill - a)} dollars are left.")
        steps.append(f"After paying for the {name_b}, {_eq(f'{bill - a} - {b}', bill - a - b)} dollars are left.")
    return story, steps, bill - a - b


def _production(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """Something made at a rate per unit of time, over a longer time; then sold or packed."""
    maker, product, unit = rng.choice(MAKERS)
    big, lo, hi = TIME_UNITS[unit]
    r, u, d = rng.randint(3, 15), rng.randint(lo, hi), rng.randint(2, 6)
    per_big = r * u
    total = per_big * d
    story = [f"{maker} makes {r} {product} every {unit}.",
             f"It works {u} {unit}s each {big}.",
             f"How many {product} does it make in {d} {big}s?"]
    if rng.randrange(2):
        steps = [f"In one {big} it makes {_eq(f'{r} {TIMES} {u}', per_big)} {product}.",
                 f"In {d} {big}s it makes {_eq(f'{per_big} {TIMES} {d}', total)} {product}."]
    else:
        steps = [f"In {d} {big}s it works {_eq(f'{u} {TIMES} {d}', u * d)} {unit}s.",
                 f"So it makes {_eq(f'{r} {TIMES} {u * d}', total)} {product}."]
    if n_ops == 2:
        return story, steps, total
    story.pop()
    divisors = [g for g in range(2, 10) if total % g == 0 and total // g >= 2]
    if divisors and rng.randrange(2):
        g = rng.choice(divisors)
        story.append(f"The {product} made in {d} {big}s are packed in boxes of {g}. How many boxes are filled?")
        steps.append(f"That fills {_eq(f'{total} {DIV} {g}', total // g)} boxes.")
        return story, steps, total // g
    s = rng.randint(2, min(total - 1, 99))
    story.append(f"After {d} {big}s, {s} of the {product} are sold. How many {product} are left?")
    steps.append(f"After selling {s}, there are {_eq(f'{total} - {s}', total - s)} {product} left.")
    return story, steps, total - s


def _comparison(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """Three people's collections compared by a factor and a difference; the total."""
    a_p = _Person(rng)
    b_p = _Person(rng, avoid=a_p.name)
    things = rng.choice(COUNTABLES)[0]
    a, k = rng.randint(4, 30), rng.randint(2, 5)
    b = a * k
    story = [f"{a_p.name} has {a} {things}.",
             f"{b_p.name} has {k} times as many {things} as {a_p.name}."]
    steps = [f"{b_p.name} has {_eq(f'{a} {TIMES} {k}', b)} {things}."]
    if n_ops == 2:
        story.append(f"How many {things} do they have altogether?")
        steps.append(f"Together they have {_eq(f'{a} + {b}', a + b)} {things}.")
        return story, steps, a + b
    c_p = _Person(rng, avoid=a_p.name)
    while c_p.name == b_p.name:
        c_p = _Person(rng, avoid=a_p.name)
    if rng.randrange(2):
        c_diff = rng.randint(2, b - 1)
        c = b - c_diff
        story.append(f"{c_p.name} has {c_diff} fewer {things} than {b_p.name}.")
        steps.append(f"{c_p.name} has {_eq(f'{b} - {c_diff}', c)} {things}.")
    else:
        c_diff = rng.randint(2, 40)
        c = b + c_diff
        story.append(f"{c_p.name} has {c_diff} more {things} than {b_p.name}.")
        steps.append(f"{c_p.name} has {_eq(f'{b} + {c_diff}', c)} {things}.")
    if n_ops == 3:
        story.append(f"How many {things} does {c_p.name} have?")
        return story, steps, c
    story.append(f"How many {things} do the three of them have altogether?")
    way = rng.randrange(3)
    if way == 0:
        steps.append(f"Together they have {_eq(f'{a} + {b} + {c}', a + b + c)} {things}.")
    elif way == 1:
        steps.append(f"{a_p.name} and {b_p.name} have {_eq(f'{a} + {b}', a + b)} {things}.")
        steps.append(f"With {c_p.name}, they have {_eq(f'{a + b} + {c}', a + b + c)} {things}.")
    else:
        steps.append(f"{b_p.name} and {c_p.name} have {_eq(f'{b} + {c}', b + c)} {things}.")
        steps.append(f"With {a_p.name}, they have {_eq(f'{b + c} + {a}', a + b + c)} {things}.")
    return story, steps, a + b + c


def _selling(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """Produce picked, some kept, the rest bagged and sold; the money made."""
    p = _Person(rng)
    produce, bag, bags_word = rng.choice(PRODUCE)
    g, bags, price = rng.randint(2, 9), rng.randint(3, 12), rng.randint(2, 9)
    keep = rng.randint(2, 20) if n_ops >= 3 else 0
    picked = g * bags + keep
    story = [f"{p.name} picks {picked} {produce}."]
    steps: list[str] = []
    if keep:
        story.append(f"{p.He} keeps {keep} for {p.him}self and puts the rest in {bags_word} of {g}.")
        steps.append(f"{p.He} puts {_eq(f'{picked} - {keep}', g * bags)} {produce} in {bags_word}.")
    else:
        story.append(f"{p.He} puts them in {bags_word} of {g}.")
    steps.append(f"That makes {_eq(f'{g * bags} {DIV} {g}', bags)} {bags_word}.")
    story.append(f"{p.He} sells each {bag} for {price} dollars.")
    money = bags * price
    steps.append(f"{p.He} makes {_eq(f'{bags} {TIMES} {price}', money)} dollars.")
    if n_ops == 4:
        spent = rng.randint(2, money - 1)
        story.append(f"{p.He} spent {spent} dollars on seeds. How much profit does {p.he} make?")
        steps.append(f"{p.His} profit is {_eq(f'{money} - {spent}', money - spent)} dollars.")
        return story, steps, money - spent
    story.append(f"How much money does {p.name} make?")
    return story, steps, money


def _travel(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """A trip in legs at different speeds; the distance in total."""
    vehicle, unit = rng.choice(VEHICLES)
    v, h = rng.randint(8, 60), rng.randint(2, 5)
    first = v * h
    if n_ops == 2:
        extra = rng.randint(5, 60)
        story = [f"{vehicle} travels at {v} {unit} per hour for {h} hours.",
                 f"Then it travels another {extra} {unit}.",
                 f"How many {unit} does it travel in total?"]
        steps = [f"First it travels {_eq(f'{v} {TIMES} {h}', first)} {unit}.",
                 f"In total it travels {_eq(f'{first} + {extra}', first + extra)} {unit}."]
        return story, steps, first + extra
    w, j = rng.randint(8, 60), rng.randint(2, 5)
    second = w * j
    story = [f"{vehicle} travels at {v} {unit} per hour for {h} hours and then at {w} {unit} per hour for {j} hours."]
    legs = [("first", f"{v} {TIMES} {h}", first), ("second", f"{w} {TIMES} {j}", second)]
    steps = [f"The {which} part is {_eq(product, length)} {unit}." for which, product, length in legs]
    (which_a, _, a), (which_b, _, b) = legs
    if n_ops == 3:
        story.append(f"How many {unit} does it travel in total?")
        steps.append(f"In total it travels {_eq(f'{a} + {b}', a + b)} {unit}.")
        return story, steps, a + b
    planned = a + b + rng.randint(5, 90)
    story.append(f"The whole trip is {planned} {unit}. How many {unit} are left to go?")
    if rng.randrange(2):
        steps.append(f"In total it travels {_eq(f'{a} + {b}', a + b)} {unit}.")
        steps.append(f"There are {_eq(f'{planned} - {a + b}', planned - a - b)} {unit} left.")
    else:
        steps.append(f"Without the {which_a} part, {_eq(f'{planned} - {a}', planned - a)} {unit} remain.")
        steps.append(f"Without the {which_b} part too, {_eq(f'{planned - a} - {b}', planned - a - b)} {unit} remain.")
    return story, steps, planned - a - b


def _savings(rng: random.Random, n_ops: int) -> tuple[list[str], list[str], int]:
    """Weekly savings on top of a starting amount, minus a purchase."""
    p = _Person(rng)
    s, w = rng.randint(3, 25), rng.randint(2, 9)
    saved = s * w
    start = rng.randint(5, 60) if n_ops >= 3 else 0
    story = []
    if start:
        story.append(f"{p.name} has {start} dollars.")
        story.append(f"{p.He} saves {s} dollars every week for {w} weeks.")
    else:
        story.append(f"{p.name} saves {s} dollars every week for {w} weeks.")
    steps = [f"{p.He} saves {_eq(f'{s} {TIMES} {w}', saved)} dollars."]
    have = start + saved
    if n_ops in (2, 4):
        cost = rng.randint(2, have - 1)
        story.append(f"Then {p.he} buys {rng.choice(SPENDS)} for {cost} dollars. How much money does {p.he} have left?")
        if start and cost < saved and rng.randrange(2):
            steps.append(f"After buying it, {_eq(f'{saved} - {cost}', saved - cost)} dollars of {p.his} savings are left.")
            steps.append(f"With what {p.he} had before, {p.he} has {_eq(f'{saved - cost} + {start}', have - cost)} dollars.")
            return story, steps, have - cost
        if start:
            steps.append(f"Now {p.he} has {_eq(f'{start} + {saved}', have)} dollars.")
        steps.append(f"{p.He} has {_eq(f'{have} - {cost}', have - cost)} dollars left.")
        return story, steps, have - cost
    if start:
        steps.append(f"Now {p.he} has {_eq(f'{start} + {saved}', have)} dollars.")
    story.append(f"How much money does {p.name} have now?")
    return story, steps, have


FAMILIES: tuple[Callable[[random.Random, int], tuple[list[str], list[str], int]], ...] = (
    _inventory, _shopping, _production, _comparison, _selling, _travel, _savings,
)


# One equation of a solution, `$12 \times 4 = 48$`: (left-hand side, result).
EQUATION = re.compile(r"\$(\d+(?: (?:\+|-|\\times|\\div) \d+)+) = (\d+)\$")


def solution_equations(solution: str) -> list[tuple[str, str]]:
    """The (left-hand side, result) of every equation in a solution, in order."""
    return EQUATION.findall(solution)


_OPERATORS = {"+": operator.add, "-": operator.sub, "\\times": operator.mul, "\\div": operator.truediv}


def equation_value(left: str) -> Fraction:
    """The exact value of an equation's left-hand side (`12 \\times 4`, `7 + 5 + 9`), left to right."""
    tokens = left.split()
    value = Fraction(int(tokens[0]))
    for op, number in zip(tokens[1::2], tokens[2::2]):
        value = _OPERATORS[op](value, Fraction(int(number)))
    return value


def generate_problem(rng: random.Random) -> Problem:
    """One problem of 2-4 arithmetic steps, drawn from `rng`."""
    family = rng.choice(FAMILIES)
    story, steps, answer = family(rng, rng.randint(2, 4))
    steps = steps + [rng.choice(ANSWER_LINES).format(n=answer)]
    return Problem(problem=" ".join(story), solution="\n\n".join(steps), answer=str(answer))


# Tool-integrated solutions (Qwen2.5-Math's TIR format, docs/tir.md).
CODE_FENCE = "```python"
OUTPUT_FENCE = "```output"
# One wording each: a model this small spells words its tokenizer never saw letter by letter,
# and three wordings of one sentence came out blended ("Letet c cppute") after a short run.
TIR_OPENERS = ("In Python:",)
TIR_READINGS = ("It prints {out}.",)
_PYTHON_OPERATORS = {"+": "+", "-": "-", "\\times": "*", "\\div": "//"}
_VARIABLES = "abcdefghijklmnop"


@dataclass(frozen=True)
class TirSolution:
    """A solution with one Python cell, in the three parts the app's loop makes of it.

    `written` is what the model writes, up to and including the ```` ```output ```` fence where
    generation stops; `output_block` is what the app appends (the output the sandbox prints,
    the closing fence: `model.tools.output_suffix`); `rest` is what the model writes after it.
    """

    written: str
    output: str
    rest: str

    @property
    def output_block(self) -> str:
        return f"\n{self.output}\n```\n"

    @property
    def text(self) -> str:
        """The whole solution as the app shows it."""
        return self.written + self.output_block + self.rest


def tir_program(solution: str) -> str:
    """Python for a step-by-step solution: one line per equation (`b = 34 + a`), each earlier
    result named by its variable wherever the equation uses it, then `print` of the last.

    The model copies the problem's numbers and chooses the operations; Python does the
    arithmetic, which is where the bundled model slips in words.
    """
    named: list[tuple[str, str]] = []  # (result, variable), in order
    lines: list[str] = []
    for i, (left, result) in enumerate(solution_equations(solution)):
        parts = []
        for j, token in enumerate(left.split()):
            if j % 2:
                parts.append(_PYTHON_OPERATORS[token])
            else:
                parts.append(next((name for value, name in reversed(named) if value == token), token))
        name = _VARIABLES[i]
        lines.append(f"{name} = {' '.join(parts)}")
        named.append((result, name))
    if not named:
        raise ValueError("the solution has no equation to compute")
    lines.append(f"print({named[-1][1]})")
    return "\n".join(lines)


def run_program(code: str) -> str:
    """What the sandbox shows for our own templated `code`: stdout, stripped (as
    `sandbox.result` does). Offline data generation only: never for a model's code."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, "<tir-training>", "exec"), {"__builtins__": {"print": print}})  # noqa: S102
    return stdout.getvalue().strip() or "Done"


def tir_solution(problem: Problem, rng: random.Random) -> TirSolution:
    """`problem` solved with Python: a plan sentence, the cell, its output, a sentence reading
    the output and the answer line. Raises `ValueError` if the program's output is not the answer."""
    code = tir_program(problem.solution)
    output = run_program(code)
    if output != problem.answer:
        raise ValueError(f"the program prints {output!r}, the answer is {problem.answer!r}: {problem.problem}")
    written = f"{rng.choice(TIR_OPENERS)}\n\n{CODE_FENCE}\n{code}\n```\n{OUTPUT_FENCE}"
    rest = f"{rng.choice(TIR_READINGS).format(out=output)}\n\n{rng.choice(ANSWER_LINES).format(n=output)}"
    return TirSolution(written=written, output=output, rest=rest)


def stream_tir_problems(seed: int | str, exclude: Iterable[str] = ()) -> Iterator[tuple[Problem, TirSolution]]:
    """Training problems with their tool-integrated solutions, from a seed space of their own
    (`Random("train-tir-{seed}")`, so the chain-of-thought stream is unchanged), skipping `exclude`."""
    rng = random.Random(f"tir-solutions-{seed}")
    for problem in stream_problems(f"tir-{seed}", exclude):
        yield problem, tir_solution(problem, rng)


def normalise(text: str) -> str:
    """A problem's text for duplicate checks: lower case, single spaces."""
    return re.sub(r"\s+", " ", text.strip().lower())


def stream_problems(seed: int | str, exclude: Iterable[str] = ()) -> Iterator[Problem]:
    """Training problems from `Random("train-{seed}")`, skipping any text in `exclude`."""
    rng = random.Random(f"train-{seed}")
    excluded = {normalise(t) for t in exclude}
    while True:
        problem = generate_problem(rng)
        if normalise(problem.problem) not in excluded:
            yield problem


def heldout_problems(n: int = HELDOUT_SIZE, seed: int = HELDOUT_SEED) -> list[Problem]:
    """`n` distinct problems from the held-out seed space `Random("heldout-{seed}")`."""
    rng = random.Random(f"heldout-{seed}")
    seen: set[str] = set()
    problems: list[Problem] = []
    while len(problems) < n:
        problem = generate_problem(rng)
        key = normalise(problem.problem)
        if key not in seen:
            seen.add(key)
            problems.append(problem)
    return problems


def write_jsonl(problems: Iterable[Problem], path: str | Path) -> None:
    """Write one JSON object per line with fields `problem`, `solution`, `answer`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for problem in problems:
            f.write(problem.to_json() + "\n")


def read_jsonl(path: str | Path) -> list[Problem]:
    """Read problems written by `write_jsonl`."""
    with Path(path).open(encoding="utf-8") as f:
        return [Problem(**json.loads(line)) for line in f if line.strip()]


def main(argv: list[str] | None = None) -> None:
    """Write the held-out set (the default) to a JSONL file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_HELDOUT_PATH)
    parser.add_argument("--n", type=int, default=HELDOUT_SIZE)
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED)
    args = parser.parse_args(argv)
    write_jsonl(heldout_problems(args.n, args.seed), args.out)
    print(f"wrote {args.n} held-out problems to {args.out}")


if __name__ == "__main__":
    main()
