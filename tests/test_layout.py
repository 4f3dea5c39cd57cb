"""The package's shape: subpackages that follow the pipeline, no import circle, small modules.

The import graph is read from the source (every ``import`` statement, at module level or inside
a function, except those under ``if TYPE_CHECKING:``), so a lazy import that closes a circle is
found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hunting_lib

PACKAGE = Path(hunting_lib.__file__).resolve().parent
#: Lines a module may have: "about 500" (issue 13), with a small margin for docstrings.
MAX_LINES = 520


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The kit's modules ``name`` imports (absolute or relative, ``from pkg import module`` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_lazy_and_relative_imports(tmp_path):
    known = {"hunting_lib.x", "hunting_lib.y", "hunting_lib.pkg", "hunting_lib.pkg.z"}
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from hunting_lib.pkg import z\n\nfrom typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from hunting_lib import y\n")
    assert imports_of("hunting_lib.x", source, known) == {"hunting_lib.pkg", "hunting_lib.pkg.z"}


def test_no_import_circle_in_hunting_lib():
    graph = import_graph()
    assert len(graph) > 40  # the walk found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_modules_stay_small():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    too_big = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not too_big, too_big


def test_the_pipeline_steps_are_subpackages():
    names = set(modules())
    for package in ("engine", "triage", "pivots", "report", "remote", "sample", "training"):
        assert f"hunting_lib.{package}" in names
    # the top level holds the entry points and shared types only
    top = {n for n in names if n.count(".") == 1}
    assert top <= {"hunting_lib.__main__", "hunting_lib.cli", "hunting_lib.hunt", "hunting_lib.result",
                   "hunting_lib.params", "hunting_lib.errors", "hunting_lib.schema", "hunting_lib.clock",
                   "hunting_lib.engine", "hunting_lib.triage", "hunting_lib.pivots", "hunting_lib.report",
                   "hunting_lib.remote", "hunting_lib.sample", "hunting_lib.training", "hunting_lib.tasks",
                   "hunting_lib.history", "hunting_lib.handoff", "hunting_lib.detection"}, top


def test_local_and_remote_hunts_share_one_pipeline():
    """``remote`` never imports ``hunt`` (the circle the issue found), and only ``hunt`` runs triage."""
    graph = import_graph()
    remote = {n for n in graph if n.startswith("hunting_lib.remote")}
    assert all("hunting_lib.hunt" not in graph[n] for n in remote)
    callers = {n for n, deps in graph.items() if "hunting_lib.triage.pipeline" in deps}
    assert callers <= {"hunting_lib.hunt", "hunting_lib.training.course", "hunting_lib.report.plots",
                       "hunting_lib.triage"} | {n for n in graph if n.startswith("hunting_lib.training")}, callers
