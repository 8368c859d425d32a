"""The ASGI application under ``<PATH>sse/`` (docs/sse.md): ``GET <PATH>sse/?ticket=…`` streams a push
connection as ``text/event-stream``; ``POST <PATH>sse/<client_id>/`` hands one client frame to it,
wherever in the cluster it is held (through the channel layer, as the gateway reaches a client id)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from ..codes import CloseCode
from ..conf import push_settings
from ..consumer import PushConsumer, parse_frame, recover_positions
from ..exceptions import InvalidClientId
from ..protocol.frames import dumps
from ..protocol.names import node_of, validate_client_id
from ..runtime.layer import get_layer
from ..sender.rpc import get_caller
from ..server.hub import get_hub
from ..server.sockets.sse import SseSink, SseStream, decode_event_id, stream_backlog
from ..tokens import verify_client_proof
from . import tickets

Receive = Any
Send = Any

#: The client frames a POST may carry.
CLIENT_FRAMES = frozenset({"subscribe", "unsubscribe", "message", "ack", "refresh", "ping"})
PROOF_HEADER = b"x-pushapp-proof"
#: Seconds between ``: ping`` comments when ``PING_INTERVAL`` is 0 (proxies still need them).
DEFAULT_HEARTBEAT = 25.0
#: Seconds a cancelled stream's consumer waits for the hub to close it (:meth:`SseApplication._cancelled`).
CANCEL_GRACE = 5.0

STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]


async def respond(send: Send, status: int, body: dict[str, Any] | None = None) -> None:
    """A complete, small response: JSON ``body``, or none (204)."""
    data = b"" if body is None else dumps(body).encode()
    headers = [(b"cache-control", b"no-store")]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body; None when it is over ``limit`` bytes or the client left."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return bytes(body)


async def _watch(receive: Receive, stream: SseStream) -> None:
    """The client leaving ends the stream (ASGI's ``http.disconnect``)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.gone()


async def route(client_id: str, text: str) -> bool:
    """Hand ``text`` to the SSE connection ``client_id``: here, or on the process that holds it (the
    ``sse_frame`` operation, through the channel layer). False when it is nowhere, or not SSE."""
    hub = await get_hub()
    conn = hub.registry.get(client_id)
    if conn is not None:
        return isinstance(conn.handle, SseStream) and conn.handle.feed(text)
    if node_of(client_id) == hub.node_id:
        return False
    caller = await get_caller(get_layer())
    return bool(await caller.call("sse_frame", client_id, text))


def heartbeat_interval() -> float:
    """Seconds between ``: ping`` comments: ``PING_INTERVAL``, but at least twice within the silence the
    hub's sweep allows (``PING_INTERVAL`` x ``PING_NOT_RESPONSE_LIMIT``), since each one is what keeps a
    stream from it."""
    interval, limit = push_settings.PING_INTERVAL, push_settings.PING_NOT_RESPONSE_LIMIT
    if not interval:
        return DEFAULT_HEARTBEAT
    return min(interval, interval * limit / 2) if limit else interval


class SseApplication:
    """``GET <base>`` (the stream) and ``POST <base><client_id>/`` (a client frame)."""

    def __init__(self, consumer: PushConsumer, base: str) -> None:
        self.consumer = consumer
        self.base = base  # e.g. "/ws/push/sse/"

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        rest, method = scope["path"][len(self.base) :], scope.get("method")
        if rest == "" and method == "GET":
            return await self.stream(scope, receive, send)
        if rest.endswith("/") and "/" not in rest[:-1] and method == "POST":
            return await self.post(scope, receive, send, rest[:-1])
        if rest == "" or (rest.endswith("/") and "/" not in rest[:-1]):
            return await respond(send, 405, {"error": "method_not_allowed"})
        return await respond(send, 404, {"error": "not_found"})

    async def stream(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        ticket = (query.get("ticket") or [""])[0]
        identity = await tickets.aredeem(ticket) if ticket else None
        if identity is None:
            return await respond(send, 401, {"error": "bad_ticket"})
        last = _header(scope, b"last-event-id") or (query.get("last_event_id") or [""])[0]
        recover = recover_positions(decode_event_id(last)) if last else None
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
        stream = SseStream(send, self.base, stream_backlog(scope))
        await stream.write(b": pushapp\n\n")  # the head goes out now, not with the welcome
        interval = heartbeat_interval()
        tasks = [
            asyncio.ensure_future(_watch(receive, stream)),
            asyncio.ensure_future(stream.heartbeat(interval)),
        ]
        serving = asyncio.ensure_future(
            self.consumer.serve_authenticated(scope, stream.receive, SseSink, stream, identity, recover)
        )
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            await self._cancelled(stream, serving, tasks[0])
            raise
        finally:
            for task in tasks:
                task.cancel()
            if not stream.ended:  # the client left: there is nobody to tell
                stream.gone()
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _cancelled(
        stream: SseStream, serving: asyncio.Future[None], watch: asyncio.Future[None]
    ) -> None:
        """Daphne cancels every application as it shuts down, before the hub's stop reaches them. The
        client hears 1012 at once; the consumer goes on until the hub closes the connection, as a
        WebSocket's would (its cleanup racing the hub's stop would wait on a Redis client being closed),
        or for :data:`CANCEL_GRACE` seconds at most."""
        watch.cancel()  # a client that leaves now must not end the consumer before the hub
        with contextlib.suppress(Exception):
            await stream.end(CloseCode.SERVICE_RESTART)
        try:
            await asyncio.wait_for(asyncio.shield(serving), CANCEL_GRACE)
        except TimeoutError:
            stream.gone()
            await serving

    async def post(self, scope: dict[str, Any], receive: Receive, send: Send, client_id: str) -> None:
        try:
            validate_client_id(client_id)
        except InvalidClientId:
            return await respond(send, 404, {"error": "unknown_client"})
        if not verify_client_proof(client_id, _header(scope, PROOF_HEADER)):
            return await respond(send, 403, {"error": "bad_proof"})
        body = await _read_body(receive, push_settings.MAX_FRAME_SIZE)
        if body is None:
            return await respond(send, 413, {"error": "too_large"})
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return await respond(send, 400, {"error": "bad_json"})
        frame = parse_frame(text)
        if not isinstance(frame, dict):
            return await respond(send, 400, {"error": "bad_json"})
        if frame.get("type") not in CLIENT_FRAMES:
            return await respond(send, 400, {"error": "bad_frame"})
        if not await route(client_id, text):
            return await respond(send, 404, {"error": "unknown_client"})
        await respond(send, 204)
