"""The push WebSocket: authenticate, hand the connection to the hub, then read the client's frames.

A plain ASGI application rather than a Channels consumer: Channels' dispatch hops to a thread before
every handler (``aclose_old_connections``), the top cost when fanning out. Deliveries to this connection
never pass through here; the hub writes to ``send`` directly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from typing import Any
from urllib.parse import parse_qs

from .auth import get_authenticator
from .codes import CloseCode
from .conf import push_settings
from .exceptions import AuthenticationFailed
from .history.base import Position
from .presence import get_backend
from .presence.base import Admission
from .protocol.frames import PONG, close_event, error_frame, loads, refreshed_frame
from .protocol.names import new_client_id
from .runtime import telemetry
from .runtime.layer import note_serving
from .runtime.registry import Connection
from .server.hub import Hub, control, get_hub, receipts
from .server.limits import FrameRate, client_ip, gate, report, report_failure
from .server.sockets import Sink, socket_of
from .server.sockets.daphne import name_connections
from .server.subscriptions import SUBSCRIBE, UNSUBSCRIBE
from .server.subscriptions import handle as handle_subscription
from .signals import client_connected, client_disconnected, dispatch, message_received
from .tokens import Identity

logger = logging.getLogger(__name__)

Receive = Any
Send = Any

SUBPROTOCOL = "pushapp"
TOKEN_SUBPROTOCOL_PREFIX = "pushapp.token."


class _Closed(Exception):
    """The connection is over (the client left, or we closed it); nothing more to do."""


def handshake_credentials(scope: dict[str, Any]) -> tuple[str | None, str | None]:
    """A token offered during the handshake, and the subprotocol to accept: ``pushapp`` only if the
    client offered it (accepting one it did not offer fails the handshake)."""
    offered = [value for value in scope.get("subprotocols") or [] if isinstance(value, str)]
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    for value in offered:
        if value.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            # ":" is not allowed in a subprotocol name; the client sends "~" instead.
            return value[len(TOKEN_SUBPROTOCOL_PREFIX) :].replace("~", ":"), subprotocol
    if push_settings.ALLOW_QUERY_TOKEN:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], subprotocol
    return None, subprotocol


#: Streams a client may ask to recover in one auth frame: more than it could belong to is an attack.
MAX_RECOVER_STREAMS = 256


def recover_positions(value: object) -> dict[str, Position] | None:
    """The ``recover`` of an auth frame, ``{stream: {"offset": n, "epoch": "…"}}``; entries that are not
    well formed are left out (they could not be recovered anyway). None when the frame has none."""
    if not isinstance(value, dict):
        return None
    positions = {}
    for stream, position in list(value.items())[:MAX_RECOVER_STREAMS]:
        if not isinstance(position, dict):
            continue
        offset, epoch = position.get("offset"), position.get("epoch")
        if (
            isinstance(stream, str)
            and isinstance(offset, int)
            and not isinstance(offset, bool)
            and 0 <= offset < 2**53
            and isinstance(epoch, str)
            and 0 < len(epoch) <= 64
        ):
            positions[stream] = Position(epoch, offset)
    return positions


def latest_streams(value: object) -> list[str]:
    """The ``latest`` of an auth frame, ``["uid", "group:<name>", …]``: the streams whose last push to send
    after the welcome (docs/delivery.md); ``"uid"`` names the connection's own uid stream. Anything that
    is not a str is left out."""
    if not isinstance(value, list):
        return []
    return [stream for stream in value[:MAX_RECOVER_STREAMS] if isinstance(stream, str)]


async def _refused(reason: str | None, ip: str, kind: type[Sink], handle: Any) -> bool:
    """Close with 4006 when the gate gave a reason to refuse (counted, logged once in a while)."""
    if reason is None:
        return False
    report(reason, f"a connection from {ip}")
    await kind.abort(handle, CloseCode.TOO_MANY_CONNECTIONS)
    return True


async def _refusal(hub: Hub, identity: Identity, client_id: str) -> tuple[str, int] | None:
    """Why a connection that authenticated may not come in, and its close code; None when it may. The
    revocations are the hub's own copy (no round trip); ``MAX_CONNECTIONS_PER_UID`` is checked and
    reserved in one atomic step for the cluster, so concurrent connects cannot all pass a check made
    before any of them was written."""
    if hub.revoked.refuses(identity):
        return "revoked", CloseCode.REVOKED
    cap = push_settings.MAX_CONNECTIONS_PER_UID
    if cap is None or identity.uid is None:
        return None
    if await get_backend().aadmit(Admission(identity.uid, client_id, cap)) == "ok":
        return None
    return "connections_per_uid", CloseCode.TOO_MANY_CONNECTIONS


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


#: A ``\uD800``-``\uDFFF`` escape: half of a surrogate pair, or a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_frame(text: str | None) -> object:
    """A client frame's JSON value; None when it is binary or not JSON. Nesting deeper than
    ``MAX_JSON_DEPTH`` counts as not JSON, the same on every Python. So do ``NaN``, ``Infinity``,
    numbers beyond a float (``1e400``) and lone surrogates (``"\\ud800"``, not Unicode text): echoed back
    in an error frame, they could not be encoded."""
    if text is None:
        return None
    try:
        value = loads(text, parse_float=_finite, parse_constant=_not_json)
        if _SURROGATE_ESCAPE.search(text):  # rare: check that the pairs were pairs
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except ValueError:  # NestingTooDeep and UnicodeEncodeError are ValueErrors
        return None
    return value


def _too_big(text: str, limit: int) -> bool:
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8")) > limit)


class PushConsumer:
    """ASGI application for one push WebSocket connection."""

    def __init__(self) -> None:
        note_serving()  # pushes over the in-memory layer can reach this process now
        name_connections()  # built with the ASGI application: daphne's server is loaded by then

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        token, subprotocol = handshake_credentials(scope)
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        kind, handle = socket_of(scope, send)
        kind.limit_frame_size(handle, push_settings.MAX_FRAME_SIZE)
        rate = FrameRate()  # one per connection: its control frames (the server's) and its messages
        kind.limit_control_frames(handle, rate)
        ip = client_ip(scope)
        if await _refused(gate.enter_unauthenticated(ip), ip, kind, handle):
            return
        try:
            identity, recover, latest = await self._authenticate(scope, receive, send, token)
        except _Closed:
            return
        finally:
            gate.leave_unauthenticated(ip)
        await self.serve_authenticated(scope, receive, kind, handle, identity, recover, rate, latest)

    async def serve_authenticated(
        self,
        scope: dict[str, Any],
        receive: Receive,
        kind: type[Sink],
        handle: Any,
        identity: Identity,
        recover: dict[str, Position] | None,
        rate: FrameRate | None = None,
        latest: list[str] | None = None,
    ) -> None:
        """An authenticated connection, from the per-IP limit on: registered, served, unregistered. A
        WebSocket's comes from :meth:`__call__`; one that authenticated another way (an SSE ticket,
        :mod:`pushapp.sse`) starts here, its client frames read through ``receive``."""
        rate = rate or FrameRate()
        ip = client_ip(scope)
        if await _refused(gate.enter(ip), ip, kind, handle):
            return
        try:
            try:
                hub = await get_hub()
                client_id = new_client_id(hub.node_id)
                refusal = await _refusal(hub, identity, client_id)
                if refusal is not None:
                    report(refusal[0], f"uid {identity.uid!r}")
                    await kind.abort(handle, refusal[1])
                    return
                sink = hub.sinks.of(kind)
                conn = Connection(client_id, identity.uid, sink, handle, identity.expires, identity.session)
                own = [f"uid:{identity.uid}" if stream == "uid" else stream for stream in latest or ()]
                await hub.connect(conn, identity.groups, recover, own)
            except Exception:
                # Redis (the layer or presence) is away: a documented state, not a crash. Clients back off.
                report("unavailable", "the channel layer or presence cannot be reached")
                logger.debug("pushapp: registering a connection failed", exc_info=True)
                await kind.abort(handle, CloseCode.TRY_AGAIN_LATER)
                return
            try:
                await dispatch(
                    client_connected, PushConsumer, client_id=conn.client_id, uid=conn.uid, scope=scope
                )
                await self._serve(hub, conn, receive, scope, rate)
            finally:
                uid = conn.uid
                await control.disconnect(hub, conn)  # already done if the server closed it
                await dispatch(client_disconnected, PushConsumer, client_id=conn.client_id, uid=uid)
        finally:
            gate.leave(ip)

    async def _refresh(self, hub: Hub, conn: Connection, scope: dict[str, Any], token: object) -> None:
        """A new token, in-band: the connection then lives until it expires. It must be for the same uid;
        one that is refused leaves the connection's lifetime as it was."""
        try:
            if not isinstance(token, str):
                raise AuthenticationFailed("a refresh frame carries a token")
            identity = await get_authenticator().aauthenticate(scope, token)
            if identity.uid != conn.uid:
                raise AuthenticationFailed("the token is for another uid")
            if hub.revoked.refuses(identity):
                raise AuthenticationFailed("the token was revoked")
        except AuthenticationFailed as err:
            await conn.sink.send(conn, error_frame("refresh_refused", str(err)))
            return
        conn.expires = identity.expires
        await conn.sink.send(conn, refreshed_frame(conn.expires))

    async def _authenticate(
        self, scope: dict[str, Any], receive: Receive, send: Send, token: str | None
    ) -> tuple[Identity, dict[str, Position] | None, list[str]]:
        recover, latest = None, list[str]()
        if token is None:
            token, recover, latest = await self._auth_frame(receive, send)
        try:
            if token is None and push_settings.ALLOW_ANONYMOUS:
                return Identity(), recover, latest
            return await get_authenticator().aauthenticate(scope, token), recover, latest
        except AuthenticationFailed as err:
            telemetry.stats.auth_failures[type(err).__name__] += 1
            await send(close_event(err.close_code))
            raise _Closed from err

    async def _auth_frame(
        self, receive: Receive, send: Send
    ) -> tuple[str | None, dict[str, Position] | None, list[str]]:
        """Wait for ``{"type": "auth", "token": …, "recover": …, "latest": …}``, the first frame, within
        AUTH_TIMEOUT."""
        try:
            async with asyncio.timeout(push_settings.AUTH_TIMEOUT):  # no task of its own, as wait_for has
                event = await receive()
        except TimeoutError:
            telemetry.stats.auth_failures["AuthTimeout"] += 1
            await send(close_event(CloseCode.AUTH_TIMEOUT))
            raise _Closed from None
        if event["type"] != "websocket.receive":
            raise _Closed
        text = event.get("text")
        if text is not None and _too_big(text, push_settings.MAX_FRAME_SIZE):
            await send(close_event(CloseCode.MESSAGE_TOO_BIG))
            raise _Closed
        frame = parse_frame(text)
        if not isinstance(frame, dict) or frame.get("type") != "auth":
            telemetry.stats.auth_failures["BadAuthFrame"] += 1
            await send(close_event(CloseCode.AUTH_FAILED))
            raise _Closed
        token = frame.get("token")
        recover = recover_positions(frame.get("recover"))
        return (token if isinstance(token, str) else None), recover, latest_streams(frame.get("latest"))

    async def _serve(
        self, hub: Hub, conn: Connection, receive: Receive, scope: dict[str, Any], rate: FrameRate
    ) -> None:
        max_size = push_settings.MAX_FRAME_SIZE
        while True:
            event = await receive()
            if event["type"] != "websocket.receive":
                return  # websocket.disconnect
            conn.last_seen = time.monotonic()
            if conn not in hub.registry:
                continue  # closed by the server; the disconnect event follows
            if not rate.take():
                report("frame_rate", f"client {conn.client_id} sends too fast")
                await hub.close(conn, CloseCode.RATE_LIMITED)
                continue
            text = event.get("text")
            if text is None:
                await conn.sink.send(conn, error_frame("binary_not_supported", "send JSON in text frames"))
                continue
            if _too_big(text, max_size):
                await hub.close(conn, CloseCode.MESSAGE_TOO_BIG)
                continue
            frame = parse_frame(text)
            if not isinstance(frame, dict):
                await conn.sink.send(conn, error_frame("bad_json", "a frame must be a JSON object"))
            elif frame.get("type") == "ping":
                await conn.sink.send(conn, PONG)
            elif frame.get("type") == "message":
                telemetry.stats.client_messages += 1
                try:
                    await dispatch(
                        message_received,
                        PushConsumer,
                        client_id=conn.client_id,
                        uid=conn.uid,
                        data=frame.get("data"),
                    )
                except Exception:  # the project's receiver: its bug, not the connection's end
                    report_failure("a message_received receiver", f"on a message from {conn.client_id}")
            elif frame.get("type") in (SUBSCRIBE, UNSUBSCRIBE):
                await handle_subscription(hub, conn, scope, frame)
            elif frame.get("type") == "ack":
                await receipts.ack(conn, frame)
            elif frame.get("type") == "refresh":
                await self._refresh(hub, conn, scope, frame.get("token"))
            else:
                await conn.sink.send(
                    conn, error_frame("unknown_type", f"unknown frame type {frame.get('type')!r}")
                )
