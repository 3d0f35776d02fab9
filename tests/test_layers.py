"""The house's shape, read from the source: no import circles among the app's packages, no
runtime module past the size where it starts holding several jobs, layers that point one way
(`ui` -> `model`, `storage` -> `judgements`; the offline tooling and the sandbox apart), and
the log's side of the app (History, Teacher, storage) and the judgements never loading torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "judgements", "ui", "storage", "training", "evaluation", "settings")
RUNTIME = ("model", "judgements", "ui", "storage", "settings")
# What each package may not import (top-level names of the app's packages and of libraries).
FORBIDDEN = {
    "model": {"gradio", "ui", "storage", "settings", "training", "evaluation", "sandbox"},
    "judgements": {"torch", "transformers", "gradio", "model", "ui", "storage", "settings", "training", "evaluation", "sandbox"},
    "storage": {"torch", "transformers", "gradio", "model", "ui", "training", "evaluation", "sandbox"},
    "ui": {"training", "evaluation"},
    "settings": {"gradio", "ui", "storage", "training", "evaluation", "torch"},
}
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        single = ROOT / f"{package}.py"
        paths = [single] if single.exists() else sorted((ROOT / package).rglob("*.py"))
        for path in paths:
            found[module_name(path)] = path
    return found


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `name` imports anywhere in its file (TYPE_CHECKING and
    function-local imports included): `from pkg import sub` counts as `pkg.sub` when `sub`
    is a module, else as `pkg`."""
    is_package = path.name == "__init__.py"
    deps: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            deps.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                deps.add(sub if sub in known else base)
    return {dep for dep in deps if dep in known and dep != name}


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm; returns the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_cycle_finder_finds_a_circle_and_accepts_a_chain():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_resolves_relative_and_submodule_imports(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("from . import sibling\nfrom .sibling import thing\nfrom pkg import helper\n")
    known = {"pkg", "pkg.x", "pkg.sibling", "pkg.helper"}
    assert imported_modules("pkg.x", path, known) == {"pkg.sibling", "pkg.helper"}


def test_no_import_circles_among_the_apps_packages():
    graph = import_graph()
    assert len(graph) > 30  # the walk really found the project
    circles = strongly_connected(graph)
    assert circles == [], "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


@pytest.mark.parametrize("name,path", sorted((n, p) for n, p in source_modules().items() if n.split(".")[0] in RUNTIME))
def test_no_runtime_module_holds_more_than_one_jobs_worth_of_lines(name, path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it along its jobs"


def top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    return roots


def test_layers_point_one_way():
    checked = 0
    for name, path in source_modules().items():
        package = name.split(".")[0]
        if package in FORBIDDEN:
            wrong = top_level_imports(path) & FORBIDDEN[package]
            assert not wrong, f"{name} imports {sorted(wrong)}"
            checked += 1
    assert checked > 50


def test_the_runtime_never_imports_the_offline_tooling():
    for name, path in source_modules().items():
        if name.split(".")[0] in RUNTIME:
            assert not top_level_imports(path) & {"training", "evaluation"}, name


def test_history_teacher_and_the_log_import_no_torch():
    code = (
        "import sys, ui.logbook, ui.views, ui.render, storage, storage.export, judgements.analysis\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# What computes a judgement: the step checker, the votes, the ranking, the map's builders, the
# run's analysis. The core (the Solver, the store's reads) calls them once; `ui/` only draws.
JUDGING_NAMES = {
    "check_solution", "check_step", "check_row", "wrong_claims", "split_steps", "stored_check", "checked_vote",
    "checked_vote_of", "majority_vote", "cluster_answers", "rank_solutions", "build_map", "with_reference",
    "remeasure", "right_cluster", "equivalent", "forms_equal", "analyse_run", "class_work",
    "vote_from_assignments", "standing_of", "logged_standing", "with_standings",
}
JUDGING_MODULES = ("judgements.steps", "judgements.reasoning_map", "judgements.answers.vote",
                   "judgements.answers.equivalence", "judgements.ranking")


def test_ui_computes_no_judgement():
    """No module of `ui/` imports, or names, a checker, vote, ranking or map builder: the run's
    analysis comes with it (read from the AST, so an alias or a function-local import counts)."""
    found = []
    for name, path in source_modules().items():
        if name.split(".")[0] != "ui":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(JUDGING_MODULES):
                    found.append(f"{name} imports from {node.module}")
                found += [f"{name} imports {a.name}" for a in node.names if a.name in JUDGING_NAMES]
            elif isinstance(node, ast.Import):
                found += [f"{name} imports {a.name}" for a in node.names if a.name.startswith(JUDGING_MODULES)]
            elif isinstance(node, ast.Name) and node.id in JUDGING_NAMES:
                found.append(f"{name} uses {node.id}")
            elif isinstance(node, ast.Attribute) and node.attr in JUDGING_NAMES:
                found.append(f"{name} calls .{node.attr}")
    assert not found, "ui/ computes judgements: " + "; ".join(sorted(set(found)))


def test_the_judging_test_sees_an_import_an_alias_and_a_call(tmp_path, monkeypatch):
    import tests.test_layers as layers

    bad = tmp_path / "ui" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from judgements.steps.checker import SolutionCheck\nfrom judgements import analysis as a\n"
                   "def f(s):\n    return a.analyse_run(None, s, None)\n", encoding="utf-8")
    monkeypatch.setattr(layers, "source_modules", lambda: {"ui.bad": bad})
    with pytest.raises(AssertionError) as failed:
        layers.test_ui_computes_no_judgement()
    assert "imports from judgements.steps.checker" in str(failed.value) and "calls .analyse_run" in str(failed.value)
