"""pushapp.js falls back to Server-Sent Events in real headless Chromium, against a live daphne process.

The test page (tests/templates/browser/page.html with ``?block_websocket=1``) replaces ``window.WebSocket``
with one that fails before it opens, as behind a proxy that refuses the upgrade: after two such attempts the
client gets a ticket, opens an EventSource and POSTs its frames (docs/javascript.md, "Server-Sent Events").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.urls import NoReverseMatch, reverse

from tests.conftest import ClusterFactory
from tests.support.browser import Browser, chromium_session
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _sse_server() -> bool:
    try:
        reverse("pushapp:sse-ticket")
    except NoReverseMatch:
        return False
    return True


@pytest.fixture
def browser(request: pytest.FixtureRequest, cluster: ClusterFactory) -> Iterator[Browser]:
    if not _sse_server():
        pytest.skip("needs the SSE server (pushapp:sse-ticket is not routed)")
    with chromium_session(request.node.name) as session:
        yield session


def test_a_page_whose_websockets_are_blocked_falls_back_to_sse(
    cluster: ClusterFactory, browser: Browser
) -> None:
    allow = {"AUTHORIZE_SUBSCRIBE": "tests.test_subscriptions.allow_all"}
    c = cluster("pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(allow)})
    page = "/browser/page/?" + urlencode({"block_websocket": "1"})
    browser.driver.get(f"{c.servers[0].http_url}/browser/login/frank/?{urlencode({'next': page})}")
    assert "/browser/page/" in browser.driver.current_url, browser.driver.page_source
    browser.wait_for("window.pushState && pushState.clientIds.length >= 1", "the welcome over SSE")
    state = browser.state()
    assert state["sockets"] == 2  # two WebSocket attempts that never opened, then SSE
    assert [close["code"] for close in state["closes"]] == [1006, 1006]
    assert browser.js("return [pushapp.activeTransport, pushapp.connected]") == ["sse", True]
    assert browser.js("return sessionStorage.getItem('pushapp.transport:' + pushapp.url)") == "sse"
    uid = state["uid"]
    assert uid is not None

    c.producer.call("send_to_uid", uid, {"over": "sse"})
    browser.wait_for("pushState.messages.length >= 1", "a push over SSE")
    # A client frame goes by POST with the proof; its answer comes on the stream.
    browser.js(
        "window.subscribed = [];pushapp.on('subscribed', (d) => subscribed.push(d.group)).subscribe('news');"
    )
    browser.wait_for("window.subscribed.length >= 1", "the subscribed answer over SSE")
    c.producer.call("send_to_group", "news", "to the group")
    browser.wait_for("pushState.messages.length >= 2", "a group push over SSE")
    state = browser.state()
    assert state["messages"] == [{"over": "sse"}, "to the group"]
    assert state["sockets"] == 2  # sticking with SSE
    assert state["errors"] == [{"code": "socket", "detail": "WebSocket error"}] * 2


def test_a_reloaded_page_behind_a_blocking_proxy_recovers_over_sse(
    cluster: ClusterFactory, browser: Browser
) -> None:
    history = {"HISTORY": {"uid": {"size": 50}}}
    c = cluster("pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(history)})
    page = "/browser/page/?" + urlencode({"block_websocket": "1"})
    server = c.servers[0]
    browser.driver.get(f"{server.http_url}/browser/login/grace/?{urlencode({'next': page})}")
    browser.wait_for("window.pushState && pushState.clientIds.length >= 1", "the welcome over SSE")
    state = browser.state()
    uid, client_id = state["uid"], state["clientId"]
    assert browser.js("return pushapp.activeTransport") == "sse"
    c.producer.call("send_to_uid", uid, {"n": 1})
    browser.wait_for("pushState.messages.length >= 1", "a push over SSE")

    browser.driver.get("about:blank")  # the page is gone, and its stream with it
    wait_until(lambda: not c.producer.call("is_online", client_id), "the old stream to close")
    for n in (2, 3, 4):
        c.producer.call("send_to_uid", uid, {"n": n})
    browser.driver.get(server.http_url + page)
    browser.wait_for("window.pushState && pushState.messages.length >= 3", "the pushes it missed")
    state = browser.state()
    assert browser.js("return pushapp.activeTransport") == "sse"  # remembered for the tab: no new attempts
    assert state["sockets"] == 0
    assert state["messages"] == [{"n": 2}, {"n": 3}, {"n": 4}]  # what it missed, in order, once
    c.producer.call("send_to_uid", uid, {"n": 5})
    browser.wait_for("pushState.messages.length >= 4", "a live push after the recovery")
    assert browser.state()["messages"][-1] == {"n": 5}
