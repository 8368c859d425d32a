"""The hub's own pub/sub reads (pushapp.redis.subscriber), against real Redis servers: what it connects
to, that it receives what channels-redis publishes, with a password, across two shards, and after Redis
restarts (it reconnects and subscribes again by itself)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.test import override_settings

from pushapp.hub import _hub_layer
from pushapp.redis.subscriber import HubLayer, direct_config, hub_layer
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="starts its own redis-servers")

DEADLINE = 10.0


def test_plain_hosts_are_read_directly_and_the_rest_by_the_layer() -> None:
    assert direct_config({"hosts": ["redis://:s%40cret@10.0.0.1:6380/2"]}) == [
        {"host": "10.0.0.1", "port": 6380, "password": "s@cret", "username": None, "client_name": None}
    ]
    assert direct_config({"hosts": [("127.0.0.1", 6379)]}) == [
        {"host": "127.0.0.1", "port": 6379, "password": None, "username": None, "client_name": None}
    ]
    assert direct_config({"hosts": [{"address": "unix:///run/redis.sock", "client_name": "web"}]}) == [
        {"path": "/run/redis.sock", "password": None, "username": None, "client_name": "web"}
    ]
    assert direct_config({"hosts": ["rediss://example.com:6380"]}) is None  # TLS: redis-py's reader
    assert direct_config({"hosts": [{"address": "redis://h:1", "ssl_cert_reqs": None}]}) is None
    assert direct_config({"hosts": [{"sentinels": [("h", 26379)], "master_name": "m"}]}) is None


def test_the_hub_reads_directly_on_the_pubsub_layer_only(redis_url: str) -> None:
    pubsub = {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    with override_settings(CHANNEL_LAYERS={"default": pubsub}):
        assert isinstance(_hub_layer(), HubLayer)
    tls = {**pubsub, "CONFIG": {"hosts": ["rediss://127.0.0.1:1"]}}
    with override_settings(CHANNEL_LAYERS={"default": tls}):
        assert isinstance(_hub_layer(), RedisPubSubChannelLayer)
    memory = {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    with override_settings(CHANNEL_LAYERS={"default": memory}):
        assert not isinstance(_hub_layer(), HubLayer)


async def _next(reader: HubLayer, channel: str) -> dict[str, Any]:
    return await asyncio.wait_for(reader.receive(channel), DEADLINE)


def _reader(hosts: list[Any]) -> tuple[RedisPubSubChannelLayer, HubLayer]:
    layer = RedisPubSubChannelLayer(hosts=hosts, prefix="sub-test")
    reader = hub_layer(layer, {"hosts": hosts, "prefix": "sub-test"})
    assert reader is not None
    return layer, reader


async def test_it_receives_its_channel_and_groups_with_a_password_and_leaves_groups() -> None:
    with RedisServer(extra_args=("--requirepass", "s3cret")) as redis:
        url = f"redis://:s3cret@127.0.0.1:{redis.port}/0"
        layer, reader = _reader([url])
        try:
            receiving = asyncio.ensure_future(reader.receive("pushapp.hub.test"))
            while not receiving.done():  # subscribed once a message sent to the channel comes in
                await layer.send("pushapp.hub.test", {"type": "hello"})
                await asyncio.wait([receiving], timeout=0.05)
            assert receiving.result() == {"type": "hello"}
            await reader.group_add("g1", "pushapp.hub.test")
            await layer.group_send("g1", {"type": "to-group", "n": 1})
            message = await _next(reader, "pushapp.hub.test")
            while message["type"] == "hello":  # more hellos may have followed the first
                message = await _next(reader, "pushapp.hub.test")
            assert message == {"type": "to-group", "n": 1}
            await reader.group_discard("g1", "pushapp.hub.test")
            await layer.group_send("g1", {"type": "to-group", "n": 2})
            await layer.send("pushapp.hub.test", {"type": "after"})
            assert await _next(reader, "pushapp.hub.test") == {"type": "after"}  # not the group's n=2
        finally:
            reader.close_reads()
            await layer.flush()


async def test_groups_on_two_shards_reach_it_and_survive_a_redis_restart() -> None:
    with RedisServer() as first, RedisServer() as second:
        layer, reader = _reader([first.url, second.url])
        groups = [f"group-{i}" for i in range(8)]  # spread over both shards by the layer's hash
        try:
            for group in groups:
                await reader.group_add(group, "pushapp.hub.test")
            for group in groups:
                await layer.group_send(group, {"type": "push", "g": group})
            got = {(await _next(reader, "pushapp.hub.test"))["g"] for _ in groups}
            assert got == set(groups)
            first.restart()  # its subscriptions are gone: the reader must notice and subscribe again
            second.restart()
            pending = set(groups)
            deadline = asyncio.get_running_loop().time() + DEADLINE
            while pending:
                assert asyncio.get_running_loop().time() < deadline, f"never came back: {pending}"
                for group in pending:
                    with contextlib.suppress(Exception):  # the layer's own connection may be reconnecting
                        await layer.group_send(group, {"type": "push", "g": group})
                try:
                    message = await asyncio.wait_for(reader.receive("pushapp.hub.test"), 0.1)
                except TimeoutError:
                    continue
                pending.discard(message["g"])
        finally:
            reader.close_reads()
            await layer.flush()
