"""Settings shared by both systems' processes: the same Redis, the same layer, the same hosts.

Each process reads where Redis is and which layer to use from the environment the orchestrator sets:
``BENCH_REDIS_URL`` (required), ``BENCH_LAYER`` (``pubsub``, the default, or ``core``), ``BENCH_PREFIX``
(one per system, so the two never see each other's messages) and ``BENCH_ROLE`` (the Redis client name
of this process's connections, so workload e can count its own connections with ``CLIENT LIST``).

``BENCH_REDIS_URLS`` (optional, comma-separated, used by ``python -m bench.scale``): the layer's ``hosts``,
one entry per Redis, which channels-redis shards channels and groups over by a consistent hash. Without
it the layer has the one host ``BENCH_REDIS_URL``; with it, give ``BENCH_REDIS_URL`` the first of them
(presence lives on the layer's first host).
"""

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY = "pushapp-bench-not-a-secret"  # every bench process shares it: clients mint their own tokens
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
DATABASES: dict[str, dict[str, Any]] = {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.urls"
LOGGING_CONFIG = None  # keep Django's logging out of the way; the servers log warnings to stderr

try:
    REDIS_URL = os.environ["BENCH_REDIS_URL"]
except KeyError:
    raise ImproperlyConfigured("bench settings need BENCH_REDIS_URL (redis://127.0.0.1:port/0)") from None

_URLS = [url.strip() for url in os.environ.get("BENCH_REDIS_URLS", "").split(",") if url.strip()]
_URLS = _URLS or [REDIS_URL]
_LAYER = os.environ.get("BENCH_LAYER", "pubsub")
_PREFIX = os.environ.get("BENCH_PREFIX", "bench.")
_NAME = f"{os.environ.get('BENCH_ROLE', 'bench')}-{os.getpid()}"

if _LAYER == "pubsub":
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "client_name": _NAME} for url in _URLS], "prefix": _PREFIX},
        }
    }
elif _LAYER == "core":
    # As in tests/settings_redis.py: no socket timeout (redis-py 8's 5 s default equals the layer's
    # blocking-read timeout) and room for a hub channel that carries every push of its process.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "socket_timeout": None, "client_name": _NAME} for url in _URLS],
                "prefix": _PREFIX,
                "capacity": 1000,
                "channel_capacity": {"pushapp.hub.*": 100000, "pushapp.reply.*": 10000},
            },
        }
    }
else:
    raise ImproperlyConfigured(f"BENCH_LAYER must be 'pubsub' or 'core', not {_LAYER!r}")
