"""channels-redis is an extra: without it, pushapp imports and works on the in-memory layer."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import REPO_ROOT

SNIPPET = """
import sys
sys.modules["redis"] = None  # as if neither were installed: importing them raises ImportError
sys.modules["channels_redis"] = None
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=["pushapp"],
                   CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
django.setup()
import pushapp.asgi, pushapp.gatewayclient, pushapp.observe.stats
from pushapp import gateway
gateway.send_to_uid("u", "x")
print(gateway.get_all_client_count())
"""


def test_pushapp_works_without_the_redis_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SNIPPET], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "0\n"), result.stderr
