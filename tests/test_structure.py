"""The code's structure holds: no import cycle, no oversized module, README's map matches the tree.

These read the source (with ``ast``), so they fail on the change that breaks a promise, not
later when someone trips over it.
"""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "coc"
MAX_LINES = 450


def _modules():
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(path, mods):
    """coc modules ``path`` imports, at any depth of its code (function-level imports count)."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                deps.add(sub if sub in mods else node.module)
        elif isinstance(node, ast.Import):
            deps.update(alias.name for alias in node.names)
    return {d for d in deps if d in mods}


def _graph():
    """module -> the coc modules it imports. The package ``coc`` and a module's own parent
    packages are left out: importing them is how Python loads any submodule, not a choice."""
    mods = _modules()
    return {
        name: {d for d in _imports(path, mods) if d not in (name, "coc") and not name.startswith(d + ".")}
        for name, path in mods.items()
    }


def _find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


#: Which parts of coc each part may import (``coc/__init__.py`` says why). A part is the first
#: package under ``coc``; ``coc`` itself is the public front. Within a part anything goes.
LAYERS = {
    "utils": set(),
    "kernels": {"utils"},
    "io": {"utils"},
    "backends": {"kernels", "utils"},
    "testing": {"backends", "kernels", "utils"},
    "suite": {"backends", "kernels", "io", "utils"},
    "verdict": {"backends", "kernels", "io", "utils"},
    "cli": {"backends", "io", "suite", "utils", "verdict"},
    "coc": {"backends", "utils", "verdict"},
    "__main__": {"cli"},
}


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "coc"


def _layer_violations(graph):
    """Each import between parts that :data:`LAYERS` does not allow, or that names a private
    (underscored) module of another part, as one line."""
    wrong = []
    for name, deps in sorted(graph.items()):
        for dep in sorted(deps):
            part, other = _part(name), _part(dep)
            if part == other:
                continue
            if other not in LAYERS.get(part, set()):
                wrong.append(f"{name} imports {dep}: {part} may import {', '.join(sorted(LAYERS.get(part, ()))) or 'nothing'}")
            elif any(piece.startswith("_") for piece in dep.split(".")[1:]):
                wrong.append(f"{name} imports {dep}, a private module of {other}")
    return wrong


def test_every_part_is_in_the_layer_table():
    parts = {_part(name) for name in _modules()}
    assert parts == set(LAYERS), f"parts without a row, or rows without a part: {parts ^ set(LAYERS)}"


def test_parts_import_only_what_their_layer_allows():
    wrong = _layer_violations(_graph())
    assert not wrong, "\n".join(wrong)


def test_no_part_imports_another_parts_private_names():
    """``from coc.kernels.tsne import _knn`` in the suite is reaching into the kernels."""
    wrong = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("coc.")
                    and _part(node.module) != _part(name)):
                wrong += [f"{name} imports {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not wrong, "\n".join(wrong)


def test_layer_check_sees_a_wrong_import():
    graph = {"coc.kernels.tsne": {"coc.backends.base"}, "coc.verdict.stats": {"coc.suite.cells"},
             "coc.suite.cells": {"coc.kernels._kmeans_host"}, "coc.backends.native": {"coc.kernels.tsne"},
             "coc.suite.sweep": {"coc.cli"}}
    wrong = _layer_violations(graph)
    assert [w.split(":")[0].split(",")[0] for w in wrong] == [
        "coc.kernels.tsne imports coc.backends.base", "coc.suite.cells imports coc.kernels._kmeans_host",
        "coc.suite.sweep imports coc.cli", "coc.verdict.stats imports coc.suite.cells"]


def test_find_cycle_sees_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_coc_modules():
    cycle = _find_cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_function_level_import_of_coc_modules():
    """coc's own modules are imported at the top; lazy imports are for optional heavy packages."""
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "coc":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module}")
                elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "coc" for a in node.names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} import")
    assert not offenders, offenders


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_the_line_limit(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (limit {MAX_LINES})"


def test_library_code_never_chooses_the_matplotlib_backend():
    """Only a command's ``main`` may pick Agg; a notebook user's plots stay theirs."""
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef) and func.name != "main":
                for node in ast.walk(func):
                    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr == "use" and getattr(node.func.value, "id", "") == "matplotlib"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_readme_map_matches_the_tree():
    """Every path in README's "Where things are" exists, and every coc module is on the map."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`((?:coc|bench|tests|results)/[^`]*)`", section))
    assert listed, "README has no map"
    missing = sorted(p for p in listed if not (ROOT / p).exists())
    assert not missing, f"README lists paths that do not exist: {missing}"
    covered = {p.rstrip("/") for p in listed}
    unlisted = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.name == "__init__.py" and rel.parent != Path("coc"):
            rel = rel.parent
        if not any(str(rel) == c or str(rel).startswith(c + "/") for c in covered) and rel.name not in (
                "__init__.py", "__main__.py"):
            unlisted.append(str(rel))
    assert not unlisted, f"README's map does not name: {unlisted}"
