"""Units after numbers, as the step checker reads them: a unit is a label that multiplies its number.

`unit_powers(texts)` reads the unit tokens after one number (`cm`, `\\mbox{ inches}^2`,
`km/h`, `miles per hour`, `$`) into canonical powers: `(("inch", 2),)`. Units then combine as
symbols do (`3 hours × $15/hour` is in dollars), so a claim's two sides can be compared:

- the same units on both sides (or count nouns such as `apples` against a bare number): the
  numbers alone decide, with certainty;
- units of one kind that this module knows (length, area, mass, time, volume, money, scale
  words): the values are converted and compared (`1 foot^2 = 144 inches^2`, `$0.054 = 5.4
  cents`, `1.5 billion / 3 = 500 million`);
- anything else (`120 km ÷ 2 = 60 km/h`, a sum of unlike units `19g + 17h`): the numbers
  alone may not mean what the claim means, so a mismatch is not a certain slip.

`conversion_ratios(units)` lists the factors a unit conversion could put between a bare number
and a number in `units` (`100` for cents), so `0.054 = 5.4 cents` is not called wrong.
"""

from __future__ import annotations

import re
from fractions import Fraction

Units = tuple[tuple[str, int], ...]
"""Canonical unit names with their powers, sorted by name; `()` is no unit."""

# name -> (kind, size in the kind's base unit)
_KNOWN: dict[str, tuple[str, Fraction]] = {
    "millimeter": ("length", Fraction(1, 1000)), "centimeter": ("length", Fraction(1, 100)),
    "meter": ("length", Fraction(1)), "kilometer": ("length", Fraction(1000)),
    "inch": ("length", Fraction(254, 10000)), "foot": ("length", Fraction(3048, 10000)),
    "yard": ("length", Fraction(9144, 10000)), "mile": ("length", Fraction(1609344, 1000)),
    "milligram": ("mass", Fraction(1, 1000)), "gram": ("mass", Fraction(1)), "kilogram": ("mass", Fraction(1000)),
    "ounce": ("mass", Fraction(28349523125, 10**9)), "pound": ("mass", Fraction(45359237, 10**5)),
    "second": ("time", Fraction(1)), "minute": ("time", Fraction(60)), "hour": ("time", Fraction(3600)),
    "day": ("time", Fraction(86400)), "week": ("time", Fraction(604800)), "year": ("time", Fraction(31536000)),
    "milliliter": ("volume", Fraction(1, 1000)), "liter": ("volume", Fraction(1)),
    "gallon": ("volume", Fraction(3785411784, 10**9)), "quart": ("volume", Fraction(3785411784, 4 * 10**9)),
    "pint": ("volume", Fraction(3785411784, 8 * 10**9)), "cup": ("volume", Fraction(3785411784, 16 * 10**9)),
    "dollar": ("money", Fraction(1)), "cent": ("money", Fraction(1, 100)),
    "degree": ("angle", Fraction(1)),
    "hundred": ("scale", Fraction(100)), "thousand": ("scale", Fraction(10**3)),
    "million": ("scale", Fraction(10**6)), "billion": ("scale", Fraction(10**9)),
    "trillion": ("scale", Fraction(10**12)),
}
_ALIASES = {
    "mm": "millimeter", "cm": "centimeter", "m": "meter", "km": "kilometer", "metre": "meter",
    "millimetre": "millimeter", "centimetre": "centimeter", "kilometre": "kilometer",
    "in": "inch", "inche": "inch", "ft": "foot", "feet": "foot", "yd": "yard", "mi": "mile",
    "mg": "milligram", "g": "gram", "gm": "gram", "kg": "kilogram", "oz": "ounce", "lb": "pound",
    "s": "second", "sec": "second", "min": "minute", "h": "hour", "hr": "hour", "yr": "year",
    "ml": "milliliter", "l": "liter", "litre": "liter", "millilitre": "milliliter", "gal": "gallon",
    "qt": "quart", "pt": "pint", "$": "dollar", "usd": "dollar", "buck": "dollar", "¢": "cent",
    "°": "degree", "circ": "degree", "k": "thousand", "€": "euro", "£": "pound sterling", "¥": "yen", "₹": "rupee",
}
_POWER_WORDS = {"square": 2, "sq": 2, "cubic": 3, "cu": 3}
_PER_WORDS = {"per", "a", "an", "each"}
_WRAPPER = re.compile(r"\\[A-Za-z]+\s*\{([^{}]*)\}")
_PIECE = re.compile(r"\^\s*\{?\s*(\d)\s*\}?|[²³]|/|\$|¢|°|\\circ|[€£¥₹]|[^\W\d_]+")


