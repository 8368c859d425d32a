"""The staff dashboard in real headless Chromium, against a real ``pushserve --workers 2`` on Redis.

A user's page (tests/templates/browser/page.html) is open in one tab, the dashboard in another; the
dashboard shows both workers live (pushed over pushapp itself), finds the user's connection, sends it a
test message and disconnects it. A screenshot of the live dashboard is saved under test-artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.support.browser import ARTIFACTS, Browser, chromium_session
from tests.support.processes import ProcessConfig
from tests.support.pushserve import PushServe, pushstats

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def server(redis_url: str, prefix: str, migrated_db: Path, tmp_path: Path) -> Iterator[PushServe]:
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_db, db)
    started = PushServe(ProcessConfig(redis_url, layer="pubsub", prefix=prefix, db_path=str(db)), workers=2)
    yield started
    started.stop()


@pytest.fixture
def browser(request: pytest.FixtureRequest, server: PushServe) -> Iterator[Browser]:
    with chromium_session(request.node.name) as session:
        yield session


def submit(browser: Browser, form: str, **fields: str) -> None:
    for name, value in fields.items():
        element = browser.driver.find_element(By.CSS_SELECTOR, f"{form} [name={name}]")
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)
    browser.driver.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()


def test_dashboard_shows_the_workers_live_and_acts_on_a_connection(
    server: PushServe, browser: Browser
) -> None:
    # The user's page first: its connection authenticated with its own token, so logging this browser in
    # as staff afterwards leaves it as it is.
    browser.open(server, "alice", groups=["room"])  # type: ignore[arg-type]  # PushServe has http_url too
    browser.wait_for("window.pushState && pushState.clientIds.length === 1", "alice's welcome")
    alice = browser.state()
    user_tab = browser.driver.current_window_handle
    dashboard_tab = browser.new_window()
    browser.driver.get(f"{server.http_url}/browser/staff/root/")

    workers = {p["node"] for p in pushstats(server.config)["processes"]}  # type: ignore[attr-defined]
    assert len(workers) == 2
    browser.wait_for(
        "window.pushappDashboard && pushappDashboard.nodes.size === 2 && pushappDashboard.series.length >= 3",
        "live reports from both workers, charted",
    )
    assert set(browser.js("return Array.from(pushappDashboard.nodes.keys())")) == workers
    browser.wait_for("document.getElementById('live').textContent === 'live'", "the live badge")
    rows = browser.js(
        "return Array.from(document.querySelectorAll('#nodes tbody tr')).map((r) => r.dataset.node)"
    )
    assert set(rows) == workers
    # The totals follow the live reports: alice's page and this one.
    browser.wait_for(
        "document.getElementById('total-clients').textContent === '2'", "two clients in the totals"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.driver.save_screenshot(str(ARTIFACTS / "dashboard-live.png"))

    # Search by uid: alice's connection, its group.
    row_css = f'#results tr[data-client-id="{alice["clientId"]}"]'
    submit(browser, "#search", q=alice["uid"])
    browser.wait_for(f"document.querySelector('{row_css}')", "the search result")
    row = browser.driver.find_element(By.CSS_SELECTOR, row_css)
    assert row.find_element(By.CSS_SELECTOR, ".groups").text == "room"

    # Send a test message to her uid: her page receives it.
    submit(browser, "#send", target="uid", name=alice["uid"], message="hello from the dashboard")
    notice = browser.wait_for("document.getElementById('notice')?.textContent", "the notice")
    assert notice == f"sent to uid '{alice['uid']}'"
    browser.driver.switch_to.window(user_tab)
    browser.wait_for("pushState.messages.length === 1", "the test message")
    assert browser.state()["messages"] == ["hello from the dashboard"]

    # Disconnect her: her page sees the server close it (1000: no reconnect).
    browser.driver.switch_to.window(dashboard_tab)
    submit(browser, "#search", q=alice["clientId"])
    browser.wait_for(
        f"!document.getElementById('notice') && document.querySelector('{row_css}')", "the result"
    )
    browser.driver.find_element(
        By.CSS_SELECTOR, f'#results tr[data-client-id="{alice["clientId"]}"] .disconnect'
    ).click()
    notice = browser.wait_for("document.getElementById('notice')?.textContent", "the notice")
    assert notice == f"disconnected {alice['clientId']}"
    browser.driver.switch_to.window(user_tab)
    browser.wait_for("pushState.closes.length === 1", "the close of alice's connection")
    close = browser.state()["closes"][0]
    assert (close["code"], close["willReconnect"]) == (1000, False)
    browser.driver.switch_to.window(dashboard_tab)
