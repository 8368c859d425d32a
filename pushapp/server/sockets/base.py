"""The write path every frame to a connection takes, whichever server holds its socket."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ...protocol.frames import Payload
from ...runtime.registry import Connection
from ..limits import FrameRate

#: Called with a connection that does not read what it is sent; the hub closes it with 4005.
OnSlow = Callable[[Connection], None]


@dataclass
class Counters:
    """Pushes written to connections, and pushes lost to slow or failing ones, for pushstats."""

    delivered: int = 0
    dropped: int = 0
    dropped_bytes: int = 0  # of pushes lost to slow clients, what was still buffered for them included


class Sink:
    """Writes frames to the connections of one kind of server. The hub calls :meth:`deliver` once per
    message with all of that message's local recipients, never once per connection."""

    @staticmethod
    def limit_frame_size(handle: Any, max_bytes: int) -> None:
        """Have the server refuse client frames over ``max_bytes`` itself, where it can (else the consumer
        checks each frame)."""

    @staticmethod
    def limit_control_frames(handle: Any, rate: FrameRate) -> None:
        """Have the server count the control frames the client sends against ``rate`` and its pongs
        against ``MAX_BUFFERED_BYTES`` (:func:`~pushapp.server.limits.control_frame_refusal`), where it
        can (other servers answer pings themselves)."""

    @staticmethod
    async def abort(handle: Any, code: int) -> None:
        """Close a connection the hub does not hold (refused, or its registration failed) with ``code``."""
        await handle({"type": "websocket.close", "code": int(code)})

    def __init__(self, counters: Counters, on_slow: OnSlow) -> None:
        self.counters = counters
        self.on_slow = on_slow

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
