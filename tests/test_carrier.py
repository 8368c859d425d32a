"""One carrier for every send: the plan decides each op once (its target, and its history limits), the
carrier carries it as decided, on every layer and through one retry policy; the stores only store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer
from django.test import override_settings

from pushapp import gateway, history
from pushapp.history.base import Ask, Limits, Read
from pushapp.protocol.names import uid_layer_group
from pushapp.runtime.twins import target_loop
from pushapp.sender import plans, retry
from pushapp.sender.publish import _direct_publisher, apublish

UID_HISTORY = {"HISTORY": {"uid": {"size": 5, "ttl": 60}}}


def test_the_plan_states_each_ops_target_and_history_limits() -> None:
    with override_settings(PUSHAPP={"HISTORY": {"uid": {"size": 5, "ttl": 60}, "group": {"only": "kept.*"}}}):
        (op,) = plans.send_to_uid("7", "x")
        assert (op.method, op.name, op.message["s"], op.limits) == (
            "group_send",
            uid_layer_group("7"),
            "uid:7",
            Limits(5, 60.0),
        )
        assert plans.send_to_uid("7", b"bytes")[0].limits is None  # bytes are never kept
        kept, plain = plans.send_to_group(["kept.a", "other"], "x")
        assert (kept.message["s"], kept.limits) == ("group:kept.a", Limits(100, 600.0))
        assert ("s" in plain.message, plain.limits) == (False, None)
        (frame,) = plans.frame_to_group("kept.a", '{"type":"presence"}')
        assert (frame.limits, frame.message["f"]) == (None, 1)  # a server frame is never kept
    (op,) = plans.send_to_uid("7", "x")
    assert op.limits is None


async def test_the_carrier_carries_what_the_plan_decided() -> None:
    """Planned while the uid kept history, carried after that changed (``on_commit=True`` does that): the
    push is stored all the same, with the plan's limits. No carrier reads the settings again."""
    with override_settings(PUSHAPP=UID_HISTORY):
        ops = plans.send_to_uid("7", "x")
    await apublish(ops)
    read = await history.get_history().aread([Ask("uid:7", 5, 60.0)])
    assert read["uid:7"].position.offset == 1


class Flaky:
    """Fails ``failures`` times with ``error``, then answers."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"

    async def acall(self) -> str:
        return self()


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BACKOFF", 0)


async def retried_async(flaky: Flaky) -> str:
    return await retry.aretry(flaky.acall)


@pytest.mark.usefixtures("no_backoff")
@pytest.mark.parametrize("run", [retry.retry, retried_async], ids=["sync", "async"])
async def test_one_retry_policy_for_every_carrier(run: Callable[[Flaky], Any]) -> None:
    async def attempt(flaky: Flaky) -> str:
        result = run(flaky)
        return str(await result if asyncio.iscoroutine(result) else result)

    again = Flaky(retry.ATTEMPTS - 1, redis.ConnectionError("lost"))
    assert await attempt(again) == "done" and again.calls == retry.ATTEMPTS  # a lost connection: again
    gone = Flaky(retry.ATTEMPTS, ConnectionResetError())
    with pytest.raises(ConnectionResetError):
        await attempt(gone)
    assert gone.calls == retry.ATTEMPTS  # then the error is the caller's
    wrong = Flaky(1, ValueError("bad message"))
    with pytest.raises(ValueError):
        await attempt(wrong)
    assert wrong.calls == 1  # anything else would fail the same way again: not retried


def pubsub(url: str, prefix: str, encrypted: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"hosts": [url], "prefix": prefix}
    if encrypted:
        config["symmetric_encryption_keys"] = ["not-a-secret"]
    return {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": config}}


@pytest.fixture
def listener(redis_url: str, prefix: str) -> Iterator[Any]:
    listening = redis.Redis.from_url(redis_url).pubsub()
    listening.subscribe(f"{prefix}__group__{uid_layer_group('7')}")
    listening.get_message(timeout=5)  # the subscribe confirmation
    yield listening
    listening.close()


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_sync_push_with_history_is_stored_and_published_on_the_pubsub_layer(
    redis_url: str, prefix: str, listener: Any, encrypted: bool
) -> None:
    """In one script call where the layer's serialized message shows the offset's and epoch's markers;
    where it hides them (encryption), stored first and then sent. Either way every client gets it."""
    with override_settings(CHANNEL_LAYERS=pubsub(redis_url, prefix, encrypted), PUSHAPP=UID_HISTORY):
        for n in range(3):
            gateway.send_to_uid("7", n)
        gateway.flush(timeout=10)
        assert_stored_and_published(
            listener, asyncio.run_coroutine_threadsafe(read(), target_loop()).result()
        )


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_an_async_push_with_history_is_stored_and_published_on_the_pubsub_layer(
    redis_url: str, prefix: str, listener: Any, encrypted: bool
) -> None:
    with override_settings(CHANNEL_LAYERS=pubsub(redis_url, prefix, encrypted), PUSHAPP=UID_HISTORY):
        for n in range(3):
            await gateway.asend_to_uid("7", n)
        assert_stored_and_published(listener, await read())


async def read() -> Read:
    """The stream as stored; then this loop's Redis connections are closed, before the settings (and with
    them the layer and the stores that hold these connections) go."""
    try:
        return (await history.get_history().aread([Ask("uid:7", 5, 60.0)]))["uid:7"]
    finally:
        layer = get_channel_layer()
        await layer.flush()
        await history.get_history().clients.aclose()
        direct = _direct_publisher(layer)
        assert direct is not None
        await direct.async_clients.aclose()


def assert_stored_and_published(listener: Any, stored: Read) -> None:
    layer = get_channel_layer()
    seen = []
    while len(seen) < 3 and (message := listener.get_message(timeout=5)) is not None:
        seen.append(layer.deserialize(message["data"]))
    assert [(m["t"], m["o"], m["e"]) for m in seen] == [
        (str(n), n + 1, stored.position.epoch) for n in range(3)
    ]
    assert stored.position.offset == 3
