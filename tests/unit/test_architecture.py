"""The package's shape (issue 12): no import cycles among convtest modules, no ``_private`` name
imported from another convtest module, no module over 500 lines.

The modules are read with ``ast``, never imported: an import inside a function counts as much as
one at the top (both run sooner or later), and only those under ``if TYPE_CHECKING:`` are left
out of the cycles, since they never run.
"""

from __future__ import annotations

import ast
import textwrap
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES: Final = 500


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's view of one convtest module."""

    line: int
    #: the module the statement names, made absolute (``from .x import y`` in ``p.m`` -> ``p.x``)
    module: str
    #: the names of a ``from`` import; empty for ``import module``
    names: tuple[str, ...]
    type_only: bool


@dataclass(slots=True)
class Module:
    name: str
    path: Path
    lines: int
    imports: list[Import]


# --- reading the package ---------------------------------------------------------------------------


def read_package(folder: Path) -> dict[str, Module]:
    """Every module under ``folder`` (a package named after it), by dotted name."""
    modules: dict[str, Module] = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        text = path.read_text(encoding="utf-8")
        package = name if is_package else name.rpartition(".")[0]
        visitor = _ImportVisitor(package)
        visitor.visit(ast.parse(text, filename=str(path)))
        modules[name] = Module(name, path, len(text.splitlines()), visitor.imports)
    return modules


class _ImportVisitor(ast.NodeVisitor):
    def __init__(self, package: str) -> None:
        self.package = package
        self.imports: list[Import] = []
        self._type_only = 0

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self._type_only += 1
        for child in node.body:
            self.visit(child)
        self._type_only -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imports.append(Import(node.lineno, alias.name, (), self._type_only > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, module] if module else base)
        names = tuple(alias.name for alias in node.names)
        self.imports.append(Import(node.lineno, module, names, self._type_only > 0))


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


# --- the rules -------------------------------------------------------------------------------------


def dependency_graph(modules: Mapping[str, Module]) -> dict[str, set[str]]:
    """Module -> the modules it imports at run time. ``from p.x import y`` depends on ``p.x``,
    and on ``p.x.y`` too when that is a module."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module in modules.values():
        for imp in module.imports:
            if imp.type_only:
                continue
            targets = [imp.module, *(f"{imp.module}.{name}" for name in imp.names)]
            graph[module.name].update(t for t in targets if t in modules and t != module.name)
    return graph


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Import cycles as paths that end where they start (``[a, b, a]``): for every module caught in
    one, the shortest cycle through it, each cycle listed once, starting at its smallest name."""
    found: set[tuple[str, ...]] = set()
    for component in _strong_components(graph):
        if len(component) < 2:
            continue
        for start in sorted(component):
            cycle = _shortest_cycle(graph, start, component)
            turn = cycle.index(min(cycle))
            found.add(tuple(cycle[turn:] + cycle[:turn]))
    return [[*cycle, cycle[0]] for cycle in sorted(found)]


def _strong_components(graph: Mapping[str, Iterable[str]]) -> Iterator[set[str]]:
    """Tarjan's algorithm: the sets of modules that can all reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[set[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                yield from visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            yield component

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def _shortest_cycle(graph: Mapping[str, Iterable[str]], start: str, within: set[str]) -> list[str]:
    """Breadth-first from ``start`` back to it, inside one strongly connected component."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if nxt in within and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in no cycle")  # cannot happen inside a component


@dataclass(frozen=True, slots=True)
class PrivateImport:
    importer: Module
    line: int
    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.importer.path.relative_to(ROOT)}:{self.line}: {self.name} from {self.source}"


def private_imports(modules: Mapping[str, Module]) -> list[PrivateImport]:
    """Every ``_private`` name imported from a module of the package, whether the import runs or
    only serves the type checker."""
    return [
        PrivateImport(module, imp.line, name, imp.module)
        for module in modules.values()
        for imp in module.imports
        if imp.module in modules
        for name in imp.names
        if name.startswith("_") and not name.endswith("__")
    ]


# --- the package's tests ---------------------------------------------------------------------------

MODULES = read_package(ROOT / "convtest")


def test_the_walk_reads_every_module_and_its_imports_run_inside_functions() -> None:
    """Guards the rules below against passing on an empty or half-read package."""
    on_disk = len(list((ROOT / "convtest").rglob("*.py")))
    assert len(MODULES) == on_disk > 50
    graph = dependency_graph(MODULES)
    assert "convtest.pytest_plugin.state" in graph["convtest.pytest_plugin.collect"]
    assert "convtest.pytest_plugin.collect" in graph["convtest.pytest_plugin.goldens"]  # in a method


def test_no_import_cycles_among_convtest_modules() -> None:
    cycles = [" -> ".join(cycle) for cycle in find_cycles(dependency_graph(MODULES))]
    assert not cycles, (
        "import cycles among convtest modules (imports under `if TYPE_CHECKING:` do not count):\n  "
        + "\n  ".join(cycles)
    )


def test_no_private_name_is_imported_from_another_convtest_module() -> None:
    found = [str(imp) for imp in private_imports(MODULES)]
    assert not found, "private names imported from another convtest module:\n  " + "\n  ".join(found)


def test_no_module_is_over_500_lines() -> None:
    long = [
        f"{module.path.relative_to(ROOT)}: {module.lines} lines"
        for module in MODULES.values()
        if module.lines > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines (split them by job):\n  " + "\n  ".join(long)


# --- the checker itself ----------------------------------------------------------------------------


def test_a_cycle_in_a_small_graph_is_found_and_listed_from_its_smallest_name() -> None:
    graph = {"c": {"a"}, "a": {"b"}, "b": {"c", "d"}, "d": set(), "e": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]


def test_every_module_of_a_tangle_shows_in_a_listed_cycle() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"b"}, "x": {"y"}, "y": set()}
    assert find_cycles(graph) == [["a", "b", "a"], ["b", "c", "b"]]


def test_a_graph_without_cycles_has_none() -> None:
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def write_package(root: Path, files: Mapping[str, str]) -> dict[str, Module]:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return read_package(root / "pkg")


def test_imports_inside_functions_count_and_those_for_the_type_checker_do_not(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def later():\n    from pkg.b import thing\n",
            "pkg/b.py": "from . import c\nthing = 1\n",
            "pkg/c.py": """\
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.a import later
                else:
                    import pkg.sub
                """,
            "pkg/sub/__init__.py": "from ..a import later\n",
        },
    )
    graph = dependency_graph(modules)
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg", "pkg.c"},  # `from . import c`: the package, and its module c
        "pkg.c": {"pkg.sub"},
        "pkg.sub": {"pkg.a"},
    }
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.a"]]


def test_private_names_are_found_under_type_checking_too(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "_hidden = 1\n__all__ = []\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import _hidden, __all__\n",
            "pkg/c.py": "from os import _exit\n",
        },
    )
    assert [(imp.importer.name, imp.line, imp.name, imp.source) for imp in private_imports(modules)] == [
        ("pkg.b", 3, "_hidden", "pkg.a")
    ]
