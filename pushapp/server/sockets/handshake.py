"""The opening handshake of pushapp's own WebSocket server (RFC 6455 section 4.2): parsing the request head
and checking it as daphne's autobahn does, so that both servers give a client the same answer
(docs/protocol.md, docs/native-server.md)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Most bytes of a handshake's request line and headers (larger: 431).
MAX_HEAD = 16384

#: Header lines that many connections send alike (Host, Origin, User-Agent, Upgrade…) parse to one shared
#: (name, value) pair: an idle connection keeps its scope's headers for its whole life. Bounded, so that
#: distinct values cannot grow it; headers that carry secrets or are unique per connection are not kept.
SHARED_HEADERS_MAX = 4096
_PRIVATE = frozenset({b"authorization", b"cookie", b"sec-websocket-key", b"sec-websocket-protocol"})
_shared: dict[bytes, tuple[bytes, bytes]] = {}

_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


class HandshakeError(Exception):
    """A request that is not a WebSocket handshake pushapp accepts: answered with ``status``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def parse_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The request target and headers (names lowercased) of a WebSocket handshake; HandshakeError when it
    is not one (RFC 6455 section 4.2.1)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        raise HandshakeError(400, "not an HTTP request line")
    if parts[0] != b"GET":
        raise HandshakeError(405, "a WebSocket handshake is a GET")
    if parts[2] != b"HTTP/1.1":  # an HTTP/1.0 client or proxy knows no Upgrade (RFC 6455 section 4.2.1)
        raise HandshakeError(505, "a WebSocket handshake is an HTTP/1.1 request")
    headers = []
    for line in lines[1:]:
        pair = _shared.get(line)
        if pair is None:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise HandshakeError(400, "malformed header line")
            pair = (name.lower(), value.strip(b" \t"))
            if pair[0] not in _PRIVATE and len(_shared) < SHARED_HEADERS_MAX:
                _shared[line] = pair
        headers.append(pair)
    return parts[1], headers


def header_values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name]


def _one(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """A header that may appear once; HandshakeError when it appears more often."""
    found = header_values(headers, name)
    if len(found) > 1:
        raise HandshakeError(400, f"{name.decode()} appears more than once")
    return found[0] if found else None


def tokens(value: bytes | None) -> list[bytes]:
    """The lowercased items of a comma-separated header value (``Connection``, ``Upgrade``)."""
    return [token.strip().lower() for token in (value or b"").split(b",")]


def check_upgrade(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, list[str]]:
    """The client's key and offered subprotocols, once the headers are those of a version 13 WebSocket
    upgrade. Refusals answer as daphne's autobahn does (docs/protocol.md): 400, naming the version spoken
    when the version is wrong."""
    if _one(headers, b"host") is None:
        raise HandshakeError(400, "no Host header")
    if b"websocket" not in tokens(b",".join(header_values(headers, b"upgrade"))):
        raise HandshakeError(400, "Upgrade does not say websocket")
    if b"upgrade" not in tokens(b",".join(header_values(headers, b"connection"))):
        raise HandshakeError(400, "Connection does not say Upgrade")
    if _one(headers, b"sec-websocket-version") != b"13":
        raise HandshakeError(400, "only WebSocket version 13 is spoken")
    key = (_one(headers, b"sec-websocket-key") or b"").strip()
    try:
        valid = len(key) == 24 and len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HandshakeError(400, "Sec-WebSocket-Key is not 16 bytes in base64")
    offered = b",".join(header_values(headers, b"sec-websocket-protocol"))
    protocols = [p.strip().decode("latin-1") for p in offered.split(b",")] if offered else []
    if len(set(protocols)) != len(protocols):
        raise HandshakeError(400, "a subprotocol is offered twice")
    origin = _one(headers, b"origin")
    if origin is not None and not _has_host(origin.strip().decode("latin-1")):
        raise HandshakeError(400, "the Origin header has no host")
    return key, protocols


def _has_host(origin: str) -> bool:
    """Whether an Origin is ``null``, a file URL or names a host (the allowed hosts are checked later)."""
    if origin.lower() == "null":
        return True
    try:
        parts = urlsplit(origin)
        return parts.scheme.lower() == "file" or bool(parts.hostname)
    except ValueError:
        return False


def http_error(status: int, detail: str, extra: bytes = b"") -> bytes:
    body = (detail + "\n").encode("utf-8", "replace")
    return (
        (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode("latin-1")
        + extra
        + b"\r\n"
        + body
    )
