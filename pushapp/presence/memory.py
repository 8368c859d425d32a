"""Presence read straight from this process's registries: the embedded, one-process default.

Only correct when every connection lives in this process, which is what the in-memory channel layer
implies anyway. Each read is a plain function over the registries; sync callers run it on the loop that
owns them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from ..protocol.frames import dumps
from ..runtime.loops import LocalNode, local_nodes
from ..runtime.registry import Connection, Registry
from ..runtime.twins import target_loop
from . import events
from .base import ADMISSION_SECONDS, Admission, Backend, EmitFrame, InfoPairs, NodeInfo, OnLost, Writer

P = ParamSpec("P")
R = TypeVar("R")


def _distinct_uids(conns: Iterable[Connection], seen: set[str], out: list[str]) -> None:
    for conn in conns:
        if conn.uid is not None and conn.uid not in seen:
            seen.add(conn.uid)
            out.append(conn.uid)


def _find(nodes: list[LocalNode], client_id: str) -> Connection | None:
    return next((c for node in nodes if (c := node.registry.get(client_id)) is not None), None)


def _is_online(nodes: list[LocalNode], client_id: str) -> bool:
    return _find(nodes, client_id) is not None


def _uid_of(nodes: list[LocalNode], client_id: str) -> str | None:
    conn = _find(nodes, client_id)
    return None if conn is None else conn.uid


def _uid_client_ids(nodes: list[LocalNode], uids: list[str]) -> list[list[str]]:
    return [[c.client_id for n in nodes for c in n.registry.uids.get(uid, ())] for uid in uids]


def _group_client_ids(nodes: list[LocalNode], groups: list[str]) -> list[list[str]]:
    return [[c.client_id for n in nodes for c in n.registry.members(group)] for group in groups]


def _group_counts(nodes: list[LocalNode], groups: list[str]) -> list[int]:
    return [sum(len(n.registry.members(group)) for n in nodes) for group in groups]


def _group_sessions(nodes: list[LocalNode], group: str) -> dict[str, dict[str, Any]]:
    return {
        c.client_id: json.loads(dumps(c.session)) for n in nodes for c in n.registry.members(group)
    }  # a copy


def _group_uids(nodes: list[LocalNode], group: str) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for node in nodes:
        _distinct_uids(node.registry.members(group), seen, out)
    return out


def _all_uids(nodes: list[LocalNode]) -> list[str]:
    return list(dict.fromkeys(uid for n in nodes for uid in n.registry.uids))


def _all_groups(nodes: list[LocalNode]) -> list[str]:
    return list(dict.fromkeys(group for n in nodes for group in n.registry.groups))


def _all_group_members(nodes: list[LocalNode], uids: bool) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    for node in nodes:
        for group, conns in node.registry.groups.items():
            out = lists.setdefault(group, [])
            if uids:
                _distinct_uids(conns, seen.setdefault(group, set()), out)
            else:
                out += [c.client_id for c in conns]
    return lists


def _nodes(nodes: list[LocalNode]) -> list[NodeInfo]:
    result = []
    for node in nodes:
        pairs = node.info()
        result.append(NodeInfo(node.node_id, 0.0, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return result


def _reader(read: Callable[..., R]) -> tuple[Callable[..., R], Callable[..., Any]]:
    """A read's sync method (run on the registries' loop: their dicts belong to its thread) and its
    async twin (already on that loop)."""

    async def aread(self: MemoryBackend, *args: Any) -> R:
        return read(local_nodes(), *args)

    def sync_read(self: MemoryBackend, *args: Any) -> R:
        return asyncio.run_coroutine_threadsafe(aread(self, *args), target_loop()).result()

    functools.update_wrapper(aread, read)
    functools.update_wrapper(sync_read, read)
    return sync_read, aread


class MemoryWriter(Writer):
    """Writes nothing (reads look at the registries) but counts, for the presence events."""

    def __init__(self, counts: events.Counts, node_id: str, emit: EmitFrame) -> None:
        self.counts = counts
        self.node = node_id
        self.emitter = events.Emitter(emit)

    def _count(self, deltas: list[str]) -> None:
        self.emitter.emit(self.counts.apply(self.node, deltas))

    async def stop(self) -> None:
        self.emitter.emit(self.counts.release(self.node))
        await self.emitter.drain()

    async def connected(self, conn: Connection) -> None:
        self._count(events.connected(conn))

    async def disconnected(self, conn: Connection, uid: str | None, groups: list[str]) -> None:
        self._count(events.disconnected(uid, groups))

    async def joined(self, conn: Connection, group: str) -> None:
        self._count(events.joined(conn, group))

    async def left(self, conn: Connection, group: str) -> None:
        self._count(events.left(conn, group))

    async def bound(self, conn: Connection, old_uid: str | None) -> None:
        self._count(events.bound(conn, old_uid))

    async def ungrouped(self, group: str, conns: list[Connection]) -> None:
        self._count(events.ungrouped(group, conns))


class MemoryBackend(Backend):
    def __init__(self) -> None:
        self.counts = events.Counts()
        self.revoked: dict[str, float] = {}  # access key -> when it was revoked
        self.admitted: dict[str, dict[str, float]] = {}  # uid -> {client id: counts until}

    def writer(
        self, node_id: str, registry: Registry, info: InfoPairs, on_lost: OnLost, emit: EmitFrame
    ) -> Writer:
        return MemoryWriter(self.counts, node_id, emit)

    is_online, ais_online = _reader(_is_online)
    uid_of, auid_of = _reader(_uid_of)
    uid_client_ids, auid_client_ids = _reader(_uid_client_ids)
    group_client_ids, agroup_client_ids = _reader(_group_client_ids)
    group_counts, agroup_counts = _reader(_group_counts)
    group_sessions, agroup_sessions = _reader(_group_sessions)
    group_uids, agroup_uids = _reader(_group_uids)
    all_uids, aall_uids = _reader(_all_uids)
    all_groups, aall_groups = _reader(_all_groups)
    all_group_members, aall_group_members = _reader(_all_group_members)
    nodes, anodes = _reader(_nodes)

    async def anode_alive(self, node_id: str) -> bool:
        return any(node.node_id == node_id for node in local_nodes())

    async def aadmit(self, admission: Admission) -> str:
        """As presence.lua's ``admit``, for this process (no await between the check and the reserve)."""
        now = time.time()
        admitted = self.admitted.setdefault(admission.uid, {})
        for cid in [cid for cid, until in admitted.items() if until <= now]:
            del admitted[cid]
        members = set(admitted).union(*_uid_client_ids(local_nodes(), [admission.uid]))
        if len(members) >= admission.cap:
            return "full"
        admitted[admission.client_id] = now + ADMISSION_SECONDS
        return "ok"

    async def arevoke(self, keys: list[str], when: float, keep: float) -> None:
        for key in [key for key, at in self.revoked.items() if at < when - keep]:
            del self.revoked[key]
        self.revoked.update(dict.fromkeys(keys, when))

    async def arevocations(self) -> dict[str, float]:
        return dict(self.revoked)
