"""Delivery with pushapp.js in real headless Chromium against a live daphne process (docs/delivery.md):
a fresh page asks for the latest push of its uid's stream and gets it on arrival, and acknowledges what it
read, which Django code then reads with ``get_acked_offset``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import ClusterFactory
from tests.support.browser import Browser, chromium_session
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HISTORY = {"HISTORY": {"uid": {"size": 50}}}


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with chromium_session(request.node.name) as session:
        yield session


def test_a_fresh_page_gets_the_latest_push_and_acks_it(cluster: ClusterFactory, browser: Browser) -> None:
    c = cluster("pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(HISTORY)})
    server = c.servers[0]
    browser.open(server, "ivan")
    browser.wait_for("window.pushState && pushState.connected", "the first page's welcome")
    uid = browser.state()["uid"]
    browser.driver.get("about:blank")  # nothing open for ivan while these are sent
    for n in (1, 2, 3):
        c.producer.call("send_to_uid", uid, {"n": n})
    c.producer.call("flush")

    browser.new_window()  # a new tab: nothing in its sessionStorage, no position to recover from
    browser.driver.get(server.http_url + "/browser/page/?latest=1")
    browser.wait_for("window.pushState && pushState.messages.length >= 1", "the latest push on arrival")
    assert browser.state()["messages"] == [{"n": 3}]  # the last one only, as an ordinary push
    pushed = browser.js("return window.received.filter((e) => e.event === 'message').length")
    assert pushed == 1

    # pushapp.js acknowledges what it read (batched, the page is visible): the uid's offset is 3.
    acked = wait_until(lambda: c.producer.call("get_acked_offset", uid), "the ack to reach the server")
    assert acked == 3
    c.producer.call("send_to_uid", uid, {"n": 4})
    browser.wait_for("pushState.messages.length >= 2", "a live push")
    assert wait_until(lambda: c.producer.call("get_acked_offset", uid) == 4, "the next ack")
