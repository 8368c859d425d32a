"""Real headless Chromium for the browser tests: started offline, driving the test page, keeping artifacts.

Selenium is given the chromedriver and Chromium binaries explicitly (Debian's ``chromium`` and
``chromium-driver``) and ``SE_OFFLINE``, so selenium-manager never downloads a browser or a driver.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.processes import REPO_ROOT, DaphneProcess

CHROMIUM = os.environ.get("PUSHAPP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PUSHAPP_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,700",
)
WAIT = 15.0  # seconds: the default deadline of a wait on the page

T = TypeVar("T")


def require_chromium() -> None:
    """Skip when Chromium or chromedriver is missing; on CI (``CI=true``) fail instead, loudly."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    reason = f"browser tests need Debian's chromium and chromium-driver: missing {', '.join(missing)}"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason} (CI is set: .ci/run installs them)", pytrace=False)
    pytest.skip(reason)


def start_chromium(profile: Path) -> webdriver.Chrome:
    """A fresh headless Chromium with its own profile directory, driven by the system chromedriver."""
    os.environ["SE_OFFLINE"] = "true"  # belt and braces: the explicit paths keep selenium-manager idle
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, for the artifacts
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class Browser:
    """One Chromium session; each window shows the test page of one server."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def open(
        self, server: DaphneProcess, username: str, groups: Sequence[str] = (), forged: bool = False
    ) -> None:
        """Log in as ``username`` (created on the fly) and load the test page in the current window."""
        query = urlencode({"next": page_path(groups, forged)})
        self.driver.get(f"{server.http_url}/browser/login/{username}/?{query}")
        assert "/browser/page/" in self.driver.current_url, self.driver.page_source

    def open_page(self, server: DaphneProcess, groups: Sequence[str] = ()) -> None:
        """Load the test page in the current window, as whoever the session cookie says."""
        self.driver.get(server.http_url + page_path(groups, forged=False))

    def new_window(self) -> str:
        """Open a second tab of the same session (same cookies) and switch to it; return its handle."""
        self.driver.switch_to.new_window("tab")
        return self.driver.current_window_handle

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def state(self) -> dict[str, Any]:
        """``window.pushState``: what the page recorded (see tests/templates/browser/page.html)."""
        state = self.js("return window.pushState || null")
        assert isinstance(state, dict), "the test page did not load"
        return state

    def wait_for(self, condition: str, what: str, timeout: float = WAIT) -> Any:
        """Poll the JS expression ``condition`` until it is truthy, return its value."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda driver: driver.execute_script(f"return ({condition});")
            )
        except TimeoutException:
            raise AssertionError(f"{what}: not within {timeout}s.\n{self.describe()}") from None

    def describe(self) -> str:
        """Everything the page recorded, and its console, for assertion messages."""
        try:
            state = self.js("return window.pushState || null")
            received = self.js("return window.received || null")
            console = [entry.get("message") for entry in self.driver.get_log("browser")]
        except WebDriverException as exc:
            return f"(the page could not be read: {exc.msg})"
        return (
            f"state: {json.dumps(state, indent=1)}\nevents: {json.dumps(received, indent=1)}\n"
            f"console: {json.dumps(console, indent=1)}"
        )

    def save_artifacts(self, name: str) -> list[Path]:
        """A screenshot and the recorded events of every window: ``<name>.png``, ``<name>.window2.png``…"""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        for index, handle in enumerate(self.driver.window_handles, start=1):
            stem = name if index == 1 else f"{name}.window{index}"
            self.driver.switch_to.window(handle)
            path = ARTIFACTS / f"{stem}.png"
            if self.driver.save_screenshot(str(path)):
                saved.append(path)
            (ARTIFACTS / f"{stem}.txt").write_text(f"{self.driver.current_url}\n{self.describe()}\n")
        return saved


def page_path(groups: Sequence[str], forged: bool) -> str:
    query = {"groups": ",".join(groups)} if groups else {}
    if forged:
        query["forged"] = "1"
    return "/browser/page/" + (f"?{urlencode(query)}" if query else "")


def artifact_name(nodeid_name: str) -> str:
    """``test_x[kill]`` → ``test_x-kill``: a file name without brackets."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid_name).strip("-")


@contextmanager
def chromium_session(name: str) -> Iterator[Browser]:
    """A Browser for one test; on the way out, its artifacts are saved (pass or fail) and Chromium quits."""
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="pushapp-chromium-") as profile:
        driver = start_chromium(Path(profile))
        browser = Browser(driver)
        try:
            yield browser
        finally:
            try:
                browser.save_artifacts(artifact_name(name))
            finally:
                driver.quit()
