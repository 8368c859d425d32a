"""Test helpers for projects that push: record what Django code sends, and connect as a client.

- :func:`capture_pushes` (and the pytest fixture ``pushes``, registered as the ``pushapp.testing``
  plugin) records every send and per-connection operation made through :mod:`pushapp.gateway`, with
  its kind, targets and data, and carries none of them out: no channel layer, no Redis, no server.
- :class:`PushClient` connects to the push WebSocket in-process (``WebsocketCommunicator``) as a uid,
  with groups, and reads the pushes it gets.

See docs/testing.md.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast
from unittest.mock import ANY

from .protocol import wire
from .protocol.frames import dumps
from .protocol.names import normalize_uid, validate_group
from .sender import capture
from .sender.ops import Op

if TYPE_CHECKING:
    from channels.testing import WebsocketCommunicator

__all__ = ["ANY", "Operation", "PushClient", "Pushes", "Sent", "capture_pushes", "pushes"]

#: Per-connection operations by their ``pushapp.ctl`` name → the gateway function's name.
OPERATION_NAMES = {
    "join": "join_group",
    "leave": "leave_group",
    "bind": "bind_uid",
    "unbind": "unbind_uid",
    "session_get": "get_session",
    "session_set": "set_session",
    "session_update": "update_session",
    "close": "close_client",
    "destroy": "destroy_client",
}

_KINDS = {"cid": "client", "uid": "uid", "grp": "group", "all": "all"}


@dataclass(frozen=True)
class Sent:
    """One send call. ``kind`` is ``"client"``, ``"uid"``, ``"group"`` or ``"all"``; ``to`` the client ids,
    uids or groups (empty for everyone); ``data`` what the client gets, JSON-decoded (bytes as bytes); and
    the delivery options the call gave (docs/delivery.md)."""

    kind: str
    to: tuple[str, ...]
    data: Any
    exclude: tuple[str, ...] = ()
    idempotency_key: str | None = None
    version: int | None = None
    ack_within: float | None = None


@dataclass(frozen=True)
class Operation:
    """One per-connection operation (or ``ungroup``), by its gateway name, with its argument."""

    name: str
    client_id: str | None
    arg: Any = None


def _data(text: str | None, data: bytes | None) -> Any:
    return json.loads(text) if text is not None else data


def _as_sent(op: Op) -> Sent:
    message = cast(wire.Push, op.message)
    return Sent(
        _KINDS[message["k"]],
        tuple(message.get("to") or ()),
        _data(message.get("t"), message.get("b")),
        tuple(message.get("x") or ()),
        op.key,
        message.get("v"),
        op.ack_within,
    )


def _as_client_data(expected: Any) -> Any:
    """What a client would decode from ``expected``: tuples become lists, dates ISO strings."""
    if expected is ANY or isinstance(expected, (bytes, bytearray)):
        return expected
    return json.loads(dumps(expected))


class Pushes:
    """What the code under test sent, with assertions. Operations answer as if every client were online
    (``offline()`` changes that), and sessions set through the gateway are kept, so ``get_session``
    returns them."""

    def __init__(self, deliver: bool = False) -> None:
        self.deliver = deliver
        self.sent: list[Sent] = []
        self.operations: list[Operation] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self._offline: set[str] = set()
        self._lock = threading.Lock()  # sync sends may come from other threads (a view, a worker)

    # -- the recorder side (pushapp.sender.capture) ----------------------------------------------------

    def record_sends(self, ops: list[Op]) -> None:
        """One call's layer operations → one :class:`Sent` (a send to several uids is one call)."""
        sent: Sent | None = None
        operations: list[Operation] = []
        for op in ops:
            message = op.message
            if message["type"] == wire.UNGROUP:
                operations.append(Operation("ungroup", None, message["g"]))
            elif message["type"] == wire.PUSH and not message.get("f"):  # not pushapp's presence frames
                one = _as_sent(op)
                # Several ops of one call: the same message to several layer groups, or client ids
                # split by server.
                sent = one if sent is None else replace(sent, to=tuple(dict.fromkeys(sent.to + one.to)))
        with self._lock:
            if sent is not None:
                self.sent.append(sent)
            self.operations += operations

    def record_operation(self, op: str, client_id: str, arg: Any) -> Any:
        name = OPERATION_NAMES[op]
        if op == "close" and arg is not None:
            arg = _data(arg[0], arg[1])
        with self._lock:
            self.operations.append(Operation(name, client_id, arg))
            online = client_id not in self._offline
            if op == "session_get":
                return dict(self.sessions.get(client_id, {})) if online else None
            if online and op == "session_set":
                self.sessions[client_id] = dict(arg)
            elif online and op == "session_update":
                self.sessions[client_id] = {**self.sessions.get(client_id, {}), **arg}
            elif op in ("close", "destroy"):
                self._offline.add(client_id)
            return online

    # -- for tests ---------------------------------------------------------------------------------------

    def offline(self, *client_ids: str) -> None:
        """Make operations on these client ids answer as for a connection that is gone."""
        with self._lock:
            self._offline.update(client_ids)

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()
            self.operations.clear()

    def sent_to(
        self,
        *,
        to_uid: str | int | None = None,
        to_group: str | None = None,
        to_client: str | None = None,
        to_all: bool = False,
    ) -> list[Sent]:
        """The sends that reach the given uid, group, client id (by name) or everyone."""
        wanted: list[tuple[str, str | None]] = []
        if to_uid is not None:
            wanted.append(("uid", normalize_uid(to_uid)))
        if to_group is not None:
            wanted.append(("group", validate_group(to_group)))
        if to_client is not None:
            wanted.append(("client", to_client))
        if to_all:
            wanted.append(("all", None))
        if len(wanted) != 1:
            raise TypeError("name exactly one of to_uid, to_group, to_client, to_all")
        kind, name = wanted[0]
        with self._lock:
            sent = list(self.sent)
        return [s for s in sent if s.kind == kind and (name is None or name in s.to)]

    def assert_sent(
        self,
        *,
        to_uid: str | int | None = None,
        to_group: str | None = None,
        to_client: str | None = None,
        to_all: bool = False,
        data: Any = ANY,
    ) -> Sent:
        """Assert that something was sent to that target (with ``data``, when given); return it."""
        candidates = self.sent_to(to_uid=to_uid, to_group=to_group, to_client=to_client, to_all=to_all)
        expected = _as_client_data(data)
        for sent in candidates:
            if expected == sent.data:
                return sent
        target = {"to_uid": to_uid, "to_group": to_group, "to_client": to_client, "to_all": to_all or None}
        named = ", ".join(f"{k}={v!r}" for k, v in target.items() if v is not None)
        raise AssertionError(f"nothing was sent with {named}, data={data!r}; sent: {self.sent!r}")

    def assert_nothing_sent(self) -> None:
        with self._lock:
            sent = list(self.sent)
        if sent:
            raise AssertionError(f"expected no sends, got {sent!r}")

    def assert_operation(self, name: str, client_id: str | None = ANY, arg: Any = ANY) -> Operation:
        """Assert that an operation (``"join_group"``, ``"bind_uid"``, …) was made; return it."""
        with self._lock:
            operations = list(self.operations)
        for operation in operations:
            if operation.name == name and client_id == operation.client_id and arg == operation.arg:
                return operation
        raise AssertionError(f"no {name}({client_id!r}, {arg!r}); operations: {operations!r}")


