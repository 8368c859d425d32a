"""pushapp.mjs, the ES module, in real headless Chromium: a page imports it with ``<script type="module">``
(tests/templates/browser/esm.html), configures the client itself and receives a push from another process."""

from __future__ import annotations

import pytest

from tests.conftest import ClusterFactory
from tests.support.browser import chromium_session

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_module_page_connects_and_receives_a_push(
    request: pytest.FixtureRequest, cluster: ClusterFactory
) -> None:
    c = cluster("pubsub", servers=1)
    with chromium_session(request.node.name) as browser:
        browser.driver.get(f"{c.servers[0].http_url}/browser/login/erin/?next=/browser/esm/")
        assert "/browser/esm/" in browser.driver.current_url, browser.driver.page_source
        browser.wait_for("window.pushState && pushState.clientIds.length >= 1", "the module client's welcome")
        state = browser.state()
        assert state["globals"] == ["undefined", "undefined"]  # a module sets no globals
        assert state["sameClass"] is True
        assert state["uid"] is not None
        assert browser.js("return [client.connected, client.url.startsWith('ws://')]") == [True, True]

        c.producer.call("send_to_uid", state["uid"], {"to": "the module"})
        browser.wait_for("pushState.messages.length >= 1", "the push")
        state = browser.state()
        assert state["messages"] == [{"to": "the module"}]
        assert (state["closes"], state["errors"]) == ([], [])
