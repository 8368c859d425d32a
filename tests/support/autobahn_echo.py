"""An echo application on pushapp's own WebSocket server, for Autobahn|Testsuite (``.ci/autobahn``).

``python -m tests.support.autobahn_echo --port N`` serves ``ws://127.0.0.1:N/ws/push/`` until SIGTERM or
SIGINT, and prints ``autobahn_echo: serving ws://HOST:PORT/PATH`` once it accepts (``--port 0``: a free
port, named in that line). Every text message comes back as text, every binary one as binary.

By default the connections go through :class:`~pushapp.server.sockets.front.PushFront`, as under
``pushserve``: the front end reads the request head, then hands the socket and those bytes to
:class:`~pushapp.server.sockets.native.NativeWebSocket` (any other request gets a 404). ``--direct`` serves
``NativeWebSocket`` on a plain asyncio server instead. No Django settings are needed: the server and this
application touch none.

The application lifts the server's message limit (1 MiB until pushapp's consumer sets ``MAX_FRAME_SIZE``)
to ``--max-message``, 16 MiB by default: the largest message of Autobahn's case 9.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pushapp.pushserve.listener import open_listener
from pushapp.server.sockets import socket_of
from pushapp.server.sockets.front import PushFront
from pushapp.server.sockets.native import NativeSink, NativeWebSocket

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: The largest message Autobahn|Testsuite sends (cases 9.1.6 and 9.2.6).
AUTOBAHN_MAX_MESSAGE = 16 * 1024 * 1024

_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class EchoApplication:
    """An ASGI WebSocket application that accepts and sends every message back as it came."""

    def __init__(self, max_message: int = AUTOBAHN_MAX_MESSAGE) -> None:
        self.max_message = max_message

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        if (await receive())["type"] != "websocket.connect":
            return
        sink, handle = socket_of(scope, send)
        if sink is NativeSink:
            sink.limit_frame_size(handle, self.max_message)  # as pushapp's consumer does with MAX_FRAME_SIZE
        await send({"type": "websocket.accept"})
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            if event.get("text") is not None:
                await send({"type": "websocket.send", "text": event["text"]})
            else:
                await send({"type": "websocket.send", "bytes": event.get("bytes") or b""})


def not_found(sock: socket.socket, data: bytes) -> None:
    """The front end's fallback: anything but a WebSocket upgrade of the path gets a 404."""
    with contextlib.suppress(OSError):
        sock.send(_NOT_FOUND)
    sock.close()


async def serve(host: str, port: int, path: str, application: EchoApplication, direct: bool = False) -> None:
    """Serve ``application`` on ``host:port`` until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if direct:
        server = await loop.create_server(lambda: NativeWebSocket(application), host, port)
        bound = server.sockets[0].getsockname()
        close: Callable[[], None] = server.close
    else:
        front = PushFront(open_listener(host, port), application, path, not_found)
        bound = front.sock.getsockname()
        front.start()
        close = front.close
    where = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(f"autobahn_echo: serving ws://{where}:{bound[1]}{path}", flush=True)
    try:
        await stop.wait()
    finally:
        close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.autobahn_echo",
        description="An echo application on pushapp's own WebSocket server.",
    )
    parser.add_argument("--port", type=int, required=True, help="port to listen on; 0 for a free one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/ws/push/", help="the push path the front end serves")
    parser.add_argument(
        "--max-message",
        type=int,
        default=AUTOBAHN_MAX_MESSAGE,
        help="largest message in bytes (default 16 MiB, Autobahn's largest)",
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="NativeWebSocket on a plain asyncio server, without the front end",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.host, args.port, args.path, EchoApplication(args.max_message), args.direct))
    return 0


if __name__ == "__main__":
    sys.exit(main())
