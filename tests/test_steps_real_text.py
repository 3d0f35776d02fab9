"""The step checker on real text: MATH-500's reference solutions, a corpus of right solutions in
Qwen2-Math-Instruct's style, slips in realistic prose, and adversarial cases for every way real
text was misread (letters next to numbers, money, quotients with remainders, repeating decimals,
function values, brackets as the integer part, subfactorials, operators a problem defines,
nested math delimiters, thousands separators, units). A right claim of each class is never
flagged; a wrong one is flagged, or at worst not checked where its reading involves a guess.
Also: what a claim says it read (`read_as`), how sure it is (`certain`), and the page's sentence.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from judgements.steps.checker import check_solution
from judgements.steps.delimiters import MONEY, math_map

ROOT = Path(__file__).resolve().parent.parent
MATH500 = ROOT / "bench" / "data" / "math500.jsonl"
CORPUS = ROOT / "tests" / "data" / "realistic_solutions.txt"
SLIPS = ROOT / "tests" / "data" / "realistic_slips.txt"
_ENTRY = re.compile(r"^=== ([^\n]*)\n(.*?)(?=^=== |\Z)", re.S | re.M)


def entries(path: Path) -> list[tuple[str, str]]:
    """The `=== name` entries of a corpus file."""
    return [(m.group(1), m.group(2)) for m in _ENTRY.finditer(path.read_text(encoding="utf-8"))]


def flagged(text: str) -> list[str]:
    return [c.text for c in check_solution(text).wrong]


def squeeze(text: str) -> str:
    return re.sub(r"\s|&|\\\\", "", text)


# --- corpora -------------------------------------------------------------------------------------


def test_math500_reference_solutions_flag_only_the_real_slip():
    rows = [json.loads(line) for line in MATH500.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 500
    found = {r["unique_id"]: flagged(r["solution"]) for r in rows}
    found = {k: v for k, v in found.items() if v}
    assert found == {"test/algebra/351.json": ["(-4)^2 + 4 \\cdot 1 \\cdot (-1) = 20"]}
    assert sum(check_solution(r["solution"]).checked for r in rows) >= 600  # still reads most arithmetic


def test_the_realistic_corpus_of_right_solutions_is_never_flagged():
    corpus = entries(CORPUS)
    assert len(corpus) >= 60
    for name, text in corpus:
        assert not flagged(text), (name, flagged(text))
    assert sum(check_solution(text).checked for _, text in corpus) >= 180


def test_slips_in_realistic_prose_are_caught():
    slips = entries(SLIPS)
    assert len(slips) >= 40
    missed = []
    for name, body in slips:
        text, _, target = body.rpartition(">>> ")
        if not any(squeeze(target.strip()) in squeeze(c) or squeeze(c) in squeeze(target) for c in flagged(text)):
            missed.append(name)
    assert len(missed) <= len(slips) // 10, missed


# --- adversarial cases, class by class ------------------------------------------------------------

NEVER_FLAGGED = {
    "letters": [
        "$6S + 9 = 3S + 27$", "6S + 9 = 3S + 27", "$2k - 1 = 2(2004) - 1$", "$19g + 17h = 201$",
        "19g + 17h = 201", "$k\\sqrt{2} + m\\sqrt{2} = 5\\sqrt{2}$", "$\\frac{3}{4}x - \\frac{1}{2}x = 1$",
        "$3m^2 - 8m - 60 = 0$", "$5=\\frac{5}{2}x$", "$$10^5 s = 279.\\overline{00279}$$", "So n = 5 + 3 = 8 is even.",
        "\\begin{align*}\nf(m) &= \\frac{4m^4 + 1}{4} \\\\\n&= \\frac{4m^4 + 4m^2 + 1 - 4m^2}{4} \\\\\n"
        "&= \\frac{(2m^2 + 1)^2 - (2m)^2}{4}\n\\end{align*}",
        "$3a = 12$ and $2b + 1 = 9$", "The 3rd term is 2x + 1 = 7.",
    ],
    "money": [
        "20% of $100,000 = 0.20 \\times $100,000 = $20,000", "It costs $5 \\times 3 = $15 in all.",
        "$3+$4=$7", "He had $5 and spent $2, so $5 - $2 = $3 remain.", "She pays \\$12.50 + \\$7.25 = \\$19.75.",
        "$14 \\times 12 = 168$ dollars", "Multiply both sides of $1200\\text{ lire}=\\$1.50$ by $1,\\!000,\\!000/1200$.",
    ],
    "thousands": ["$\\frac{3}{2}\\cdot10,\\!000/12=\\boxed{1250}$", "$90^3=729,\\!000$", "$36,997,536 = 36997536$"],
    "repeating decimals": [
        "$\\frac{2}{3} = 0.\\overline{6}$", "$$\\frac{279}{99999} = 0.\\overline{00279},$$", "$0.1\\overline{6} = \\frac{1}{6}$",
        "$279/99999 = 0.\\overline{00279}$",
    ],
    "units": [
        "$$ 6 \\mbox{ feet}^2 \\frac{144 \\mbox{ inches}^2}{1 \\mbox{ foot}^2} = 864 \\mbox{ inches}^2$$",
        "the average price is $\\frac{\\$ 2.33}{43} \\approx \\$0.054 = \\boxed{5.4 \\text{ cents}}.$",
        "$$1 \\mbox{ foot}^2 = 12^2 \\mbox{ inches}^2 = 144 \\mbox{ inches}^2$$",
        "$2 \\text{ hours} = 2 \\times 60 = 120 \\text{ minutes}$", "$2 \\times 30 = 6000 \\text{ cents}$",
        "3 hours × $15/hour = $45", "$40 \\text{ hours} \\times \\$15/\\text{hour} = \\$600$",
    ],
    "quotients": [
        "$410 \\div 333 = 1$ with a remainder of 77", "$18 \\div 4 = 4 \\text{ remainder } 2$",
        "\\[2863 \\div 1344 = 2 \\quad \\text{(quotient)}\\]", "$49 \\div 9 = 5$ complete cycles", "100 ÷ 7 = 14 R 2",
    ],
    "function values": [
        "$f'(5) = 0$", "$f''(2) = 6 \\cdot 2 - 6$", "$q'(1) = 0$", "$m \\circ 2 = \\frac{1}{2}$", "f'(5) = 0",
        "$g(f(3)) = g(7) = 49$", "$f^{-1}(3) = 2$", "$P(3) = 0.5$",
    ],
    "integer part": ["$\\left[ 22.8 \\right] = 22$", "$\\lfloor 3.7 \\rfloor = 3$", "$\\lceil 3.2 \\rceil = 4$", "$[7.5] = 7$"],
    "subfactorial": ["$!5 = 44$", "$!4 = 9$", "$!5 = 4(!4 + !3) = 4(9 + 2) = 44$"],
    "defined operators": [
        "$\\frac{7}{30}@\\frac{10}{21}=(7)(10)\\left(\\frac{21}{30}\\right)=\\boxed{49}$", "$3 \\star 4 = 33$",
        "$2 \\circ 3 = 7$", "$5 \\# 3 = 11$", "$4 \\diamond 2 = 9$", "$(2 \\oplus 3) \\oplus 1 = 8$",
        "Let $a * b = 2a + 3b$. Then $4 * 5 = 23$.", "$3 \\ast 4 = 19$",
    ],
    "nested delimiters": ["\\[$454-35$ = 419\\]", "\\( $12 \\times 3$ = 36 \\)"],
    "rejected candidates": ["If $x=1$, we have $1 = \\!\\sqrt{11-2} + 4$, which is not true."],
    "congruences": ["3 × 5 = 15 = 1 (mod 7)", "Working modulo 7, $3 \\cdot 5 = 1$.", "$2^{10} = 1024 = 1 \\pmod{11}$"],
    "rounded results": ["Each gets 1000 / 3 = 333 dollars (rounded down).", "$1000 / 3 = 333$ (to the nearest dollar)"],
    "rounded decimals": ["$3.14 \\times 25 = 78.54$", "$0.1667 \\times 60 = 10$", "$0.333 \\times 3 = 1$"],
}


@pytest.mark.parametrize(
    "kind,text", [(kind, text) for kind, texts in NEVER_FLAGGED.items() for text in texts], ids=lambda v: str(v)[:40]
)
def test_a_right_claim_of_every_class_is_never_flagged(kind, text):
    assert not flagged(text), (kind, check_solution(text).claims)


def test_a_claim_with_a_letter_is_never_read_as_if_the_letter_were_absent():
    for text in NEVER_FLAGGED["letters"]:
        for claim in check_solution(text).claims:
            if re.search(r"(?<!\\)\b[A-Za-z]\b|\d[A-Za-z]", claim.text.replace("\\frac", "").replace("\\sqrt", "")):
                assert claim.status == "not checked", claim


FLAGGED = [
    # (text, the claim flagged, its right value)
    ("$2k - 1 = 2(2004) - 1 = 4006$", "2(2004) - 1 = 4006", "4007"),
    ("$3x = 12$, so $x = 12 \\div 3 = 5$", "12 \\div 3 = 5", "4"),
    ("20% of $100,000 = 0.20 \\times $100,000 = $25,000", "0.20 \\times $100,000 = $25,000", "20000"),
    ("It costs $5 \\times 3 = $16 in all.", "5 \\times 3 = $16", "15"),
    ("$14 \\times 12 = 158$ dollars", "14 \\times 12 = 158", "168"),
    ("$6084 \\times 6084 = 36,997,536$", "6084 \\times 6084 = 36,997,536", "37015056"),
    ("$\\frac{15,\\!000}{12} = 1,\\!350$", "\\frac{15,\\!000}{12} = 1,\\!350", "1250"),
    ("$\\frac{1}{3} = 0.\\overline{6}$", "\\frac{1}{3} = 0.\\overline{6}", "1/3 ≈ 0.333333"),
    ("5 cm + 3 cm = 9 cm", "5 cm + 3 cm = 9", "8"),
    ("$$1 \\mbox{ foot}^2 = 12^2 \\mbox{ inches}^2 = 140 \\mbox{ inches}^2$$", "12^2 \\mbox{ inches}^2 = 140", "144"),
    ("$\\$0.054 \\times 100 = 54 \\text{ cents}$", "0.054 \\times 100 = 54", "5.4"),
    ("$18 \\div 4 = 5 \\text{ remainder } 2$", "18 \\div 4 = 5", "4 remainder 2"),
    ("$64 \\div 3 = 21$ bags", "64 \\div 3 = 21", "64/3 ≈ 21.3333"),
    ("$f''(2) = 6 \\cdot 2 - 6 = 7$", "6 \\cdot 2 - 6 = 7", "6"),
    ("$\\lfloor 3.7 \\rfloor = 4$", "\\lfloor 3.7 \\rfloor = 4", "3"),
    ("$\\left[ 22.8 \\right] = 21$", "22.8 \\right] = 21", "22.8"),
    ("$!5 = 45$", "!5 = 45", "44"),
    ("$\\frac{7}{30}@\\frac{10}{21}=(7)(10)\\left(\\frac{21}{30}\\right)=48$", "\\left(\\frac{21}{30}\\right)=48", "49"),
    ("\\[$454-35$ = 421\\]", "454-35$ = 421", "419"),
    ("$1404 = 2^2 \\times 3^2 \\times 13$", "1404 = 2^2 \\times 3^2 \\times 13", "468"),
    ("$(-4)^2 + 4 \\cdot 1 \\cdot (-1) = 20$", "(-4)^2 + 4 \\cdot 1 \\cdot (-1) = 20", "12"),
    ("Note that $384 = 3 \\times 2^6$.", "384 = 3 \\times 2^6", "192"),
    ("$\\binom{8}{3} = 48$", "\\binom{8}{3} = 48", "56"),
    ("$0.5 \\times 120 = 61$", "0.5 \\times 120 = 61", "60"),  # a decimal, but not one a rounding explains
    ("3 × $2.25 = $6.76", "3 × $2.25 = $6.76", "6.75"),  # money is exact
    ("Working modulo 7, $3 \\cdot 5 = 2$.", "3 \\cdot 5 = 2", "15"),  # not even modulo 7
    ("$1000 / 3 = 335$ (rounded)", "1000 / 3 = 335", "1000/3 ≈ 333.333"),  # no rounding gives 335
    ("She read 1/4 of 120 pages = 40 pages.", "1/4 of 120 pages = 40", "30"),  # `of` after a fraction
    ("$\\frac{2}{3}$ of 12 = 9", "of 12 = 9", "8"),
]


@pytest.mark.parametrize("text,claim,value", FLAGGED, ids=lambda v: str(v)[:40])
def test_a_wrong_claim_of_every_class_is_flagged(text, claim, value):
    wrong = check_solution(text).wrong
    assert [c for c in wrong if claim in c.text], check_solution(text).claims
    assert [c.right for c in wrong if claim in c.text] == [value]


NOT_CERTAIN = [
    # (text, why the reading is a guess): wrong under the checker's reading, never marked
    ("3 x 4 = 13", "×"),
    ("$5 \\times 12 = 5 \\text{ feet}$", "convert"),
    ("19g + 17h = 200", "unlike units"),
    ("$0.5 \\times 120 = 60000 \\text{ m}$", "convert"),
]


@pytest.mark.parametrize("text,why", NOT_CERTAIN)
def test_a_wrong_reading_that_involved_a_guess_is_not_checked(text, why):
    check = check_solution(text)
    assert not check.wrong and not check.has_wrong
    [claim] = [c for c in check.claims if c.right is not None]
    assert claim.status == "not checked" and not claim.certain and why in claim.reason
    assert claim in check.unsure
    assert "not marked" in claim.mark()


# --- what was read, and the sentence on the page --------------------------------------------------


def test_a_wrong_claim_says_what_was_read_and_what_it_should_be():
    [claim] = check_solution("So she has $14 \\times 12 = 158$ muffins.").wrong
    assert claim.read_as == "14 × 12" and claim.certain
    assert claim.mark() == "read as 14 × 12; that is 168, not 158"
    [claim] = check_solution("$\\frac{3}{4} + \\frac{1}{6} = \\frac{10}{12}$").wrong
    assert claim.read_as == "3/4 + 1/6"
    assert claim.mark() == "read as 3/4 + 1/6; that is 11/12 ≈ 0.916667, not \\(\\frac{10}{12}\\)"
    [claim] = check_solution("$1404 = 2^2 \\times 3^2 \\times 13$").wrong
    assert claim.mark() == "read as 2^2 × 3^2 × 13; that is 468, not 1404"


def test_right_and_unread_claims_say_so():
    claims = check_solution("$x + 1 = 3$ and $(3 + 4) \\times 2 = 14$").claims
    assert claims[0].mark().startswith("not checked: a variable")
    assert claims[1].read_as == "(3 + 4) × 2" and claims[1].certain
    assert claims[1].mark() == "read as (3 + 4) × 2 = 14: right"


def test_the_page_only_sees_certain_wrong_claims():
    check = check_solution("$14 \\times 12 = 158$. Then 3 x 4 = 13.")
    assert [c.text for c in check.wrong] == ["14 \\times 12 = 158"]
    assert check.wrong_steps == frozenset({0})
    assert [c.text for c in check.unsure] == ["3 x 4 = 13"]
    assert all(c.status != "wrong" or c.certain for c in check.claims)


# --- where math is ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,money",
    [
        ("20% of $100,000 = 0.20 \\times $100,000 = $20,000", 3),
        ("It costs $5 \\times 3 = $15 in all.", 2),
        ("$14 \\times 12 = 168$ and $3$", 0),
        ("$3+$4=$7", 3),
        ("He paid $5, and then $x = 2$.", 1),
        ("\\[$454-35$ = 421\\]", 0),
    ],
)
def test_a_dollar_sign_is_money_unless_it_pairs_as_math(text, money):
    found = math_map(text)
    assert sum(1 for mark in found.marks.values() if mark == MONEY) == money


def test_math_nested_in_a_display_stays_math():
    text = "\\[$454-35$ = 421\\]"
    found = math_map(text)
    assert all(found.inside(i) for i in range(len(text)))
    text = "\\[ \\begin{cases} 3 + 4 = 7 \\end{cases} 5 - 2 = 3 \\]"
    assert math_map(text).inside(text.index("5 - 2"))


# --- more ways real text was misread: each class, a right claim and a wrong one -------------------

# (class, a right claim never flagged, a wrong claim of the same shape, the claim flagged in it or
# None where the wrong one is at worst not checked)
MISREAD = [
    ("double factorial", "$5!! = 5 \\cdot 3 \\cdot 1 = 15$", "$5!! = 14$", "5!! = 14"),
    ("a modulus stated in an earlier step", "We work modulo 10.\n\n$3^4 = 81 = 1$",
     "We work modulo 10.\n\n$3^4 = 81 = 3$", "81 = 3"),
    ("a modulus stated earlier excuses only residues", "We look at parity mod 2.\n\nThen $7^2 = 49 = 1$.",
     "We look at parity mod 2.\n\nThen 7 × 8 = 54.", "7 × 8 = 54"),
    ("a 12-hour clock", "On a 12-hour clock, 9 + 5 = 2.", "On a 12-hour clock, 9 + 5 = 3.", "9 + 5 = 3"),
    ("a congruence", "$2^4 = 16 \\equiv 1 \\pmod 5$", "$2^4 = 16 \\equiv 2 \\pmod 5$", "16 \\equiv 2"),
    ("a congruence with no modulus", "$10 \\equiv 3$ and $100 \\equiv 2$", "$10 \\equiv 4$", None),
    ("a congruence in several moduli", "$25 \\equiv 1 \\pmod 3$ and $25 \\equiv 0 \\pmod 5$",
     "$25 \\equiv 2 \\pmod 3$ and $25 \\equiv 0 \\pmod 5$", "25 \\equiv 2"),
    ("a congruence in another, unstated modulus",
     "By Fermat, $3^6 \\equiv 1 \\pmod 7$. Now $100 = 6 \\cdot 16 + 4$, so $100 \\equiv 4$ and $3^{100} \\equiv 3^4$.",
     "By Fermat, $3^6 \\equiv 1 \\pmod 7$. So $3^{100} \\equiv 3^4 \\equiv 5 \\pmod 7$.", "3^4 \\equiv 5"),
    ("a letter modulus", "Earlier, mod 7.\n\n$10 \\equiv 1 \\pmod{n}$", "Earlier, mod 7.\n\n$10 \\equiv 2 \\pmod{n}$", None),
    ("\\pmod after an equation", "$3^4 = 81 = 1 \\pmod{10}$", "$7 \\times 8 = 56 = 2 \\pmod 5$", "56 = 2"),
    ("a root sign in prose", "√(16) = 4 and √(9² + 12²) = √225 = 15", "√225 = 25", "√225 = 25"),
    ("% as the remainder operator", "$17 \\% 5 = 2$", "$17 \\% 5 = 3$", None),
    ("a percent added to a number", "100 + 20% = 120 dollars", "$80 - 25% = $50", None),
    ("percentage points", "60% - 45% = 15 percentage points", "60% - 45% = 25 percentage points", "60% - 45% = 25"),
    ("a question", "Is $7 \\times 8 = 54$? No, $7 \\times 8 = 56$.", "So $7 \\times 8 = 54$. Then we add 2.",
     "7 \\times 8 = 54"),
    ("a slip taken back", "Then 15 × 4 = 50... wait, 15 × 4 = 60.", "Then 15 × 4 = 50. We add 2.", "15 × 4 = 50"),
    ("a candidate rejected in other words",
     "That would require 3 × 3 = 10, which is not the case. It is not true that 2 × 4 = 9. Suppose 2 + 3 = 6; "
     "this is false. We'd need 2 + 3 = 6, which is absurd. 3 × 3 = 10 never holds. 2 × 4 = 9 (no)",
     "If each box holds 12, then 3 × 12 = 37 eggs, so he did not buy more.", "3 × 12 = 37"),
    ("a function's name in prose", "cos 60° × 2 = 1, and log 1000 / 3 = 1, and 1 = 2 sin 30", "cos 60° × 2 = 3", None),
    ("rounded up or down", "250 ÷ 48 = 6 buses (rounded up), 100 / 12 = 8 boxes (rounded down)",
     "250 ÷ 48 = 7 buses (rounded up)", "250 ÷ 48 = 7"),
    ("a compound measure", "2 h 30 min × 2 = 5 h, and 5 ft 10 in = 70 in", "2 h 30 min × 2 = 6 h", None),
    ("a count before a side", "The 2 boxes hold 2 × 7 = 14 books.", "The 2 boxes hold $2 \\times 7 = 13$ books.",
     "2 \\times 7 = 13"),
    ("an align row that goes on", "\\begin{align*}\n&12 + 15 + 18 \\\\\n&\\quad + 21 + 24 \\\\\n&= 90\n\\end{align*}",
     "\\begin{align*}\n&12 + 15 + 18 \\\\\n&+ 21 + 24 \\\\\n&= 100\n\\end{align*}", "= 100"),
    ("an align row that subtracts", "\\begin{align*}\n&50 - 10 \\\\\n&- 5 \\\\\n&= 35\n\\end{align*}",
     "\\begin{align*}\n&50 - 10 \\\\\n&- 5 \\\\\n&= 45\n\\end{align*}", None),
    ("scale words", "$1.2 billion ÷ 4 = $300 million, and 5k + 3k = 8k", "1.5 billion / 3 = 600 million",
     "1.5 billion / 3 = 600"),
    ("operations said in words", "3 plus 4 times 2 = 11", "3 plus 4 times 2 = 14", None),
    ("a label before a number in math", "\\[ (3)\\; 2 \\times 5 = 10 \\]\n\\( \\log_{10} 1000 = 5 + 3 - 5 \\)",
     "\\[ (3)\\; 2 \\times 5 = 11 \\]", None),
    ("a unit letter glued to a number", "Let m be the marbles: 4m + 2m = 30, so m = 5; and 6s - 2s = 12.",
     "5 m + 3 m = 9 m", "5 m + 3 m = 9"),
    ("a fraction after a division", "6 ÷ 1/2 = 12 half-cups, and 3/4 ÷ 1/2 = 3/2", "6 ÷ 1/2 = 10", "6 ÷ 1/2 = 10"),
    ("a division read either way", "6 ÷ 1/2 = 12", "6 ÷ 1/2 = 3", None),
    ("a power of a fraction with a slash", "9^1/2 = 3, and $3^7/3^3 = 3^4$", "$3^7/3^3 = 3^5$", "3^7/3^3 = 3^5"),
    ("a comma between digits that groups nothing", "2,5 × 4 = 10, and Rs. 1,50,000 × 10% = Rs. 15,000",
     "2,5 × 4 = 11", None),
    ("a fraction after a word", "The sum of 1/2 and 1/4 = 3/4; from 1/15 to 1/20 = 5 days; half of 3/4 = 3/8",
     "She ate 3/8 = 0.325 of the pizza", "3/8 = 0.325"),
    ("an operation said in one word", "twice 3 + 1 = 7, double 2 × 5 = 20", "twice 3 + 1 = 9", None),
    ("an operation in two words", "5 less than 3 × 6 = 13; 20 increased by 3 × 2 = 26; 7 added to 3 × 2 = 13",
     "She has more than 3 × 4 = 13 apples", "3 × 4 = 13"),
    ("a round number after ≈", "$52 \\times 48 \\approx 2500$, $2^{20} \\approx 1{,}000{,}000$, 7 × 48 ≈ 350",
     "$\\frac{1000}{3} \\approx 400$", "\\frac{1000}{3} \\approx 400"),
    ("a pair in brackets that looks like a grouped number",
     "The gcd is $(120,180) = 60$, and $(1,000) \\times 2 = 2,000$", "$(1,000) \\times 2 = 3,000$ and $1,000 + 500 = 1,400$",
     "1,000 + 500 = 1,400"),
]


@pytest.mark.parametrize("kind,right,wrong,claim", MISREAD, ids=[m[0] for m in MISREAD])
def test_a_misread_class_is_read_right(kind, right, wrong, claim):
    assert not flagged(right), (kind, check_solution(right).claims)
    found = flagged(wrong)
    if claim is None:
        assert not found, (kind, check_solution(wrong).claims)
    else:
        assert [c for c in found if claim in c] == found and found, (kind, check_solution(wrong).claims)


@pytest.mark.parametrize("text,claim", [
    ("So she has 3 × 4 = 13 apples, so she cannot share them equally.", "3 × 4 = 13"),
    ("Each box has 5 × 6 = 31 items, and the answer should be 31.", "5 × 6 = 31"),
    ("We get 7 × 8 = 54, she can't buy it with $50.", "7 × 8 = 54"),
    ("The cost is $12 \\times 4 = 46$ dollars, because the other price is wrong.", "12 \\times 4 = 46"),
])
def test_a_denial_of_something_else_in_the_sentence_does_not_excuse_a_slip(text, claim):
    """Only a denial close after a claim, not one a new clause makes, takes the claim back."""
    assert flagged(text) == [claim] or [c for c in flagged(text) if claim in c], check_solution(text).claims


def test_an_estimate_is_not_checked_but_a_far_round_number_is_wrong():
    [near] = check_solution("7 × 48 ≈ 350").claims
    assert near.status == "not checked" and "estimate" in near.reason
    [far] = check_solution("7 × 48 ≈ 500").claims
    assert far.status == "wrong" and far.certain and far.right == "336"
    [rounded] = check_solution("1500 + 1499 ≈ 2000").claims  # not rounded to the thousand, and too far off
    assert rounded.status == "wrong"


def test_a_congruence_says_its_modulus():
    [claim] = [c for c in check_solution("$100 \\equiv 3 \\pmod 7$").claims]
    assert claim.status == "wrong" and claim.right == "2" and "mod 7" in claim.read_as
