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
