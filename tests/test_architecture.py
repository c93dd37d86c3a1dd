"""The package's import graph has no cycles, counting imports inside functions too; only the
store's own modules (`pipeline/store.py` and `pipeline/db/`) touch the SQLite connection."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "pipeline"
# The connection's owner and the modules that own each table's row changes.
STORE_MODULES = ("store", "db")


def _name(path: Path) -> str:
    """A module's name inside the package, dotted: `ingest`, `db.documents` (a package: `db`)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if _name(p) and p.stem != "__main__"}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules this file imports (`from pipeline.db import documents` is `db.documents`)."""
    here = _name(path)
    package = here if path.stem == "__init__" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's own package upwards
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                dotted = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module == "pipeline" or (node.module or "").startswith("pipeline."):
                dotted = (node.module or "").removeprefix("pipeline").removeprefix(".")
            else:
                continue
            for alias in node.names:
                child = f"{dotted}.{alias.name}" if dotted else alias.name
                found.add(child if child in modules else dotted)
        elif isinstance(node, ast.Import):
            found |= {
                alias.name.removeprefix("pipeline.") for alias in node.names if alias.name.startswith("pipeline.")
            }
    return (found & modules) - {here}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (a -> b -> a), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return [*path[path.index(imported) :], imported]
            if imported not in state and (found := visit(imported)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def _is_store_module(name: str) -> bool:
    return name.split(".")[0] in STORE_MODULES


def _connection_uses(source: str, where: str) -> list[str]:
    """Where code reaches past the store's functions to its connection: `x.db`, `x.execute(...)`."""
    return [
        f"{where}:{node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in ("db", "execute", "executemany", "executescript")
    ]


def test_no_import_cycles() -> None:
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_counts_the_subpackages_modules() -> None:
    graph = _graph()
    assert "db.documents" in graph and "store" in graph["db.documents"]
    assert "db.documents" in graph["ingest"]


def test_the_local_engine_and_the_ray_engine_share_no_runner() -> None:
    graph = _graph()
    assert "runner" not in graph["engine_ray"] and "runner" not in graph["engines"]


def test_the_store_modules_import_no_stage() -> None:
    graph = _graph()
    for name in (n for n in graph if n.split(".")[0] == "db"):
        assert graph[name] <= {n for n in graph if _is_store_module(n)}, name


def test_only_the_store_modules_use_the_connection() -> None:
    """Each table's row changes have one owner: a stage calls `db.documents.mark_extracted(store, ...)`,
    never `store.db.execute(...)` (nor the connection under another name)."""
    outside = [
        use
        for name, path in _modules().items()
        if not _is_store_module(name)
        for use in _connection_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert outside == []


def test_the_connection_finder_finds_one() -> None:
    code = "def f(store):\n    conn = store.db\n    conn.executemany('DELETE FROM t WHERE id = ?', [])\n"
    assert sorted(_connection_uses(code, "probe.py")) == ["probe.py:2: .db", "probe.py:3: .executemany"]
    assert _connection_uses("store.query('SELECT 1')\n", "probe.py") == []
