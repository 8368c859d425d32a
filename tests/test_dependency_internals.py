"""The private and semi-private parts of daphne, Twisted and autobahn that pushapp relies on, one test each.

pushapp goes past the ASGI interface into the server underneath: the Twisted transport behind a
connection, autobahn's frame limits and close frames, daphne's Server and its factories
(pushapp/server/sockets/daphne.py, pushapp/pushserve/process.py). None of that is public API, and CI
installs the newest releases in its matrix. A release that moves one of these internals must fail here,
naming it and the pushapp code that uses it. Otherwise it fails deep inside a slow-client or shutdown
test, or not at all: some uses degrade silently, behind ``getattr`` defaults and ``hasattr`` guards.

The test is parametrized over a table (the id is the dotted name). Each check looks at structure
(``hasattr`` on a real instance, ``inspect.signature``) and, where it can be shown, the behaviour pushapp
relies on; none compares versions. The instances are real. ``daphne.server`` is imported afresh, so it
installs its asyncio reactor, and afterwards the modules it replaced are put back, so the rest of the
session keeps whatever reactor it had. Its ``Server.run()`` builds the factories, serving on a loopback
port that this module's own WebSocket client connects to. Only ``reactor.run()`` is skipped: the module
drives the reactor's asyncio loop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import io
import itertools
import socket
import struct
import sys
import types
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from pushapp.server.sockets.base import EXTENSION
from pushapp.server.sockets.daphne import (
    _EAGER_LOG_ARGUMENTS,
    DaphneSink,
    _lean_protocols,
    adopt_connection,
    buffered_bytes,
    close,
    forwarded_address,
    limit_control_frames,
    limit_message_size,
    name_connections,
    on_shutdown,
    reject,
    write,
)
from pushapp.server.sockets.outbox import encode_frame
from tests.support.frame_rate import Tokens
from tests.support.waiting import await_until

_MISSING = object()
_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # any 16 bytes, base64: RFC 6455's example


class Missing(Exception):
    """An internal is gone, or no longer does what pushapp counts on."""


def attribute(obj: Any, name: str, owner: str) -> Any:
    """``obj.name``, or Missing naming ``owner`` (the dotted name of what should have it)."""
    if not hasattr(obj, name):
        raise Missing(f"{owner} has no attribute {name}")
    return getattr(obj, name)


def parameters(function: Any, expected: list[str], owner: str) -> None:
    """``function`` takes ``expected`` as its parameters, in this order (pushapp passes some positionally)."""
    names = [name for name in inspect.signature(function).parameters if name != "self"]
    if names[: len(expected)] != expected:
        raise Missing(f"{owner} takes ({', '.join(names)}), not ({', '.join(expected)})")


def expect(condition: object, message: str) -> None:
    if not condition:
        raise Missing(message)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, size: int | None = None) -> bytes:
    """A masked client frame; ``size``: the length its header claims (``payload`` may be shorter)."""
    length = len(payload) if size is None else size
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    mask = b"\x11\x22\x33\x44"
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


class Peer:
    """A WebSocket client on a non-blocking loopback socket, driven by the reactor's asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop = loop
        self.sock = sock
        self.data = b""
        self.status = b""  # the status line of the server's answer to the handshake

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def _fill(self) -> bool:
        try:
            chunk = await self.loop.sock_recv(self.sock, 65536)
        except ConnectionError:
            chunk = b""
        self.data += chunk
        return bool(chunk)

    async def read(self, size: int) -> bytes | None:
        """``size`` bytes, or None at the end of the stream."""
        while len(self.data) < size:
            if not await self._fill():
                return None
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    async def head(self) -> bytes:
        """The HTTP response head (up to the blank line)."""
        while b"\r\n\r\n" not in self.data:
            if not await self._fill():
                break
        head, _, self.data = self.data.partition(b"\r\n\r\n")
        return head

    async def frame(self) -> tuple[int, bytes] | None:
        """The next server frame (opcode, payload), or None at the end of the stream."""
        head = await self.read(2)
        if head is None:
            return None
        size = head[1] & 0x7F
        if size >= 126:
            extended = await self.read(2 if size == 126 else 8)
            if extended is None:
                return None
            size = int.from_bytes(extended, "big")
        payload = await self.read(size)
        return None if payload is None else (head[0] & 0x0F, payload)

    async def close_code(self) -> int | None:
        """The code of the close frame the server sends, or None if it ends the stream without one."""
        while (frame := await self.frame()) is not None:
            if frame[0] == 8:
                return int(struct.unpack("!H", frame[1][:2])[0]) if frame[1] else 1005
        return None

    async def ended_within(self, seconds: float) -> bool:
        """Whether the server ends the stream within ``seconds`` (reading and dropping what comes)."""
        try:
            async with asyncio.timeout(seconds):
                while await self._fill():
                    self.data = b""
        except TimeoutError:
            return False
        return True


@dataclass
class Seen:
    """What the application saw of one WebSocket connection, at ``websocket.connect``."""

    scope: dict[str, Any]
    send: Any
    protocol: Any
    pending_handshake: Any  # the handshake_deferred attribute then (or _MISSING)
    state: Any


