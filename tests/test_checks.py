"""System checks: each id fires on its misconfiguration and stays quiet otherwise."""

from __future__ import annotations

from django.core import checks
from django.test import override_settings

from pushapp.checks import check_channel_layer, check_settings

MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}}


def ids(messages: list[checks.CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]


def test_checks_are_registered() -> None:
    registered = checks.registry.registry.get_checks()
    assert check_settings in registered
    assert check_channel_layer in registered


def test_e001_no_channel_layer() -> None:
    with override_settings(CHANNEL_LAYERS={}):
        assert ids(check_channel_layer()) == ["pushapp.E001"]
    with override_settings(CHANNEL_LAYERS=REDIS, PUSHAPP={"CHANNEL_LAYER": "push"}):
        assert ids(check_channel_layer()) == ["pushapp.E001"]


def test_w001_in_memory_layer_without_debug() -> None:
    with override_settings(CHANNEL_LAYERS=MEMORY, DEBUG=False):
        assert ids(check_channel_layer()) == ["pushapp.W001"]
    with override_settings(CHANNEL_LAYERS=MEMORY, DEBUG=True):
        assert check_channel_layer() == []
    with override_settings(CHANNEL_LAYERS=REDIS, DEBUG=False):
        assert check_channel_layer() == []


def test_e002_unknown_key() -> None:
    with override_settings(PUSHAPP={"PING_INTERVALL": 5}):
        assert ids(check_settings()) == ["pushapp.E002"]


def test_e005_not_a_dict() -> None:
    with override_settings(PUSHAPP=["not", "a", "dict"]):
        assert ids(check_settings()) == ["pushapp.E005"]


def test_e003_wrong_type() -> None:
    with override_settings(PUSHAPP={"MAX_FRAME_SIZE": "big"}):
        assert ids(check_settings()) == ["pushapp.E003"]
    with override_settings(PUSHAPP={"ALLOW_ANONYMOUS": 1}):
        assert ids(check_settings()) == ["pushapp.E003"]
    with override_settings(PUSHAPP={"TOKEN_MAX_AGE": True}):
        assert ids(check_settings()) == ["pushapp.E003"]


def test_e006_negative() -> None:
    with override_settings(PUSHAPP={"AUTH_TIMEOUT": -1}):
        assert ids(check_settings()) == ["pushapp.E006"]


def test_e007_not_a_choice() -> None:
    with override_settings(PUSHAPP={"PRESENCE": "postgres"}):
        assert ids(check_settings()) == ["pushapp.E007"]


def test_e004_authenticator_not_importable() -> None:
    with override_settings(PUSHAPP={"AUTHENTICATOR": "nowhere.Nothing"}):
        assert ids(check_settings()) == ["pushapp.E004"]


def test_valid_settings_pass() -> None:
    with override_settings(PUSHAPP={"PATH": "push/", "PING_INTERVAL": 10, "ALLOW_ANONYMOUS": True}):
        assert check_settings() == []
