"""The import graph of ``pushapp/``: no cycle, and no module imports a room on its own floor or above.

Read from the source with ``ast`` (every import, at module level or inside a function), so a new
arrow back up fails here before it can become an import cycle. docs/architecture.md shows the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pushapp"

#: The rooms of pushapp, lowest floor first: a module may import modules of its own room, or of rooms on a
#: lower floor, and nothing else (two rooms on one floor know nothing of each other). A room is a folder of
#: the engine (a folder of ``server/``), or a module or folder of the Django face at the top level.
#: docs/architecture.md shows the same table.
FLOORS: list[tuple[str, list[str]]] = [
    ("words", ["pushapp", "codes", "conf", "signals", "middleware"]),
    ("errors", ["exceptions"]),
    ("protocol: what both sides say, no I/O", ["protocol"]),
    ("client: the protocol's other end, a Python client", ["client"]),
    ("what one process holds", ["runtime", "tokens"]),
    ("tokens of other systems", ["authn"]),
    ("stores", ["history", "presence"]),
    ("sender: how any process pushes", ["sender"]),
    ("asking", ["queries"]),
    ("the gateway", ["gateway"]),
    ("what builds on it", ["gatewayclient", "auth"]),
    ("server: limits", ["server", "server.limits"]),
    ("server: sockets", ["server.sockets"]),
    ("server: hub", ["server.hub"]),
    ("server: client frames", ["server.subscriptions"]),
    ("edges", ["consumer", "observe", "forms", "script", "httpapi"]),
    ("the SSE transport", ["sse"]),
    ("entry points", ["asgi", "views", "checks", "templatetags", "pushserve"]),
    ("wiring", ["urls", "apps", "testing", "management"]),
]

#: At most 20 modules at the top level, each one a Django project imports or Django looks for.
FACE = {
    "pushapp", "apps", "asgi", "auth", "checks", "codes", "conf", "consumer", "exceptions", "forms",
    "gateway", "gatewayclient", "httpapi", "middleware", "queries", "script", "signals", "testing",
    "tokens", "urls", "views",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts else "pushapp"


def room_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "server" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def floor_of(module: str) -> int:
    room = room_of(module)
    for index, (_, rooms) in enumerate(FLOORS):
        if room in rooms:
            return index
    raise AssertionError(f"pushapp.{module} is in no room: add {room!r} to FLOORS and docs/architecture.md")


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


def test_every_import_goes_to_its_own_room_or_a_floor_below() -> None:
    def name(module: str) -> str:
        return f"pushapp.{module} ({room_of(module)}, floor {FLOORS[floor_of(module)][0]!r})"

    crossing = [
        f"{name(module)} imports {name(target)}"
        for module, targets in graph().items()
        for target in targets
        if room_of(target) != room_of(module) and floor_of(target) >= floor_of(module)
    ]
    assert crossing == []


def test_the_top_level_is_the_django_face() -> None:
    top = {m for m in graph() if "." not in m and not (PACKAGE / m).is_dir()}
    assert top <= FACE, sorted(top - FACE)
    assert len(FACE - {"pushapp"}) <= 20  # the package's __init__ aside


def test_a_store_that_calls_the_sender_breaks_the_rule() -> None:
    """The rule is narrow enough to catch the arrow that once slipped through (presence -> publish)."""
    assert floor_of("presence.events") < floor_of("sender.publish")
    assert floor_of("history.redis") < floor_of("sender.publish")
    assert room_of("history.redis") != room_of("presence.redis")


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
    hub = floor_of("server.hub")
    edges = graph()
    below = {m for m in edges if floor_of(m) < hub}
    assert {m for m in below if any(room_of(t) == "server.hub" for t in edges[m])} == set()


def test_the_reader_sees_relative_and_absolute_imports() -> None:
    edges = graph()
    assert {"runtime.registry", "server.sockets", "server.hub.control", "presence"} <= edges["server.hub.hub"]
    assert "gateway" in edges["gatewayclient"]
