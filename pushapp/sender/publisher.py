"""Sends on the channels-redis pub/sub layer written straight to Redis, with pushapp's own clients.

The pub/sub layer's wire format is two lines — ``PUBLISH <channel> <layer.serialize(message)>``, groups on
``<prefix>__group__<group>`` — so a sync caller (a WSGI view, a Celery task) need not hop to an event loop
thread for every send: sends are queued and written in pipelined batches by one thread. A push with
history is one call of the history's script, which stores and publishes it at once (:meth:`atomic`): in
that thread for sync sends, awaited for async ones (:mod:`pushapp.sender.publish` decides which).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import weakref
from collections import deque
from typing import Any

from channels_redis.utils import _consistent_hash

from ..conf import push_settings
from ..exceptions import PushappError, RedisUnavailable
from ..history.base import Guard, Limits
from ..history.redis import DROPS, SCRIPT, append_args, key_prefix, marked, once_args
from ..runtime import telemetry
from ..runtime.redis import LoopClients, layer_hosts, sync_client
from .ops import Op, guard_of, sends
from .retry import retry

logger = logging.getLogger(__name__)

#: Publishes a run of messages in one command: ARGV is channel, message, channel, message, …
PUBLISH_MANY = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV / 2"

#: Messages per PUBLISH_MANY call: Redis serves nobody else while a script runs (about 1 µs a message).
RUN_LIMIT = 500

_publishers: weakref.WeakSet[DirectPublisher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A lock held by the parent's sender thread at fork would stay held forever in the child."""
    for publisher in list(_publishers):
        publisher._lock = threading.Lock()
        publisher._cond = threading.Condition(publisher._lock)
        publisher._owner = 0
        publisher._idle = False


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _flush_at_exit() -> None:
    for publisher in list(_publishers):
        if publisher._owner == os.getpid():
            try:
                publisher.flush(timeout=5)
            except PushappError as err:
                logger.error("pushapp: at exit: %s", err)


