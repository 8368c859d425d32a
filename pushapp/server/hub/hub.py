"""The hub: one per server process (per event loop), orchestrating that process's connections.

It listens on ONE layer channel (``pushapp.hub.<node id>``, the routing half of every client id it
issues) and joins each layer group once while a local connection needs it; a layer message is decoded
once and handed, with all its local recipients, to the sinks. Its parts decide, the hub does the I/O:
:mod:`.recovery` says what a welcome replays and :mod:`.streams` what to deliver or which gap to read;
the hub reads the history and writes. The operations (:mod:`.control`) act on its parts. See
docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Coroutine
from typing import Any

from ... import history
from ...codes import CloseCode
from ...history.base import Entry, Position
from ...presence import get_backend as backend
from ...presence.base import Writer
from ...protocol import frames, wire
from ...protocol.frames import Payload
from ...protocol.names import ALL_GROUP, hub_channel, new_node_id
from ...runtime import loops, telemetry
from ...runtime.layer import ChannelLayer
from ...runtime.perloop import wait_until_receiving
from ...runtime.registry import Connection, Registry
from ...sender.publish import apublish_frame as emit
from ..sockets import Counters, Sinks
from . import control, info, receipts, recovery
from .dedupe import Dedupe
from .membership import LayerMembership
from .probe import Probe
from .report import push_report, report_loop
from .streams import Delivery, Gap, StreamOrder, stream_targets
from .sweep import sweep

logger = logging.getLogger(__name__)

Groups = tuple[str, ...]
Recover = dict[str, Position] | None


class Hub:
    """This process's connections and its one channel-layer channel.

    It hands its parts six callables: ``info_pairs`` twice (presence writer, ``loops.LocalNode``),
    ``_redis_lost`` and the sender's ``apublish_frame`` (presence writer), a lambda each to
    ``report_loop`` and the sinks (slow clients). Other parts get objects: the hub as
    :class:`.control.Parts` (operations, sweep) and as :class:`.probe.Healer`, the stream order to the
    membership."""

    def __init__(self, layer: ChannelLayer) -> None:
        self.layer = layer
        self.node_id = new_node_id()
        self.channel = hub_channel(self.node_id)
        self.started_at = time.time()
        self.registry = Registry()
        self.counters = Counters()
        self.sinks = Sinks(self.counters, lambda conn: self._background(self.close(conn, CloseCode.TOO_SLOW)))
        self.streams = StreamOrder()
        self.membership = LayerMembership(layer, self.channel, self.streams)
        self.presence: Writer = Writer()
        self.welcomes = recovery.Welcomes()
        self.revoked = control.Revocations()
        self._dedupe = Dedupe()
        self._probe = Probe(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._background_tasks: set[asyncio.Future[None]] = set()
        self.ready = asyncio.Event()  # set once started: listening, and in the "all" group
        self._listening = asyncio.Event()
        self._reported = float("-inf")  # when the last live report was pushed (monotonic)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._receive_loop(), name=f"pushapp-hub-{self.node_id}"))
        self._tasks.append(asyncio.create_task(sweep(self), name=f"pushapp-sweep-{self.node_id}"))
        self._tasks.append(asyncio.create_task(receipts.watch(), name=f"pushapp-due-{self.node_id}"))
        # A pub/sub layer only lets a channel join groups once receive() has subscribed it.
        await wait_until_receiving(self.layer, self.channel, self._listening)
        await self.membership.hold([ALL_GROUP, self._probe.group])  # revocations come: read the older ones
        self.revoked.add(await backend().arevocations())
        self._tasks.append(asyncio.create_task(self._probe.run(), name=f"pushapp-probe-{self.node_id}"))
        self.presence = backend().writer(self.node_id, self.registry, self.info_pairs, self._redis_lost, emit)
        await self.presence.start()
        report = report_loop(self.node_id, self.layer, lambda: self.registry.has_group(telemetry.WATCH_GROUP))
        self._tasks.append(asyncio.create_task(report, name=f"pushapp-report-{self.node_id}"))
        node = loops.LocalNode(self.node_id, asyncio.get_running_loop(), self.registry, self.info_pairs)
        loops.register(node)
        self.ready.set()

    async def stop(self, code: int = CloseCode.SERVICE_RESTART) -> None:
        """Close every local connection and leave every layer group (graceful shutdown)."""
        self.ready.clear()
        loops.unregister(self.node_id)
        for conn in self.registry:
            await self.close(conn, code)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.membership.leave_all()
        await self.presence.stop()
        getattr(self.layer, "close_reads", lambda: None)()  # its own reads (.subscriber), if it has them

    def info_pairs(self) -> list[str]:
        """This process as ``manage.py pushstats`` shows it, as field/value pairs."""
        return info.info_pairs(self.registry, self.counters, self.started_at)

    async def connect(
        self, conn: Connection, groups: Groups, recover: Recover = None, latest: Collection[str] = ()
    ) -> Connection:
        """Register a new connection (its client id one of this hub's): join its uid and ``groups``, then
        welcome it (and replay what it missed on its streams with history, when ``recover`` asks; the
        last push of those of ``latest`` it does not recover)."""
        sink = conn.sink
        try:
            await control.enter(self, conn, groups)
            streams = history.config().streams_of(conn.uid, conn.groups)
            if not streams:
                await sink.send(conn, control.welcome(conn))
                self.registry.add(conn)  # only now, so that no push can reach it before its welcome
                if recover is not None:  # none of what it asks for is a stream it follows with history
                    await sink.send(conn, frames.recovered_frame(dict.fromkeys(recover, False)))
                return conn
            self.welcomes.hold(conn)
            self.registry.add(conn)
            reads = await history.get_history().aread(recovery.asks(streams, recover, latest))
            replay = self.welcomes.replay(conn, reads, recover, latest)
            await sink.send(conn, control.welcome(conn, replay.welcome))
            await recovery.write_out(self.welcomes, conn, replay.writes)
            return conn
        except BaseException:
            await control.undo_enter(self, conn, groups)
            raise

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        await control.close(self, conn, code, message)

    async def _receive_loop(self) -> None:
        receive = self.layer.receive
        while True:
            try:
                message = await receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pushapp hub %s: receiving from the channel layer failed", self.node_id)
                await asyncio.sleep(1.0)
                continue
            try:
                await self._handle(message)
            except Exception:
                logger.exception("pushapp hub %s: bad layer message %r", self.node_id, message.get("type"))

    async def _handle(self, message: Any) -> None:
        kind = message.get("type", "")
        if kind == wire.PUSH:
            await self._on_push(message)
        elif kind == wire.CONTROL:
            self._background(control.answer(self, message))
        elif kind == wire.UNGROUP:
            await control.ungroup(self, message["g"])
        elif kind == wire.REVOKE:
            await control.revoke(self, message)
        elif kind == wire.READY:
            self._listening.set()
        elif kind == wire.PROBE:
            self._probe.received(message)
        elif kind == wire.REPORT and time.monotonic() - self._reported >= 0.5:  # one per interval is enough
            self._reported = time.monotonic()
            self._background(push_report(self.node_id, self.info_pairs()))

    async def _on_push(self, message: wire.Push) -> None:
        message_id = message.get("m")
        if message_id and self._dedupe.seen(message_id):
            return
        stream, offset = message.get("s"), message.get("o")
        if stream is not None and offset is not None:
            entry = Entry(offset, wire.payload_of(message), tuple(message.get("x", ())), message.get("v"))
            step = self.streams.arrange(stream, message["e"], entry)
            for delivery in [step] if isinstance(step, Delivery) else await self._fill([step]):
                await self._deliver_stream(delivery)
            return
        targets = self.registry.targets(message["k"], message.get("to"), message.get("x"), live=True)
        if targets:
            payload = wire.payload_of(message)
            await self.deliver(targets, payload if message.get("f") else frames.push_payload(payload))

    async def _fill(self, gaps: list[Gap]) -> list[Delivery]:
        """Read what ``gaps`` lack from the history, in one round trip, and what to deliver of them."""
        asks = [gap.ask for gap in gaps if gap.ask is not None]
        reads = await history.get_history().aread(asks) if asks else {}
        return [self.streams.fill(gap, reads.get(gap.stream)) for gap in gaps]

    async def _deliver_stream(self, delivery: Delivery) -> None:
        for entry in delivery.entries:
            targets = stream_targets(self.registry, delivery.stream, entry.exclude)
            if targets:
                position = Position(delivery.epoch, entry.offset)
                payload = frames.stream_payload(
                    entry.payload, delivery.stream, delivery.epoch, entry.offset, entry.version
                )
                await self.deliver(targets, payload, delivery.stream, position)
        if delivery.missed:
            await self._tell_missed(delivery.stream)

    async def _tell_missed(self, stream: str | None) -> None:
        """Tell the connections that may have missed pushes (on ``stream``; None: everyone) to refetch."""
        targets = list(self.registry) if stream is None else stream_targets(self.registry, stream)
        frame = frames.missed_frame(stream)  # once, for every recipient
        for conn in targets:
            await conn.sink.send(conn, frame)
        telemetry.stats.recoveries["missed"] += len(targets)

    async def deliver(
        self,
        targets: Collection[Connection],
        payload: Payload,
        stream: str | None = None,
        position: Position | None = None,
    ) -> None:
        """Hand one payload and all its recipients to the sinks, but for those whose welcome holds it back.
        ``targets`` may be a registry index's live set: it is read before the first await."""
        if self.welcomes:
            targets = self.welcomes.hold_back(targets, payload, stream, position)
        await self.sinks.deliver(targets, payload)

    async def _redis_lost(self) -> None:
        """Presence found Redis restarted empty (a probe may not notice): rejoin, and heal what can be."""
        await self.membership.rejoin()
        await self.heal()

    async def heal(self) -> bool:
        """Deliver from the history what this hub missed, and tell every connection that pushes without
        history may be lost; write presence again. False if Redis failed us meanwhile."""
        try:
            await self.presence.resync()
            deliveries = await self._fill(self.streams.gaps())
        except Exception:
            logger.warning("pushapp hub %s: healing failed; retrying", self.node_id, exc_info=True)
            return False
        for delivery in deliveries:
            await self._deliver_stream(delivery)
        await self._tell_missed(None)
        return True

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background_tasks.add(task)  # keep a reference until done, or it may be collected
        task.add_done_callback(self._background_tasks.discard)