class Live:
    """daphne's Server, run as pushapp's worker runs it, serving on loopback; built on first use.

    ``import daphne.server`` installs Twisted's asyncio reactor: it is imported afresh (an earlier test may
    have installed Twisted's default reactor, and daphne would then warn), and the modules it replaced are
    put back on :meth:`close`, as are txaio's reactor and autobahn's log helpers.
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.built = False
        self.seen: dict[str, Seen] = {}
        self.sockets: list[socket.socket] = []
        self.ids = itertools.count()
        self.access = io.StringIO()
        self.order: list[str] = []
        self._restore: list[Callable[[], None]] = []

    # Building and tearing down

    def build(self) -> Live:
        if self.error is not None:
            raise Missing(f"daphne could not be started in-process: {self.error!r}") from self.error
        if not self.built:
            try:
                self._build()
            except BaseException as error:
                self.error = error
                raise
            self.built = True
        return self

    def _save_module(self, name: str) -> None:
        saved = sys.modules.pop(name, _MISSING)

        def restore() -> None:
            sys.modules.pop(name, None)
            if saved is not _MISSING:
                sys.modules[name] = saved  # type: ignore[assignment]

        self._restore.append(restore)

    def _save_attribute(self, obj: Any, name: str, *, clear: bool = False) -> None:
        saved = getattr(obj, name, _MISSING)
        if clear and saved is not _MISSING:
            delattr(obj, name)

        def restore() -> None:
            if saved is _MISSING:
                if hasattr(obj, name):
                    delattr(obj, name)
            else:
                setattr(obj, name, saved)

        self._restore.append(restore)

    def module(self) -> Any:
        """``daphne.server``, imported afresh: it installs the asyncio reactor the live server runs on."""
        if not hasattr(self, "daphne_server"):
            import daphne
            import twisted.internet
            import txaio

            for name, helpers in _EAGER_LOG_ARGUMENTS.items():  # _lean_protocols replaces them for good
                with contextlib.suppress(ImportError):  # a module gone: its own check says so
                    helper_module = importlib.import_module(name)
                    for helper in helpers:
                        self._save_attribute(helper_module, helper)
            self._save_module("twisted.internet.reactor")
            self._save_attribute(twisted.internet, "reactor", clear=True)
            self._save_module("daphne.server")
            self._save_attribute(daphne, "server", clear=True)
            module = importlib.import_module("daphne.server")
            self.installed = sys.modules.get("twisted.internet.reactor")
            self.reactor: Any = module.reactor
            self._save_attribute(txaio.config, "loop")
            txaio.config.loop = self.reactor  # autobahn's timers: txaio keeps the first reactor it sees
            module.globalLogBeginner = _NoLogging()  # run() would take over warnings.showwarning
            name_connections()  # as pushapp's consumer does once daphne's server is loaded
            self.daphne_server: Any = module
        return self.daphne_server

    def _build(self) -> None:
        from daphne.access import AccessLogGenerator

        self.module()
        self.server: Any = self.daphne_server.Server(  # the keyword arguments WorkerProcess passes
            self.application,
            endpoints=["adopted"],
            signal_handlers=False,
            action_logger=AccessLogGenerator(self.access),
            websocket_timeout=-1,
            proxy_forwarded_address_header="X-Forwarded-For",
            proxy_forwarded_port_header="X-Forwarded-Port",
            proxy_forwarded_proto_header="X-Forwarded-Proto",
            verbosity=1,
            ready_callable=self._ready,
        )
        self.server.endpoints = []  # as WorkerProcess does: it adopts its socket itself
        self.reactor.run = lambda **kwargs: self.order.append("reactor.run")
        self.run_error: Exception | None = None
        try:
            self.server.run()
        except Exception as error:  # reported by the Server.run and Server.endpoints checks
            self.run_error = error
        finally:
            del self.reactor.run
            asyncio.set_event_loop(None)  # run() made the reactor's loop current; it was not before
        self.port = self.reactor.listenTCP(0, self.server.http_factory, interface="127.0.0.1")

    def _ready(self) -> None:
        self.order.append("ready_callable")
        self.factory_when_ready = getattr(self.server, "http_factory", None)
        self.loop = asyncio.get_event_loop()  # what WorkerProcess._adopt adds its SIGTERM handler to

    def close(self) -> None:
        try:
            if self.built:
                for sock in self.sockets:
                    sock.close()
                self.reactor.disconnectAll()
                self.run(asyncio.sleep(0.05))  # the applications see their disconnect
                self.loop.run_until_complete(cancel_tasks())
                close_reactor(self.reactor, self.loop)
        finally:
            for restore in reversed(self._restore):
                restore()

    # Driving it

    def run(self, coroutine: Coroutine[Any, Any, Any] | asyncio.Future[Any], timeout: float = 5.0) -> Any:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))
        except TimeoutError:
            raise Missing(f"nothing happened within {timeout} s") from None

    async def application(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"served by daphne"})
            return
        await receive()  # websocket.connect
        protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
        pending = getattr(protocol, "handshake_deferred", _MISSING)
        self.seen[scope["path"]] = Seen(scope, send, protocol, pending, getattr(protocol, "state", None))
        kind = scope["path"].split("/")[1]
        if kind == "accept":
            await send({"type": "websocket.accept"})
        elif kind == "reject":
            reject(protocol, 404)
            return
        while (await receive())["type"] != "websocket.disconnect":
            pass

    async def connect(self, address: tuple[str, int] | None = None, *, small: bool = False) -> Peer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(sock)
        if small:  # a client whose kernel holds little: the server's writes back up soon
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        if address is None:
            host = self.port.getHost()
            address = (host.host, host.port)
        await self.loop.sock_connect(sock, address)
        return Peer(self.loop, sock)

    async def websocket(self, kind: str, headers: bytes = b"", *, small: bool = False) -> tuple[Peer, Seen]:
        """A WebSocket connection to path /``kind``/N: ``accept``, ``reject`` (pushapp's reject(send,
        404)) or ``wait`` (never answered). Returns once the handshake is answered (``wait``: once the
        application has seen the connect)."""
        path = f"/{kind}/{next(self.ids)}"
        peer = await self.connect(small=small)
        await peer.send(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {_KEY}\r\nSec-WebSocket-Version: 13\r\n".encode()
            + headers
            + b"\r\n"
        )
        if kind != "wait":
            peer.status = (await peer.head()).partition(b"\r\n")[0]
        await await_until(lambda: path in self.seen, f"the application to see {path}")
        return peer, self.seen[path]

    async def accepted(self, *, small: bool = False) -> tuple[Peer, Any]:
        peer, seen = await self.websocket("accept", small=small)
        expect(peer.status.startswith(b"HTTP/1.1 101"), f"daphne did not accept: {peer.status!r}")
        return peer, seen.protocol

    @functools.cached_property
    def open_seen(self) -> Seen:
        """One open connection that no check closes."""
        seen: Seen = self.build().run(self.websocket("accept"))[1]
        return seen

    @property
    def protocol(self) -> Any:
        return self.open_seen.protocol

    @property
    def transport(self) -> Any:
        return self.open_seen.protocol.transport


async def cancel_tasks() -> None:
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _NoLogging:
    def beginLoggingTo(self, *args: Any, **kwargs: Any) -> None:
        pass


def close_reactor(reactor: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Close a reactor that was never installed: its connections, its waker's pipe, its asyncio loop."""
    reactor.disconnectAll()
    waker = getattr(reactor, "waker", None)
    if waker is not None:
        reactor.removeReader(waker)
        waker.connectionLost(None)
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    world = Live()
    try:
        yield world
    finally:
        world.close()