@contextmanager
def capture_pushes(deliver: bool = False) -> Iterator[Pushes]:
    """Record every send and operation made through :mod:`pushapp.gateway` inside the block.

    With ``deliver=False`` (the default) nothing reaches a channel layer; with ``deliver=True`` they are
    recorded and carried out too (for tests that also hold a :class:`PushClient`).
    """
    recorded = Pushes(deliver)
    capture.install(recorded)
    try:
        yield recorded
    finally:
        capture.uninstall(recorded)


try:
    import pytest
except ImportError:  # capture_pushes and PushClient need no pytest; only the fixture does
    pass
else:

    @pytest.fixture
    def pushes() -> Iterator[Pushes]:
        """:func:`capture_pushes` for one test (the ``pushapp.testing`` pytest plugin)."""
        with capture_pushes() as recorded:
            yield recorded


class PushClient:
    """A push connection inside the test's event loop: ``async with PushClient(uid=42) as client``.

    It authenticates with a token for ``uid`` and ``groups``, keeps the welcome frame, and
    :meth:`receive` returns the data of the next push. ``application`` defaults to
    ``push_application(get_asgi_application())``; ``origin`` must be one of ``ALLOWED_HOSTS``
    (Django's test setup adds ``testserver``).
    """

    def __init__(
        self,
        uid: str | int | None = None,
        groups: tuple[str, ...] = (),
        *,
        application: Any = None,
        origin: str = "http://testserver",
    ) -> None:
        self.uid = uid
        self.groups = groups
        self.application = application
        self.origin = origin
        self.welcome: dict[str, Any] = {}
        self._communicator: WebsocketCommunicator | None = None

    @property
    def client_id(self) -> str:
        return str(self.welcome["client_id"])

    async def connect(self) -> PushClient:
        from channels.testing import WebsocketCommunicator
        from django.core.asgi import get_asgi_application

        from .asgi import push_application
        from .conf import push_settings
        from .tokens import issue_token

        application = self.application or push_application(get_asgi_application())
        self._communicator = WebsocketCommunicator(
            application, "/" + push_settings.PATH, headers=[(b"origin", self.origin.encode())]
        )
        connected, _ = await self._communicator.connect()
        if not connected:
            raise AssertionError("the push WebSocket refused the connection (is the origin allowed?)")
        await self.send({"type": "auth", "token": issue_token(self.uid, self.groups)})
        self.welcome = await self.receive_frame()
        if self.welcome.get("type") != "welcome":
            raise AssertionError(f"expected the welcome frame, got {self.welcome!r}")
        return self

    @property
    def communicator(self) -> WebsocketCommunicator:
        if self._communicator is None:
            raise RuntimeError("connect() first")
        return self._communicator

    async def receive_frame(self, timeout: float = 1) -> Any:
        """The next frame as the server sent it, decoded (binary frames as bytes)."""
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            raise AssertionError(f"the server closed the connection with {output.get('code')}")
        if output.get("text") is not None:
            return json.loads(output["text"])
        return output["bytes"]

    async def receive(self, timeout: float = 1) -> Any:
        """The data of the next push; any other frame fails the test."""
        frame = await self.receive_frame(timeout)
        if isinstance(frame, dict) and frame.get("type") == "push":
            return frame.get("data")
        if isinstance(frame, bytes):
            return frame
        raise AssertionError(f"expected a push, got {frame!r}")

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """True if nothing arrives within ``timeout`` seconds."""
        result: bool = await self.communicator.receive_nothing(timeout)
        return result

    async def send(self, frame: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def subscribe(self, group: str) -> Any:
        """Send ``subscribe`` and return the server's answer (``subscribed`` or an ``error``)."""
        await self.send({"type": "subscribe", "group": group})
        return await self.receive_frame()

    async def disconnect(self) -> None:
        if self._communicator is not None:
            await self._communicator.disconnect()
            self._communicator = None

    async def __aenter__(self) -> PushClient:
        return await self.connect()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()
