"""The demo, clicked through in real headless Chromium as a user would, with a screenshot per step.

Daphne processes serve the demo's own settings (tests/settings_demo.py): two over a real Redis, as README's
multi-process run, and one on the in-memory default, as its "Try it". Alice uses ``127.0.0.1`` and Bob
``localhost`` (on the second server, when there are two): two hosts, so one Chromium holds two logins
(cookies and sessionStorage are per host). Screenshots go to
``test-artifacts/screenshots/test_click_through_the_demo-<layer>-NN-<step>.png``; docs/img's
demo-notifications.png (in README) and demo-room.png are redis-03 and redis-09, copied by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import ARTIFACTS, Browser, artifact_name, chromium_session
from tests.support.processes import REPO_ROOT, DaphneProcess, ProcessConfig

pytestmark = [pytest.mark.browser, pytest.mark.integration]

API_KEY = "demo-key"  # the demo's default DEMO_API_KEY


@pytest.fixture(params=["redis", "memory"])
def servers(
    request: pytest.FixtureRequest, redis_url: str, prefix: str, tmp_path: Path
) -> Iterator[list[DaphneProcess]]:
    """redis: two demo servers on one Redis, as README's multi-process run. memory: one server on the
    embedded in-memory layer, as README's "Try it" (both users on it). One migrated database, with the
    demo users."""
    config = ProcessConfig(
        redis_url, prefix=prefix, db_path=str(tmp_path / "demo.sqlite3"), settings="tests.settings_demo"
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env=config.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    redis = request.param == "redis"
    env = {} if redis else {"REDIS_URL": ""}
    started = [DaphneProcess(config, env, wait=False) for _ in range(2 if redis else 1)]
    try:
        for server in started:
            server.wait_ready()
        yield started if redis else started * 2
    finally:
        for server in started:
            server.kill()


@pytest.fixture
def browser(request: pytest.FixtureRequest, servers: list[DaphneProcess]) -> Iterator[Browser]:
    with chromium_session(request.node.name) as session:
        yield session


class Walk:
    """The user's side: pages by URL, clicks, typing, and one numbered screenshot per step."""

    def __init__(self, browser: Browser, name: str) -> None:
        self.browser = browser
        self.name = name
        self.steps = 0

    def shot(self, step: str) -> Path:
        self.steps += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self.steps:02d}-{step}.png"
        assert self.browser.driver.save_screenshot(str(path))
        return path

    def go(self, url: str) -> None:
        self.browser.driver.get(url)

    def follow(self, css: str) -> None:
        """Click a link or a form's button, and wait for the next page (not the old one) to be live."""
        self.browser.js("window.leaving = true")
        self.click(css)
        self.wait("!window.leaving && document.readyState === 'complete'", f"the page after {css}")
        if self.browser.js("return document.body.dataset.uid !== undefined"):
            self.live()

    def click(self, css: str) -> None:
        """Click ``css``, after clicking the toasts away (as a user would when they cover it)."""
        self.browser.js("document.querySelectorAll('#toasts .toast').forEach((toast) => toast.click())")
        self.browser.driver.find_element(By.CSS_SELECTOR, css).click()

    def type(self, css: str, text: str) -> None:
        field = self.browser.driver.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(text)

    def text(self, css: str) -> str:
        return str(self.browser.driver.find_element(By.CSS_SELECTOR, css).text)

    def wait(self, condition: str, what: str) -> None:
        self.browser.wait_for(condition, what)

    def log_in(self, base: str, username: str) -> None:
        self.go(base + "/")
        self.wait("document.querySelector('input[name=username]')", "the login form")
        self.type("input[name=username]", username)
        self.type("input[name=password]", "demo")
        self.follow("form.stacked button")

    def live(self) -> None:
        self.wait(
            "document.getElementById('push-state').dataset.state === 'connected'", "the page's connection"
        )

    def toast(self, text: str) -> None:
        toasts = "[...document.querySelectorAll('#toasts .toast')]"
        self.wait(
            f"{toasts}.some(t => t.textContent.includes({json.dumps(text)}))", f"a toast saying {text!r}"
        )

    def members(self, names: str) -> None:
        """Wait until the room's list of who is here reads ``names`` (comma-separated, sorted)."""
        members = "[...document.querySelectorAll('#members li')].map(li => li.textContent).join()"
        self.wait(f"{members} === {json.dumps(names)}", f"the room's list to be {names!r}")

    def first(self, css: str, text: str) -> None:
        """Wait until the first element matching ``css`` reads ``text``."""
        self.wait(
            f"(document.querySelector({json.dumps(css)}) || {{}}).textContent === {json.dumps(text)}",
            f"{css} to read {text!r}",
        )

    def unread(self, count: int) -> None:
        self.wait(f"document.getElementById('unread').textContent === '{count}'", f"{count} unread")


