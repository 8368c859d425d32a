"""One listening socket, two servers: push handshakes to pushapp's own, everything else to daphne.

The front end accepts each connection and reads its request head, nothing more (the socket is watched
with the loop's reader callback, no transport or task is made for it). A WebSocket upgrade (``GET`` with
``Upgrade: websocket``) on the push path becomes a :class:`~pushapp.servers.native.NativeWebSocket`; any
other request is handed, with the bytes already read, to the fallback (daphne's HTTP factory, for
Django's views and any other WebSocket route, and plain HTTP to the push path, which Django answers). So
one port serves the project as before, and each push connection costs what the push path needs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

from .native import HANDSHAKE_SECONDS, MAX_HEAD, ClientAddress, NativeWebSocket, peer_address

logger = logging.getLogger(__name__)

#: Connections accepted per readable event, so one burst of connects does not starve the loop.
ACCEPTS_PER_EVENT = 128
#: Seconds to wait before accepting again when the process is out of descriptors (EMFILE).
ACCEPT_PAUSE = 0.5
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

#: ``fallback(sock, data)``: serve ``sock`` (connected, non-blocking), whose first ``data`` was read.
Fallback = Callable[[socket.socket, bytes], None]


def is_push_handshake(head: bytes, push_path: bytes) -> bool:
    """Whether a request head is a WebSocket upgrade of the push path (with or without a query string)."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[1].split(b"?", 1)[0] != push_path:
        return False
    for header in rest.split(b"\r\n"):
        name, _, value = header.partition(b":")
        if name.lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


class PushFront:
    """Accepts on ``sock`` (a listening socket): push handshakes to ``application`` on pushapp's own
    server, the rest to ``fallback``. :meth:`start` in the running loop; :meth:`close` stops accepting."""

    def __init__(
        self,
        sock: socket.socket,
        application: Any,
        push_path: str,
        fallback: Fallback,
        client_address: ClientAddress = peer_address,
    ) -> None:
        self.sock = sock
        self.application = application
        self.push_path = push_path.encode("latin-1")
        self.fallback = fallback
        self.client_address = client_address
        self.loop: asyncio.AbstractEventLoop | None = None
        sock.setblocking(False)

    def start(self) -> None:
        """Accept on the loop of this thread (Twisted's reactor starts before its asyncio loop runs)."""
        self.loop = asyncio.get_event_loop()
        self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting (the other workers keep accepting on the shared socket); open ones stay."""
        if self.loop is not None and self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_EVENT):
            try:
                conn, _address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as err:
                if err.errno not in _OUT_OF_RESOURCES:
                    raise
                # Out of descriptors: leave the rest in the backlog for a while instead of spinning.
                logger.warning("pushapp: cannot accept connections (%s); pausing %.1f s", err, ACCEPT_PAUSE)
                assert self.loop is not None
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(ACCEPT_PAUSE, self.start)
                return
            conn.setblocking(False)
            _RequestHead(self, conn)


class _RequestHead:
    """Reads a new connection until its request head is complete, then hands it over."""

    __slots__ = ("data", "front", "sock", "timer")

    def __init__(self, front: PushFront, sock: socket.socket) -> None:
        self.front = front
        self.sock = sock
        self.data = b""
        loop = front.loop
        assert loop is not None
        loop.add_reader(sock.fileno(), self._read)
        self.timer = loop.call_later(HANDSHAKE_SECONDS, self._give_up)

    def _done(self) -> None:
        assert self.front.loop is not None
        self.front.loop.remove_reader(self.sock.fileno())
        self.timer.cancel()

    def _give_up(self) -> None:
        self._done()
        self.sock.close()

    def _read(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._give_up()  # gone before saying anything
            return
        data = self.data = self.data + chunk
        end = data.find(b"\r\n\r\n")
        if end < 0 and len(data) <= MAX_HEAD:
            return
        self._done()
        front = self.front
        if end >= 0 and is_push_handshake(data[:end], front.push_path):
            assert front.loop is not None
            front.loop.create_task(self._serve_push(front, self.sock, data))
        else:
            try:
                front.fallback(self.sock, data)
            except Exception:
                logger.exception("pushapp: handing a connection to the HTTP server failed")
                self.sock.close()

    @staticmethod
    async def _serve_push(front: PushFront, sock: socket.socket, data: bytes) -> None:
        assert front.loop is not None
        try:
            await front.loop.connect_accepted_socket(
                lambda: NativeWebSocket(front.application, data, front.client_address), sock
            )
        except OSError:
            sock.close()  # gone meanwhile
