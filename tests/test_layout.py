"""The package's layout: no import cycle, and no import that runs up the layers.

Every ``import`` of a ``liftgenomics`` module is read from the source with :mod:`ast`, the ones
inside functions too (a deferred import is still a dependency). The layers, lowest first, are
the order data flows in; a module may import its own room and the rooms below it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "liftgenomics"

#: Rooms from the bottom up; the top-level foundation modules share the lowest layer.
LAYERS = (
    ("errors", "io", "locks"),
    ("genome",),
    ("logos",),
    ("models",),
    ("attribution",),
    ("scoring",),
    ("variants",),
    ("motifs",),
    ("paper",),
    ("report",),
    ("cli", "__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``path`` imports, anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from a.b import c" imports a.b, and a.b.c when c is a module.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def layer_of(module: str) -> int:
    room = module.split(".")[1] if "." in module else ""
    for rank, rooms in enumerate(LAYERS):
        if room in rooms:
            return rank
    raise AssertionError(f"{module}: in no layer of LAYERS")


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imported_modules(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_every_module_is_in_a_layer():
    for name in all_modules():
        if name != "liftgenomics":
            layer_of(name)


@pytest.mark.parametrize("module", sorted(all_modules()))
def test_no_upward_import(module):
    if module == "liftgenomics":
        return
    upward = [
        target
        for target in sorted(import_graph()[module])
        if target != "liftgenomics" and layer_of(target) > layer_of(module)
    ]
    assert not upward, f"{module} imports from a higher layer: {upward}"


def test_no_private_name_crosses_a_module():
    """``from liftgenomics.x import _name`` would tie a module to another's internals."""
    modules = all_modules()
    crossings = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("liftgenomics"):
                crossings += [
                    f"{name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and alias.name != "__version__"
                ]
    assert not crossings
