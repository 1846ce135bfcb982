"""The package's shape: imports go one way, with no cycle between modules.

Every `import` counts, wherever it stands (module level, inside a function, under
`TYPE_CHECKING`), since each is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fanflow"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> Iterator[str]:
    """The fanflow modules (packages included) that `path` imports.

    `from package import module` depends on that module only; `from package import Name`
    depends on the package, and so on everything its `__init__` imports.
    """
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            yield from (name for name in submodules if name in modules)
            if any(name not in modules for name in submodules):
                yield node.module


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {
        name: {target for target in _imports(path, modules) if target in modules}
        for name, path in files.items()
    }


def test_no_module_imports_itself_through_others() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            pytest.fail(f"import cycle: {cycle}")
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*path, name])
        done.add(name)

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("fanflow.store", ("fanflow.engine", "fanflow.callbacks", "fanflow.cli",
                           "fanflow.templates")),
        ("fanflow.adapters", ("fanflow.engine", "fanflow.steps", "fanflow.callbacks",
                              "fanflow.store", "fanflow.templates")),
        ("fanflow.callbacks", ("fanflow.engine", "fanflow.steps", "fanflow.store",
                               "fanflow.templates")),
        ("fanflow.steps", ("fanflow.engine", "fanflow.store", "fanflow.templates")),
        ("fanflow.engine", ("fanflow.templates",)),
        # the run report knows task results and plain run descriptions, never pipelines
        ("fanflow.report", ("fanflow.engine", "fanflow.store", "fanflow.steps",
                            "fanflow.callbacks", "fanflow.cli", "fanflow.templates")),
        ("fanflow.engine.workflow", ("fanflow.engine.pipeline", "fanflow.store")),
    ],
)  # fmt: skip
def test_imports_only_go_downward(layer: str, forbidden: tuple[str, ...]) -> None:
    graph = _graph()
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name == layer or name.startswith(f"{layer}.")
        for target in targets
        if target.startswith(forbidden)
    )
    assert wrong == []


def test_ray_is_imported_only_where_a_ray_run_starts() -> None:
    """Ray (an optional extra, slow to import) is imported inside the function that starts
    a sharded run, never at a module's top, so `import fanflow` works without it."""
    importers = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = set(tree.body)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            if any(name == "ray" or name.startswith("ray.") for name in names):
                importers.append((_module_name(path), node in top_level))
    assert importers == [("fanflow.engine.pipeline._ray_run", False)]
