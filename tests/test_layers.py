"""The layers of the package, written down and enforced over its imports.

Read top-down, the tree tells the data flow: a request enters (CLI, library call, HTTP), is
routed, reaches a provider, runs on a backend, and is logged and priced. A module may import
from its own layer and the layers below it, never above, and nothing imports in a cycle, not
even from inside a function (an import there is for start-up speed, never to dodge a cycle).
Imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import ROOT

SRC = ROOT / "src"

#: Bottom to top. A module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, list[str]]] = [
    ("types and errors", [
        "weighbridge.errors", "weighbridge.types", "weighbridge.capabilities", "weighbridge.plugins",
        "weighbridge.hashing",
    ]),
    ("catalog, config and store", [
        "weighbridge.catalog", "weighbridge.config", "weighbridge.costs", "weighbridge.targets",
        "weighbridge.weights", "weighbridge.privacy", "weighbridge.store",
        # the schemas of the config's [engine] and [routes.*] sections
        "weighbridge.engines.options", "weighbridge.routing.routes",
        # a registered local model is a catalog entry the user made
        "weighbridge.own.registry",
    ]),
    ("HTTP plumbing", [
        "weighbridge.providers.transport", "weighbridge.providers.http", "weighbridge.providers.sse",
        "weighbridge.providers.retry",
    ]),
    ("providers and engines", ["weighbridge.providers", "weighbridge.engines"]),
    # a plan is the calls a request will make
    ("routing", ["weighbridge.routing", "weighbridge.call"]),
    ("client", ["weighbridge.attempts", "weighbridge.streaming", "weighbridge.client"]),
    ("money, compare, own", ["weighbridge.money", "weighbridge.compare", "weighbridge.own"]),
    ("eval: standard benchmarks on the compare store", ["weighbridge.eval"]),
    ("revalidate: stored runs made again on a replacement model", ["weighbridge.revalidate"]),
    ("server: the two wires, access, sessions", ["weighbridge.server"]),
    ("web: the page's routes", ["weighbridge.web"]),
    ("evidence: what the runs, the votes and the log say of each model", ["weighbridge.evidence"]),
    ("the gateway app: API and page routes together", ["weighbridge.server.app"]),
    ("CLI and the library's front door", ["weighbridge.cli", "weighbridge"]),
]  # fmt: skip


def modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "weighbridge").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The package modules ``name`` imports at run time, with the line of each import."""
    tree = ast.parse(path.read_text("utf-8"))
    annotations_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                yield target, node.lineno


def layer_of(name: str) -> int:
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{name} is in no layer: add it to LAYERS"
    return best[0]


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    known = modules()
    upward = []
    for name, path in sorted(known.items()):
        for target, line in imports(name, path, known):
            if layer_of(target) > layer_of(name):
                upward.append(
                    f"{path.relative_to(SRC)}:{line} ({LAYERS[layer_of(name)][0]}) imports "
                    f"{target} ({LAYERS[layer_of(target)][0]})"
                )
    assert upward == []


def test_nothing_imports_in_a_cycle() -> None:
    known = modules()
    graph = {name: {target for target, _ in imports(name, path, known)} for name, path in known.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
