"""The pushapp side: pushapp installed, heartbeats off so they never run during a measurement."""

from bench.settings_common import *  # noqa: F403

INSTALLED_APPS = ["channels", "pushapp"]
ASGI_APPLICATION = "bench.asgi_pushapp.application"
PUSHAPP = {"PING_INTERVAL": 0, "PING_NOT_RESPONSE_LIMIT": 0}
