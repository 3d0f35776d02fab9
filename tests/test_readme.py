"""The README is a user's guide: short, with the two commands as CI reads them, no commit
hashes, and nothing in it that points at a file or a module the repository does not have."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 350
RUN_COMMAND = "pip install -r requirements.txt && python app.py"
TEST_COMMAND = "pip install -r requirements-test.txt && python -m pytest"
# `python -m X` names that are tools the README tells people to run, not modules of this repository.
EXTERNAL_MODULES = {"pytest"}


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_is_at_most_350_lines():
    lines = readme().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_the_two_commands_are_fenced_bash_blocks():
    text = readme()
    assert f"```bash\n{RUN_COMMAND}\n```" in text
    assert f"<!-- test-command -->\n```bash\n{TEST_COMMAND}\n```" in text


def test_ci_extracts_the_test_command_exactly():
    # The same pipeline `.ci/run` uses to find the command it runs.
    script = ROOT / ".ci" / "run"
    pipeline = next(line for line in script.read_text().splitlines() if line.startswith("test_cmd="))
    pipeline = pipeline[len("test_cmd=$("):-1]
    found = subprocess.run(["bash", "-c", pipeline], cwd=ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == TEST_COMMAND


def test_no_commit_hashes():
    # A run of 7-40 hex digits with a letter in it reads as a commit; plain numbers are fine.
    hashes = [word for word in re.findall(r"\b[0-9a-fA-F]{7,40}\b", readme()) if re.search(r"[a-fA-F]", word)]
    assert not hashes, f"commit hashes belong in docs/, not the README: {hashes}"


def test_links_to_docs_and_assets_resolve():
    targets = re.findall(r"\]\(((?:\./)?(?:docs|assets)/[^)\s#]+)(?:#[^)]*)?\)", readme())
    assert targets, "the README links to docs/ and assets/"
    missing = [target for target in targets if not (ROOT / target).is_file()]
    assert not missing, f"README links to missing files: {missing}"


def test_docs_links_resolve():
    # The pages the README sends people to link to each other and back; those links hold too.
    missing = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([^)\s#:]+\.(?:md|png))(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).resolve().is_file():
                missing.append(f"{page.name} -> {target}")
    assert not missing, f"docs/ links to missing files: {missing}"


def test_every_python_m_module_exists():
    modules = set(re.findall(r"python -m ([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)", readme()))
    assert modules
    missing = []
    for module in sorted(modules - EXTERNAL_MODULES):
        path = ROOT.joinpath(*module.split("."))
        if not (path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()):
            missing.append(module)
    assert not missing, f"README names modules the repository does not have: {missing}"


def heading_anchors(text: str) -> set[str]:
    # GitHub's anchors: the heading lower-cased, punctuation dropped, spaces as hyphens.
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_anchors_into_the_readme_resolve():
    anchors = heading_anchors(readme())
    wanted = [(README.name, anchor) for anchor in re.findall(r"\]\(#([^)]+)\)", readme())]
    for page in sorted((ROOT / "docs").glob("*.md")):
        wanted += [(page.name, anchor) for anchor in re.findall(r"\]\(\.\./README\.md#([^)]+)\)", page.read_text(encoding="utf-8"))]
    missing = [f"{name} -> #{anchor}" for name, anchor in wanted if anchor not in anchors]
    assert not missing, f"links to README sections that do not exist: {missing}"