# The checks. Each takes the live daphne (built on first use) and raises Missing naming what changed.

D = "pushapp/server/sockets/daphne.py"
PROCESS = "pushapp/pushserve/process.py"
SERVER = "daphne.server.Server"
WS = "daphne.ws_protocol.WebSocketProtocol"
AUTOBAHN = "autobahn.websocket.protocol.WebSocketProtocol"
TCP = "twisted.internet.tcp.Server"
REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

#: The keyword arguments WorkerProcess passes to daphne's Server (the live server gets the same).
WORKER_ARGUMENTS = [
    "endpoints",
    "signal_handlers",
    "action_logger",
    "websocket_timeout",
    "proxy_forwarded_address_header",
    "proxy_forwarded_port_header",
    "proxy_forwarded_proto_header",
    "verbosity",
    "ready_callable",
]


def check_installs_reactor(live: Live) -> None:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    live.build()
    expect(
        isinstance(live.installed, AsyncioSelectorReactor),
        f"importing daphne.server installed {live.installed!r}, not Twisted's AsyncioSelectorReactor",
    )
    expect(live.reactor is live.installed, "daphne.server.reactor is not the reactor its import installed")


def check_server_arguments(live: Live) -> None:
    accepted = inspect.signature(live.module().Server.__init__).parameters
    missing = [name for name in WORKER_ARGUMENTS if name not in accepted]
    expect(not missing, f"{SERVER}() takes no {', '.join(missing)}")


def check_run(live: Live) -> None:
    live.build()
    expect(live.run_error is None, f"{SERVER}.run() failed: {live.run_error!r}")
    expect(
        live.order == ["ready_callable", "reactor.run"],
        f"{SERVER}.run() called {live.order}, not ready_callable before reactor.run",
    )
    expect(
        live.factory_when_ready is not None,
        f"{SERVER}.run() calls ready_callable before http_factory is made",
    )
    fired = live.loop.create_future()
    live.reactor.callLater(0, fired.set_result, True)
    try:
        live.run(fired, timeout=2)
    except Missing:
        raise Missing(
            f"the asyncio loop current when {SERVER}.run() calls ready_callable is not the reactor's"
        ) from None


def check_endpoints(live: Live) -> None:
    live.build()
    expect(
        live.run_error is None,
        f"{SERVER}.run() failed with endpoints emptied after __init__ (as WorkerProcess does): "
        f"{live.run_error!r}",
    )
    expect(attribute(live.server, "endpoints", SERVER) == [], f"{SERVER}.endpoints is not what was set")


