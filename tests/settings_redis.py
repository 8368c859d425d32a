"""Settings for the processes of the integration tests: daphne servers and the producer.

Everything that differs per test comes from the environment, set by ``tests/support/processes.py``:

- ``REDIS_URL`` (required): the Redis the channel layer uses.
- ``PUSHAPP_TEST_LAYER``: ``core`` (``RedisChannelLayer``, the default) or ``pubsub``
  (``RedisPubSubChannelLayer``).
- ``PUSHAPP_TEST_PREFIX``: the channel-layer prefix, unique per test so tests never see each other's
  messages. Every process of one cluster must share it, so the fallback is a constant, not a random value.
- ``PUSHAPP_TEST_DB``: path of a SQLite file shared by the processes of one cluster; in-memory when unset.
- ``PUSHAPP_TEST_SENTINEL``: with ``pubsub``, a JSON ``hosts`` entry naming Sentinels: the layer (and so
  presence and history) finds its master through them.
- ``PUSHAPP_TEST_SETTINGS``: a JSON object used as ``PUSHAPP`` (e.g. a short ``CONTROL_TIMEOUT``).
"""

import json
import os

from django.core.exceptions import ImproperlyConfigured

from tests.settings import *  # noqa: F403

try:
    REDIS_URL = os.environ["REDIS_URL"]
except KeyError:
    raise ImproperlyConfigured("tests.settings_redis needs REDIS_URL (redis://host:port/db)") from None

_LAYER = os.environ.get("PUSHAPP_TEST_LAYER", "core")
_PREFIX = os.environ.get("PUSHAPP_TEST_PREFIX") or "pushapp-test."

if _LAYER == "core":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py >= 8 defaults socket_timeout to 5 s, exactly channels-redis's BZPOPMIN timeout:
                # an idle receive() would then fail with a TimeoutError instead of returning empty.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": _PREFIX,
                "capacity": 1000,
                # Keys are globs (fnmatch), matched against the channel name without the prefix.
                # A hub channel carries every push for all the connections of one server process.
                "channel_capacity": {"pushapp.hub.*": 100000, "pushapp.reply.*": 10000},
            },
        }
    }
elif _LAYER == "pubsub" and os.environ.get("PUSHAPP_TEST_SENTINEL"):  # tests/test_failover.py
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [json.loads(os.environ["PUSHAPP_TEST_SENTINEL"])], "prefix": _PREFIX},
        }
    }
elif _LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": _PREFIX},
        }
    }
else:
    raise ImproperlyConfigured(f"PUSHAPP_TEST_LAYER must be 'core' or 'pubsub', not {_LAYER!r}")

if os.environ.get("PUSHAPP_TEST_DB"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["PUSHAPP_TEST_DB"],
            # Several processes share the file: wait for a lock rather than fail with "database is locked".
            "OPTIONS": {"timeout": 20},
        }
    }

PUSHAPP = json.loads(os.environ.get("PUSHAPP_TEST_SETTINGS") or "{}")

if os.environ.get("PUSHAPP_TEST_PRESENCE_LOG"):  # tests/test_presence_events_cluster.py
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.presence_log.PresenceLogConfig"]  # noqa: F405
