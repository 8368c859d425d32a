"""pushapp.js in real Chromium through a pushserve reload: it waits the delay the draining worker chose.

Two tabs are connected to ``pushserve --workers 1 --drain 8``. SIGHUP starts generation 2 and the old
worker tells the tabs to come back after 0 and 4 s; a second SIGTERM to that worker closes both at once.
The tab told 4 s does not reconnect within its own jitter (at most reconnectBase = 1 s) but after the
server's delay, and both end up on the new worker with no failed attempt.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushapp.protocol.names import node_of
from tests.support.browser import Browser, chromium_session
from tests.support.processes import ProcessConfig
from tests.support.pushserve import PushServe, pushstats

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DRAIN = 8.0


@pytest.fixture
def server(redis_url: str, prefix: str, migrated_db: Path, tmp_path: Path) -> Iterator[PushServe]:
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_db, db)
    config = ProcessConfig(redis_url, layer="pubsub", prefix=prefix, db_path=str(db))
    started = PushServe(config, workers=1, drain=DRAIN)
    yield started
    started.stop()


@pytest.fixture
def browser(request: pytest.FixtureRequest, server: PushServe) -> Iterator[Browser]:
    with chromium_session(request.node.name) as session:
        yield session


def test_a_reload_moves_each_tab_to_the_new_worker_after_the_delay_the_server_chose(
    server: PushServe, browser: Browser
) -> None:
    browser.open(server, "erin")  # type: ignore[arg-type]  # PushServe has http_url too
    browser.wait_for("window.pushState && pushState.clientIds.length === 1", "tab 1's welcome")
    tabs = [browser.driver.current_window_handle, browser.new_window()]
    browser.open_page(server)  # type: ignore[arg-type]
    browser.wait_for("window.pushState && pushState.clientIds.length === 1", "tab 2's welcome")
    (old,) = pushstats(server.config)["processes"]  # type: ignore[misc]

    server.signal(signal.SIGHUP)
    server.wait_serving(generation=2)
    server.wait_for(rf"worker 0: draining 2 connections over {DRAIN:.1f} s")
    os.kill(old["pid"], signal.SIGTERM)  # hurry: the old worker closes both now
    server.wait_for(r"worker 0: second SIGTERM, closing the rest now")

    delays = []
    new = set()
    for tab in tabs:
        browser.driver.switch_to.window(tab)
        state = browser.wait_for(
            "pushState.clientIds.length === 2 && pushState", "the welcome after the reload"
        )
        (close,) = state["closes"]
        assert (close["code"], close["willReconnect"]) == (1012, True)
        delays.append(close["delay"])
        assert state["sockets"] == 2  # closed, waited, reconnected: no failed attempt
        new.add(node_of(state["clientIds"][1]))
        assert node_of(state["clientIds"][0]) == old["node"]
    # Turns at 0 and DRAIN/2 s: the first had come; the second is what remained of it when closed early,
    # longer than any jitter of a first attempt (reconnectBase is 1 s).
    assert min(delays) == 0
    assert 1 < max(delays) <= DRAIN / 2
    generation_2 = {p["node"] for p in pushstats(server.config)["processes"] if p.get("generation") == 2}  # type: ignore[attr-defined]
    assert new <= generation_2
