"""The presence script's event counts on a real Redis: a transition goes to exactly one caller, a dead
node's counts are released once by the heartbeats that reap it (a budget at a time), and re-registering
changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from django.test import override_settings

from pushapp.presence.events import group_field, uid_field
from pushapp.presence.redis import RedisBackend, RedisWriter
from pushapp.protocol.names import new_client_id, new_node_id
from pushapp.runtime.registry import Connection, Registry

TTL = 15.0
U7 = uid_field("7")
G7 = group_field("room", "7")


@pytest.fixture
def backend(redis_url: str, prefix: str) -> Iterator[RedisBackend]:
    with override_settings(PUSHAPP={"PRESENCE_TTL": TTL}):
        presence = RedisBackend({"address": redis_url}, prefix)
        yield presence
        client = presence.sync_client()
        keys = list(client.scan_iter(prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def register(backend: RedisBackend, node: str) -> None:
    backend._call("register", node, "host", "h", "pid", "1")


def test_a_transition_goes_to_one_caller(backend: RedisBackend) -> None:
    register(backend, "a")
    register(backend, "b")
    assert backend._call("count", "a", "+" + U7, "+" + G7) == ["+" + U7, "+" + G7]
    assert backend._call("count", "b", "+" + U7, "+" + G7) == []  # 7 is online already
    assert backend._call("count", "a", "-" + G7, "-" + U7) == []  # still on b
    assert backend._call("count", "a", "-" + U7) == []  # a has none left: ignored
    assert backend._call("count", "b", "-" + G7, "-" + U7) == ["-" + G7, "-" + U7]


def test_the_heartbeat_that_reaps_a_dead_node_releases_its_counts_once(backend: RedisBackend) -> None:
    register(backend, "dead")
    register(backend, "live")
    backend._call("count", "dead", "+" + U7, "+" + G7, "+" + uid_field("8"))
    backend._call("count", "live", "+" + uid_field("8"))
    # The dead node's last heartbeat, in Redis's clock, longer ago than the TTL.
    client = backend.sync_client()
    seconds, micros = client.time()
    client.zadd(backend.prefix + "nodes", {"dead": seconds + micros / 1e6 - TTL - 1})
    known, reaped = backend._call("heartbeat", "live", "host", "h")
    assert known == 1
    assert sorted(reaped) == sorted(["-" + U7, "-" + G7])  # 8 is still on the live node
    assert backend._call("heartbeat", "live", "host", "h") == [1, []]  # reaped once only


def test_dropping_a_node_releases_its_counts(backend: RedisBackend) -> None:
    register(backend, "a")
    backend._call("count", "a", "+" + U7)
    assert backend._call("drop", "a") == ["-" + U7]
    assert backend._call("drop", "a") == []


def test_a_node_that_writes_again_after_being_reaped_comes_back(backend: RedisBackend) -> None:
    """A stalled node wakes up: it is gone (its uids went offline), and its re-registration brings them
    online again; a "-" it sends in between, for counts it no longer holds, is ignored."""
    register(backend, "stalled")
    backend._call("count", "stalled", "+" + U7)
    register(backend, "other")
    client = backend.sync_client()
    seconds, micros = client.time()
    client.zadd(backend.prefix + "nodes", {"stalled": seconds + micros / 1e6 - TTL - 1})
    assert backend._call("heartbeat", "other", "host", "h")[1] == ["-" + U7]
    assert backend._call("count", "stalled", "-" + U7) == []
    assert backend._call("count", "stalled", "+" + uid_field("9")) == []  # not registered: not counted
    assert backend._call("heartbeat", "stalled", "host", "h")[0] == 0  # it must register again
    register(backend, "stalled")
    assert backend._call("count", "stalled", "+" + U7) == ["+" + U7]
    assert backend.sync_client().hkeys(backend.prefix + "e") == [U7.encode()]  # 9 left nothing behind


class Recorded:
    """Stands in for a writer's emitter: the transitions it would fire."""

    def __init__(self) -> None:
        self.transitions: list[str] = []

    def emit(self, transitions: list[str]) -> None:
        self.transitions += transitions

    async def drain(self) -> None:
        pass