def push_api(server: DaphneProcess, uid: int, message: str) -> None:
    """The index page's curl, from this process: another service pushes to the user."""
    body = {
        "commands": [
            {"method": "send_to_uid", "params": {"uid": uid, "data": {"type": "notify", "message": message}}}
        ]
    }
    request = urllib.request.Request(
        server.http_url + "/pushapp/api/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"apikey {API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"results": [{"result": None}]}


def test_click_through_the_demo(
    request: pytest.FixtureRequest, browser: Browser, servers: list[DaphneProcess]
) -> None:
    one, two = servers
    alice_site = one.http_url
    bob_site = f"http://localhost:{two.port}"
    walk = Walk(browser, artifact_name(request.node.name))

    # Log in.
    walk.go(alice_site + "/")
    walk.wait("document.querySelector('input[name=username]')", "the login form")
    walk.shot("login")
    walk.log_in(alice_site, "alice")
    uid = int(browser.js("return Number(document.body.dataset.uid)"))
    assert walk.text("#inbox") == "Nothing yet: send yourself one below."
    assert not browser.driver.find_elements(By.ID, "nav-staff")

    # The HTTP API from the page (the curl's request), then from another process, through the other server.
    walk.type("#api-form input[name=message]", "Your order has shipped")
    assert '"message":"Your order has shipped"' in walk.text("#api-curl")
    walk.click("#api-form button")
    walk.wait(
        "document.getElementById('api-answer').textContent.includes('{\"results\":[{\"result\":null}]}')",
        "the API's answer",
    )
    walk.toast("Your order has shipped")
    push_api(two, uid, "Payment received")
    walk.toast("Payment received")
    walk.unread(2)
    walk.shot("notifications")

    # Reload and recover: a push sent while the page is gone arrives after the reload, and the count stays.
    browser.js("pushapp.close()")
    walk.wait("document.getElementById('push-state').dataset.state === 'closed'", "the closed connection")
    push_api(two, uid, "Sent while you were away")
    browser.driver.refresh()
    walk.live()
    walk.wait("document.body.dataset.recovered === '1'", "one push recovered")
    walk.toast("Sent while you were away")
    walk.toast("Recovered 1 push")
    walk.unread(3)
    inbox = browser.js("return [...document.querySelectorAll('#inbox li span')].map(s => s.textContent)")
    assert inbox == ["Sent while you were away", "Payment received", "Your order has shipped"]
    walk.shot("reloaded-and-recovered")
    walk.click("#mark-read")
    walk.wait("document.getElementById('unread').hidden", "no unread left")

    # The page talks to Django over its WebSocket; a message_received receiver answers.
    walk.type("#send-form input[name=text]", "ping?")
    walk.click("#send-form button")
    walk.toast("ping?")
    walk.unread(1)

    # The bike: start a ride, lock it; the callback flips the ride to locked, live.
    walk.follow("#nav-bike")
    assert walk.text("#orders") == "No rides yet."
    walk.follow("#start-ride")
    walk.first("#orders [data-status]", "riding")
    walk.shot("bike-riding")
    walk.click("#orders button[data-lock]")
    walk.first("#orders [data-status]", "locked")
    walk.toast("the bike is locked")
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#orders .callback")
    walk.shot("bike-locked")

    # Notes: saved, then shown from the on_commit push.
    walk.follow("#nav-notes")
    assert walk.text("#notes") == "No notes yet."
    walk.type("#note-form input[name=text]", "Buy milk")
    walk.click("#note-form button")
    walk.first("#notes [data-note]", "Buy milk")
    walk.toast("Note saved")
    walk.shot("notes")

    # The room: Alice enters; Bob, on the other server, sees her, enters, talks and leaves.
    alice = browser.driver.current_window_handle
    walk.follow("#nav-room")
    walk.click("#room-join")
    walk.first("#room-state", "You are in the room.")
    walk.members("alice")
    walk.shot("room-alice")

    bob = browser.new_window()
    walk.log_in(bob_site, "bob")
    walk.go(bob_site + "/room/lobby/")
    walk.live()
    assert walk.text("#members") == "alice"  # from the server's presence, before Bob enters
    walk.click("#room-join")
    walk.members("alice,bob")
    walk.type("#room-form input[name=text]", "Hi Alice!")
    walk.click("#room-form button")
    walk.first("#chat li strong", "bob")
    walk.shot("room-bob")

    browser.driver.switch_to.window(alice)
    walk.members("alice,bob")
    walk.wait("document.getElementById('chat').textContent.includes('Hi Alice!')", "Bob's message at Alice's")
    assert "bob joined" in walk.text("#chat")
    walk.shot("room-alice-sees-bob")

    browser.driver.switch_to.window(bob)
    walk.click("#room-leave")
    walk.first("#room-state", "You are not in the room.")
    browser.driver.switch_to.window(alice)
    walk.members("alice")
    assert "bob left" in walk.text("#chat")
    walk.shot("room-bob-left")

    # Reload the room: Alice is still in it (this tab remembers), and the list says so; nothing was lost.
    browser.driver.refresh()
    walk.live()
    walk.first("#room-state", "You are in the room.")
    walk.members("alice")
    assert browser.js("return document.body.dataset.recovered") == "0"
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#toasts .warning")

    # The staff user gets the staff dashboard's link.
    browser.driver.switch_to.window(bob)
    walk.follow("form.account button")
    walk.log_in(bob_site, "admin")
    walk.shot("staff-link")
    walk.follow("#nav-staff")
    assert browser.driver.title == "pushapp dashboard"
    walk.shot("staff")
