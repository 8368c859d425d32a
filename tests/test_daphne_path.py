"""The daphne write path: one pre-encoded frame written to each socket, Twisted's buffer for the rest,
and the slow-client policy (close 4005, counted as dropped), on stand-ins for Twisted's objects."""

from __future__ import annotations

import asyncio

import pytest
from django.test import override_settings

from pushapp.server.hub import Connection, Hub
from pushapp.server.sockets.daphne import DaphneSink, write
from pushapp.server.sockets.outbox import encode_frame


class FakeSocket:
    def __init__(self, takes: int | None) -> None:
        self.takes = takes  # bytes the kernel accepts per send; None: everything
        self.sent = b""

    def send(self, data: bytes) -> int:
        n = len(data) if self.takes is None else min(self.takes, len(data))
        self.sent += data[:n]
        return n


class FakeTransport:
    """The attributes of twisted.internet.tcp.Connection that the write path reads."""

    TLS = False
    connected = True
    disconnecting = False

    def __init__(self, takes: int | None = None) -> None:
        self.socket = FakeSocket(takes)
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataLen = 0
        self.buffered: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.buffered.append(data)
        self._tempDataLen += len(data)


class FakeProtocol:
    STATE_OPEN = 3

    def __init__(self, transport: FakeTransport) -> None:
        self.transport = transport
        self.state = self.STATE_OPEN
        self.closed_with: int | None = None

    def sendCloseFrame(self, code: int, isReply: bool) -> None:
        self.closed_with = code
        self.state = 2


def test_frames() -> None:
    assert encode_frame("hi", None) == b"\x81\x02hi"
    assert encode_frame(None, b"\x00") == b"\x82\x01\x00"
    assert encode_frame("x" * 200, None)[:4] == b"\x81\x7e\x00\xc8"
    assert encode_frame("x" * 70000, None)[:10] == b"\x81\x7f" + (70000).to_bytes(8, "big")


def test_write_goes_to_the_socket_and_buffers_the_rest() -> None:
    whole = FakeTransport()
    assert write(whole, b"abc") == 0
    assert (whole.socket.sent, whole.buffered) == (b"abc", [])
    partial = FakeTransport(takes=1)
    assert write(partial, b"abc") == 2
    assert (partial.socket.sent, partial.buffered) == (b"a", [b"bc"])
    assert write(partial, b"def") == 5  # something is buffered: keep the order, buffer it all
    assert partial.buffered == [b"bc", b"def"]


def daphne_hub() -> tuple[Hub, DaphneSink]:
    hub = Hub(layer=None)  # type: ignore[arg-type]  # the write path never touches the layer
    sink = hub.sinks.of(DaphneSink)
    assert isinstance(sink, DaphneSink)
    return hub, sink


@override_settings(PUSHAPP={"MAX_BUFFERED_BYTES": 10})
async def test_a_client_that_does_not_read_is_closed_4005_and_counted() -> None:
    hub, sink = daphne_hub()
    fast, slow = FakeProtocol(FakeTransport()), FakeProtocol(FakeTransport(takes=0))
    conns = [Connection("f" * 48, None, sink, fast), Connection("s" * 48, None, sink, slow)]
    for conn in conns:
        hub.registry.add(conn)
    await hub.deliver(conns, ("0123456789", None))  # 12 bytes framed: over the limit only if unsent
    await hub.deliver(conns, ("abc", None))
    assert fast.transport.socket.sent == b""  # queued until the end of this loop iteration
    sink.flush()
    assert fast.transport.socket.sent == b"\x81\x0a0123456789\x81\x03abc"  # one write for both
    assert (hub.counters.delivered, hub.counters.dropped, slow.closed_with) == (4, 0, None)
    await hub.deliver(conns, ("next", None))  # the slow one still holds 17 unsent bytes: over the limit
    sink.flush()
    assert (hub.counters.delivered, hub.counters.dropped, hub.counters.dropped_bytes) == (5, 1, 17 + 6)
    await asyncio.gather(*hub._background_tasks)
    assert slow.closed_with == 4005
    assert list(hub.registry.clients) == ["f" * 48]


@override_settings(PUSHAPP={"MAX_BUFFERED_BYTES": 10})
async def test_one_push_larger_than_the_limit_reaches_a_client_that_reads() -> None:
    hub, sink = daphne_hub()
    reader = FakeProtocol(FakeTransport(takes=4))  # takes a little at a time, but takes it
    conn = Connection("r" * 48, None, sink, reader)
    hub.registry.add(conn)
    await hub.deliver([conn], ("x" * 50, None))
    sink.flush()
    reader.transport.dataBuffer, reader.transport._tempDataLen = b"", 0  # the kernel took the rest
    await hub.deliver([conn], ("more", None))
    sink.flush()
    assert (reader.closed_with, hub.counters.dropped, hub.counters.delivered) == (None, 0, 2)


@pytest.mark.parametrize("state", [2, 1])
async def test_closing_sockets_are_skipped(state: int) -> None:
    hub, sink = daphne_hub()
    protocol = FakeProtocol(FakeTransport())
    protocol.state = state
    await hub.deliver([Connection("a" * 48, None, sink, protocol)], ("x", None))
    sink.flush()
    assert (protocol.transport.socket.sent, hub.counters.delivered) == (b"", 0)


async def test_close_sends_queued_pushes_then_the_message_then_the_close_frame() -> None:
    hub, sink = daphne_hub()
    protocol = FakeProtocol(FakeTransport())
    conn = Connection("c" * 48, None, sink, protocol)
    hub.registry.add(conn)
    await hub.deliver([conn], ("push", None))
    await hub.close(conn, 1000, ("bye", None))
    assert protocol.transport.socket.sent == b"\x81\x04push\x81\x03bye"
    assert protocol.closed_with == 1000
    sink.flush()  # nothing is left queued to follow the close frame
    assert protocol.transport.socket.sent == b"\x81\x04push\x81\x03bye"


async def test_a_drain_also_closes_connections_that_registered_after_it_began() -> None:
    """One accepted just before the socket stopped accepting is still authenticating when the drain takes
    its list; it is told to come back and closed too, not dropped when the process exits."""
    from pushapp.server.hub.drain import Drain

    hub, sink = daphne_hub()
    early, late = FakeProtocol(FakeTransport()), FakeProtocol(FakeTransport())
    hub.registry.add(Connection("e" * 48, None, sink, early))
    drain = Drain(hub, 0)
    running = asyncio.ensure_future(drain.run())
    await asyncio.sleep(0)  # the drain has taken its list
    hub.registry.add(Connection("l" * 48, None, sink, late))
    await running
    assert (early.closed_with, late.closed_with) == (1012, 1012)
    assert b'"reconnect"' in late.transport.socket.sent
