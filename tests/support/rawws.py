"""A WebSocket client on a plain socket, for what a polite client never does: offer odd handshakes, send
without ever reading, read only when the test says so."""

from __future__ import annotations

import base64
import os
import socket
import struct
from urllib.parse import urlsplit


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, unfragmented client-to-server frame (clients must mask, RFC 6455 5.3)."""
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    if not size:
        return head + key
    repeated = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    return head + key + masked


class RawSocket:
    def __init__(
        self, url: str, headers: dict[str, str] | None = None, receive_buffer: int | None = None
    ) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket()
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        self.sock.settimeout(15)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            f"GET {parts.path or '/'} HTTP/1.1",
            f"Host: {parts.hostname}:{parts.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            "Origin: http://127.0.0.1",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.response = head.decode("latin-1")

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self._buffer += chunk
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def send_text(self, text: str | bytes, opcode: int = 0x1) -> None:
        """One frame (``text`` as is when bytes: invalid UTF-8 is the caller's business)."""
        self.sock.sendall(client_frame(opcode, text.encode("utf-8") if isinstance(text, str) else text))

    def frame(self) -> tuple[int, bytes]:
        """The next frame from the server: its opcode and payload."""
        first, second = self._read(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._read(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(size)

    def close_code(self) -> int | None:
        """Read until the server's close frame; its code (None if the connection just ended)."""
        try:
            while True:
                opcode, payload = self.frame()
                if opcode == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        except (ConnectionError, OSError):
            return None

    def close(self) -> None:
        self.sock.close()
