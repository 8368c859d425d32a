"""pushapp's own WebSocket server (``pushserve --push-server native``), in this process over real sockets.

An echo application stands in for pushapp's, so these tests pin the protocol itself: the handshake, the
frames a client may send and the close codes RFC 6455 gives for what it may not. The same server behind
a real pushserve worker, with pushapp's application on Redis, goes through the fuzz suite
(``tests/test_fuzz.py``, ``server_kind``) and the pushserve tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pushapp.codes import CloseCode
from pushapp.server.limits import FrameRate
from pushapp.server.sockets import front as front_module
from pushapp.server.sockets import socket_of
from pushapp.server.sockets.front import PushFront
from pushapp.server.sockets.handshake import MAX_HEAD, accept_key
from pushapp.server.sockets.native import MAX_PENDING_EVENTS, NativeSink, NativeWebSocket, unmask
from tests.support.frame_rate import Tokens
from tests.support.rawws import Handshake, client_frame, close_code

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Echo:
    """Accepts, then sends every message back; records what it was given."""

    def __init__(self, accept: bool = True, read: asyncio.Event | None = None) -> None:
        self.accept = accept
        self.read = read  # set: the application reads; clear: it does not (yet)
        self.events: list[dict[str, Any]] = []
        self.scopes: list[dict[str, Any]] = []
        self.sends: list[Any] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        self.sends.append(send)
        assert (await receive())["type"] == "websocket.connect"
        if not self.accept:
            await send({"type": "websocket.close"})
            return
        await send({"type": "websocket.accept", "subprotocol": "pushapp" if scope["subprotocols"] else None})
        while True:
            if self.read is not None:
                await self.read.wait()
            event = await receive()
            self.events.append(event)
            if event["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": event.get("text"), "bytes": event.get("bytes")})


@pytest.fixture
async def echo() -> AsyncIterator[tuple[Echo, int]]:
    app = Echo()
    server = await asyncio.get_running_loop().create_server(lambda: NativeWebSocket(app), "127.0.0.1", 0)
    yield app, server.sockets[0].getsockname()[1]
    server.close()


def handshake(port: int, path: str = "/ws/push/", **headers: str | None) -> bytes:
    return Handshake(path=path, headers=headers).request(port)


_opened: list[asyncio.StreamWriter] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while _opened:
        writer = _opened.pop()
        writer.close()
        with contextlib.suppress(OSError):  # reset by the server: closed all the same
            await writer.wait_closed()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _opened.append(writer)
        self.reader = reader
        self.writer = writer
        self.status = 0
        self.headers: dict[str, str] = {}

    @classmethod
    async def open(
        cls, port: int, request: bytes | None = None, extra: bytes = b"", sock: socket.socket | None = None
    ) -> Client:
        """``sock``: a connected socket to use (e.g. with a small receive buffer)."""
        if sock is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        else:
            reader, writer = await asyncio.open_connection(sock=sock)
        client = cls(reader, writer)
        request = request or handshake(port)
        writer.write(request + extra)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        client.status = int(lines[0].split(" ")[1])
        client.headers = {
            k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if client.status == 101:
            key = next(h for h in request.split(b"\r\n") if h.lower().startswith(b"sec-websocket-key:"))
            assert (
                client.headers["sec-websocket-accept"] == accept_key(key.split(b":", 1)[1].strip()).decode()
            )
        return client

    def send(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        self.writer.write(client_frame(opcode, payload, fin))

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame: unmasked, as servers send them."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), 10)
        assert not second & 0x80, "a server frame must not be masked"
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return first & 0x0F, await self.reader.readexactly(size)

    async def closed_with(self) -> int | None:
        """The code of the close frame that comes next (data frames before it skipped); the server then
        ends the TCP connection."""
        while True:
            opcode, payload = await self.frame()
            if opcode == CLOSE:
                assert await asyncio.wait_for(self.reader.read(), 10) == b""
                return close_code(payload)

    def close(self) -> None:
        self.writer.close()


def test_unmask_is_its_own_inverse() -> None:
    mask = b"\x01\x02\x03\x04"
    data = os.urandom(1001)
    assert unmask(unmask(data, mask), mask) == data
    assert unmask(b"", mask) == b""
    assert unmask(b"\x00\x00\x00\x00\x00", mask) == b"\x01\x02\x03\x04\x01"


async def test_text_binary_and_fragmented_messages_come_through(echo: tuple[Echo, int]) -> None:
    app, port = echo
    client = await Client.open(port, handshake(port, **{"Sec-WebSocket-Protocol": "pushapp, x"}))
    assert client.headers["sec-websocket-protocol"] == "pushapp"
    client.send(TEXT, "héllo".encode())
    assert await client.frame() == (TEXT, "héllo".encode())
    client.send(BINARY, b"\x00\xff")
    assert await client.frame() == (BINARY, b"\x00\xff")
    client.send(TEXT, b"one ", fin=False)
    client.send(PING, b"between")  # control frames may come between fragments
    client.send(CONTINUATION, b"two ", fin=False)
    client.send(CONTINUATION, b"three")
    assert await client.frame() == (PONG, b"between")
    assert await client.frame() == (TEXT, b"one two three")
    client.send(TEXT, b"x" * 70000)  # a 64-bit length
    assert await client.frame() == (TEXT, b"x" * 70000)
    client.send(CLOSE, struct.pack("!H", 1000) + b"bye")
    assert await client.closed_with() == 1000
    await _until(lambda: app.events[-1:] == [{"type": "websocket.disconnect", "code": 1000}])
    scope = app.scopes[0]
    assert (scope["type"], scope["path"], scope["subprotocols"]) == (
        "websocket",
        "/ws/push/",
        ["pushapp", "x"],
    )
    assert scope["client"][0] == "127.0.0.1"


async def test_frames_sent_before_the_101_are_read_after_it(echo: tuple[Echo, int]) -> None:
    _, port = echo
    client = await Client.open(port, extra=client_frame(TEXT, b"early"))
    assert await client.frame() == (TEXT, b"early")
    client.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes([0x81, 0x02]) + b"hi", 1002),  # not masked
        (bytes([0xC1]) + client_frame(TEXT, b"hi")[1:], 1002),  # a reserved bit: no extension agreed
        (client_frame(0x3, b"?"), 1002),  # a reserved opcode
        (client_frame(PING, b"x", fin=False), 1002),  # a fragmented control frame
        (client_frame(PING, b"x" * 126), 1002),  # a control frame over 125 bytes
        (client_frame(CONTINUATION, b"x"), 1002),  # nothing to continue
        (client_frame(TEXT, b"a", fin=False) + client_frame(TEXT, b"b"), 1002),  # a message inside one
        (client_frame(TEXT, b"\xff\xfe"), 1007),  # not UTF-8
        (client_frame(TEXT, b"x" * ((1 << 20) + 1)), 1009),  # over the limit
        (client_frame(CLOSE, b"\x03"), 1002),  # a one-byte close payload
        (client_frame(CLOSE, struct.pack("!H", 999)), 1002),  # a code no one may send
        (client_frame(CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),  # a reason that is not UTF-8
    ],
    ids=[
        "unmasked",
        "rsv",
        "opcode",
        "fragmented-ping",
        "long-ping",
        "continuation",
        "nested",
        "utf8",
        "too-big",
        "short-close",
        "bad-code",
        "bad-reason",
    ],
)
async def test_protocol_violations_close_with_the_rfc_code(
    echo: tuple[Echo, int], frame: bytes, code: int
) -> None:
    app, port = echo
    bystander = await Client.open(port)
    client = await Client.open(port)
    client.writer.write(frame)
    assert await client.closed_with() == code
    bystander.send(TEXT, b"still here")
    assert await bystander.frame() == (TEXT, b"still here")
    bystander.close()
    await _until(lambda: {"type": "websocket.disconnect", "code": code} in app.events)


async def test_the_application_sets_the_message_limit(echo: tuple[Echo, int]) -> None:
    app, port = echo
    client = await Client.open(port)
    kind, handle = socket_of(app.scopes[0], app.sends[0])
    assert kind is NativeSink
    kind.limit_frame_size(handle, 10)
    client.send(TEXT, b"x" * 10)
    assert await client.frame() == (TEXT, b"x" * 10)
    client.send(TEXT, b"x" * 6, fin=False)
    client.send(CONTINUATION, b"x" * 5)  # 11 bytes in all
    assert await client.closed_with() == 1009


async def test_a_server_close_waits_for_the_clients_answer_then_ends(echo: tuple[Echo, int]) -> None:
    app, port = echo
    client = await Client.open(port)
    _, handle = socket_of(app.scopes[0], app.sends[0])
    handle.close(4004, "bye")
    opcode, payload = await client.frame()
    assert (opcode, close_code(payload), payload[2:]) == (CLOSE, 4004, b"bye")
    client.send(TEXT, b"ignored")  # what a client sends after the server's close frame is not read
    client.send(CLOSE, struct.pack("!H", 4004))
    assert await asyncio.wait_for(client.reader.read(), 10) == b""
    await _until(lambda: app.events[-1:] == [{"type": "websocket.disconnect", "code": 4004}])
    assert [e for e in app.events if e["type"] == "websocket.receive"] == []


async def test_an_application_that_refuses_answers_403() -> None:
    app = Echo(accept=False)
    server = await asyncio.get_running_loop().create_server(lambda: NativeWebSocket(app), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await Client.open(port)
    assert client.status == 403
    server.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-WebSocket-Version": "8"}, 400),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
        ({"Connection": "keep-alive"}, 400),
        ({"Host": None}, 400),
        ({"Sec-WebSocket-Protocol": "a, a"}, 400),
        ({"Origin": "garbage"}, 400),
    ],
    ids=["version", "key", "connection", "host", "protocol-twice", "origin"],
)
async def test_bad_handshakes_are_answered_with_400(
    echo: tuple[Echo, int], headers: dict[str, str | None], status: int
) -> None:
    app, port = echo
    client = await Client.open(port, handshake(port, **headers))
    assert client.status == status
    assert await asyncio.wait_for(client.reader.read(), 10) != b""  # a body that says why
    assert app.scopes == []


async def test_a_client_that_outpaces_the_application_is_paused_not_lost() -> None:
    """Frames the application has not read pile up only to MAX_PENDING_EVENTS; the socket is then not read
    (TCP pushes back on the client) until it catches up, and nothing is lost."""
    reading = asyncio.Event()
    app = Echo(read=reading)
    server = await asyncio.get_running_loop().create_server(lambda: NativeWebSocket(app), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await Client.open(port)
    total = MAX_PENDING_EVENTS * 20
    for n in range(total):
        client.send(TEXT, str(n).encode())
    await _until(lambda: len(_connection(app).events or ()) >= MAX_PENDING_EVENTS)
    assert len(_connection(app).events or ()) == MAX_PENDING_EVENTS
    reading.set()
    for n in range(total):
        assert await client.frame() == (TEXT, str(n).encode())
    server.close()


def _connection(app: Echo, index: int = 0) -> NativeWebSocket:
    _, handle = socket_of(app.scopes[index], app.sends[index])
    assert isinstance(handle, NativeWebSocket)
    return handle


async def _until(condition: Any, timeout: float = 10) -> None:
    """Wait for ``condition()`` with a deadline, yielding to the loop in between."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- the front end: one port, push handshakes here, the rest to daphne ------------------------------------


