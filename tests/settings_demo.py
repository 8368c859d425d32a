"""The demo's own settings, for its daphne processes in tests/test_demo_browser.py, with what is per test:

- ``REDIS_URL``: set, the demo's channel layer is its Redis one, as in README's multi-process run; empty,
  the embedded in-memory default of README's "Try it";
- ``PUSHAPP_TEST_PREFIX``: the Redis layer's prefix, so no other test's processes share its groups or history;
- ``PUSHAPP_TEST_DB``: the SQLite file its processes share (migrated with these settings).
"""

import os

from demo_project.settings import *  # noqa: F403

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["PUSHAPP_TEST_PREFIX"]  # noqa: F405
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["PUSHAPP_TEST_DB"],
        "OPTIONS": {"timeout": 20},
    }
}
