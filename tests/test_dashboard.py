"""The staff dashboard's views in one process: who may see it, the search, and the two actions.

tests/test_dashboard_browser.py drives it in real Chromium against a real pushserve.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from pushapp import gateway
from pushapp.observe.dashboard import views
from pushapp.runtime.telemetry import WATCH_GROUP
from pushapp.server.hub import running_hub
from pushapp.tokens import verify_token
from tests.support.communicators import clean_hub, connect

pytestmark = pytest.mark.usefixtures(clean_hub.__name__)

STAFF = SimpleNamespace(is_authenticated=True, is_active=True, is_staff=True, pk=99)


def call(view: Any, method: str = "get", user: Any = STAFF, **data: str) -> HttpResponse:
    request = getattr(RequestFactory(), method)("/pushapp/dashboard/", data)
    request.user = user
    response: HttpResponse = view(request)
    return response


def notice(response: HttpResponse) -> str:
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)["notice"][0]


def test_anonymous_users_log_in_and_other_users_are_refused() -> None:
    anonymous = SimpleNamespace(is_authenticated=False)
    response = call(views.dashboard, user=anonymous)
    assert response.status_code == 302
    assert "/login/" in response["Location"] or "login" in response["Location"]
    with pytest.raises(PermissionDenied):
        call(views.dashboard, user=SimpleNamespace(is_authenticated=True, is_active=True, is_staff=False))
    with pytest.raises(PermissionDenied):
        call(views.send, "post", user=SimpleNamespace(is_authenticated=True, is_active=True, is_staff=False))


async def test_the_page_shows_the_nodes_and_watches_over_pushapp() -> None:
    ann = await connect(uid="ann", groups=("lobby",))
    hub = running_hub()
    assert hub is not None
    html = (await sync_to_async(call)(views.dashboard)).content.decode()
    assert f'data-node="{hub.node_id}"' in html
    assert "<td>lobby</td>" in html
    token = html.split('data-token="', 1)[1].split('"', 1)[0]
    assert verify_token(token).groups == (WATCH_GROUP,)  # the page's connection receives the live reports
    await ann.close()


async def test_search_by_uid_and_by_client_id_shows_groups_and_session() -> None:
    ann = await connect(uid="ann", groups=("lobby", "room"))
    assert await gateway.aset_session(ann.client_id, {"plan": "pro"})
    for query in ("ann", ann.client_id):
        html = (await sync_to_async(call)(views.dashboard, q=query)).content.decode()
        assert f'data-client-id="{ann.client_id}"' in html
        assert '<td class="groups">lobby, room</td>' in html
        assert "{&#x27;plan&#x27;: &#x27;pro&#x27;}" in html
    html = (await sync_to_async(call)(views.dashboard, q="nobody")).content.decode()
    assert 'id="no-results"' in html


async def test_send_a_test_message_and_disconnect() -> None:
    ann = await connect(uid="ann", groups=("room",))
    sent = await sync_to_async(call)(views.send, "post", target="uid", name="ann", message="hello ann")
    assert notice(sent) == "sent to uid 'ann'"
    assert await ann.receive() == "hello ann"
    sent = await sync_to_async(call)(views.send, "post", target="group", name="room", message="hello room")
    assert notice(sent) == "sent to group 'room'"
    assert await ann.receive() == "hello room"
    assert notice(
        await sync_to_async(call)(views.send, "post", target="nope", name="x", message="m")
    ).startswith("not sent")

    closed = await sync_to_async(call)(views.disconnect, "post", client_id=ann.client_id)
    assert notice(closed) == f"disconnected {ann.client_id}"
    assert (await ann.receive_raw())["type"] == "websocket.close"
    again = await sync_to_async(call)(views.disconnect, "post", client_id=ann.client_id)
    assert notice(again) == f"{ann.client_id} was not online"
    assert notice(await sync_to_async(call)(views.disconnect, "post", client_id="zz")).startswith(
        "not disconnected"
    )


async def test_a_watching_connection_receives_each_hubs_live_report() -> None:
    watcher = await connect(uid="staff", groups=(WATCH_GROUP,))
    hub = running_hub()
    assert hub is not None
    frame = await watcher.receive(timeout=10)  # within a report interval or two
    assert frame["type"] == "pushapp.node"
    assert (frame["node"]["node"], frame["node"]["clients"], frame["node"]["pid"]) == (
        hub.node_id,
        1,
        os.getpid(),
    )
    await watcher.close()
