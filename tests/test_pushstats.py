"""``manage.py pushstats``: the exact text and JSON, the options, and a clear error without a backend."""

from __future__ import annotations

import json
import os
import socket
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.test import override_settings

from pushapp import gateway
from pushapp.observe.stats import render
from pushapp.server.hub import running_hub
from tests.support.communicators import clean_hub, connect

DATA: dict[str, Any] = {
    "version": 1,
    "clients": 3,
    "uids": 2,
    "groups": 2,
    "processes": [
        {
            "node": "aaaaaaaaaaaaaaaa",
            "host": "web1",
            "pid": 101,
            "clients": 2,
            "uptime": 3725.0,
            "delivered": 1500,
            "dropped": 2,
            "heartbeat_age": 1.25,
        },
        {
            "node": "bbbbbbbbbbbbbbbb",
            "host": "web2",
            "pid": 7,
            "clients": 1,
            "uptime": 59.9,
            "delivered": 3,
            "dropped": 0,
            "heartbeat_age": 0.0,
        },
    ],
    "top_groups": [{"group": "lobby", "clients": 3}, {"group": "room 2", "clients": 1}],
    "group": {"name": "room 2", "members": [{"client_id": "c" * 48, "uid": None, "session": {"k": 1}}]},
}

TEXT = """\
clients: 3   uids: 2   groups: 2   processes: 2

NODE              HOST  PID  CLIENTS  UPTIME   DELIVERED  DROPPED  HEARTBEAT
aaaaaaaaaaaaaaaa  web1  101  2        1:02:05  1500       2        1.2s ago
bbbbbbbbbbbbbbbb  web2  7    1        0:00:59  3          0        0.0s ago

GROUP   CLIENTS
lobby   3
room 2  1

group 'room 2': 1 member(s)
CLIENT ID                                         UID  SESSION
cccccccccccccccccccccccccccccccccccccccccccccccc  -    {'k': 1}
"""


def test_render_is_exact() -> None:
    assert render(DATA) == TEXT


@pytest.mark.usefixtures(clean_hub.__name__)
async def test_command_text_and_json_on_the_memory_backend() -> None:
    a = await connect(uid="ann", groups=("lobby", "room 2"))
    b = await connect(groups=("lobby",))
    assert await gateway.aset_session(a.client_id, {"k": 1})
    hub = running_hub()
    assert hub is not None
    hub.counters.delivered = 5

    def run(*args: str) -> str:
        out = StringIO()
        with mock.patch("pushapp.observe.stats.time.time", return_value=hub.started_at + 61):
            call_command("pushstats", *args, stdout=out)
        return out.getvalue()

    expected = {
        "version": 1,
        "clients": 2,
        "uids": 1,
        "groups": 2,
        "processes": [
            {
                "node": hub.node_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "clients": 2,
                "uptime": 61.0,
                "delivered": 5,
                "dropped": 0,
                "dropped_bytes": 0,
                "heartbeat_age": 0.0,
            }
        ],
        "top_groups": [{"group": "lobby", "clients": 2}, {"group": "room 2", "clients": 1}],
        "group": {
            "name": "room 2",
            "members": [{"client_id": a.client_id, "uid": "ann", "session": {"k": 1}}],
        },
    }
    assert json.loads(await sync_to_async(run)("--json", "--group", "room 2")) == expected
    del expected["group"]
    assert await sync_to_async(run)() == render(expected)
    assert await sync_to_async(run)("--top", "1") == render(
        {**expected, "top_groups": expected["top_groups"][:1]}
    )
    await a.close()
    await b.close()


def test_unreachable_backend_is_a_command_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
        }
    }
    with override_settings(CHANNEL_LAYERS=layers), pytest.raises(CommandError, match="cannot read"):
        call_command("pushstats", stdout=StringIO())


def test_bad_arguments() -> None:
    with pytest.raises(CommandError, match="positive"):
        call_command("pushstats", "--watch", "0", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("pushstats", "--group", "x" * 1025, stdout=StringIO())


def test_watch_refreshes_until_interrupted() -> None:
    out = StringIO()
    with mock.patch(
        "pushapp.management.commands.pushstats.time.sleep", side_effect=[None, KeyboardInterrupt]
    ):
        call_command("pushstats", "--watch", "2", stdout=out)
    assert out.getvalue().count("clients: 0") == 2  # shown, slept, shown, interrupted
