"""pushapp.js in real headless Chromium, against live daphne processes on a real Redis.

The page (tests/templates/browser/page.html) renders ``{% pushapp_script %}`` for a logged-in user and
records every event of pushapp.js, every WebSocket it opens (with the token it authenticates with) and
every token fetch. Pushes come from the cluster's producer, a separate process. Every wait has a deadline
and waits for something the page or a server shows, never for time to pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pushapp.exceptions import TokenExpired
from pushapp.tokens import verify_token
from tests.conftest import ClusterFactory
from tests.support.browser import WAIT, Browser, chromium_session
from tests.support.processes import SERVERS
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from pytest_django.fixtures import Settings

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CLIENT_ID = re.compile(r"[0-9a-f]{48}")


@pytest.fixture
def browser(request: pytest.FixtureRequest, cluster: ClusterFactory) -> Iterator[Browser]:
    """A fresh Chromium; torn down (after its screenshots) before the cluster it talks to."""
    with chromium_session(request.node.name) as session:
        yield session


def welcomed(browser: Browser, count: int = 1, timeout: float = WAIT) -> dict[str, Any]:
    """Wait for the ``count``-th welcome; the page's record."""
    condition = f"window.pushState && pushState.clientIds.length >= {count}"
    browser.wait_for(condition, f"welcome #{count}", timeout)
    state = browser.state()
    assert len(state["clientIds"]) == count, state
    return state


def pushed(browser: Browser, count: int) -> list[Any]:
    """Wait until the page holds ``count`` pushed messages; all of them."""
    browser.wait_for(f"pushState.messages.length >= {count}", f"{count} pushed messages")
    messages: list[Any] = browser.state()["messages"]
    return messages


@pytest.mark.parametrize("server", SERVERS)
def test_page_connects_and_receives_pushes_from_another_process(
    cluster: ClusterFactory, browser: Browser, server: str
) -> None:
    c = cluster("pubsub", servers=1, server=server)  # the page from daphne; the push socket from either
    browser.open(c.servers[0], "alice", groups=["news", "room 1"])
    state = welcomed(browser)
    client_id, uid = state["clientId"], state["uid"]
    assert CLIENT_ID.fullmatch(client_id), client_id
    assert uid is not None
    assert browser.js("return [pushapp.connected, pushapp.clientId, pushapp.uid]") == [True, client_id, uid]
    page_token = browser.js("return document.querySelector('script[data-url]').dataset.token")
    assert state["authTokens"] == [page_token]  # the script tag's token, in the auth frame
    assert verify_token(page_token).groups == ("news", "room 1")

    call = c.producer.call
    call("send_to_uid", uid, {"type": "note", "to": "uid"})
    assert pushed(browser, 1)[-1] == {"type": "note", "to": "uid"}
    call("send_to_client", client_id, "plain text, not JSON")
    assert pushed(browser, 2)[-1] == "plain text, not JSON"
    call("send_to_client", client_id, b"\x00\x01\xff")
    assert pushed(browser, 3)[-1] == {"binary": [0, 1, 255]}  # an ArrayBuffer, recorded as its bytes
    call("send_to_group", "room 1", ["to", "the group"])
    assert pushed(browser, 4)[-1] == ["to", "the group"]
    call("send_to_group", "elsewhere", "not for this page")
    call("send_to_client", client_id, "marker")
    assert pushed(browser, 5) == [
        {"type": "note", "to": "uid"},
        "plain text, not JSON",
        {"binary": [0, 1, 255]},
        ["to", "the group"],
        "marker",
    ]
    state = browser.state()
    assert (state["sockets"], state["closes"], state["errors"]) == (1, [], [])


def test_two_tabs_of_one_user_both_receive_a_push_to_the_uid(
    cluster: ClusterFactory, browser: Browser
) -> None:
    c = cluster("pubsub", servers=1)
    first = browser.driver.current_window_handle
    browser.open(c.servers[0], "bob")
    one = welcomed(browser)
    second = browser.new_window()
    browser.open_page(c.servers[0])  # the same session cookie: no new login
    two = welcomed(browser)
    assert one["uid"] == two["uid"] is not None
    assert one["clientId"] != two["clientId"]

    c.producer.call("send_to_uid", one["uid"], {"to": "both tabs"})
    for handle in (second, first):
        browser.driver.switch_to.window(handle)
        assert pushed(browser, 1) == [{"to": "both tabs"}]
        assert browser.state()["sockets"] == 1


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_reconnects_after_the_server_restarts(cluster: ClusterFactory, browser: Browser, stop: str) -> None:
    """terminate: daphne's graceful shutdown; kill: a crash, the socket vanishes without a close frame."""
    c = cluster("pubsub", servers=1)
    old = c.servers[0]
    browser.open(old, "carol", groups=["news"])
    before = welcomed(browser)

    port = old.port
    if stop == "terminate":
        old.terminate()
    else:
        old.kill()
    browser.wait_for("pushState.closes.length >= 1", "the close of the first connection")
    # A graceful shutdown says "service restart"; a crash just drops the socket (1006).
    assert browser.state()["closes"][0]["code"] == (1012 if stop == "terminate" else 1006)
    c.add_server(port=port)  # the cluster fixture kills it afterwards

    # The backoff doubles while the server is down (up to 1, 2, 4, 8 s): a generous deadline, rarely used.
    after = welcomed(browser, 2, timeout=30)
    assert after["clientId"] != before["clientId"]
    assert after["uid"] == before["uid"]
    assert all(close["willReconnect"] for close in after["closes"]), after["closes"]
    assert after["sockets"] == len(after["closes"]) + 1  # the failed attempts while it was down, then one
    c.producer.call("send_to_uid", after["uid"], "after the restart")
    c.producer.call("send_to_group", "news", "the group too")
    assert pushed(browser, 2) == ["after the restart", "the group too"]


