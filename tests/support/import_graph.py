"""The project's imports as a graph of its own modules, read from the source (nothing is
imported): what the architecture test checks layering, subpackage rules and cycles on.

Choices, so the checks mean what they say:
- every import statement counts, at module level or inside a function (a lazy import is a
  dependency all the same, and lazy imports are how cycles hide); imports under
  ``if TYPE_CHECKING:`` are recorded but flagged, since they never run;
- an edge goes to the module an import names, resolved to the deepest module of ours
  (``from pkg import mod`` -> ``pkg.mod``; ``from pkg.mod import name`` -> ``pkg.mod``),
  not to the parent packages Python also initialises on the way, so a package whose
  ``__init__`` re-exports its submodules is not a cycle by itself.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    lazy: bool  # inside a function body
    type_checking: bool  # under ``if TYPE_CHECKING:``, never executed


def module_files(root: Path, top_level: Iterable[str]) -> dict[str, Path]:
    """Module name -> file, for the packages and top-level modules named in ``top_level``."""
    found: dict[str, Path] = {}
    for name in top_level:
        package, module = root / name, root / f"{name}.py"
        paths = sorted(package.rglob("*.py")) if package.is_dir() else [module]
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                found[module_name(path, root)] = path
    return found


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(modules: dict[str, Path]) -> list[Import]:
    """Every import in ``modules`` of another module in ``modules``."""
    found = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for target, line, lazy, type_checking in _import_statements(path, name, is_package):
            resolved = _deepest_known(target, modules)
            if resolved is not None and resolved != name:
                found.append(Import(name, resolved, line, lazy, type_checking))
    return found


def dependency_graph(imports: Iterable[Import]) -> dict[str, set[str]]:
    """importer -> the modules it imports when it runs (TYPE_CHECKING-only imports left out)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.type_checking:
            graph.setdefault(imp.importer, set()).add(imp.imported)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules, as ``[a, b, ..., a]``, shortest
    path from the group's first module back to itself; sorted, so the output is stable."""
    cycles = []
    for component in _strongly_connected(graph):
        if len(component) > 1:
            start = min(component)
            cycles.append(_shortest_cycle(graph, start, component))
    return sorted(cycles)


def _import_statements(
    path: Path, name: str, is_package: bool
) -> Iterator[tuple[str, int, bool, bool]]:
    """(dotted target, line, lazy, type-checking) for each name an import statement binds."""
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    stack: list[tuple[ast.AST, bool, bool]] = [(tree, False, False)]
    while stack:
        node, lazy, type_checking = stack.pop()
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, lazy, type_checking
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is not None:
                for alias in node.names:
                    yield (
                        f"{base}.{alias.name}" if alias.name != "*" else base,
                        node.lineno,
                        lazy,
                        type_checking,
                    )
        for child in ast.iter_child_nodes(node):
            in_function = lazy or isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            guarded = type_checking or (
                isinstance(node, ast.If) and _is_type_checking(node.test) and child in node.body
            )
            stack.append((child, in_function, guarded))


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    if node.level == 0:
        return node.module
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base) or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _deepest_known(target: str, modules: dict[str, Path]) -> str | None:
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on deep import chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    nodes = sorted(set(graph) | {m for targets in graph.values() for m in targets})
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(graph.get(node, ())):
            if succ not in within:
                continue
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if succ not in previous:
                previous[succ] = node
                queue.append(succ)
    raise AssertionError(f"{start} is in a strongly connected group but on no cycle")
