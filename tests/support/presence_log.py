"""An app for the integration servers: logs every presence signal its process fires to a Redis list, and
every ``push_unacknowledged``.

Installed by tests.settings_redis when ``PUSHAPP_TEST_PRESENCE_LOG`` names the list. Each entry is
``{"signal": …, "uid": …, "group": …, "pid": …}`` (``push_unacknowledged``: with ``stream``, ``offset`` and
``data`` instead of ``group``), so a test sees which process fired what, and how often.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis
from django.apps import AppConfig


class PresenceLogConfig(AppConfig):
    name = "tests.support.presence_log"
    label = "presence_log"

    def ready(self) -> None:
        from pushapp import signals

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        key = os.environ["PUSHAPP_TEST_PRESENCE_LOG"]

        def log(signal_name: str) -> Any:
            def receiver(sender: Any, uid: str, group: str | None = None, **kwargs: Any) -> None:
                entry = {"signal": signal_name, "uid": uid, "group": group, "pid": os.getpid()}
                client.rpush(key, json.dumps(entry))

            return receiver

        for name in ("uid_online", "uid_offline", "group_member_joined", "group_member_left"):
            getattr(signals, name).connect(log(name), weak=False, dispatch_uid=f"presence_log.{name}")

        def unacknowledged(sender: Any, uid: str, data: Any, stream: str, offset: int, **kwargs: Any) -> None:
            entry = {"signal": "push_unacknowledged", "uid": uid, "stream": stream, "offset": offset}
            client.rpush(key, json.dumps({**entry, "data": data, "pid": os.getpid()}))

        signals.push_unacknowledged.connect(unacknowledged, weak=False, dispatch_uid="presence_log.unacked")