def unit_name(word: str) -> str:
    """A unit word in canonical form: `Inches` -> `inch`, `hrs` -> `hour`, `apples` -> `apple`."""
    w = word.lower() if len(word) > 1 or word not in "L" else "l"
    if w in _ALIASES:
        return _ALIASES[w]
    if w in _KNOWN:
        return w
    for ending, stem in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("xes", "x"), ("s", "")):
        if len(w) > len(ending) + 1 and w.endswith(ending) and not w.endswith("ss"):
            base = w[: -len(ending)] + stem
            return _ALIASES.get(base, base)
    return w


def unit_powers(texts: list[str]) -> Units:
    """The units written after one number, from its unit tokens' texts, in canonical form."""
    powers: dict[str, int] = {}
    sign, pending, last = 1, 1, None
    for text in texts:
        text = _WRAPPER.sub(r" \1 ", text)
        for piece in _PIECE.finditer(text):
            p = piece.group()
            if p == "/":
                sign = -1
                continue
            exponent = piece.group(1) or {"²": "2", "³": "3"}.get(p)
            if exponent is not None:
                if last is not None:
                    powers[last] += (int(exponent) - 1) * (1 if powers[last] > 0 else -1)
                continue
            lower = p.lower()
            if lower in _POWER_WORDS:
                pending = _POWER_WORDS[lower]
                continue
            if lower in _PER_WORDS and (powers or last is not None):
                sign = -1
                continue
            last = unit_name(p)
            powers[last] = powers.get(last, 0) + sign * pending
            sign, pending = 1, 1
    return tuple(sorted((k, v) for k, v in powers.items() if v))


def multiply(a: Units, b: Units, sign: int = 1) -> Units:
    """`a × b` (or `a ÷ b` with `sign` -1)."""
    powers = dict(a)
    for name, power in b:
        powers[name] = powers.get(name, 0) + sign * power
    return tuple(sorted((k, v) for k, v in powers.items() if v))


def power(a: Units, n: int) -> Units:
    return tuple((k, v * n) for k, v in a) if n else ()


def known(a: Units) -> bool:
    """Whether every unit is one whose size this module knows."""
    return bool(a) and all(name in _KNOWN for name, _ in a)


def _kind(a: Units) -> tuple[tuple[str, int], ...]:
    kinds: dict[str, int] = {}
    for name, p in a:
        kind = _KNOWN[name][0]
        kinds[kind] = kinds.get(kind, 0) + p
    return tuple(sorted((k, v) for k, v in kinds.items() if v))


def size(a: Units) -> Fraction:
    """The size of known units in their kinds' base units (`inch^2` -> 0.0254^2)."""
    total = Fraction(1)
    for name, p in a:
        total *= _KNOWN[name][1] ** p
    return total


def convertible(a: Units, b: Units) -> bool:
    """Whether values in `a` and in `b` measure the same kind of thing, in known units."""
    return known(a) and known(b) and _kind(a) == _kind(b)


def conversion_ratios(a: Units) -> set[Fraction]:
    """The factors other than 1 that converting one of the units of `a` to another of its kind
    puts on a number (a bare number may be in any of them)."""
    ratios: set[Fraction] = set()
    for name, p in a:
        if name not in _KNOWN:
            continue
        kind, own = _KNOWN[name]
        for other, (other_kind, other_size) in _KNOWN.items():
            if other_kind == kind and other != name:
                ratio = (own / other_size) ** p
                ratios.update((ratio, 1 / ratio))
    return ratios


def describe(a: Units) -> str:
    """Units as a person reads them: `inch^2`, `dollar/hour`, `no unit`."""
    if not a:
        return "no unit"
    top = [n if p == 1 else f"{n}^{p}" for n, p in a if p > 0]
    bottom = [n if p == -1 else f"{n}^{-p}" for n, p in a if p < 0]
    return "·".join(top or ["1"]) + ("/" + "·".join(bottom) if bottom else "")


__all__ = [
    "Units", "conversion_ratios", "convertible", "describe", "known", "multiply", "power", "size",
    "unit_name", "unit_powers",
]