def check_worker_names(live: Live) -> None:
    """WorkerProcess subclasses daphne's Server: a name daphne takes for itself would be clobbered."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("pushapp.pushserve.process")  # not imported: it binds the reactor
    expect(spec is not None and spec.origin, "pushapp.pushserve.process is gone: update this check")
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "WorkerProcess"]
    expect(classes, f"no class WorkerProcess in {spec.origin}: update this check")
    worker = classes[0]
    names = {node.name for node in worker.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    for node in ast.walk(worker):
        target = isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
        if target and isinstance(node.value, ast.Name) and node.value.id == "self":
            names.add(node.attr)
    names -= {"__init__", "endpoints"}  # endpoints: set on purpose, after daphne's __init__
    daphne_names = set(dir(live.build().server))
    clash = sorted(names & daphne_names)
    expect(not clash, f"{SERVER} now has {', '.join(clash)}, which WorkerProcess sets for its own use")


def check_http_factory(live: Live) -> None:
    factory = attribute(live.build().server, "http_factory", SERVER)
    attribute(factory, "buildProtocol", type(factory).__qualname__)
    status = live.run(http_status(live))
    expect(status.startswith(b"HTTP/1.1 200"), f"{SERVER}.http_factory answered {status!r}, not 200")


def check_connections(live: Live) -> None:
    connections = attribute(live.build().server, "connections", SERVER)
    expect(live.protocol in connections, f"{SERVER}.connections does not hold an open WebSocket's protocol")
    expect(len(connections) >= 1, f"{SERVER}.connections has no len()")


def check_application(live: Live) -> None:
    application = attribute(live.build().server, "application", SERVER)
    expect(application == live.application, f"{SERVER}.application is not the application it serves")


def check_listen_success(live: Live) -> None:
    import logging

    server = live.build().server
    parameters(attribute(server, "listen_success", SERVER), ["port"], f"{SERVER}.listen_success")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = live.reactor.adoptStreamPort(listener.fileno(), listener.family, server.http_factory)
    listener.close()
    records: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Handler()
    logger = logging.getLogger("daphne.server")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        server.listen_success(port)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        port.stopListening()
    line = f"Listening on TCP address 127.0.0.1:{port.getHost().port}"
    expect(line in records, f"{SERVER}.listen_success(port) no longer logs {line!r}: {records}")


def check_websocket_timeout(live: Live) -> None:
    server = live.build().server
    (_, protocol), (control_peer, control) = live.run(live.accepted()), live.run(live.accepted())
    for each in (protocol, control):
        each.duration = lambda: 1e9  # open for ages
    server.websocket_timeout = 0
    try:
        control.check_timeouts()
    finally:
        server.websocket_timeout = -1
    protocol.check_timeouts()
    expect(
        live.run(control_peer.close_code()) == 1000,
        f"{WS}.check_timeouts() did not close a connection older than websocket_timeout=0: "
        "this check cannot tell what -1 does",
    )
    expect(protocol.state == protocol.STATE_OPEN, f"{SERVER}(websocket_timeout=-1) closes old connections")


def check_proxy_headers(live: Live) -> None:
    live.build()
    headers = b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Port: 4433\r\n"
    _, seen = live.run(live.websocket("accept", headers))
    client = list(seen.scope["client"])
    expect(client == ["203.0.113.9", 4433], f"{SERVER}(proxy_forwarded_*_header=...) gave client {client}")
    # A header sent twice: pushapp's own server must read the line daphne reads.
    twice = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-for", b"198.51.100.7")]
    _, seen = live.run(live.websocket("accept", b"".join(b"X-Forwarded-For: %s\r\n" % v for _, v in twice)))
    daphne_reads, ours = seen.scope["client"][0], forwarded_address(twice, None)[0]
    expect(
        ours is not None and daphne_reads == ours[0],
        f"daphne reads {daphne_reads!r} of two X-Forwarded-For lines, pushapp's forwarded_address() {ours!r}",
    )


def check_access_log(live: Live) -> None:
    from daphne.access import AccessLogGenerator

    parameters(AccessLogGenerator.__init__, ["stream"], "daphne.access.AccessLogGenerator")
    parameters(
        AccessLogGenerator.__call__, ["protocol", "action", "details"], "daphne.access.AccessLogGenerator"
    )
    path = live.open_seen.scope["path"]
    with contextlib.suppress(AssertionError):  # not within the deadline: expect() below names what moved
        live.run(await_until(lambda: f"WSCONNECT {path}" in live.access.getvalue(), "the access log"))
    logged = live.access.getvalue()
    expect(
        f"WSCONNECT {path}" in logged, f"daphne.access.AccessLogGenerator wrote no WSCONNECT line: {logged!r}"
    )


def check_create_application(live: Live) -> None:
    from daphne.ws_protocol import WebSocketProtocol

    send = live.open_seen.send
    expect(isinstance(send, functools.partial), f"daphne's ASGI send is {send!r}, not a functools.partial")
    expect(
        send.func == live.server.handle_reply and isinstance(send.args[0], WebSocketProtocol),
        f"daphne's ASGI send is {send!r}, not partial(Server.handle_reply, protocol)",
    )
    named = live.open_seen.scope.get("extensions", {}).get(EXTENSION)
    expect(
        named == (DaphneSink, send.args[0]),
        f"name_connections() did not name the protocol in the scope's extensions: {named!r}",
    )


def check_protocol_module(live: Live) -> None:
    from daphne.ws_protocol import WebSocketProtocol

    kind = type(live.protocol)
    expect(isinstance(live.protocol, WebSocketProtocol), f"daphne's protocol is a {kind!r}")
    expect(kind.__module__ == "daphne.ws_protocol", f"daphne's protocol class now lives in {kind.__module__}")


def check_handshake_deferred(live: Live) -> None:
    from twisted.internet.defer import Deferred

    live.build()
    _, seen = live.run(live.websocket("wait"))
    expect(
        seen.pending_handshake is not _MISSING, f"{WS} has no attribute handshake_deferred while connecting"
    )
    expect(isinstance(seen.pending_handshake, Deferred), f"{WS}.handshake_deferred is not a Deferred")
    expect(
        not hasattr(live.protocol, "handshake_deferred"),
        f"{WS} keeps handshake_deferred once accepted: reject() reads it as a pending handshake",
    )


def check_connection_deny(live: Live) -> None:
    from autobahn.websocket.types import ConnectionDeny

    parameters(ConnectionDeny.__init__, ["code", "reason"], "autobahn.websocket.types.ConnectionDeny")
    peer, _ = live.build().run(live.websocket("reject"))
    status = peer.status
    expect(
        status.startswith(b"HTTP/1.1 404"), f"reject(send, 404) through ConnectionDeny answered {status!r}"
    )


def check_protocol_disconnected(live: Live) -> None:
    server = live.build().server
    parameters(
        attribute(server, "protocol_disconnected", SERVER), ["protocol"], f"{SERVER}.protocol_disconnected"
    )
    _, seen = live.run(live.websocket("reject"))
    details = server.connections.get(seen.protocol)
    expect(
        details is None or "disconnected" in details,
        f"{SERVER}.protocol_disconnected() did not mark a rejected connection disconnected: {details}",
    )


def check_protocol_server(live: Live) -> None:
    server = attribute(live.protocol, "server", WS)
    expect(server is live.server, f"{WS}.server is {server!r}, not daphne's Server")


def check_protocol_factory(live: Live) -> None:
    from daphne.ws_protocol import WebSocketFactory

    factory = attribute(live.protocol, "factory", WS)
    expect(isinstance(factory, WebSocketFactory), f"{WS}.factory is {factory!r}, not a WebSocketFactory")


def check_factory_protocol(live: Live) -> None:
    factory = live.protocol.factory
    original = attribute(factory, "protocol", "daphne.ws_protocol.WebSocketFactory")
    probe = type(original.__name__, (original,), {"__module__": original.__module__})
    factory.protocol = probe
    try:
        _, protocol = live.run(live.accepted())
    finally:
        factory.protocol = original
    expect(
        type(protocol) is probe,
        "daphne.ws_protocol.WebSocketFactory does not build connections from .protocol",
    )


def check_protocol_transport(live: Live) -> None:
    from twisted.internet import tcp

    transport = attribute(live.protocol, "transport", WS)
    expect(isinstance(transport, tcp.Server), f"{WS}.transport is {transport!r}, not a {TCP}")


def check_parse_x_forwarded_for(live: Live) -> None:
    from daphne.utils import parse_x_forwarded_for

    names = ["headers", "address_header_name", "port_header_name", "proto_header_name"]
    parameters(
        parse_x_forwarded_for,
        [*names, "original_addr", "original_scheme"],
        "daphne.utils.parse_x_forwarded_for",
    )
    peer = ["10.0.0.1", 5000]
    headers = [
        (b"x-forwarded-for", b"203.0.113.9, 10.0.0.1"),
        (b"x-forwarded-port", b"8443"),
        (b"x-forwarded-proto", b"https"),
    ]
    found = forwarded_address(headers, peer)
    expect(found == (["203.0.113.9", 8443], "wss"), f"daphne.utils.parse_x_forwarded_for() gave {found}")
    found = forwarded_address([], peer)
    expect(found == (peer, "ws"), f"daphne.utils.parse_x_forwarded_for() without the headers gave {found}")


def check_config_attrs(live: Live) -> None:
    protocol = live.protocol
    names = attribute(type(protocol), "CONFIG_ATTRS", "autobahn.websocket.protocol.WebSocketServerProtocol")
    needed = {"maxMessagePayloadSize", "maxFramePayloadSize", "failByDrop", "closeHandshakeTimeout"}
    expect(needed <= set(names), f"CONFIG_ATTRS lacks {sorted(needed - set(names))}")
    factory = protocol.factory
    lacking = [name for name in names if not hasattr(factory, name)]
    expect(not lacking, f"daphne's WebSocketFactory has no {lacking} (CONFIG_ATTRS)")
    _lean_protocols(factory)
    _, lean = live.run(live.accepted())
    copied = sorted(set(names) & set(vars(lean)))
    expect(not copied, f"autobahn copies {copied} onto each connection though its class carries them")
    expect(
        lean.maxMessagePayloadSize == factory.maxMessagePayloadSize,
        "a lean connection lost the factory's settings",
    )


async def oversized(live: Live, limit: Callable[[Any], None], data: bytes) -> tuple[Any, int | None]:
    """Open a connection, apply ``limit`` to daphne's protocol, send ``data``: the close code received."""
    peer, protocol = await live.accepted()
    limit(protocol)
    await peer.send(data)
    return protocol, await peer.close_code()


