"""Real WebSocket clients (the ``websockets`` library) for tests against real daphne processes."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from pushapp.tokens import issue_token
from tests.support.communicators import unwrap

ORIGIN = "http://127.0.0.1"  # AllowedHostsOriginValidator wants an Origin in ALLOWED_HOSTS


class PushSocket:
    """One push connection: opened, authenticated and welcomed in the constructor."""

    def __init__(
        self,
        url: str,
        uid: str | int | None = None,
        groups: tuple[str, ...] = (),
        token: str | None = None,
        recover: dict[str, Any] | None = None,
        latest: list[str] | None = None,
    ) -> None:
        self._stack = ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(url, origin=ORIGIN, compression=None, open_timeout=10)  # type: ignore[arg-type]
        )
        auth: dict[str, Any] = {"type": "auth", "token": token or issue_token(uid, groups)}
        if recover is not None:
            auth["recover"] = recover
        if latest is not None:
            auth["latest"] = latest
        self.ws.send(json.dumps(auth))
        self.welcome = self.recv()
        assert self.welcome["type"] == "welcome", self.welcome
        self.client_id: str = self.welcome["client_id"]

    def recv(self, timeout: float = 10) -> Any:
        """The next frame, decoded; a push as its data."""
        message = self.ws.recv(timeout=timeout)
        if isinstance(message, bytes):
            return message
        return unwrap(json.loads(message))

    def recv_frame(self, timeout: float = 10) -> Any:
        """The next text frame as JSON, envelope and all."""
        return json.loads(self.ws.recv(timeout=timeout))

    def recv_until_closed(self, timeout: float = 10) -> tuple[list[Any], int | None]:
        """Every message up to the close, and the close code."""
        messages: list[Any] = []
        try:
            while True:
                messages.append(self.recv(timeout))
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None

    def send(self, frame: Any) -> None:
        self.ws.send(json.dumps(frame))

    def close(self) -> None:
        self._stack.close()


def closed_with(url: str, first_frame: str | None) -> int | None:
    """Open a socket, send ``first_frame`` (if any) and return the close code the server chose."""
    with connect(url, origin=ORIGIN, compression=None) as ws:  # type: ignore[arg-type]
        if first_frame is not None:
            ws.send(first_frame)
        try:
            while True:
                ws.recv(timeout=15)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