class DirectPublisher:
    """PUBLISH as ``RedisPubSubChannelLayer`` does it, on pushapp's own connections (which do not retry by
    themselves: :mod:`pushapp.sender.retry` does).

    A sync send is serialized in the caller's thread and queued; one sender thread per process writes
    everything queued in one pipelined round trip. The caller does not wait for Redis (GatewayClient does
    not either), so a burst costs far less than a round trip per send, and order is kept. Operations that
    must see earlier sends (joins, binds, closes) wait for the queue first (:meth:`flush`); so does the
    process at exit. A write that failed every attempt is logged and counted, and raised by the next
    :meth:`flush`.
    """

    #: Operations that may wait in the queue; a caller beyond it waits for room (bounded memory).
    MAX_PENDING = 10_000

    def __init__(self, layer: Any, config: dict[str, Any]) -> None:
        self.serialize = layer.serialize
        prefix = str(config.get("prefix", "asgi"))
        self.group_prefix = prefix + "__group__"
        self.key_prefix = key_prefix(prefix)
        hosts = layer_hosts(config)
        self.clients = [sync_client(host, retries=0) for host in hosts]
        self.async_clients = LoopClients(hosts, retries=0)
        # A plain lock under the condition: entering it is a C call, not Condition.__enter__'s Python one.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[tuple[int, str | None, Any]] = (
            deque()
        )  # (shard, channel, data) or (shard, None, script args)
        self._scripts = [client.register_script(SCRIPT) for client in self.clients]
        self._publish_many = [client.register_script(PUBLISH_MANY) for client in self.clients]
        self._busy = 0  # operations taken by the sender thread and not yet written
        self._failed = 0
        self.lost = 0  # sends that never reached Redis, since the start (each was logged)
        self._down: str | None = None  # why the last batch failed, until one succeeds
        self._owner = 0  # pid whose sender thread runs: a forked child (Celery prefork) starts its own
        self._idle = False  # the sender thread waits for sends: the next one wakes it
        _publishers.add(self)

    def _channel(self, op: Op) -> tuple[int, str]:
        """The shard and the pub/sub channel ``op`` is published on, as channels-redis picks them."""
        channel = op.name if op.method == "send" else self.group_prefix + op.name
        shards = len(self.clients)
        return (_consistent_hash(channel, shards) if shards > 1 else 0), channel

    def atomic(self, op: Op, limits: Limits, guard: Guard | None = None) -> tuple[int, list[Any]] | None:
        """The shard and the history script's arguments that store ``op``'s push (``limits``: its own) and
        publish it, in one call (claiming ``guard``'s key, scheduling its deadline); None when the layer's
        serialized form hides the script's markers (encryption): the push is then stored first and sent
        after, by the async carrier."""
        shard, channel = self._channel(op)
        data = marked(op.message, self.serialize)
        if data is None:
            return None
        return shard, append_args(self.key_prefix, op.message, limits, (channel, data), guard)

    async def arun(self, shard: int, args: list[Any]) -> None:
        """Run the script call :meth:`atomic` made, from async code, on this loop's connection."""
        _count(args, await self.async_clients.get()[shard].register_script(SCRIPT)(args=args))

    def _items(self, send: list[Op]) -> list[tuple[int, str | None, Any]] | None:
        """The queue items of one send (:func:`~pushapp.sender.ops.sends`); None when it cannot be written
        from here: an encrypted layer (see :meth:`atomic`), or an idempotent send of several ops that is not
        all plain pushes on one shard (the async carrier claims its key in a round trip of its own)."""
        key = send[0].key
        if key is not None and not (len(send) == 1 and send[0].limits is not None):
            if any(op.limits is not None for op in send):
                return None
            channels = [self._channel(op) for op in send]
            if len({shard for shard, _ in channels}) > 1:
                return None
            publishes = [
                (channel, self.serialize(op.message)) for op, (_, channel) in zip(send, channels, strict=True)
            ]
            return [
                (
                    channels[0][0],
                    None,
                    once_args(self.key_prefix, key, push_settings.IDEMPOTENCY_TTL, publishes),
                )
            ]
        items: list[tuple[int, str | None, Any]] = []
        for op in send:
            if op.limits is None:
                shard, channel = self._channel(op)
                items.append((shard, channel, self.serialize(op.message)))
            elif (write := self.atomic(op, op.limits, guard_of(op, True))) is not None:
                items.append((write[0], None, write[1]))
            else:
                return None
        return items

    def publish(self, ops: list[Op]) -> bool:
        """Queue ``ops``; False, queueing none of them, when one cannot be written from here (see
        :meth:`_items`)."""
        if ops[0].key is None and (len(ops) == 1 or all(op.key is None for op in ops)):
            found = self._items(ops)  # no idempotency key: the usual send, one piece
            if found is None:
                return False
            items = found
        else:
            items = []
            for send in sends(ops):
                found = self._items(send)
                if found is None:
                    return False
                items += found
        if self._down is not None:
            self._check_back(items[0][0] if items else 0)
        with self._lock:
            if not self._owner:  # never started, or this is a fork's child (reset at fork)
                self._start()
            while len(self._queue) >= self.MAX_PENDING:
                self._cond.wait()
            self._queue.extend(items)
            if self._idle:  # wake the sender only if it sleeps: a burst's later sends skip notify()
                self._idle = False
                self._cond.notify_all()
        return True

    def _check_back(self, shard: int) -> None:
        """Redis failed the last batch: ask it (a PING, retried as a send is) before queueing more, and
        raise here, at the call, while it is still away, instead of failing later in the background."""
        try:
            retry(self.clients[shard].ping)
        except Exception as err:
            raise RedisUnavailable(f"Redis is unreachable, the send was not made: {self._down}") from err
        self._down = None

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued send is written; raise if any could not be since the last flush."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._queue and not self._busy, timeout):
                raise PushappError(f"{len(self._queue) + self._busy} sends still queued after {timeout}s")
            failed, self._failed = self._failed, 0
        if failed:
            raise RedisUnavailable(f"{failed} sends could not be written to Redis (see the log)")

    def _start(self) -> None:
        self._owner = os.getpid()
        self._queue.clear()  # a fork's copy belongs to the parent, which sends it
        self._busy = 0
        threading.Thread(target=self._run, name="pushapp-publish", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                batch = list(self._queue)
                self._queue.clear()
                self._busy = len(batch)
                self._cond.notify_all()
            try:
                for shard, commands in self._commands(batch).items():
                    retry(functools.partial(self._write, shard, commands))
            except Exception as err:
                logger.error("pushapp: %d sends could not be written to Redis: %s", len(batch), err)
                with self._cond:
                    self._failed += len(batch)
                    self.lost += len(batch)
                    telemetry.stats.sync_send_failures += len(batch)
                    self._down = str(err)
            else:
                self._down = None
            with self._cond:
                self._busy = 0
                self._cond.notify_all()

    def _write(self, shard: int, commands: list[tuple[Any, list[Any]]]) -> None:
        pipe = self.clients[shard].pipeline(transaction=False)
        for script, args in commands:
            script(args=args, client=pipe)
        for (_, args), answer in zip(commands, pipe.execute(), strict=True):
            _count(args, answer)

    def _commands(self, batch: list[tuple[int, str | None, Any]]) -> dict[int, list[tuple[Any, list[Any]]]]:
        """Per shard, the calls that carry ``batch`` in order: each run of plain messages in one
        PUBLISH_MANY (one command, one reply to parse, instead of one per message: the sender thread's
        cost per send, which the caller shares a GIL with), each push with history in its own call. A
        lone message is a plain PUBLISH: a script in a pipeline costs a SCRIPT EXISTS round trip first."""
        commands: dict[int, list[tuple[Any, list[Any]]]] = {}
        for shard, channel, data in batch:
            calls = commands.setdefault(shard, [])
            if channel is None:  # a push on a stream with history: stored and published by the script
                calls.append((self._scripts[shard], data))
            elif calls and calls[-1][0] is self._publish_many[shard] and len(calls[-1][1]) < 2 * RUN_LIMIT:
                calls[-1][1].extend((channel, data))
            else:
                calls.append((self._publish_many[shard], [channel, data]))
        for calls in commands.values():
            for i, (script, args) in enumerate(calls):
                if len(args) == 2 and script in self._publish_many:
                    calls[i] = (_publish, args)
        return commands


def _publish(args: list[Any], client: Any) -> None:
    client.publish(*args)


def _count(args: list[Any], answer: Any) -> None:
    """Count in ``drops`` a history script call that stored or published nothing: a send whose
    idempotency key was claimed already, a push whose version was stale."""
    if args[0] == "append" and int(answer[2]):
        telemetry.stats.drops[DROPS[int(answer[2])]] += 1
    elif args[0] == "once" and not int(answer):
        telemetry.stats.drops["duplicate"] += 1


def _queue_depth() -> int:
    """Sends queued (or being written) by this process's publishers: the sync-send queue depth metric."""
    return sum(len(p._queue) + p._busy for p in list(_publishers))


telemetry.sync_queue_depth = _queue_depth