def check_max_message(live: Live) -> None:
    def limit(protocol: Any) -> None:
        attribute(protocol, "maxMessagePayloadSize", AUTOBAHN)
        limit_message_size(protocol, 16)

    data = client_frame(0x1, b"x" * 10, fin=False) + client_frame(0x0, b"x" * 10)
    _, code = live.build().run(oversized(live, limit, data))
    expect(
        code == 1009, f"a 20-byte message in two frames over maxMessagePayloadSize=16 got close code {code}"
    )


def check_max_frame(live: Live) -> None:
    def limit(protocol: Any) -> None:
        attribute(protocol, "maxFramePayloadSize", AUTOBAHN)
        limit_message_size(protocol, 16)
        protocol.maxMessagePayloadSize = 0  # no limit: only the frame's applies

    data = client_frame(0x1, b"", size=1 << 20)  # the header alone: refused before the payload comes
    _, code = live.build().run(oversized(live, limit, data))
    expect(code == 1009, f"a 1 MiB frame header over maxFramePayloadSize=16 got close code {code}")


def check_fail_by_drop(live: Live) -> None:
    def limit(protocol: Any) -> None:
        attribute(protocol, "failByDrop", AUTOBAHN)
        limit_message_size(protocol, 16)

    _, code = live.build().run(oversized(live, limit, client_frame(0x1, b"x" * 20)))
    expect(code is not None, f"{AUTOBAHN}.failByDrop=False: the connection was dropped without a close frame")


def check_state_open(live: Live) -> None:
    protocol = live.protocol
    state_open = attribute(type(protocol), "STATE_OPEN", AUTOBAHN)
    expect(
        attribute(protocol, "state", AUTOBAHN) == state_open,
        f"an open connection's state is not {AUTOBAHN}.STATE_OPEN",
    )
    _, seen = live.run(live.websocket("wait"))
    expect(seen.state != state_open, f"a connection still connecting has {AUTOBAHN}.STATE_OPEN")


def check_state(live: Live) -> None:
    _, protocol = live.build().run(live.accepted())
    attribute(protocol, "state", AUTOBAHN)
    close(protocol, 1000)
    expect(protocol.state != protocol.STATE_OPEN, f"{AUTOBAHN}.state stays STATE_OPEN after a close frame")


def check_send_close_frame(live: Live) -> None:
    send_close_frame = attribute(type(live.protocol), "sendCloseFrame", AUTOBAHN)
    names = inspect.signature(send_close_frame).parameters
    expect("code" in names and "isReply" in names, f"{AUTOBAHN}.sendCloseFrame takes ({', '.join(names)})")

    async def scenario() -> int | None:
        peer, protocol = await live.accepted()
        close(protocol, 1012)  # a code autobahn's sendClose() refuses
        return await peer.close_code()

    code = live.run(scenario())
    expect(code == 1012, f"{AUTOBAHN}.sendCloseFrame(code=1012) sent close code {code}")


def check_close_handshake_timeout(live: Live) -> None:
    """Both connections are sent a close frame at once: the one without a linger is dropped after autobahn's
    default timeout, the one that lingers must outlast it."""

    async def scenario() -> tuple[bool, bool]:
        (peer, protocol), (control_peer, control) = await live.accepted(), await live.accepted()
        attribute(protocol, "closeHandshakeTimeout", AUTOBAHN)
        DaphneSink.end(protocol, 1000, 30.0)
        DaphneSink.end(control, 1000, None)
        await peer.close_code()
        await control_peer.close_code()
        return await control_peer.ended_within(5.0), await peer.ended_within(0.5)

    control_dropped, dropped = live.build().run(scenario())
    expect(control_dropped, "a closed connection that never answered was not dropped: this check cannot tell")
    expect(
        not dropped, f"{AUTOBAHN}.closeHandshakeTimeout set on the connection is not what autobahn waits for"
    )


def check_process_control_frame(live: Live) -> None:
    """Two pings are answered, the third is one past the rate: closed with 4007, not answered."""

    async def scenario() -> list[tuple[int, bytes] | None]:
        peer, protocol = await live.accepted()
        attribute(type(protocol), "processControlFrame", AUTOBAHN)
        limit_control_frames(protocol, Tokens(2))
        await peer.send(b"".join(client_frame(0x9, str(n).encode()) for n in range(3)))
        return [await peer.frame() for _ in range(3)]

    frames = live.build().run(scenario())
    closing = (0x8, struct.pack("!H", 4007))
    expect(
        frames == [(0xA, b"0"), (0xA, b"1"), closing],
        f"{AUTOBAHN}.processControlFrame (current_frame.opcode) overridden per connection: got {frames}",
    )


def global_names(module: types.ModuleType) -> set[str]:
    """Every name the module's own functions and methods look up (LOAD_GLOBAL, among others)."""
    names: set[str] = set()
    seen: set[int] = set()

    def code(each: types.CodeType) -> None:
        names.update(each.co_names)
        for const in each.co_consts:
            if isinstance(const, types.CodeType):
                code(const)

    def visit(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, staticmethod | classmethod):
            visit(obj.__func__)
        elif isinstance(obj, property):
            for function in (obj.fget, obj.fset, obj.fdel):
                visit(function)
        elif isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            code(obj.__code__)
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            for value in vars(obj).values():
                visit(value)

    for value in vars(module).values():
        visit(value)
    return names


