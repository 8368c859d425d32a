"""The write path of a connection over Server-Sent Events (docs/sse.md): each server frame is one SSE event
on a streaming HTTP response, written through the ASGI ``send`` of that response (daphne's, also when
pushapp's own server hands it the request).

A push that carries a stream position gets an ``id:`` naming every position the connection has seen so
far (:func:`encode_event_id`), which the client gives back as ``Last-Event-ID`` to recover. A close is an
``event: close`` with the code and reason, then the end of the response. Client frames arrive by POST
(possibly on another server process, through the channel layer) and are fed to :meth:`SseStream.feed`,
where the consumer's receive loop reads them as it reads a WebSocket's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Callable, Collection
from typing import Any

from ...codes import CloseCode
from ...conf import push_settings
from ...protocol.frames import Payload, dumps
from ...runtime import telemetry
from ...runtime.registry import Connection
from ...tokens import client_proof
from ..limits import report
from .base import HTTP_EXTENSION, Send, Sink

#: Positions one event id may carry: more than a connection could follow is an attack (the auth frame's
#: ``recover`` has the same bound).
MAX_ID_STREAMS = 256

Positions = dict[str, tuple[str, int]]  # stream -> (epoch, offset)


def encode_event_id(positions: Positions) -> str:
    """An SSE event id for ``positions``: base64url (no padding) of ``{"<stream>": ["<epoch>", offset]}``."""
    raw = json.dumps({s: [e, o] for s, (e, o) in positions.items()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode("ascii")


def decode_event_id(value: str) -> dict[str, dict[str, Any]] | None:
    """An event id back as an auth frame's ``recover`` (``{stream: {"offset": n, "epoch": e}}``, to be
    checked like one); None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        decoded = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(decoded, dict):
        return None
    recover = {}
    for stream, position in list(decoded.items())[:MAX_ID_STREAMS]:
        if isinstance(position, list) and len(position) == 2:
            recover[stream] = {"epoch": position[0], "offset": position[1]}
    return recover


def event(data: str, event_id: str | None = None, kind: str | None = None) -> bytes:
    """One SSE event. ``data`` is JSON, one line as pushapp encodes it; a line break (only ever whitespace
    between JSON tokens, in text pushed pre-encoded) splits it into ``data:`` lines, which the client joins
    back with ``\\n``: the same JSON value."""
    head = (f"id: {event_id}\n" if event_id else "") + (f"event: {kind}\n" if kind else "")
    if "\n" in data or "\r" in data:
        data = data.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\ndata: ")
    return f"{head}data: {data}\n\n".encode()


def close_reason(code: int) -> str:
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "closed"


def stream_backlog(scope: dict[str, Any]) -> Callable[[], int] | None:
    """How to measure what waits unsent to the socket of the request ``scope``, where the server says
    (daphne, through pushapp's wrapper: :data:`~.base.HTTP_EXTENSION`)."""
    named = (scope.get("extensions") or {}).get(HTTP_EXTENSION)
    return None if named is None else named["backlog"]


