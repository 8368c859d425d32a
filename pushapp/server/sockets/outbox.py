"""The write path shared by the servers whose sockets pushapp writes to itself (daphne's, and its own).

Frames are encoded once per message, queued per connection and written once per loop iteration: a burst
of messages costs one system call per connection, not one per message. Every frame to a connection,
pushes and the server's own alike, goes through the same queue and the same limit: a client whose unsent
bytes passed ``MAX_BUFFERED_BYTES`` before this iteration's frames is reported to ``on_slow`` (the hub
closes it with 4005) and what it did not take is counted as dropped: bounded memory, no silent loss.
Measured before the write, so one large push to a client that reads is fine.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Collection, Iterable
from itertools import islice
from typing import Any

from ...codes import CloseCode
from ...conf import push_settings
from ...protocol.frames import Payload
from ...runtime import telemetry
from ...runtime.registry import Connection
from ..limits import report
from .base import H, Sink

logger = logging.getLogger(__name__)

#: Seconds a client closed for not reading (4005) has to read its backlog and the close frame.
SLOW_CLOSE_SECONDS = 10.0


def close_linger(code: int) -> float | None:
    """Seconds a client closed with ``code`` gets to answer (None: the server's default)."""
    return SLOW_CLOSE_SECONDS if code == CloseCode.TOO_SLOW else None


#: Connections written at once when a push finds nothing queued: the first sockets of a fan-out do not
#: wait until the frame is queued for the last one (the rest go out once this loop iteration is over).
FIRST_SLICE = 64


def encode_frame(text: str | None, data: bytes | None) -> bytes:
    """One unmasked, unfragmented server-to-client WebSocket frame (RFC 6455 section 5.2)."""
    if text is not None:
        opcode, body = 0x81, text.encode("utf-8")
    else:
        opcode, body = 0x82, data or b""
    size = len(body)
    if size < 126:
        return struct.pack("!BB", opcode, size) + body
    if size < 65536:
        return struct.pack("!BBH", opcode, 126, size) + body
    return struct.pack("!BBQ", opcode, 127, size) + body


class _ServerFrame(bytes):
    """A queued frame of the server's own (welcome, pong, error): not a push, so never counted as one."""


#: What waits for one connection: a frame, or a list of them once there are several (a lone frame is not
#: wrapped: a fan-out to 10,000 then allocates no list, so no garbage-collector pass, per recipient).
Queued = bytes | list[bytes]


def _pushes(queued: Queued) -> int:
    if type(queued) is list:
        return sum(1 for frame in queued if type(frame) is bytes)
    return 1 if type(queued) is bytes else 0


class OutboxSink(Sink[H]):
    """Queues frames per connection and writes them once per loop iteration. A server's subclass says
    how to reach its sockets: :meth:`backlog`, :meth:`transmit` and :meth:`end`."""

    @staticmethod
    def backlog(handle: H) -> int:
        """Bytes written to ``handle`` that its socket has not taken yet; -1 once it is closing."""
        raise NotImplementedError

    @staticmethod
    def transmit(handle: H, data: bytes) -> None:
        """Write ``data`` to ``handle``'s socket (what the kernel does not take waits in the server)."""
        raise NotImplementedError

    @staticmethod
    def end(handle: H, code: int, linger: float | None) -> None:
        """Send the close frame with ``code``; ``linger``: seconds the client gets to read what waits."""
        raise NotImplementedError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outbox: dict[Connection, Queued] = {}
        self._flush_scheduled = False

    def _queue(self, conn: Connection, frame: bytes) -> None:
        queued = self._outbox.get(conn)
        if queued is None:
            self._outbox[conn] = frame
        elif type(queued) is list:
            queued.append(frame)
        else:
            self._outbox[conn] = [queued, frame]  # type: ignore[list-item]

    def _schedule(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    async def deliver(self, conns: Collection[Connection], payload: Payload) -> None:
        # Nothing here awaits: ``conns`` may be the registry's live set.
        frame = encode_frame(*payload)
        count = len(conns)
        self.counters.delivered += count
        outbox = self._outbox
        rest: Iterable[Connection] = conns
        if not outbox and count > FIRST_SLICE:
            limit = push_settings.MAX_BUFFERED_BYTES
            rest = iter(conns)
            for conn in islice(rest, FIRST_SLICE):
                self._write(conn, frame, limit)
            count -= FIRST_SLICE
        get = outbox.get
        for conn in rest:  # _queue() inlined: a method call per recipient is a fan-out's cost too
            queued = get(conn)
            if queued is None:
                outbox[conn] = frame
            elif type(queued) is list:
                queued.append(frame)
            else:
                outbox[conn] = [queued, frame]  # type: ignore[list-item]
        if count:
            self._schedule()

    async def send(self, conn: Connection, text: str) -> None:
        self._queue(conn, _ServerFrame(encode_frame(text, None)))
        self._schedule()

    def flush(self) -> None:
        """Write every connection's queued frames."""
        outbox, self._outbox = self._outbox, {}
        self._flush_scheduled = False
        limit = push_settings.MAX_BUFFERED_BYTES
        for conn, queued in outbox.items():
            if isinstance(queued, list):
                self._write(conn, b"".join(queued), limit, queued)
            else:
                self._write(conn, queued, limit)

    def _write(self, conn: Connection, data: bytes, limit: int, queued: Queued | None = None) -> None:
        """Write ``data`` (``queued``, joined) to ``conn``, or count it as lost: closing, or too slow."""
        counters = self.counters
        handle = conn.handle
        frames = data if queued is None else queued
        backlog = self.backlog(handle)
        if backlog < 0:  # closing since: checked once per connection, not per frame
            lost = _pushes(frames)
            counters.delivered -= lost
            telemetry.stats.drops["closed"] += lost
            return
        if backlog > limit:
            # It has not taken what it was sent before: these frames, and what waits, are lost.
            lost = _pushes(frames)
            counters.delivered -= lost
            counters.dropped += lost
            counters.dropped_bytes += backlog + len(data)
            telemetry.stats.drops["slow"] += lost
            report("slow_client", f"{conn.client_id} does not read its messages ({backlog} bytes wait)")
            self.on_slow(conn)
            return
        try:
            self.transmit(handle, data)
        except Exception:
            lost = _pushes(frames)
            counters.delivered -= lost
            counters.dropped += lost
            logger.warning("pushapp: dropped a message to %s", conn.client_id, exc_info=True)
            telemetry.stats.drops["error"] += lost

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        handle = conn.handle
        queued = self._outbox.pop(conn, None)  # pushes of this loop iteration go out first
        frames: list[bytes] = [] if queued is None else queued if isinstance(queued, list) else [queued]
        if message is not None:
            frames.append(encode_frame(*message))
        if frames and self.backlog(handle) >= 0:
            self.transmit(handle, b"".join(frames))
        # Its close frame waits behind everything it has not read: give it time to get there, so a
        # reader that stalled and resumes learns why (memory stays bounded: nothing more is queued).
        self.end(handle, code, close_linger(code))
