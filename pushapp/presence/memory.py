"""Presence read straight from the hubs of this process: the embedded, one-process default.

Only correct when every connection lives in this process, which is what the in-memory channel layer
implies anyway. The raw operations mirror presence.lua, shape for shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from ..hub import Connection, Hub, all_hubs
from ..protocol import dumps
from .base import Backend


def _members(hub: Hub, group: str) -> Iterable[Connection]:
    return hub.clients.values() if group == "" else hub.groups.get(group, ())


def _uids(conns: Iterable[Connection], seen: set[str], out: list[str]) -> None:
    for conn in conns:
        if conn.uid is not None and conn.uid not in seen:
            seen.add(conn.uid)
            out.append(conn.uid)


def _run(name: str, args: tuple[str, ...]) -> Any:
    hubs = all_hubs()
    if name == "is_online":
        return int(any(args[0] in hub.clients for hub in hubs))
    if name == "uid_of":
        conn = next((hub.clients[args[0]] for hub in hubs if args[0] in hub.clients), None)
        return conn.uid if conn is not None and conn.uid is not None else None
    if name == "uid_cids":
        return [[c.client_id for hub in hubs for c in hub.uids.get(uid, ())] for uid in args]
    if name == "group_cids":
        return [[c.client_id for hub in hubs for c in _members(hub, group)] for group in args]
    if name == "group_counts":
        return [sum(len(hub.clients if g == "" else hub.groups.get(g, ())) for hub in hubs) for g in args]
    if name == "group_sessions":
        flat: list[Any] = []
        for hub in hubs:
            for conn in _members(hub, args[0]):
                flat += [conn.client_id, dumps(conn.session) if conn.session else None]
        return flat
    if name == "group_uids":
        seen: set[str] = set()
        out: list[str] = []
        for hub in hubs:
            _uids(_members(hub, args[0]), seen, out)
        return out
    if name == "all_uids":
        return list(dict.fromkeys(uid for hub in hubs for uid in hub.uids))
    if name == "all_groups":
        return list(dict.fromkeys(group for hub in hubs for group in hub.groups))
    if name == "all_group_members":
        lists: dict[str, list[str]] = {}
        seen_by_group: dict[str, set[str]] = {}
        for hub in hubs:
            for group, conns in hub.groups.items():
                out = lists.setdefault(group, [])
                if args[0] == "uids":
                    _uids(conns, seen_by_group.setdefault(group, set()), out)
                else:
                    out += [c.client_id for c in conns]
        return [item for group, members in lists.items() for item in (group, members)]
    if name == "nodes":
        return [item for hub in hubs for item in (hub.node_id, "0", hub.info_pairs())]
    raise ValueError(f"unknown pushapp presence operation {name!r}")


class MemoryBackend(Backend):
    async def aop(self, name: str, *args: str) -> Any:
        return _run(name, args)

    def op(self, name: str, *args: str) -> Any:
        from ..bridge import target_loop

        # The hubs' dicts belong to their loop's thread: read them there.
        return asyncio.run_coroutine_threadsafe(self.aop(name, *args), target_loop()).result()
