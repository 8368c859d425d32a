"""Settings are read at access time, so override_settings takes effect at once."""

from __future__ import annotations

from django.test import override_settings

from pushapp.conf import DEFAULTS, push_settings


def test_defaults_and_overrides() -> None:
    assert DEFAULTS["PATH"] == push_settings.PATH
    with override_settings(PUSHAPP={"PATH": "/live/", "PING_INTERVAL": 5}):
        assert push_settings.PATH == "live/"
        assert push_settings.PING_INTERVAL == 5.0
        assert DEFAULTS["AUTH_TIMEOUT"] == push_settings.AUTH_TIMEOUT
    assert DEFAULTS["PING_INTERVAL"] == push_settings.PING_INTERVAL


def test_every_default_has_a_property() -> None:
    for name in DEFAULTS:
        assert getattr(push_settings, name) == DEFAULTS[name] or name == "PATH"
