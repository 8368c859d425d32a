"""Settings are read at access time, so override_settings takes effect at once."""

from __future__ import annotations

import json
from pathlib import Path

from django.test import override_settings

from pushapp.conf import DEFAULTS, SETTINGS, push_settings


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


def test_every_setting_is_documented_with_its_default() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, setting in SETTINGS.items():
        default = (
            "None"
            if setting.default is None
            else repr(setting.default)
            if isinstance(setting.default, bool)
            else json.dumps(setting.default)
        )
        assert f"| `{name}` | `{default}` |" in page, name


def test_a_non_dict_pushapp_reads_as_the_defaults() -> None:
    with override_settings(PUSHAPP=["not", "a", "dict"]):
        assert DEFAULTS["PING_INTERVAL"] == push_settings.PING_INTERVAL
