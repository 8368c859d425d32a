"""The pushapp side: pushapp installed, heartbeats off so they never run during a measurement; with
``BENCH_HISTORY=1`` (``--history on``), uid and group streams keep history."""

import os
from typing import Any

from bench.options import HISTORY_SETTING
from bench.settings_common import *  # noqa: F403

INSTALLED_APPS = ["channels", "pushapp"]
ASGI_APPLICATION = "bench.asgi_pushapp.application"
# Every benchmark client connects from 127.0.0.1, up to 200 at once: the per-IP handshake cap (50, against
# floods from one address) would refuse a load generator, so it is the per-process cap here.
PUSHAPP: dict[str, Any] = {
    "PING_INTERVAL": 0,
    "PING_NOT_RESPONSE_LIMIT": 0,
    "MAX_UNAUTHENTICATED_PER_IP": 1000,
}
# bench/c100k.py: presence on a Redis of its own, and a reconnect storm's handshakes from a few addresses.
if os.environ.get("BENCH_PRESENCE_REDIS_URL"):
    PUSHAPP["PRESENCE_REDIS_URL"] = os.environ["BENCH_PRESENCE_REDIS_URL"]
if os.environ.get("BENCH_MAX_UNAUTHENTICATED_PER_IP"):
    PUSHAPP["MAX_UNAUTHENTICATED_PER_IP"] = int(os.environ["BENCH_MAX_UNAUTHENTICATED_PER_IP"])
if os.environ.get("BENCH_HISTORY") == "1":
    PUSHAPP["HISTORY"] = HISTORY_SETTING