async def test_a_shared_front_end_holding_connections_still_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside other workers it waits in proportion to what it holds before accepting (so the least loaded
    answers first), then accepts all the same."""
    monkeypatch.setattr(front_module, "ACCEPT_DELAY_PER_CONNECTION", 0.002)  # from the second one on
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    front = PushFront(listener, Echo(), "/ws/push/", lambda sock, data: sock.close(), shared=True)
    front.start()
    try:
        clients = [await Client.open(port) for _ in range(12)]  # more than one event's share
        assert {client.status for client in clients} == {101}
    finally:
        front.close()


async def test_the_front_end_routes_push_handshakes_here_and_the_rest_to_the_fallback() -> None:
    app = Echo()
    handed: list[bytes] = []

    def fallback(sock: socket.socket, data: bytes) -> None:
        handed.append(data)
        sock.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        sock.close()

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    front = PushFront(listener, app, "/ws/push/", fallback)
    front.start()
    try:
        split = handshake(port, "/ws/push/?v=1")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        _opened.append(writer)
        writer.write(split[:20])  # a head that arrives in pieces
        await writer.drain()
        await asyncio.sleep(0.05)  # let the front end read the first piece on its own
        writer.write(split[20:])
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).startswith(b"HTTP/1.1 101")
        writer.write(client_frame(TEXT, b"through the front"))
        assert (await asyncio.wait_for(reader.readexactly(19), 10))[2:] == b"through the front"
        writer.close()
        assert app.scopes[0]["query_string"] == b"v=1"

        plain = b"GET /ws/push/ HTTP/1.1\r\nHost: x\r\n\r\n"  # no upgrade: Django answers it
        other = handshake(port, "/ws/other/")  # any other WebSocket route: daphne's
        for request in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", plain, other):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            _opened.append(writer)
            writer.write(request)
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 204")
            writer.close()
        assert handed == [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", plain, other]
        assert len(app.scopes) == 1
    finally:
        front.close()


# -- refusals, on the server itself and behind the front end ----------------------------------------------

_HANDED = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture(params=["server", "front"])
async def entry(
    request: pytest.FixtureRequest, echo: tuple[Echo, int]
) -> AsyncIterator[tuple[Echo, int, str]]:
    """The port of pushapp's server: on its own, or behind pushserve's front end, whose fallback (daphne
    there) answers 404 here; and which of the two it is."""
    app, port = echo
    if request.param == "server":
        yield app, port, "server"
        return

    def fallback(sock: socket.socket, data: bytes) -> None:
        sock.sendall(_HANDED)
        sock.close()

    listener = socket.create_server(("127.0.0.1", 0))
    front = PushFront(listener, app, "/ws/push/", fallback)
    front.start()
    yield app, listener.getsockname()[1], "front"
    front.close()


async def test_an_http_1_0_upgrade_is_refused_505(entry: tuple[Echo, int, str]) -> None:
    """RFC 6455 section 4.2.1: the handshake is an HTTP/1.1 request (HTTP/1.0 knows no Upgrade)."""
    app, port, _ = entry
    request = handshake(port).replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    client = await Client.open(port, request)
    assert client.status == 505
    assert app.scopes == []


async def test_an_upgrade_to_anything_but_websocket_is_not_a_websocket(entry: tuple[Echo, int, str]) -> None:
    """The Upgrade token is checked, not a substring: the server refuses it (400), the front end hands it
    to daphne, which serves it as plain HTTP (Django's 404 on the push path)."""
    app, port, kind = entry
    for value in ("not-websocket", "websocketx", "h2c"):
        client = await Client.open(port, handshake(port, Upgrade=value))
        assert client.status == (404 if kind == "front" else 400), value
    client = await Client.open(port, handshake(port, Upgrade="WebSocket, h2c"))  # a list naming it
    assert client.status == 101
    assert len(app.scopes) == 1


async def test_a_head_over_the_limit_is_answered_431_however_it_arrives(entry: tuple[Echo, int, str]) -> None:
    """In one piece, or in pieces that go on after the server has answered: the server keeps reading (and
    dropping) until the client is done, so the answer is not lost to a reset."""
    app, port, _ = entry
    request = handshake(port, **{"X-Padding": "x" * (MAX_HEAD * 2)})
    for pieces in (1, 64):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        _opened.append(writer)
        size = -(-len(request) // pieces)
        for start in range(0, len(request), size):
            writer.write(request[start : start + size])
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # to the end: no reset on the way
        assert answer.startswith(b"HTTP/1.1 431 "), (pieces, answer[:80])
        writer.close()
    assert app.scopes == []


# -- control frames: counted like messages, their answers like pushes ---------------------------------------


async def test_control_frames_count_against_the_frame_rate(echo: tuple[Echo, int]) -> None:
    """Pings, pongs and a close each take a token: past the rate the connection is closed with 4007 and
    nothing more is answered, while another connection is served."""
    app, port = echo
    bystander = await Client.open(port)
    client = await Client.open(port)
    NativeSink.limit_control_frames(_connection(app, 1), Tokens(2))
    client.send(PING, b"1")
    client.send(PONG, b"unasked")  # the second token
    client.send(PING, b"3")
    client.send(PING, b"4")
    assert await client.frame() == (PONG, b"1")
    assert await client.frame() == (CLOSE, struct.pack("!H", CloseCode.RATE_LIMITED))
    client.send(CLOSE, struct.pack("!H", 1000))
    assert await asyncio.wait_for(client.reader.read(), 10) == b""
    bystander.send(PING, b"still here")
    assert await bystander.frame() == (PONG, b"still here")


async def test_pongs_count_against_max_buffered_bytes(echo: tuple[Echo, int], settings: Any) -> None:
    """A client that pings and never reads its pongs is closed with 4005 once more than MAX_BUFFERED_BYTES
    waits unsent to it; nothing is answered after that, so what the server holds for it stays bounded."""
    limit = 65536
    settings.PUSHAPP = {"MAX_BUFFERED_BYTES": limit, "CLIENT_FRAMES_PER_SECOND": 0}
    app, port = echo
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    client = await Client.open(port, sock=sock)
    handle = _connection(app)
    NativeSink.limit_control_frames(handle, FrameRate())
    pings = client_frame(PING, b"p" * 125) * 1000
    deadline = asyncio.get_running_loop().time() + 30
    while handle.backlog() >= 0:  # open
        assert asyncio.get_running_loop().time() < deadline, "not closed in time"
        client.writer.write(pings)
        await client.writer.drain()
    held = handle.transport.get_write_buffer_size()
    assert held <= limit + 127 + 4  # what it held at the limit, one pong and the close frame
    client.writer.write(pings)  # answered no more
    await client.writer.drain()
    await _until(lambda: not handle.buffer)
    assert handle.transport.get_write_buffer_size() <= held
    while (frame := await client.frame())[0] == PONG:
        pass
    assert frame == (CLOSE, struct.pack("!H", CloseCode.TOO_SLOW))
