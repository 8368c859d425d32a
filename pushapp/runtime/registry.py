"""This process's connections and their uid and group indices: bookkeeping only, no asyncio, no I/O.

Every method returns what changed, so the hub decides what follows (layer groups to join or leave,
presence to write) from values, and so do the presence backends that read it. The registry belongs to
its hub's event loop; other threads read it only on that loop.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

#: Up to this many members an index entry is a tuple (56 bytes for one, a set takes 216): most uids have
#: one connection or a few, and an idle server holds one entry per uid. Past it, a set.
SMALL = 8
Group = tuple["Connection", ...] | set["Connection"]
Members = dict[str, Group]


class Connection:
    """One authenticated WebSocket held by this process. Kept small: there may be tens of thousands.

    ``sink`` is the server write path that delivers to it (:mod:`pushapp.server.sockets`) and ``handle`` what
    that sink writes through (daphne's protocol object, or the ASGI ``send``).
    """

    __slots__ = ("client_id", "expires", "groups", "handle", "last_seen", "origin", "session", "sink", "uid")

    def __init__(
        self,
        client_id: str,
        uid: str | None,
        sink: Any,
        handle: Any,
        expires: float | None = None,
        origin: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.uid = uid
        self.sink = sink
        self.handle = handle
        self.groups: tuple[str, ...] = ()  # a tuple, not a set: a few at most (MAX_GROUPS_PER_CONNECTION)
        self.session: dict[str, Any] = {}
        self.last_seen = time.monotonic()
        self.expires = expires  # when its token expires (unix seconds): closed with 4002 unless refreshed
        self.origin = origin  # the hash of the Django session its token was minted in: logout closes it

    def __repr__(self) -> str:
        return f"<Connection {self.client_id} uid={self.uid!r}>"


@dataclass(frozen=True)
class Removed:
    """What a connection held when it was removed."""

    uid: str | None
    groups: list[str]


def _add(index: Members, key: str, conn: Connection) -> None:
    members = index.get(key)
    if members is None:
        index[key] = (conn,)
    elif type(members) is tuple:
        if conn not in members:
            index[key] = (*members, conn) if len(members) < SMALL else {*members, conn}
    else:
        members.add(conn)  # type: ignore[union-attr]


def _discard(index: Members, key: str, conn: Connection) -> bool:
    """Take ``conn`` out of ``index[key]``; whether that emptied it (and so removed it)."""
    members = index.get(key)
    if members is None:
        return False
    if type(members) is tuple:
        rest: Group = tuple(c for c in members if c is not conn)
        if rest:
            index[key] = rest
            return False
    else:
        members.discard(conn)  # type: ignore[union-attr]
        if members:
            return False
    del index[key]
    return True


class Registry:
    def __init__(self) -> None:
        self.clients: dict[str, Connection] = {}
        self.uids: Members = {}
        self.groups: Members = {}

    def __len__(self) -> int:
        return len(self.clients)

    def __contains__(self, conn: object) -> bool:
        return isinstance(conn, Connection) and self.clients.get(conn.client_id) is conn

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self.clients.values()))

    def get(self, client_id: str) -> Connection | None:
        return self.clients.get(client_id)

    def add(self, conn: Connection) -> None:
        """Index ``conn`` under its uid and its groups."""
        self.clients[conn.client_id] = conn
        if conn.uid is not None:
            _add(self.uids, conn.uid, conn)
        for group in conn.groups:
            _add(self.groups, group, conn)

    def remove(self, conn: Connection) -> Removed | None:
        """Forget ``conn``: its groups and session are cleared. None if it was not here."""
        if self.clients.get(conn.client_id) is not conn:
            return None
        del self.clients[conn.client_id]
        groups = list(conn.groups)
        for group in groups:
            _discard(self.groups, group, conn)
        if conn.uid is not None:
            _discard(self.uids, conn.uid, conn)
        conn.groups = ()
        conn.session = {}
        return Removed(conn.uid, groups)

    def join(self, conn: Connection, group: str) -> bool:
        """Add ``conn`` to ``group``; False if it was already a member (or is not here)."""
        if group in conn.groups or conn not in self:
            return False
        conn.groups += (group,)
        _add(self.groups, group, conn)
        return True

    def leave(self, conn: Connection, group: str) -> bool:
        """Remove ``conn`` from ``group``; False if it was not a member."""
        if group not in conn.groups:
            return False
        conn.groups = tuple(g for g in conn.groups if g != group)
        _discard(self.groups, group, conn)
        return True

    def bind(self, conn: Connection, uid: str | None) -> tuple[bool, str | None]:
        """Bind ``conn`` to ``uid`` (None unbinds): whether anything changed, and the uid it had."""
        old = conn.uid
        if old == uid or conn not in self:
            return False, old
        if old is not None:
            _discard(self.uids, old, conn)
        conn.uid = uid
        if uid is not None:
            _add(self.uids, uid, conn)
        return True, old

    def ungroup(self, group: str) -> list[Connection]:
        """Empty ``group``; the members it had."""
        members = list(self.groups.pop(group, ()))
        for conn in members:
            conn.groups = tuple(g for g in conn.groups if g != group)
        return members

    def has_uid(self, uid: str) -> bool:
        return uid in self.uids

    def has_group(self, group: str) -> bool:
        return group in self.groups

    def members(self, group: str) -> Collection[Connection]:
        """The group's members; ``""`` means every connection, as in GatewayClient."""
        return self.clients.values() if group == "" else self.groups.get(group, ())

    def targets(
        self, kind: str, to: list[str] | None, exclude: list[str] | None = None, live: bool = False
    ) -> Collection[Connection]:
        """The local recipients of a push (see :func:`pushapp.protocol.wire.push` for ``kind`` and ``to``).

        ``live``: the index's own set where there is one, not a copy (copying 10,000 members took 0.6 ms
        before a fan-out's first write); the caller must be done with it before it next awaits."""
        if to is None:
            found: Collection[Connection] = self.clients.values()
        elif kind in ("all", "cid"):
            found = [c for c in map(self.clients.get, to) if c is not None]
        else:
            index = self.uids if kind == "uid" else self.groups
            if len(to) == 1:
                found = index.get(to[0], ())
            else:
                union: set[Connection] = set()
                for key in to:
                    union.update(index.get(key, ()))
                found = union
        if exclude:
            skip = set(exclude)
            return [c for c in found if c.client_id not in skip]
        return found if live else list(found)

    def expired(self, now: float) -> list[Connection]:
        """Connections whose token expired before ``now`` (a ``time.time()`` value) without a refresh."""
        return [c for c in self.clients.values() if c.expires is not None and c.expires <= now]

    def revoked(self, uid: str, origin: str | None = None) -> list[Connection]:
        """The connections of ``uid`` (only those minted in the session ``origin``, when given)."""
        return [c for c in self.uids.get(uid, ()) if origin is None or c.origin == origin]

    def silent_since(self, moment: float) -> list[Connection]:
        """Connections not heard from since ``moment`` (a ``time.monotonic()`` value)."""
        return [c for c in self.clients.values() if c.last_seen < moment]
