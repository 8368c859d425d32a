"""The hub's own pub/sub reads (pushapp.server.hub.subscriber), against real Redis servers: what it connects
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

from pushapp.server.hub import _hub_layer
from pushapp.server.hub.subscriber import HubLayer, direct_config, hub_layer
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
    sentinel = {"sentinels": [("h", 26379)], "master_name": "m"}  # asked where the master is at each connect
    assert direct_config({"hosts": [sentinel]}) == [
        {"sentinel": sentinel, "password": None, "username": None, "client_name": None}
    ]


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


class _Cut:
    """A TCP relay to Redis that can go silent without closing, as a cut network does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.silent = False
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.relays: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.relays.add(task)
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [client_w, redis_w]

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    if not self.silent:
                        writer.write(data)
            finally:  # one side closed: close both
                client_w.close()
                redis_w.close()

        await asyncio.gather(pipe(client_r, redis_w), pipe(redis_r, client_w), return_exceptions=True)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        if self.relays:
            await asyncio.wait(self.relays, timeout=DEADLINE)
        for writer in self.writers:
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        await self.server.wait_closed()


async def test_a_connection_gone_silent_is_noticed_on_rejoin_and_made_anew(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pushapp.server.hub.subscriber as subscriber

    monkeypatch.setattr(subscriber, "CONFIRM_TIMEOUT", 0.5)
    cut = _Cut(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
    relay = f"redis://127.0.0.1:{await cut.start()}/0"
    layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix="sub-cut")
    reader = hub_layer(layer, {"hosts": [relay], "prefix": "sub-cut"})
    assert reader is not None
    try:
        await reader.group_add("g", "pushapp.hub.test")
        cut.silent = True  # nothing gets through, and nothing closes
        with pytest.raises(TimeoutError):
            await reader.group_add("g", "pushapp.hub.test")  # the probe's rejoin: a confirmation is due
        cut.silent = False  # the old connection is dropped; the next one subscribes everything again
        deadline = asyncio.get_running_loop().time() + DEADLINE
        while True:
            assert asyncio.get_running_loop().time() < deadline, "the subscription never came back"
            await layer.group_send("g", {"type": "after-cut"})
            try:
                message = await asyncio.wait_for(reader.receive("pushapp.hub.test"), 0.2)
            except TimeoutError:
                continue
            assert message == {"type": "after-cut"}
            break
    finally:
        reader.close_reads()
        await layer.flush()
        await cut.stop()
