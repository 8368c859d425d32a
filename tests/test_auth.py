"""Pluggable authenticators: a project's own credentials, and the Django session."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client as HttpClient
from django.test import override_settings

from pushapp.auth import BaseAuthenticator
from pushapp.exceptions import AuthenticationFailed
from pushapp.tokens import Identity
from tests.support.communicators import ORIGIN, application, clean_hub, open_socket

pytestmark = [pytest.mark.usefixtures(clean_hub.__name__), pytest.mark.django_db(transaction=True)]


class ApiKeyAuthenticator(BaseAuthenticator):
    """A project's own scheme: a sync authenticate() that uses the ORM."""

    def authenticate(self, scope: dict[str, Any], token: str | None) -> Identity:
        user = User.objects.filter(username=token).first()
        if user is None:
            raise AuthenticationFailed("unknown key")
        return Identity(uid=str(user.pk), groups=("staff",))


@override_settings(PUSHAPP={"AUTHENTICATOR": "tests.test_auth.ApiKeyAuthenticator"})
async def test_custom_sync_authenticator() -> None:
    user = await User.objects.acreate(username="key-1")
    communicator = await open_socket()
    await communicator.send_json_to({"type": "auth", "token": "key-1"})
    welcome = json.loads(await communicator.receive_from())
    assert welcome["uid"] == str(user.pk)
    await communicator.disconnect()
    communicator = await open_socket()
    await communicator.send_json_to({"type": "auth", "token": "key-2"})
    assert (await communicator.receive_output(3))["code"] == 4001


@override_settings(PUSHAPP={"AUTHENTICATOR": "pushapp.auth.SessionAuthenticator"})
async def test_session_authenticator_uses_the_session_cookie() -> None:
    user = await User.objects.acreate(username="sam")

    def login() -> str:
        http = HttpClient()
        http.force_login(user)
        return str(http.cookies["sessionid"].value)

    session_key = await sync_to_async(login)()
    cookie = (b"cookie", f"sessionid={session_key}".encode())
    communicator = WebsocketCommunicator(application(), "/ws/push/", headers=[ORIGIN, cookie])
    assert (await communicator.connect())[0]
    await communicator.send_json_to({"type": "auth", "token": None})
    assert json.loads(await communicator.receive_from())["uid"] == str(user.pk)
    await communicator.disconnect()

    stranger = await open_socket()
    await stranger.send_json_to({"type": "auth", "token": None})
    assert (await stranger.receive_output(3))["code"] == 4001
