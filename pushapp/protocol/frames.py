"""Frames and close codes of the wire protocol (docs/protocol.md), and payload encoding."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from ..conf import push_settings
from ..exceptions import NestingTooDeep, PayloadTooLarge

#: The answer to a client's ``ping``.
PONG = '{"type":"pong"}'

#: ASGI messages carry a pushed payload as text or bytes: exactly one of the two is set.
Payload = tuple[str | None, bytes | None]


#: How deep the JSON pushapp reads may nest lists and objects: client frames (an auth frame's ``recover``
#: and ``extra`` with them), HTTP API bodies and session values. pushapp's own limit, the same on every
#: Python: the interpreters' parsers give up at depths that moved between releases (3.13 parses deeper).
MAX_JSON_DEPTH = 32

_CONTAINERS = (dict, list, tuple)


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests dicts and lists more than ``limit`` deep (``[]`` is 1 deep). Iterative, so
    a value that would break the interpreter's recursion limit is measured like any other."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, _CONTAINERS):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, _CONTAINERS))
    return False


def loads(text: str | bytes, **options: Any) -> Any:
    """``json.loads`` within ``MAX_JSON_DEPTH``: deeper raises :class:`~pushapp.exceptions.NestingTooDeep`
    (a ``ValueError``) on every Python. Text with fewer brackets than the limit cannot be too deep, so the
    common case costs two counts and no walk."""
    if isinstance(text, str):
        opened = text.count("[") + text.count("{")
    else:
        opened = text.count(b"[") + text.count(b"{")
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise NestingTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH}") from None
    if opened > MAX_JSON_DEPTH and too_deep(value):
        raise NestingTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH}")
    return value


#: One encoder for every push (it keeps no state between calls): building one per call was a fifth of a
#: sync send's cost.
_ENCODER = DjangoJSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> str:
    """JSON as pushapp sends it: compact, unicode kept, datetimes and decimals handled like Django does.
    ``NaN`` and infinities raise ``ValueError``: they are not JSON, and a client could not parse them."""
    return _ENCODER.encode(value)


def encode_payload(data: Any) -> Payload:
    """Encode what Django code pushes, once per send: bytes as is, anything else (a str too) as JSON.
    Bigger than ``MAX_PUSH_SIZE``: :class:`~pushapp.exceptions.PayloadTooLarge`, at the call."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload: Payload = None, bytes(data)
        size = len(payload[1] or b"")
    else:
        text = dumps(data)
        payload = text, None
        size = len(text) if len(text) * 4 <= push_settings.MAX_PUSH_SIZE else len(text.encode("utf-8"))
    if size > push_settings.MAX_PUSH_SIZE:
        raise PayloadTooLarge(
            f"a push of {size} bytes is over PUSHAPP['MAX_PUSH_SIZE'] ({push_settings.MAX_PUSH_SIZE})"
        )
    return payload


def push_frame(
    data: str,
    stream: str | None = None,
    offset: int | None = None,
    epoch: str | None = None,
    version: int | None = None,
) -> str:
    """The text frame of a push: ``{"type": "push", "data": …}``, with the stream position when it has one
    (and the version of a versioned send).

    ``data`` is the payload's JSON, spliced in as is: built once per message, never per recipient.
    """
    if stream is None:
        return '{"type":"push","data":' + data + "}"
    versioned = "" if version is None else f',"version":{int(version)}'
    return (
        f'{{"type":"push","stream":{dumps(stream)},"offset":{offset},"epoch":{dumps(epoch)}{versioned},'
        f'"data":{data}}}'
    )


def bare_text(data: str) -> str:
    """A push as GatewayWorker sends it (``ENVELOPE`` off): a str payload as the text itself."""
    if data.startswith('"'):
        text: str = json.loads(data)
        return text
    return data


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


def welcome_frame(
    client_id: str,
    uid: str | None,
    ping_interval: float,
    proof: str,
    streams: dict[str, tuple[str, int]] | None = None,
    expires: float | None = None,
) -> str:
    """The welcome; ``streams``: the connection's streams with history, ``{stream: (epoch, offset)}``;
    ``expires``: when its token expires (unix seconds), and the connection with it unless refreshed."""
    frame: dict[str, Any] = {
        "type": "welcome",
        "client_id": client_id,
        "uid": uid,
        "ping_interval": ping_interval,
        "proof": proof,
        "envelope": push_settings.ENVELOPE,
        "expires": expires,
    }
    if streams:
        frame["streams"] = {
            name: {"offset": offset, "epoch": epoch} for name, (epoch, offset) in streams.items()
        }
    return dumps(frame)


def recovered_frame(streams: dict[str, bool]) -> str:
    """After the replay asked for in the auth frame: per stream, whether every missed push was sent."""
    return dumps({"type": "recovered", "streams": streams})


def missed_frame(stream: str | None = None) -> str:
    """Pushes may have been lost on ``stream`` (None: on streams without history): refetch."""
    return dumps({"type": "missed"} if stream is None else {"type": "missed", "stream": stream})


def stream_payload(
    payload: Payload, stream: str, epoch: str, offset: int, version: int | None = None
) -> Payload:
    """A push on a stream with history, its position (and version) in the envelope."""
    text = payload[0]
    if text is None:
        return payload
    return push_frame(text, stream, offset, epoch, version), None


def push_payload(payload: Payload) -> Payload:
    """What a pushed payload goes out as: text in the envelope (or bare, with ``ENVELOPE`` off), bytes as
    they are (the server never sends binary frames of its own)."""
    text = payload[0]
    if text is None:
        return payload
    return (push_frame(text) if push_settings.ENVELOPE else bare_text(text)), None


def refreshed_frame(expires: float | None) -> str:
    """The answer to an in-band ``refresh``: the connection now lives until ``expires`` (unix seconds)."""
    return dumps({"type": "refreshed", "expires": expires})


def reconnect_frame(delay: float) -> str:
    """Sent to every connection when its server drains: reconnect ``delay`` seconds from now, and not
    before, even if the connection closes sooner (docs/protocol.md)."""
    return dumps({"type": "reconnect", "delay": round(delay, 3)})
