"""Dependencies point one way (issue 14.1): the import graph of ``ratatouille/`` has no cycle.

The graph is built with ``ast`` over every module of the package: module-level AND
function-level imports (a function-level import hides a cycle from Python, not from this
test); imports under ``if TYPE_CHECKING:`` are left out (they never run). Importing a
submodule runs its package's ``__init__`` first, so ``a -> pkg.sub`` also counts as
``a -> pkg`` (unless ``a`` is inside ``pkg``): a package whose ``__init__`` imports what
imports it back is a cycle too.

Also: ``import ratatouille`` and ``rat --help`` import neither Dagster nor Polars nor
deltalake (they are paid for by the commands that need them), and the function-level imports
left in the catalog's modules are each commented (why they are not at the top).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ratatouille"

# Cycles another branch is removing; the lead deletes an entry once that branch is merged.
ALLOWED_PENDING: list[set[str]] = []


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent)
        if "_scaffold" in rel.parts and "project" in rel.parts:  # template files of `rat init`
            continue
        parts = list(rel.with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skip.update(id(n) for n in ast.walk(child))
    return skip


def _imported(node: ast.AST, module: str, is_pkg: bool, modules: dict) -> list[str]:
    """The package modules an import statement loads."""
    package = module if is_pkg else module.rpartition(".")[0]
    found: list[str] = []
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            found.append(sub if sub in modules else target)
    elif isinstance(node, ast.Import):
        found.extend(alias.name for alias in node.names)
    return [m for m in found if m in modules]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` for every module of ``ratatouille``."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, (path, is_pkg) in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_nodes(tree)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _imported(node, module, is_pkg, modules):
                deps.add(target)
                parts = target.split(".")
                for i in range(1, len(parts)):  # the packages whose __init__ runs first
                    pkg = ".".join(parts[:i])
                    if pkg in modules and not (module == pkg or module.startswith(pkg + ".")):
                        deps.add(pkg)
        deps.discard(module)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _describe(comp: set[str], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & comp))}" for m in sorted(comp))


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert len(graph) > 50
    # module-level, relative
    assert "ratatouille._catalog" in graph["ratatouille.discover"]
    # function-level (the Dagster adapter is imported by `rat dev` only when it runs)
    assert "ratatouille.dagster" in graph["ratatouille.cli._dev"]
    # TYPE_CHECKING-only imports never run
    assert "ratatouille._session" not in graph["ratatouille"]


def test_cycles_are_found(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    found = [c for c in cycles(graph) if c not in ALLOWED_PENDING]
    assert not found, "import cycles:\n" + "\n".join(_describe(c, graph) for c in found)


def test_the_former_cycles_are_gone():
    """discover <-> _workspace <-> execute and _versions -> discover -> _workspace -> _versions."""
    graph = import_graph()
    assert not (Path(PACKAGE) / "_workspace.py").exists()
    assert not any(m.startswith("ratatouille.workspace") for m in graph["ratatouille._versions"])
    assert "ratatouille.execute" not in graph["ratatouille.discover"]
    assert "ratatouille._catalog" not in graph["ratatouille._versions"]
    assert "ratatouille.discover" not in graph["ratatouille._catalog"]


CATALOG_MODULES = [
    "__init__.py", "_catalog.py", "_query.py", "_resolve.py", "_session.py", "_versions.py", "tools.py",
    "discover", "workspace", "cli/__init__.py", "cli/_app.py", "cli/_workspace.py", "cli/_dev.py",
]


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    lines = path.read_text().splitlines()
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                out.append((node.lineno, lines[node.lineno - 1]))
    return out


def _commented(path: Path, lineno: int) -> bool:
    """The import's line, another line of its group of imports, or the line above carries a comment."""
    lines = path.read_text().splitlines()
    i = lineno - 1
    while i >= 0 and lines[i].strip().startswith(("from ", "import ")):
        if "#" in lines[i]:
            return True
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


def test_function_level_imports_in_the_catalog_modules_say_why():
    bare = []
    for name in CATALOG_MODULES:
        root = PACKAGE / name
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            for lineno, line in _function_level_imports(path):
                if not _commented(path, lineno):
                    bare.append(f"{path.relative_to(PACKAGE.parent)}:{lineno}: {line.strip()}")
    assert not bare, "function-level imports without a comment saying why:\n" + "\n".join(bare)


def _imported_by(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, env=env, check=True, timeout=120)
    return set(out.stdout.split())


HEAVY = ("dagster", "polars", "deltalake", "sqlglot", "pandera", "pyarrow")


@pytest.mark.parametrize("code", ["import ratatouille",
                                  "import ratatouille.cli",
                                  "from ratatouille.cli import main\n"
                                  "import contextlib, io\n"
                                  "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])"])
def test_import_ratatouille_and_rat_help_load_no_heavy_dependency(code):
    loaded = _imported_by(code)
    assert "ratatouille" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert not heavy, f"{code!r} imported {heavy[:10]}"


def test_a_query_imports_no_dagster(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.ratatouille]\nlake = "lake"\n')
    (tmp_path / "workspaces/default/pipelines/silver").mkdir(parents=True)
    (tmp_path / "workspaces/default/pipelines/silver/one.sql").write_text("SELECT 1 AS x")
    loaded = _imported_by("import ratatouille\n"
                          f"ratatouille.run('silver.one', project_dir={str(tmp_path)!r})\n"
                          f"assert ratatouille.query('SELECT x FROM silver.one', project_dir={str(tmp_path)!r})"
                          "['x'][0] == 1")
    assert "polars" in loaded and "deltalake" in loaded
    assert not any(m.split(".")[0] == "dagster" for m in loaded)


def test_function_level_imports_say_why_in_every_module():
    """Issue 14.1 for the whole package: a function-level import is a deliberate choice (an optional
    heavy dependency, a fast ``import ratatouille`` / ``rat --help``), and the line says which."""
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_scaffold" in path.relative_to(PACKAGE).parts:  # template files of `rat init`
            continue
        for lineno, line in _function_level_imports(path):
            if not _commented(path, lineno):
                bare.append(f"{path.relative_to(PACKAGE.parent)}:{lineno}: {line.strip()}")
    assert not bare, "function-level imports without a comment saying why:\n" + "\n".join(bare)


def test_a_bare_function_level_import_is_found(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import json\n    return json\n\n\n"
                      "def g():\n    import dagster  # lazy: dagster is optional\n    return dagster\n")
    found = [lineno for lineno, _ in _function_level_imports(module) if not _commented(module, lineno)]
    assert found == [2]
