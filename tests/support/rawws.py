"""A WebSocket client that sends exactly the bytes it is told to, for the fuzz suite: handshakes and frames
no well-behaved library would send (no Origin, a subprotocol alone, invalid UTF-8 in a text frame).

It never checks the server's answer against its request; the tests do that.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA

ORIGIN = "http://127.0.0.1"


class Dropped(Exception):
    """The server ended the TCP connection without a close frame (or reset it)."""


@dataclass
class Handshake:
    """The opening handshake to send; ``headers`` maps a name to its value (None: leave it out)."""

    path: str = "/ws/push/"
    method: str = "GET"
    headers: dict[str, str | None] = field(default_factory=dict)

    def request(self, port: int) -> bytes:
        defaults: dict[str, str | None] = {
            "Host": f"127.0.0.1:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13",
            "Origin": ORIGIN,
        }
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in {**defaults, **self.headers}.items() if v is not None]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class RawSocket:
    """One TCP connection that performed ``handshake``: ``status`` is the HTTP status of the answer (None if
    the server dropped the connection instead), ``headers`` its headers, lower-cased."""

    def __init__(
        self,
        port: int,
        handshake: Handshake | None = None,
        timeout: float = 10,
        sock: socket.socket | None = None,
    ) -> None:
        """``sock``: an unconnected socket to use (e.g. with a small receive buffer)."""
        if sock is None:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        else:
            self.sock = sock
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
        self._buffer = b""
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.sock.sendall((handshake or Handshake()).request(port))
        try:
            head = self._read_until(b"\r\n\r\n", time.monotonic() + timeout)
        except Dropped:
            return
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split(" ", 2)[1])
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError as err:
            raise Dropped("reset") from err
        except TimeoutError as err:
            raise TimeoutError("no answer from the server") from err
        if not chunk:
            raise Dropped("end of stream")
        self._buffer += chunk

    def _read_until(self, marker: bytes, deadline: float) -> bytes:
        while marker not in self._buffer:
            self._fill(deadline)
        head, _, self._buffer = self._buffer.partition(marker)
        return head

    def _read(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._fill(deadline)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        """One client frame, masked as the protocol requires."""
        self.send_bytes(client_frame(opcode, payload, fin))

    def send_bytes(self, data: bytes) -> None:
        """Bytes as they are: frames made by :func:`client_frame`, many at once."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise Dropped("the server is gone") from err

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(TEXT, text.encode("utf-8") if isinstance(text, str) else text)

    def send_json(self, value: Any) -> None:
        self.send_text(json.dumps(value))

    def recv_frame(self, timeout: float = 10) -> tuple[int, bytes]:
        """The next frame from the server: its opcode and payload (fragments are not reassembled)."""
        deadline = time.monotonic() + timeout
        first, second = self._read(2, deadline)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._read(2, deadline))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._read(8, deadline))
        return first & 0x0F, self._read(size, deadline)

    def recv_json(self, timeout: float = 10) -> Any:
        """The next text frame, decoded; a close frame raises :class:`Closed` with its code."""
        opcode, payload = self.recv_frame(timeout)
        if opcode == CLOSE:
            raise Closed(close_code(payload))
        assert opcode == TEXT, (opcode, payload[:100])
        return json.loads(payload)

    def close_code(self, timeout: float = 10) -> int | None:
        """Read to the server's close frame and return its code; None when it dropped the connection instead.
        Frames before it are discarded."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                opcode, payload = self.recv_frame(max(0.0, deadline - time.monotonic()))
                if opcode == CLOSE:
                    return close_code(payload)
        except Dropped:
            return None

    def close(self) -> None:
        self.sock.close()


class Closed(Exception):
    """A close frame arrived where a text frame was expected."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame (clients must mask, RFC 6455 5.3); the bench's clients use it too."""
    header = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        header += bytes([0x80 | size])
    elif size < 1 << 16:
        header += bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", size)
    mask = os.urandom(4)
    if not size:
        return header + mask
    repeated = (mask * (size // 4 + 1))[:size]  # one big-int XOR: fast enough for megabytes
    return (
        header
        + mask
        + (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    )


def close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