async def nothing() -> None:
    pass


async def no_frames(group: str, frame: str) -> None:
    raise AssertionError("a presence frame without a group that asked for frames")


async def test_a_writer_resync_fires_only_what_changed(backend: RedisBackend) -> None:
    node = new_node_id()
    registry = Registry()
    writer = RedisWriter(backend, node, registry, lambda: ["host", "h"], nothing, no_frames)
    recorded = Recorded()
    writer.emitter = recorded  # type: ignore[assignment]
    await writer.start()
    try:
        stays, goes = (
            Connection(new_client_id(node), "7", None, None),
            Connection(new_client_id(node), "8", None, None),
        )
        stays.groups = ("room",)
        for conn in (stays, goes):
            registry.add(conn)
            await writer.connected(conn)
        assert recorded.transitions == ["+" + U7, "+" + G7, "+" + uid_field("8")]
        writer._resync = True
        await writer._commit([])
        assert recorded.transitions == ["+" + U7, "+" + G7, "+" + uid_field("8")]  # re-registered: nothing
        registry.remove(goes)  # gone while its write could not be made (Redis away): the resync tells
        writer._resync = True
        await writer._commit([])
        assert recorded.transitions[3:] == ["-" + uid_field("8")]
    finally:
        await writer.stop()
        await backend.aclose()


def test_a_batch_of_presence_writes_is_compacted_per_key_in_order() -> None:
    from pushapp.presence.redis import compact

    commands = [
        ("HSET", "c", "a", "1"),
        ("SADD", "u:1", "a"),
        ("SADD", "uids", "1"),
        ("HSET", "c", "b", ""),
        ("SADD", "uids", "2"),
        ("SREM", "uids", "1"),  # another verb on the key: what follows cannot join what came before
        ("SADD", "uids", "1"),
        ("HDEL", "c", "a"),
    ]
    assert compact(commands) == [
        ("HSET", "c", "a", "1", "b", ""),
        ("SADD", "u:1", "a"),
        ("SADD", "uids", "1", "2"),
        ("SREM", "uids", "1"),
        ("SADD", "uids", "1"),
        ("HDEL", "c", "a"),
    ]


def test_a_big_dead_node_is_reaped_a_budget_at_a_time(backend: RedisBackend) -> None:
    """A crash of a node with many connections: it leaves every answer at the first heartbeat after the
    TTL, and its keys go over several heartbeats, so that no one call blocks Redis for long; its counts
    are released exactly once in all."""
    n = 12_000  # over REAP_BUDGET (10,000 entries per call) once the uid sets are counted too
    register(backend, "big")
    register(backend, "live")
    client = backend.sync_client()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        uid = f"u{i}"
        pipe.hset(backend.prefix + "n:big:c", f"c{i}", uid)
        pipe.sadd(backend.prefix + "n:big:uids", uid)
        pipe.sadd(backend.prefix + "n:big:u:" + hashlib.sha1(uid.encode()).hexdigest(), f"c{i}")
    pipe.execute()
    for start in range(0, n, 1000):
        backend._call("count", "big", *("+" + uid_field(f"u{i}") for i in range(start, start + 1000)))
    assert backend._call("all_uids") and len(backend._call("all_uids")) == n
    seconds, micros = client.time()
    client.zadd(backend.prefix + "nodes", {"big": seconds + micros / 1e6 - TTL - 1})

    known, released = backend._call("heartbeat", "live", "host", "h")
    assert known == 1 and backend._call("all_uids") == []  # out of every answer at once
    assert client.sismember(backend.prefix + "grave", "big")  # its keys not all gone yet
    calls = 1
    while client.sismember(backend.prefix + "grave", "big"):
        released += backend._call("heartbeat", "live", "host", "h")[1]
        calls += 1
        assert calls < 10
    assert sorted(released) == sorted("-" + uid_field(f"u{i}") for i in range(n))  # each once
    assert [key for key in client.scan_iter(backend.prefix + "n:big:*")] == []