def log_helper(module_name: str, helper: str) -> Callable[[Live], None]:
    def check(live: Live) -> None:
        module = importlib.import_module(module_name)
        expect(callable(attribute(module, helper, module_name)), f"{module_name}.{helper} is not callable")
        expect(
            helper in global_names(module),
            f"nothing in {module_name} looks {helper} up as a global any more: replacing it changes nothing",
        )

    return check


def check_temp_data_len(live: Live) -> None:
    async def scenario() -> None:
        peer, protocol = await live.accepted()
        transport = protocol.transport
        attribute(transport, "_tempDataLen", TCP)
        first, second = encode_frame("first", None), encode_frame("second", None)
        transport.write(first)  # Twisted holds it until the socket says it is writable
        expect(transport._tempDataLen == len(first), f"{TCP}._tempDataLen does not count an unflushed write")
        left = write(transport, second)
        expect(left == len(first) + len(second), f"write() left {left} bytes buffered, not both frames")
        frames = [await peer.frame(), await peer.frame()]
        expect(frames == [(1, b"first"), (1, b"second")], f"the client got {frames}")
        expect(
            buffered_bytes(transport) == 0, f"{TCP}: {buffered_bytes(transport)} bytes buffered once flushed"
        )

    live.build().run(scenario())


def backlog(name: str) -> Callable[[Live], None]:
    """A client that stops reading: Twisted moves its pending writes to ``dataBuffer`` and counts what it
    has sent with ``offset``. pushapp's write() must then leave every frame to Twisted, or the client gets
    them out of order; buffered_bytes() must see what waits, and nothing once the client has read it all."""

    def check(live: Live) -> None:
        async def scenario() -> None:
            peer, protocol = await live.accepted(small=True)
            transport = protocol.transport
            attribute(transport, name, TCP)
            transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            frames = [encode_frame(f"{i:05d}" + "x" * 16000, None) for i in range(64)]
            for frame in frames[:32]:
                write(transport, frame)
            expect(buffered_bytes(transport) > 0, "512 KB for a client that does not read: nothing buffered?")
            received = await peer.read(65536) or b""  # the socket turns writable: Twisted writes some
            for _ in range(200):
                await asyncio.sleep(0.005)
                if not transport._tempDataLen:
                    break
            waiting = len(transport.dataBuffer) - transport.offset
            expect(
                waiting > 0, f"{TCP}: len(dataBuffer) - offset is {waiting} while the client is not reading"
            )
            for frame in frames[32:]:
                expect(write(transport, frame) > 0, "write() went around the data Twisted still holds")
            total = len(b"".join(frames))
            while len(received) < total:
                chunk = await peer.read(min(65536, total - len(received)))
                expect(chunk is not None, "the connection ended before all frames arrived")
                received += chunk or b""
            expect(received == b"".join(frames), "the client got the frames out of order or changed")
            for _ in range(200):
                if not buffered_bytes(transport):
                    break
                await asyncio.sleep(0.005)
            expect(
                buffered_bytes(transport) == 0,
                f"buffered_bytes() is {buffered_bytes(transport)} once all is read",
            )

        live.build().run(scenario(), timeout=20)

    return check


def check_connected(live: Live) -> None:
    async def scenario() -> None:
        peer, protocol = await live.accepted()
        transport = protocol.transport
        expect(attribute(transport, "connected", TCP), f"{TCP}.connected is false on an open connection")
        peer.sock.close()
        for _ in range(400):
            if not transport.connected:
                break
            await asyncio.sleep(0.005)
        expect(not transport.connected, f"{TCP}.connected stays true after the client went away")
        write(transport, encode_frame("late", None))  # Twisted's write path: no socket error

    live.build().run(scenario())


def check_disconnecting(live: Live) -> None:
    _, protocol = live.build().run(live.accepted())
    transport = protocol.transport
    expect(
        not attribute(transport, "disconnecting", TCP), f"{TCP}.disconnecting is true on an open connection"
    )
    transport.loseConnection()
    expect(transport.disconnecting, f"{TCP}.disconnecting is false after loseConnection()")


def check_tls(live: Live) -> None:
    from twisted.internet import tcp

    attribute(tcp.Server, "TLS", TCP)
    expect(
        attribute(live.transport, "TLS", TCP) is False, f"{TCP}.TLS is not False on a plain TCP connection"
    )


def check_socket(live: Live) -> None:
    async def scenario() -> None:
        peer, protocol = await live.accepted()
        sock = attribute(protocol.transport, "socket", TCP)
        expect(isinstance(sock, socket.socket), f"{TCP}.socket is {sock!r}, not a socket.socket")
        expect(sock.getpeername() == peer.sock.getsockname(), f"{TCP}.socket is not the connection's socket")
        left = write(protocol.transport, encode_frame("direct", None))
        expect(left == 0, f"write() on an idle connection left {left} bytes to Twisted")
        frame = await peer.frame()
        expect(frame == (1, b"direct"), f"the client got {frame}")

    live.build().run(scenario())