class SseStream:
    """One SSE connection: its response's ``send``, the positions it has seen, and the client frames POSTed
    to it, read by the consumer as ASGI WebSocket events."""

    def __init__(self, send: Send, post_path: str, backlog: Callable[[], int] | None = None) -> None:
        self.send = send
        self.backlog = backlog  # bytes waiting unsent to its socket, where the server tells
        self.post_path = post_path  # the POST endpoint without the client id
        self.conn: Connection | None = None  # known from its welcome on
        self.positions: Positions = {}
        self.ended = False  # the response is over: nothing more is written
        self._left = False  # the consumer was told (websocket.disconnect)
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(self) -> dict[str, Any]:
        """The consumer's ``receive``: the POSTed frames, then ``websocket.disconnect``."""
        return await self._events.get()

    def feed(self, text: str) -> bool:
        """A POSTed client frame; False once the stream has ended."""
        if self.ended:
            return False
        self._events.put_nowait({"type": "websocket.receive", "text": text})
        return True

    def gone(self) -> None:
        """The connection is over (the client left, or the server closed it): the consumer reads a
        ``websocket.disconnect``, and nothing more is written."""
        self.ended = True
        if not self._left:
            self._left = True
            self._events.put_nowait({"type": "websocket.disconnect", "code": 1006})

    async def write(self, data: bytes) -> None:
        if not self.ended:
            await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, code: int) -> None:
        """``event: close`` with ``code``, then the end of the response. The consumer is not told: the
        caller does that (:meth:`gone`) once the hub has let the connection go."""
        if self.ended:
            return
        self.ended = True
        body = event(dumps({"code": int(code), "reason": close_reason(code)}), kind="close")
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    async def heartbeat(self, interval: float) -> None:
        """``: ping`` every ``interval`` seconds; each one written keeps the connection from the hub's
        heartbeat sweep (the client of a stream has no pings of its own to send)."""
        while not self.ended:
            await asyncio.sleep(interval)
            await self.write(b": ping\n\n")
            if self.conn is not None:
                self.conn.last_seen = time.monotonic()

    def welcome(self, conn: Connection, text: str) -> bytes:
        """The welcome, with where to POST client frames and the proof to POST them with; its id names the
        positions it starts from, so a client that drops before any push recovers from there."""
        self.conn = conn
        frame = json.loads(text)
        frame["sse"] = {"post": f"{self.post_path}{conn.client_id}/", "proof": client_proof(conn.client_id)}
        for stream, position in (frame.get("streams") or {}).items():
            self.positions[stream] = (position["epoch"], position["offset"])
        return event(dumps(frame), encode_event_id(self.positions) if self.positions else None)

    def push(self, text: str, position: tuple[str, str, int] | None) -> bytes:
        if position is None:
            return event(text)
        stream, epoch, offset = position
        self.positions[stream] = (epoch, offset)
        return event(text, encode_event_id(self.positions))


def _position(text: str) -> tuple[str, str, int] | None:
    """The stream position a push frame carries, if any (read once per message, not per recipient)."""
    if '"stream"' not in text:
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or frame.get("type") != "push":
        return None
    stream, epoch, offset = frame.get("stream"), frame.get("epoch"), frame.get("offset")
    if isinstance(stream, str) and isinstance(epoch, str) and isinstance(offset, int):
        return stream, epoch, offset
    return None


class SseSink(Sink[SseStream]):
    """Writes to SSE connections. Binary pushes cannot travel as SSE text: they are dropped (counted)."""

    @staticmethod
    async def abort(handle: SseStream, code: int) -> None:
        try:
            await handle.end(code)
        finally:
            handle.gone()

    async def deliver(self, conns: Collection[Connection], payload: Payload) -> None:
        text = payload[0]
        if text is None:
            self.counters.dropped += len(conns)
            telemetry.stats.drops["binary_over_sse"] += len(conns)
            return
        position = _position(text)
        limit = push_settings.MAX_BUFFERED_BYTES
        delivered = 0
        for conn in list(conns):  # each send awaits: the registry may change meanwhile
            stream: SseStream = conn.handle
            backlog = stream.backlog() if stream.backlog is not None else 0
            if backlog > limit:  # it has not taken what it was sent before: as on a WebSocket, 4005
                self.counters.dropped += 1
                self.counters.dropped_bytes += backlog + len(text)
                telemetry.stats.drops["slow"] += 1
                report("slow_client", f"{conn.client_id} does not read its stream ({backlog} bytes wait)")
                self.on_slow(conn)
                continue
            try:
                await stream.write(stream.push(text, position))
                delivered += 1
            except Exception:
                self.lost(conn)
        self.counters.delivered += delivered

    async def send(self, conn: Connection, text: str) -> None:
        stream: SseStream = conn.handle
        await stream.write(stream.welcome(conn, text) if stream.conn is None else event(text))

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        stream: SseStream = conn.handle
        if message is not None and message[0] is not None:
            await stream.write(event(message[0]))
        try:
            await stream.end(code)
        finally:
            stream.gone()
