"""The import graph of ``pushapp/``: no cycle, and no module imports one from a layer above its own.

Read from the source with ``ast`` (every import, at module level or inside a function), so a new
arrow back up fails here before it can become an import cycle. docs/architecture.md shows the same table.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pushapp"

#: Lowest first. A module may import modules of its own layer or below; patterns are fnmatch-style.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundation",
        [
            "pushapp",
            "codes",
            "protocol",
            "exceptions",
            "names",
            "conf",
            "signals",
            "registry",
            "wire",
            "capture",
        ],
    ),
    ("configuration", ["layer", "tokens", "loops", "telemetry"]),
    (
        "plumbing",
        [
            "perloop",
            "twins",
            "rpc",
            "publish",
            "redis",
            "redis.*",
            "presence",
            "presence.*",
            "history",
            "history.*",
        ],
    ),
    ("api", ["queries", "gateway", "gatewayclient", "compat", "bridge", "stats", "metrics"]),
    ("server", ["servers", "servers.*", "hub", "hub.*", "auth", "limits", "subscriptions"]),
    (
        "edges",
        [
            "consumer",
            "asgi",
            "testing",
            "httpapi",
            "views",
            "urls",
            "forms",
            "script",
            "checks",
            "apps",
            "templatetags",
            "templatetags.*",
            "management",
            "management.*",
            "serve",
            "serve.*",
            "metrics_view",
            "dashboard",
            "dashboard.*",
        ],
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts else "pushapp"


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"pushapp.{module} is in no layer: add it to LAYERS and docs/architecture.md")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The pushapp modules ``path`` imports (the module itself when ``from . import name`` names one)."""
    this = module_name(path)
    package = this.split(".") if path.name == "__init__.py" else this.split(".")[:-1]
    if this == "pushapp":
        package = []
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and (node.module == "pushapp" or node.module.startswith("pushapp.")):
                target = node.module.removeprefix("pushapp").lstrip(".")
            else:
                continue
            target = target or "pushapp"
            for alias in node.names:
                child = f"{target}.{alias.name}" if target != "pushapp" else alias.name
                found.add(child if child in modules else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pushapp."):
                    found.add(alias.name.removeprefix("pushapp."))
    found.discard(this)
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_every_module_is_in_a_layer_and_imports_nothing_above_it() -> None:
    def name(module: str) -> str:
        return f"pushapp.{module} ({LAYERS[layer_of(module)][0]})"

    upward = [
        f"{name(module)} imports {name(target)}"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for target in sorted(edges.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])


def test_nothing_below_the_hub_imports_it() -> None:
    server = next(i for i, (name, _) in enumerate(LAYERS) if name == "server")
    below = {m for m in graph() if layer_of(m) < server}
    assert {m for m in below if any(t == "hub" or t.startswith("hub.") for t in graph()[m])} == set()


def test_the_reader_sees_relative_and_absolute_imports() -> None:
    edges = graph()
    assert {"registry", "servers", "hub.control", "presence"} <= edges["hub.hub"]
    assert "gateway" in edges["gatewayclient"]