def test_token_refresh_keeps_reconnects_working(
    cluster: ClusterFactory, browser: Browser, settings: Settings
) -> None:
    """Tokens live 3 s: the client refreshes before the page token expires and reconnects with the new one."""
    push_settings = {"TOKEN_MAX_AGE": 3, "MAX_FRAME_SIZE": 1000}
    settings.PUSHAPP = push_settings  # this process verifies tokens as the servers do
    c = cluster("pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(push_settings)})
    browser.open(c.servers[0], "dave", groups=["refreshing"])
    first = welcomed(browser)
    page_token = browser.js("return document.querySelector('script[data-url]').dataset.token")
    assert browser.js("return document.querySelector('script[data-url]').dataset.tokenMaxAge") == "3"

    # At 80 % of its lifetime the client fetches a fresh token from data-token-url, while connected.
    fetched = browser.wait_for(
        "pushState.fetches.find((f) => f.token) || null", "a token fetched from the token endpoint"
    )
    assert fetched["url"].split("?")[0].endswith("/pushapp/token/"), fetched
    assert fetched["status"] == 200
    assert fetched["token"] != page_token
    assert verify_token(fetched["token"]).uid == first["uid"]
    assert verify_token(fetched["token"]).groups == ("refreshing",)  # the grant in the URL kept the group

    def page_token_expired() -> bool:
        try:
            verify_token(page_token)
        except TokenExpired:
            return True
        return False

    wait_until(page_token_expired, "the page's token to expire", timeout=10)
    assert browser.state()["connected"]  # an open connection outlives its token

    # Force a reconnect: a frame over MAX_FRAME_SIZE makes the server close with 1009.
    assert browser.js("return pushapp.send('x'.repeat(2000))") is True
    second = welcomed(browser, 2)
    assert [close["code"] for close in second["closes"]] == [1009]  # not 4002: the token was fresh
    assert second["clientId"] != first["clientId"]
    fetched_tokens = [f["token"] for f in second["fetches"] if f["token"]]
    assert second["authTokens"][0] == page_token
    assert second["authTokens"][1] in fetched_tokens
    c.producer.call("send_to_group", "refreshing", "reconnected with the refreshed token")
    assert pushed(browser, 1) == ["reconnected with the refreshed token"]


def test_refused_token_closes_with_4001_once_and_never_reconnects(
    cluster: ClusterFactory, browser: Browser
) -> None:
    c = cluster("pubsub", servers=1, producer=False)
    browser.open(c.servers[0], "mallory", forged=True)
    browser.wait_for("pushState.closes.length >= 1", "the close of the refused connection")
    close = browser.state()["closes"][0]
    assert (close["code"], close["willReconnect"], close["delay"]) == (4001, False, None)

    # A reconnect scheduled by that close would be due within reconnectBase * 2^0 seconds. A timer started
    # now, due a little later, fires after it: by then a retry would have opened a socket or fetched a token.
    browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "setTimeout(done, 1000 * window.pushapp.reconnectBase + 200);"
    )
    state = browser.state()
    assert state["clientIds"] == []
    assert state["closes"] == [close]
    assert state["sockets"] == 1
    assert state["fetches"] == []
    # No retry and no token refresh is pending.
    states = browser.js("return [pushapp.connected, pushapp.reconnectScheduled, pushapp.refreshScheduled]")
    assert states == [False, False, False]
    server = c.servers[0]
    wait_until(lambda: "WSCONNECTING /ws/push/" in server.output(), "the server's log of the attempt")
    assert server.output().count("WSCONNECTING /ws/push/") == 1, server.output()


def test_a_reloaded_page_recovers_the_pushes_sent_while_it_was_away(
    cluster: ClusterFactory, browser: Browser
) -> None:
    c = cluster(
        "pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps({"HISTORY": {"uid": {"size": 50}}})}
    )
    browser.open(c.servers[0], "carol")
    state = welcomed(browser)
    uid, client_id = state["uid"], state["clientId"]
    c.producer.call("send_to_uid", uid, {"n": 1})
    assert pushed(browser, 1) == [{"n": 1}]
    browser.driver.get("about:blank")  # the page is gone, and its socket with it
    wait_until(lambda: not c.producer.call("is_online", client_id), "the old connection to close")
    for n in (2, 3, 4):
        c.producer.call("send_to_uid", uid, {"n": n})
    browser.open_page(c.servers[0])
    browser.wait_for("pushState.recovered.length >= 1", "the recovered event")
    state = browser.state()
    assert state["messages"] == [{"n": 2}, {"n": 3}, {"n": 4}]  # what it missed, in order, once
    assert state["recovered"] == [{"streams": {f"uid:{uid}": True}}]
    c.producer.call("send_to_uid", uid, {"n": 5})
    assert pushed(browser, 4)[-1] == {"n": 5}
