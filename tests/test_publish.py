"""Sync sends on the pub/sub layer: queued and written in order by one thread; flush() reports failures."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import redis
from channels.layers import get_channel_layer
from django.test import override_settings

from pushapp import gateway
from pushapp.exceptions import InvalidUid, PushappError, RedisUnavailable
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until


def pubsub_layers(url: str) -> dict[str, dict[str, object]]:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": "publish-test"},
        }
    }


def test_queued_sends_arrive_in_order_and_flush_waits(redis_url: str) -> None:
    listener = redis.Redis.from_url(redis_url).pubsub()
    listener.subscribe("publish-test__group__pushapp.all")
    listener.get_message(timeout=5)  # the subscribe confirmation
    try:
        with override_settings(CHANNEL_LAYERS=pubsub_layers(redis_url)):
            for i in range(500):
                gateway.send_to_all(str(i))
            gateway.flush(timeout=10)
            layer = get_channel_layer()
            seen = []
            while len(seen) < 500 and (message := listener.get_message(timeout=5)) is not None:
                seen.append(layer.deserialize(message["data"])["t"])
    finally:
        listener.close()
    assert seen == [f'"{i}"' for i in range(500)]  # each str payload as its JSON


def test_bad_input_still_raises_at_the_call(redis_url: str) -> None:
    with override_settings(CHANNEL_LAYERS=pubsub_layers(redis_url)), pytest.raises(InvalidUid):
        gateway.send_to_uid(None, "x")  # type: ignore[arg-type]


def test_flush_reports_sends_redis_did_not_take() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    with override_settings(CHANNEL_LAYERS=pubsub_layers(f"redis://127.0.0.1:{port}/0")):
        gateway.send_to_uid("u", "lost")  # queued: returns at once
        with pytest.raises(PushappError, match="could not be written"):
            gateway.flush(timeout=30)
        gateway.flush(timeout=30)  # reported once


def test_during_an_outage_sync_sends_raise_at_the_call_and_work_again_after(
    private_redis: RedisServer,
) -> None:
    port = private_redis.port
    with override_settings(CHANNEL_LAYERS=pubsub_layers(private_redis.url)):
        gateway.send_to_uid("u", "before")
        gateway.flush(timeout=10)
        private_redis.stop()
        # The first sends are queued before the sender thread finds Redis gone; once it has, sends raise.
        raised = wait_until(lambda: _raises(lambda: gateway.send_to_uid("u", "during")), "a send to raise")
        assert isinstance(raised, RedisUnavailable) and "unreachable" in str(raised)
        with pytest.raises(PushappError, match="could not be written"):
            gateway.flush(timeout=10)  # the ones queued before it was known are reported, and counted
        private_redis.start_on(port)
        wait_until(lambda: _raises(lambda: gateway.send_to_uid("u", "after")) is None, "sends to work again")
        gateway.flush(timeout=10)


def _raises(call: Callable[[], object]) -> Exception | None:
    try:
        call()
    except Exception as err:
        return err
    return None
