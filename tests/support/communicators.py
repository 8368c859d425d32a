"""In-process WebSocket clients for the fast unit tests (in-memory layer, WebsocketCommunicator)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.asgi import get_asgi_application

from pushapp.asgi import push_application
from pushapp.server.hub import stop_hub
from pushapp.tokens import issue_token

ORIGIN = (b"origin", b"http://testserver")


def unwrap(frame: Any) -> Any:
    """A push's data; any other frame (welcome, pong, error, recovered, …) as it is."""
    if isinstance(frame, dict) and frame.get("type") == "push":
        assert set(frame) <= {"type", "data", "stream", "offset", "epoch", "version"}, frame
        return frame["data"]
    return frame


def application() -> Any:
    return push_application(get_asgi_application())


class Client:
    """A connected, welcomed push client."""

    def __init__(self, communicator: WebsocketCommunicator, welcome: dict[str, Any]) -> None:
        self.communicator = communicator
        self.welcome = welcome
        self.client_id: str = welcome["client_id"]

    async def receive(self, timeout: float = 3) -> Any:
        """The next frame, decoded; a push as its data (the envelope is checked by :func:`unwrap`)."""
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        if output.get("text") is not None:
            return unwrap(json.loads(output["text"]))
        return output["bytes"]

    async def receive_frame(self, timeout: float = 3) -> Any:
        """The next text frame as JSON, envelope and all."""
        return json.loads((await self.receive_raw(timeout))["text"])

    async def receive_raw(self, timeout: float = 3) -> dict[str, Any]:
        result: dict[str, Any] = await self.communicator.receive_output(timeout)
        return result

    async def send(self, frame: Any) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def nothing_more(self) -> bool:
        return await self.communicator.receive_nothing(timeout=0.05)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(
    path: str = "/ws/push/", subprotocols: list[str] | None = None
) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application(), path, headers=[ORIGIN], subprotocols=subprotocols)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def connect(
    uid: str | int | None = None,
    groups: tuple[str, ...] = (),
    recover: dict[str, Any] | None = None,
    session_key: str | None = None,
) -> Client:
    communicator = await open_socket()
    auth: dict[str, Any] = {"type": "auth", "token": issue_token(uid, groups, session_key)}
    if recover is not None:
        auth["recover"] = recover
    await communicator.send_to(text_data=json.dumps(auth))
    welcome = json.loads(await communicator.receive_from())
    assert welcome["type"] == "welcome", welcome
    return Client(communicator, welcome)


@pytest.fixture
async def clean_hub() -> AsyncIterator[None]:
    """A fresh hub and an empty in-memory layer for each test."""
    yield
    await stop_hub()
    await get_channel_layer().flush()
