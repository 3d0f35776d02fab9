"""The requirements files name only extras their packages provide, spelled as the packages spell them.

pip before PEP 685 normalisation warns about (and some versions ignore) an extra spelled
differently from the distribution's `Provides-Extra` (`math-verify[antlr4_13_2]` for its
`antlr4-13-2`), so the check is on the exact spelling, against the installed distribution.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from tests.optional import require

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT_FILES = sorted(ROOT.glob("requirements*.txt"))


def requirements_with_extras() -> list[tuple[str, Requirement]]:
    """(file name, requirement) for every line of requirements*.txt that asks for extras."""
    found = []
    for path in REQUIREMENT_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.split("#", 1)[0].strip()
            if not text or text.startswith("-"):
                continue  # a comment, or an option such as -r
            try:
                requirement = Requirement(text)
            except InvalidRequirement as exc:
                pytest.fail(f"{path.name}: {text!r} is not a requirement pip reads: {exc}")
            if requirement.extras:
                found.append((path.name, requirement))
    return found


def test_the_requirement_files_are_found():
    assert {p.name for p in REQUIREMENT_FILES} >= {"requirements.txt", "requirements-test.txt"}
    assert any(r.name == "math-verify" for _, r in requirements_with_extras())


@pytest.mark.parametrize("source, requirement", requirements_with_extras(), ids=lambda v: str(v))
def test_every_extra_named_is_one_the_package_provides(source, requirement):
    try:
        provided = importlib.metadata.distribution(requirement.name).metadata.get_all("Provides-Extra") or []
    except importlib.metadata.PackageNotFoundError:
        require(False, f"the {requirement.name} distribution (named in {source})")
        return
    unknown = sorted(requirement.extras - set(provided))
    assert not unknown, f"{source}: {requirement.name} provides no extra {unknown}; it provides {sorted(provided)}"