async def http_status(live: Live, address: tuple[str, int] | None = None) -> bytes:
    peer = await live.connect(address)
    await peer.send(b"GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    return (await peer.head()).partition(b"\r\n")[0]


def check_adopt_stream_connection(live: Live) -> None:
    attribute(live.build().reactor, "adoptStreamConnection", REACTOR)

    async def scenario() -> bytes:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        peer = await live.connect(listener.getsockname())
        await peer.send(b"GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        sock, _ = await live.loop.sock_accept(listener)
        listener.close()
        sock.setblocking(False)
        head = await live.loop.sock_recv(sock, 65536)  # what pushapp's front end has read
        adopt_connection(live.server.http_factory)(sock, head)
        return (await peer.head()).partition(b"\r\n")[0]

    try:
        status = live.run(scenario(), timeout=5)
    except Missing:
        raise Missing(
            f"{REACTOR}.adoptStreamConnection(): the connection was never answered (pushapp feeds the bytes "
            "it read to the returned transport's .protocol)"
        ) from None
    expect(status.startswith(b"HTTP/1.1 200"), f"an adopted connection was answered {status!r}")


def check_adopt_stream_port(live: Live) -> None:
    adopt = attribute(live.build().reactor, "adoptStreamPort", REACTOR)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    address = listener.getsockname()
    port = adopt(listener.fileno(), listener.family, live.server.http_factory)
    listener.close()  # as WorkerProcess closes its descriptor: Twisted holds a duplicate
    status = live.run(http_status(live, address))
    expect(status.startswith(b"HTTP/1.1 200"), f"a connection to an adopted port was answered {status!r}")
    attribute(port, "stopListening", type(port).__qualname__)()


def shutdown(live: Live) -> dict[str, Any]:
    """pushapp's on_shutdown() on a reactor of its own that runs, then stops: what it saw."""
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    live.build()  # on_shutdown() wants daphne.server imported
    loop = asyncio.new_event_loop()
    reactor = AsyncioSelectorReactor(loop)
    seen: dict[str, Any] = {}

    async def hub_stops() -> None:
        await asyncio.sleep(0.05)
        seen["hub stopped"] = True

    def running() -> None:
        seen["running"] = getattr(reactor, "running", _MISSING)
        seen["registered"] = on_shutdown(hub_stops)
        reactor.stop()

    installed = sys.modules["twisted.internet.reactor"]
    sys.modules["twisted.internet.reactor"] = reactor  # type: ignore[assignment]
    try:
        reactor.callWhenRunning(running)
        reactor.callLater(5, reactor.crash)  # a stuck shutdown ends the check, not the session
        reactor.run(installSignalHandlers=False)
    finally:
        sys.modules["twisted.internet.reactor"] = installed
        close_reactor(reactor, loop)
    return seen


def check_running(live: Live) -> None:
    seen = shutdown(live)
    expect(seen.get("running") is not _MISSING, "twisted.internet.reactor has no attribute running")
    expect(seen.get("running") is True, "twisted.internet.reactor.running is not True once it runs")
    expect(seen.get("registered") is True, "on_shutdown() did not take the running reactor for daphne's")


def check_system_event_trigger(live: Live) -> None:
    seen = shutdown(live)
    expect(seen.get("registered") is True, "on_shutdown() did not register its trigger")
    expect(
        seen.get("hub stopped") is True,
        f"{REACTOR}.addSystemEventTrigger('before', 'shutdown'): it stopped before the Deferred fired",
    )


def check_from_future(live: Live) -> None:
    from twisted.internet.defer import Deferred

    from_future = attribute(Deferred, "fromFuture", "twisted.internet.defer.Deferred")

    async def scenario() -> list[Any]:
        results: list[Any] = []
        from_future(asyncio.ensure_future(asyncio.sleep(0.01, result="done"))).addCallback(results.append)
        return await await_until(lambda: results, "the Deferred's result")

    results = live.build().run(scenario())
    expect(results == ["done"], f"Deferred.fromFuture(future) fired with {results}")


def reactor_method(name: str) -> Callable[[Live], None]:
    def check(live: Live) -> None:
        expect(callable(attribute(live.build().reactor, name, REACTOR)), f"{REACTOR}.{name} is not callable")

    return check


def check_valid_origin(live: Live) -> None:
    from channels.security.websocket import AllowedHostsOriginValidator
    from django.test import override_settings

    with override_settings(ALLOWED_HOSTS=["good.example"], DEBUG=False):
        validator = AllowedHostsOriginValidator(None)
    valid = attribute(validator, "valid_origin", "channels.security.websocket.OriginValidator")
    parameters(valid, ["parsed_origin"], "channels.security.websocket.OriginValidator.valid_origin")
    answers = [valid(urlparse("http://good.example")), valid(urlparse("http://evil.example")), valid(None)]
    expect(answers == [True, False, False], f"valid_origin(good, evil, None) gave {answers}")


@dataclass(frozen=True)
class Internal:
    name: str  # the dotted name: the test id
    used_by: str
    check: Callable[[Live], None]

    def __str__(self) -> str:
        return self.name


INTERNALS = [
    Internal(
        "daphne.server", "pushapp/pushserve/worker.py main() (its asyncio reactor)", check_installs_reactor
    ),
    Internal(f"{SERVER}.__init__", f"{PROCESS} WorkerProcess.__init__()", check_server_arguments),
    Internal(f"{SERVER}.run", f"{PROCESS} WorkerProcess._adopt() (ready_callable)", check_run),
    Internal(f"{SERVER}.endpoints", f"{PROCESS} WorkerProcess.__init__()", check_endpoints),
    Internal(
        f"{SERVER}.<names WorkerProcess sets>", f"{PROCESS} WorkerProcess (a subclass)", check_worker_names
    ),
    Internal(f"{SERVER}.http_factory", f"{PROCESS} WorkerProcess._adopt()", check_http_factory),
    Internal(f"{SERVER}.connections", f"{PROCESS} WorkerProcess.gc (GcPolicy's count)", check_connections),
    Internal(f"{SERVER}.application", f"{PROCESS} WorkerProcess._adopt()", check_application),
    Internal(f"{SERVER}.listen_success", f"{PROCESS} WorkerProcess._adopt()", check_listen_success),
    Internal(f"{SERVER}.websocket_timeout", f"{PROCESS} WorkerProcess.__init__()", check_websocket_timeout),
    Internal(f"{SERVER}.proxy_forwarded_address_header", f"{PROCESS} --proxy-headers", check_proxy_headers),
    Internal("daphne.access.AccessLogGenerator", f"{PROCESS} --access-log", check_access_log),
    Internal(f"{SERVER}.create_application", f"{D} name_connections()", check_create_application),
    Internal(f"{WS}.__module__", f"{D} WebSocketProtocol", check_protocol_module),
    Internal(f"{WS}.handshake_deferred", f"{D} reject()", check_handshake_deferred),
    Internal("autobahn.websocket.types.ConnectionDeny", f"{D} reject()", check_connection_deny),
    Internal(f"{SERVER}.protocol_disconnected", f"{D} reject()", check_protocol_disconnected),
    Internal(f"{WS}.server", f"{D} reject()", check_protocol_server),
    Internal(f"{WS}.factory", f"{D} limit_message_size()", check_protocol_factory),
    Internal(
        "daphne.ws_protocol.WebSocketFactory.protocol", f"{D} _lean_protocols()", check_factory_protocol
    ),
    Internal(f"{WS}.transport", f"{D} DaphneSink.transmit(), backlog()", check_protocol_transport),
    Internal("daphne.utils.parse_x_forwarded_for", f"{D} forwarded_address()", check_parse_x_forwarded_for),
    Internal(
        "autobahn.websocket.protocol.WebSocketServerProtocol.CONFIG_ATTRS",
        f"{D} _lean_protocols()",
        check_config_attrs,
    ),
    Internal(f"{AUTOBAHN}.maxMessagePayloadSize", f"{D} limit_message_size()", check_max_message),
    Internal(f"{AUTOBAHN}.maxFramePayloadSize", f"{D} limit_message_size()", check_max_frame),
    Internal(f"{AUTOBAHN}.failByDrop", f"{D} limit_message_size()", check_fail_by_drop),
    Internal(f"{AUTOBAHN}.STATE_OPEN", f"{D} is_open()", check_state_open),
    Internal(f"{AUTOBAHN}.state", f"{D} is_open(), DaphneSink.backlog()", check_state),
    Internal(f"{AUTOBAHN}.sendCloseFrame", f"{D} close()", check_send_close_frame),
    Internal(f"{AUTOBAHN}.closeHandshakeTimeout", f"{D} DaphneSink.end()", check_close_handshake_timeout),
    Internal(f"{AUTOBAHN}.processControlFrame", f"{D} limit_control_frames()", check_process_control_frame),
    *(
        Internal(
            f"{module}.{helper}", f"{D} _lean_protocols() (_EAGER_LOG_ARGUMENTS)", log_helper(module, helper)
        )
        for module, helpers in _EAGER_LOG_ARGUMENTS.items()
        for helper in helpers
    ),
    Internal(f"{TCP}._tempDataLen", f"{D} write(), buffered_bytes()", check_temp_data_len),
    Internal(f"{TCP}.offset", f"{D} write(), buffered_bytes()", backlog("offset")),
    Internal(f"{TCP}.dataBuffer", f"{D} write(), buffered_bytes()", backlog("dataBuffer")),
    Internal(f"{TCP}.connected", f"{D} write()", check_connected),
    Internal(f"{TCP}.disconnecting", f"{D} write()", check_disconnecting),
    Internal(f"{TCP}.TLS", f"{D} write()", check_tls),
    Internal(f"{TCP}.socket", f"{D} write()", check_socket),
    Internal(f"{REACTOR}.adoptStreamConnection", f"{D} adopt_connection()", check_adopt_stream_connection),
    Internal(f"{REACTOR}.adoptStreamPort", f"{PROCESS} WorkerProcess._adopt()", check_adopt_stream_port),
    Internal(f"{REACTOR}.addSystemEventTrigger", f"{D} on_shutdown()", check_system_event_trigger),
    Internal("twisted.internet.reactor.running", f"{D} on_shutdown()", check_running),
    Internal("twisted.internet.defer.Deferred.fromFuture", f"{D} on_shutdown()", check_from_future),
    *(
        Internal(f"{REACTOR}.{name}", f"{PROCESS} WorkerProcess", reactor_method(name))
        for name in ("callWhenRunning", "callLater", "stop")
    ),
    Internal(
        "channels.security.websocket.OriginValidator.valid_origin",
        "pushapp/asgi.py PushApplication.__call__()",
        check_valid_origin,
    ),
]


@pytest.mark.parametrize("internal", INTERNALS, ids=str)
def test_internal(internal: Internal, live: Live) -> None:
    try:
        internal.check(live)
    except Exception as error:
        detail = str(error) if isinstance(error, Missing) else f"{type(error).__name__}: {error}"
        pytest.fail(f"{internal.name}: {detail} (used by {internal.used_by})", pytrace=False)


def self_signed(directory: Path) -> tuple[str, str]:
    """A key and a certificate for 127.0.0.1, as PEM files (as daphne's ``ssl:`` endpoint takes them)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    key_file, certificate_file = directory / "key.pem", directory / "certificate.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(certificate_file)


def test_write_keeps_a_tls_connection_encrypted(live: Live, tmp_path: Path) -> None:
    """daphne's ``ssl:`` endpoints serve through Twisted's TLS protocol wrapper, which passes every attribute
    it lacks to the TCP transport underneath: ``TLS`` reads False there, so write() sends the frame to the
    raw socket unencrypted and the client's TLS failed. write() now recognises the wrapper
    (``twisted.internet.interfaces.ISSLTransport.providedBy(transport)``) and leaves it to Twisted."""
    pytest.importorskip("OpenSSL")
    import ssl

    from twisted.internet import protocol
    from twisted.internet import ssl as twisted_ssl

    transports: list[Any] = []

    class Served(protocol.Protocol):
        def connectionMade(self) -> None:
            transports.append(self.transport)

    options = twisted_ssl.DefaultOpenSSLContextFactory(*self_signed(tmp_path))
    port = live.build().reactor.listenSSL(
        0, protocol.Factory.forProtocol(Served), options, interface="127.0.0.1"
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    frame = encode_frame("secret", None)

    async def scenario() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port.getHost().port, ssl=context)
        try:
            while not transports:
                await asyncio.sleep(0.005)
            write(transports[0], frame)
            return await reader.readexactly(len(frame))
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    try:
        assert live.run(scenario()) == frame
    finally:
        port.stopListening()
        live.run(asyncio.sleep(0.01))  # the client's close reaches the server


def test_servers_take_the_push_application_for_an_asgi3_application() -> None:
    """PushApplication.__call__ returns the coroutine of the application it picks (no frame of its own
    per open connection) and is marked a coroutine function, as Django's async views are: daphne
    (through asgiref) and uvicorn (asyncio's check before Python 3.14, inspect's after) must see ASGI 3."""
    import inspect
    import sys

    from asgiref.compatibility import is_double_callable

    from tests.asgi import application

    assert not is_double_callable(application), "asgiref would call PushApplication as ASGI 2"
    if sys.version_info < (3, 14):
        assert asyncio.iscoroutinefunction(application.__call__)
    if sys.version_info >= (3, 12):
        assert inspect.iscoroutinefunction(application.__call__)
