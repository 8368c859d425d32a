"""Frames and close codes of the wire protocol (docs/protocol.md), and payload encoding."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


class CloseCode(IntEnum):
    """WebSocket close codes the server uses; the JS client decides from them whether to reconnect."""

    NORMAL = 1000
    MESSAGE_TOO_BIG = 1009
    SERVICE_RESTART = 1012
    HEARTBEAT_TIMEOUT = 4000
    AUTH_FAILED = 4001
    TOKEN_EXPIRED = 4002
    AUTH_TIMEOUT = 4003
    DESTROYED = 4004
    TOO_SLOW = 4005


#: The answer to a client's ``ping``.
PONG = '{"type":"pong"}'

#: ASGI messages carry a pushed payload as text or bytes: exactly one of the two is set.
Payload = tuple[str | None, bytes | None]


def dumps(value: Any) -> str:
    """JSON as pushapp sends it: compact, unicode kept, datetimes and decimals handled like Django does."""
    return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def encode_payload(data: Any) -> Payload:
    """Encode what Django code pushes, once per send: str and bytes as is, anything else as JSON."""
    if isinstance(data, str):
        return data, None
    if isinstance(data, (bytes, bytearray, memoryview)):
        return None, bytes(data)
    return dumps(data), None


def send_event(payload: Payload) -> dict[str, Any]:
    """The ASGI ``websocket.send`` event for a payload, built once and shared by every recipient."""
    text, data = payload
    if text is not None:
        return {"type": "websocket.send", "text": text}
    return {"type": "websocket.send", "bytes": data}


def close_event(code: int) -> dict[str, Any]:
    return {"type": "websocket.close", "code": int(code)}


def error_frame(code: str, detail: str) -> str:
    return dumps({"type": "error", "code": code, "detail": detail})


def welcome_frame(client_id: str, uid: str | None, ping_interval: float, proof: str) -> str:
    frame = {
        "type": "welcome",
        "client_id": client_id,
        "uid": uid,
        "ping_interval": ping_interval,
        "proof": proof,
    }
    return dumps(frame)
