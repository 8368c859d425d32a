"""The write path every frame to a connection takes, whichever server holds its socket."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ...protocol.frames import Payload
from ...runtime import telemetry
from ...runtime.registry import Connection
from ..limits import FrameRate

logger = logging.getLogger(__name__)

#: Called with a connection that does not read what it is sent; the hub closes it with 4005.
OnSlow = Callable[[Connection], None]

#: What a sink writes through for one connection: daphne's protocol, pushapp's own connection, or ``send``.
H = TypeVar("H")

#: The ASGI ``send`` of a connection.
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: The ASGI scope extension in which a server that pushapp knows names itself for a connection:
#: ``(<Sink class>, <what it writes through>)``, a tuple as it lives as long as the connection. pushapp's
#: own server fills it in when it builds the scope, and daphne's ``create_application`` once pushapp has
#: wrapped it (:func:`.daphne.name_connections`); any other server is written to through ``send``.
EXTENSION = "pushapp.socket"

#: The ASGI scope extension in which daphne (once pushapp has wrapped its ``create_application``) names,
#: for an HTTP request, ``{"backlog": <callable: bytes waiting unsent to its socket, -1 once closed>}``:
#: how an SSE stream (:mod:`.sse`) finds a client that does not read.
HTTP_EXTENSION = "pushapp.http"


@dataclass
class Counters:
    """Pushes written to connections, and pushes lost to slow or failing ones, for pushstats."""

    delivered: int = 0
    dropped: int = 0
    dropped_bytes: int = 0  # of pushes lost to slow clients, what was still buffered for them included


class Sink(Generic[H]):
    """Writes frames to the connections of one kind of server, each through its handle ``H``. The hub
    calls :meth:`deliver` once per message with all of that message's local recipients, never once per
    connection."""

    @staticmethod
    def limit_frame_size(handle: H, max_bytes: int) -> None:
        """Have the server refuse client frames over ``max_bytes`` itself, where it can (else the consumer
        checks each frame)."""

    @staticmethod
    def limit_control_frames(handle: H, rate: FrameRate) -> None:
        """Have the server count the control frames the client sends against ``rate`` and its pongs
        against ``MAX_BUFFERED_BYTES`` (:func:`~pushapp.server.limits.control_frame_refusal`), where it
        can (other servers answer pings themselves)."""

    @staticmethod
    async def abort(handle: H, code: int) -> None:
        """Close a connection the hub does not hold (refused, or its registration failed) with ``code``."""
        raise NotImplementedError

    def __init__(self, counters: Counters, on_slow: OnSlow) -> None:
        self.counters = counters
        self.on_slow = on_slow

    def lost(self, conn: Connection) -> None:
        """A write to ``conn`` failed (called in its ``except``): counted and logged, the rest goes on."""
        self.counters.dropped += 1
        telemetry.stats.drops["error"] += 1
        logger.warning("pushapp: dropped a message to %s", conn.client_id, exc_info=True)

    async def deliver(self, conns: Collection[Connection], payload: Payload) -> None:
        """Write one pushed payload to every connection; a failing socket only costs itself. ``conns``
        may be the registry's live set: read it before awaiting anything."""
        raise NotImplementedError

    async def send(self, conn: Connection, text: str) -> None:
        """Write one server frame (welcome, pong, error) to ``conn``."""
        raise NotImplementedError

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        """Write what is still queued for ``conn``, then ``message`` (if any), then the close frame."""
        raise NotImplementedError


class Sinks:
    """The sinks of one hub: one per kind of server that hands it connections (usually just one), sharing
    its counters and its ``on_slow``."""

    def __init__(self, counters: Counters, on_slow: OnSlow) -> None:
        self.counters = counters
        self.on_slow = on_slow
        self._by_kind: dict[type[Sink], Sink] = {}

    def of(self, kind: type[Sink]) -> Sink:
        """The sink of ``kind`` (the consumer picks the kind for its server)."""
        sink = self._by_kind.get(kind)
        if sink is None:
            sink = self._by_kind[kind] = kind(self.counters, self.on_slow)
        return sink

    async def deliver(self, conns: Collection[Connection], payload: Payload) -> None:
        """Hand one payload and all its recipients to each sink, once. ``conns`` may be the registry's live
        set: it is read before the first await."""
        if len(self._by_kind) == 1:
            for sink in self._by_kind.values():
                await sink.deliver(conns, payload)
            return
        by_sink: dict[Sink, list[Connection]] = {}
        for conn in conns:
            by_sink.setdefault(conn.sink, []).append(conn)
        for sink, some in by_sink.items():
            await sink.deliver(some, payload)
