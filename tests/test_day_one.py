"""What a new user runs into on day one: a push that reaches nobody says so, and a Redis without its C
parser is flagged by ``manage.py check``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from django.core import checks
from django.test import override_settings

from pushapp import gateway
from pushapp.checks import check_hiredis
from pushapp.runtime import layer
from tests.support.processes import REPO_ROOT

REDIS_LAYER = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as ``manage.py shell`` is: it serves no push connection and has not warned yet."""
    monkeypatch.setattr(layer, "_serving", False)
    monkeypatch.setattr(layer, "_warned", False)


def unreachable_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reached nobody" in r.getMessage()]


def test_a_push_from_a_process_without_a_server_warns_once(
    no_server: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pushapp.runtime.layer"):
        gateway.send_to_uid(1, "hi")
        gateway.send_to_all("and again")
    assert len(unreachable_warnings(caplog)) == 1


async def test_a_process_that_serves_pushes_is_not_warned(
    no_server: None, caplog: pytest.LogCaptureFixture
) -> None:
    layer.note_serving()
    await gateway.asend_to_uid(1, "hi")
    assert unreachable_warnings(caplog) == []


@pytest.mark.integration
def test_manage_py_shell_beside_runserver_says_its_push_went_nowhere() -> None:
    """The day-one mistake itself: the demo without ``REDIS_URL``, a push from ``manage.py shell``. It still
    exits 0 (a push to nobody is not an error), and now says why nobody got it."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from pushapp import gateway; gateway.send_to_uid(1, 'x')",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("reached nobody") == 1, result.stderr


def test_w002_redis_without_hiredis(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = {"redis": True, "hiredis": False}
    monkeypatch.setattr("pushapp.checks._installed", lambda module: installed.get(module, True))
    with override_settings(CHANNEL_LAYERS=REDIS_LAYER):
        assert [m.id for m in check_hiredis()] == ["pushapp.W002"]
        assert check_hiredis()[0].level == checks.WARNING
        installed["hiredis"] = True
        assert check_hiredis() == []
    installed["hiredis"] = False
    assert check_hiredis() == []  # the in-memory layer and no presence Redis: redis-py is not in use
    with override_settings(PUSHAPP={"PRESENCE_REDIS_URL": "redis://127.0.0.1:1/0"}):
        assert [m.id for m in check_hiredis()] == ["pushapp.W002"]
