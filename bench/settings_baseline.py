"""The baseline side: plain Channels, no pushapp, the same Redis layer."""

from bench.settings_common import *  # noqa: F403

INSTALLED_APPS = ["channels"]
ASGI_APPLICATION = "bench.baseline.asgi.application"
