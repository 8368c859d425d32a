"""One listening socket, two servers: push handshakes to pushapp's own, everything else to daphne.

The front end accepts each connection and reads its request head, nothing more (the socket is watched
with the loop's reader callback, no transport or task is made for it). A WebSocket upgrade (``GET`` with
``Upgrade: websocket``) on the push path, or a head on it too large to finish reading, becomes a
:class:`~.native.NativeWebSocket`; any other request is handed, with the bytes already read, to the
fallback (daphne's HTTP factory, for Django's views and any other WebSocket route, and plain HTTP to the
push path, which Django answers). So one port serves the project as before, and each push connection
costs what the push path needs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

from .handshake import MAX_HEAD, tokens
from .native import HANDSHAKE_SECONDS, ClientAddress, NativeWebSocket, peer_address

logger = logging.getLogger(__name__)

#: Connections accepted per readable event, so one burst of connects does not starve the loop; fewer
#: when other processes accept on the socket too, so a burst is shared between them.
ACCEPTS_PER_EVENT = 128
SHARED_ACCEPTS_PER_EVENT = 8
#: Seconds to wait before accepting again when the process is out of descriptors (EMFILE).
ACCEPT_PAUSE = 0.5
#: With ``shared=True``, seconds a worker waits per push connection it holds before it accepts: every
#: worker is woken for each new connection and the first to call ``accept()`` gets it, so without this the
#: least busy one (often the same) would take them all while connections trickle in. Waiting in proportion
#: to what it holds lets the one with the fewest answer first. Capped at :data:`MAX_ACCEPT_DELAY`.
ACCEPT_DELAY_PER_CONNECTION = 1e-5
MAX_ACCEPT_DELAY = 0.02
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

#: ``fallback(sock, data)``: serve ``sock`` (connected, non-blocking), whose first ``data`` was read.
Fallback = Callable[[socket.socket, bytes], None]


def is_push_handshake(data: bytes, push_path: bytes) -> bool:
    """Whether a request is pushapp's server's to answer: a ``GET`` of the push path (with or without a
    query string) whose head says ``Upgrade: websocket`` (the token, as daphne routes it), or whose head
    is still not complete at :data:`MAX_HEAD` bytes (the server answers it 431, however it arrived)."""
    end = data.find(b"\r\n\r\n")
    line, _, rest = (data if end < 0 else data[:end]).partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[1].split(b"?", 1)[0] != push_path:
        return False
    if end < 0:
        return True
    for header in rest.split(b"\r\n"):
        name, _, value = header.partition(b":")
        if name.lower() == b"upgrade" and b"websocket" in tokens(value):
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
        shared: bool = False,
    ) -> None:
        """``shared``: other processes accept on the same socket (pushserve's workers)."""
        self.sock = sock
        self.shared = shared
        self.closed = False
        self.application = application
        self.push_path = push_path.encode("latin-1")
        self.fallback = fallback
        self.client_address = client_address
        self.loop: asyncio.AbstractEventLoop | None = None
        self.starting: set[asyncio.Task[None]] = set()  # connections whose transport is being made
        sock.setblocking(False)

    def start(self) -> None:
        """Accept on the loop of this thread (Twisted's reactor starts before its asyncio loop runs)."""
        if self.closed:
            return
        self.loop = asyncio.get_event_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        """Stop accepting (the other workers keep accepting on the shared socket); open ones stay."""
        if self.loop is not None and not self.closed:
            self.loop.remove_reader(self.sock.fileno())
        self.closed = True
        self.sock.close()

    def _readable(self) -> None:
        delay = (
            min(MAX_ACCEPT_DELAY, NativeWebSocket.live * ACCEPT_DELAY_PER_CONNECTION) if self.shared else 0
        )
        if delay <= 0:
            self._accept()
            return
        assert self.loop is not None
        self.loop.remove_reader(self.sock.fileno())  # a worker holding fewer may take it meanwhile
        self.loop.call_later(delay, self._accept_later)

    def _accept_later(self) -> None:
        if not self.closed and self._accept():
            self.start()

    def _accept(self) -> bool:
        """Accept what waits; False when out of descriptors (accepting resumes by itself later)."""
        for _ in range(SHARED_ACCEPTS_PER_EVENT if self.shared else ACCEPTS_PER_EVENT):
            try:
                conn, _address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                break
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
                return False
            conn.setblocking(False)
            _RequestHead(self, conn)
        return True


class _RequestHead:
    """Reads a new connection until its request head is complete, then hands it over."""

    __slots__ = ("data", "front", "sock", "timer")

    def __init__(self, front: PushFront, sock: socket.socket) -> None:
        self.front = front
        self.sock = sock
        self.data = b""
        self.timer: asyncio.TimerHandle | None = None
        if self._read():  # in a connect storm the head is often there already: no reader to register
            return
        loop = front.loop
        assert loop is not None
        loop.add_reader(sock.fileno(), self._read)
        self.timer = loop.call_later(HANDSHAKE_SECONDS, self._give_up)

    def _done(self) -> None:
        if self.timer is not None:
            assert self.front.loop is not None
            self.front.loop.remove_reader(self.sock.fileno())
            self.timer.cancel()

    def _give_up(self) -> None:
        self._done()
        self.sock.close()

    def _read(self) -> bool:
        """Read what has arrived; True once the connection is handed over or closed."""
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk = b""
        if not chunk:
            self._give_up()  # gone before saying anything
            return True
        data = self.data = self.data + chunk
        end = data.find(b"\r\n\r\n")
        if end < 0 and len(data) <= MAX_HEAD:
            return False
        self._done()
        front = self.front
        if is_push_handshake(data, front.push_path):
            assert front.loop is not None
            task = front.loop.create_task(self._serve_push(front, self.sock, data))
            front.starting.add(task)  # the loop holds tasks weakly
            task.add_done_callback(front.starting.discard)
        else:
            try:
                front.fallback(self.sock, data)
            except Exception:
                logger.exception("pushapp: handing a connection to the HTTP server failed")
                self.sock.close()
        return True

    @staticmethod
    async def _serve_push(front: PushFront, sock: socket.socket, data: bytes) -> None:
        assert front.loop is not None
        try:
            await front.loop.connect_accepted_socket(
                lambda: NativeWebSocket(front.application, data, front.client_address), sock
            )
        except OSError:
            sock.close()  # gone meanwhile
