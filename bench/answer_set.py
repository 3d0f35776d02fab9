"""How `judgements.answers` does on public answer sets that can be fetched offline from PyPI.

Two sets, each read straight from the downloaded archive (nothing is installed):

- CHAMP (`champ-dataset` 1.0.0, MIT): 270 competition problems, each with a step-by-step
  reference solution and a final answer. For each problem: `extract_answer(solution)` against
  the reference answer with `equivalent`. The solutions are prose without `\\boxed{}`, so this
  mostly exercises the "the answer is" and last-number rules.
- math-verify's own regression table (`math-verify` 0.9.0 sdist, Apache-2.0): labelled
  (gold, prediction, expected) pairs from its tests. For each: the answer of each side (a
  `\\boxed{}`/"answer is" answer when there is one, else the text without `$`) compared with
  `equivalent`, against the label.

Get the archives with

    pip download --no-deps champ-dataset==1.0.0 -d /tmp/sets
    pip download --no-deps --no-binary :all: math-verify==0.9.0 -d /tmp/sets

and run `python bench/answer_set.py /tmp/sets/champ_dataset-1.0.0-py3-none-any.whl
/tmp/sets/math_verify-0.9.0.tar.gz` (either argument may be left out). It prints the
agreement count per set and lists the disagreements. `--write-sample N` also writes the
first N agreeing CHAMP rows with a numeric answer to tests/data/answer_set_sample.json.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from judgements.answers import DEFAULT_TIMEOUT_S, equivalent, extract_answer  # noqa: E402

SAMPLE_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "answer_set_sample.json"


def champ_rows(archive: Path) -> Iterator[dict[str, str]]:
    """(id, solution, answer) rows of CHAMP, from the wheel or from its v0.json."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            data = json.loads(wheel.read("champ_dataset/dataset_files/v0.json"))
    else:
        data = json.loads(archive.read_text(encoding="utf-8"))
    for identifier, problem in data["problems"].items():
        solution = problem["solution"]
        if isinstance(solution, str):
            solution = ast.literal_eval(solution)
        text = " ".join(step["_text"] for step in solution["steps"])
        yield {"id": identifier, "solution": text, "answer": problem["_answer"]}


def math_verify_rows(archive: Path) -> Iterator[dict[str, object]]:
    """(gold, pred, expected) literals of every `parametrize("gold, pred, expected", ...)` in its tests."""
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not (member.name.endswith(".py") and "/tests/" in member.name):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            tree = ast.parse(handle.read().decode("utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef):
                    continue
                for decorator in node.decorator_list:
                    if not (isinstance(decorator, ast.Call) and len(decorator.args) == 2):
                        continue
                    names, values = decorator.args
                    if not isinstance(names, ast.Constant) or names.value.replace(" ", "") != "gold,pred,expected":
                        continue
                    try:
                        cases = ast.literal_eval(values)
                    except ValueError:
                        continue
                    for gold, pred, expected in cases:
                        yield {"id": f"{Path(member.name).name}::{node.name}", "gold": gold, "pred": pred, "expected": bool(expected)}


def answer_of(text: str) -> str:
    """The answer in a math-verify test string: `extract_answer` for a solution (a box, or
    prose with at least two words in a row), else the formula itself without its `$`."""
    words = re.sub(r"\\[A-Za-z]+", " ", re.sub(r"\\text\{[^{}]*\}", " ", text))
    if "\\boxed" in text or "\\fbox" in text or re.search(r"\b[A-Za-z]{2,}\s+[A-Za-z]{2,}\b", words):
        return extract_answer(text) or ""
    return text.strip().strip("$").strip()


def run_champ(archive: Path, show: int, write_sample: int, timeout_s: float) -> None:
    rows = list(champ_rows(archive))
    start = time.monotonic()
    agree, misses = [], []
    for row in rows:
        extracted = extract_answer(row["solution"])
        (agree if extracted is not None and equivalent(extracted, row["answer"], timeout_s=timeout_s) else misses).append((row, extracted))
    print(f"CHAMP ({archive.name}): {len(agree)}/{len(rows)} reference solutions yield their reference answer "
          f"({time.monotonic() - start:.1f} s)")
    for row, extracted in misses[:show]:
        print(f"  {row['id']}: extracted {extracted!r}, reference {row['answer']!r}")
    if write_sample:
        numeric = [row for row, _ in agree if row["answer"].replace("-", "").replace("/", "").isdigit()]
        sample = {
            "source": "CHAMP (champ-dataset 1.0.0 on PyPI), MIT licence, (c) 2024 Yujun Mao, Yoon Kim, Yilun Zhou",
            "rows": numeric[:write_sample],
        }
        SAMPLE_PATH.parent.mkdir(parents=True, exist_ok=True)
        SAMPLE_PATH.write_text(json.dumps(sample, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"  wrote {len(sample['rows'])} rows to {SAMPLE_PATH}")


def run_math_verify(archive: Path, show: int, timeout_s: float) -> None:
    rows = list(math_verify_rows(archive))
    start = time.monotonic()
    misses = []
    for row in rows:
        got = equivalent(answer_of(str(row["gold"])), answer_of(str(row["pred"])), timeout_s=timeout_s)
        if got != row["expected"]:
            misses.append((row, got))
    print(f"math-verify tests ({archive.name}): {len(rows) - len(misses)}/{len(rows)} labelled pairs agree "
          f"({time.monotonic() - start:.1f} s)")
    for row, got in misses[:show]:
        print(f"  {row['id']}: {row['gold']!r} vs {row['pred']!r}: label {row['expected']}, ours {got}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archives", nargs="+", type=Path, help="champ-dataset wheel (or v0.json) and/or math-verify sdist")
    parser.add_argument("--show", type=int, default=200, help="disagreements to list per set")
    parser.add_argument("--write-sample", type=int, default=0, metavar="N", help="write N CHAMP rows to tests/data")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per comparison (the app's default)")
    args = parser.parse_args(argv)
    for archive in args.archives:
        if archive.name.startswith("champ") or archive.name == "v0.json":
            run_champ(archive, args.show, args.write_sample, args.timeout)
        elif archive.name.startswith("math_verify"):
            run_math_verify(archive, args.show, args.timeout)
        else:
            parser.error(f"unknown archive {archive}")


if __name__ == "__main__":
    main()
