"""The server-side nodes of this process, as the layers below the hub need to see them.

A hub registers here once started. The sync twins find the loop to run on, and the memory presence
backend the registries to read, without importing the hub (which sits above them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class LocalNode:
    node_id: str
    loop: asyncio.AbstractEventLoop
    registry: Registry
    info: Callable[[], list[str]]  # pushstats fields, as field/value pairs


_nodes: list[LocalNode] = []


def register(node: LocalNode) -> None:
    _nodes[:] = [*(n for n in _nodes if not n.loop.is_closed()), node]


def unregister(node_id: str) -> None:
    _nodes[:] = [node for node in _nodes if node.node_id != node_id]


def local_nodes() -> list[LocalNode]:
    """Started nodes whose loop is still open."""
    return [node for node in _nodes if not node.loop.is_closed()]


def node_loops() -> list[asyncio.AbstractEventLoop]:
    """Running loops of this process that serve connections: where sync callers run their sends."""
    return [node.loop for node in _nodes if node.loop.is_running()]
