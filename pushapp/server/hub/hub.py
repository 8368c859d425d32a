"""The hub: one per server process (per event loop), orchestrating that process's connections.

The hub, not each connection, talks to the channel layer. It listens on ONE layer channel
(``pushapp.hub.<node id>``, the routing half of every client id it issues), and joins each layer group
(one per pushapp group, one per uid, plus ``pushapp.all``) once, while at least one local connection
needs it. A message from the layer is decoded once and handed, with all its local recipients, to the
server's sink; there is no per-recipient Redis operation, task or thread hop. The parts it orchestrates
return values to it: the :class:`~pushapp.runtime.registry.Registry`, the
:class:`~.membership.LayerMembership`, the :mod:`~.control` table, the presence writer and the sinks.
See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any

from ... import history
from ...codes import CloseCode
from ...conf import push_settings
from ...history.base import Entry, Position
from ...presence import get_backend as backend
from ...presence.base import Writer
from ...protocol import wire
from ...protocol.frames import (
    Payload,
    missed_frame,
    push_payload,
    recovered_frame,
    stream_payload,
    welcome_frame,
)
from ...protocol.names import (
    ALL_GROUP,
    group_layer_group,
    hub_channel,
    new_client_id,
    new_node_id,
    probe_layer_group,
    uid_layer_group,
)
from ...runtime import loops, telemetry
from ...runtime.layer import ChannelLayer
from ...runtime.perloop import wait_until_receiving
from ...runtime.registry import Connection, Registry
from ...sender.publish import apublish_frame as emit
from ...tokens import Identity, client_proof
from .. import limits
from ..sockets import Counters, Sink, on_shutdown
from . import control
from .dedupe import Dedupe
from .membership import LayerMembership
from .probe import Probe
from .recovery import Welcomes
from .report import push_report, report_loop
from .streams import StreamOrder, stream_targets
from .sweep import sweep

logger = logging.getLogger(__name__)


class Hub:
    """This process's connections and its one channel-layer channel."""

    def __init__(self, layer: ChannelLayer, forget: Callable[[Hub], bool] = lambda hub: True) -> None:
        self.layer = layer
        self._forget = forget  # called on the server's shutdown: False if the hub was stopped already
        self.node_id = new_node_id()
        self.channel = hub_channel(self.node_id)
        self.started_at = time.time()
        self.registry = Registry()
        self.counters = Counters()
        self.streams = StreamOrder(lambda asks: history.get_history().aread(asks))
        self.membership = LayerMembership(layer, self.channel, self.streams.left)
        self.presence: Writer = Writer()
        self._dedupe = Dedupe()
        self.welcomes = Welcomes()
        self._sinks: dict[type[Sink], Sink] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background_tasks: set[asyncio.Future[None]] = set()
        self.ready = asyncio.Event()  # set once started: listening, and in the "all" group
        self._listening = asyncio.Event()
        self._reported = float("-inf")  # when the last live report was pushed (monotonic)
        self._handlers: dict[str, Callable[[Any], Awaitable[None]]] = {
            wire.PUSH: self._on_push,
            wire.CONTROL: self._on_control,
            wire.UNGROUP: self._on_ungroup,
            wire.READY: self._on_ready,
            wire.PROBE: self._on_probe,
            wire.REPORT: self._on_report,
        }
        self._probe = Probe(
            layer, probe_layer_group(self.node_id), self.membership.rejoin, self._heal, self.node_id
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._receive_loop(), name=f"pushapp-hub-{self.node_id}"))
        sweeping = sweep(self.registry, self.layer, self.close, self.membership.rejoin)
        self._tasks.append(asyncio.create_task(sweeping, name=f"pushapp-sweep-{self.node_id}"))
        # A pub/sub layer only lets a channel join groups once receive() has subscribed it.
        await wait_until_receiving(self.layer, self.channel, self._listening)
        await self.membership.hold([ALL_GROUP, self._probe.group])
        self._tasks.append(asyncio.create_task(self._probe.run(), name=f"pushapp-probe-{self.node_id}"))
        self.presence = backend().writer(self.node_id, self.registry, self.info_pairs, self._redis_lost, emit)
        await self.presence.start()
        report = report_loop(self.node_id, self.layer, lambda: self.registry.has_group(telemetry.WATCH_GROUP))
        self._tasks.append(asyncio.create_task(report, name=f"pushapp-report-{self.node_id}"))
        on_shutdown(self._shutdown)
        loops.register(
            loops.LocalNode(self.node_id, asyncio.get_running_loop(), self.registry, self.info_pairs)
        )
        self.ready.set()

    async def _shutdown(self) -> None:
        if self._forget(self):
            await self.stop()

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
        close_reads = getattr(self.layer, "close_reads", None)  # its own reads (.subscriber)
        if close_reads is not None:
            close_reads()

    def info_pairs(self) -> list[str]:
        """This process as ``manage.py pushstats`` shows it, as field/value pairs."""
        fields = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": f"{self.started_at:.3f}",
            "clients": len(self.registry),
            "delivered": self.counters.delivered,
            "dropped": self.counters.dropped,
            "dropped_bytes": self.counters.dropped_bytes,
            "uids": len(self.registry.uids),
            "groups": len(self.registry.groups),
        }
        fields.update(telemetry.labels())
        fields.update(telemetry.fields())
        fields.update({f"refused.{reason}": n for reason, n in limits.refused.items()})
        return [str(item) for pair in fields.items() for item in pair]

    def sink(self, kind: type[Sink]) -> Sink:
        """This hub's sink of ``kind`` (the consumer picks the kind for its server)."""
        sink = self._sinks.get(kind)
        if sink is None:
            sink = self._sinks[kind] = kind(self.counters, self._on_slow)
        return sink

    # -- connections -----------------------------------------------------------------------------

    async def connect(
        self, sink: Sink, handle: Any, identity: Identity, recover: dict[str, Position] | None = None
    ) -> Connection:
        """Register a new connection: join its uid and groups, then welcome it (and replay what it missed
        on its streams with history, when ``recover`` names positions)."""
        conn = Connection(new_client_id(self.node_id), identity.uid, sink, handle)
        names = [uid_layer_group(identity.uid)] if identity.uid is not None else []
        names += [group_layer_group(g) for g in identity.groups]
        try:
            await self.membership.hold(names)
            conn.groups.update(identity.groups)
            await self.presence.connected(conn)  # before the welcome: a page that got it may ask is_online
            streams = history.config().streams_of(conn.uid, conn.groups)
            if not streams:
                await sink.send(conn, self._welcome(conn))
                self.registry.add(conn)  # only now, so that no push can reach it before its welcome
                if recover is not None:  # none of what it asks for is a stream it follows with history
                    await sink.send(conn, recovered_frame(dict.fromkeys(recover, False)))
                return conn
            await self.welcomes.welcome(
                conn,
                streams,
                recover,
                lambda: self.registry.add(conn),
                lambda positions: sink.send(conn, self._welcome(conn, positions)),
                lambda payload: sink.deliver([conn], payload),
                lambda text: sink.send(conn, text),
            )
            return conn
        except BaseException:
            await self._undo_connect(conn, names)
            raise

    async def _undo_connect(self, conn: Connection, names: list[str]) -> None:
        """A connect that failed half way (Redis down, the client gone) leaves nothing behind: no ghost in
        presence, no layer group held for it."""
        groups = list(conn.groups)
        self.registry.remove(conn)
        self.welcomes.forget(conn)
        try:
            await self.presence.disconnected(conn, conn.uid, groups)
        except Exception:
            logger.debug("pushapp hub %s: undoing the presence of %s failed", self.node_id, conn.client_id)
        try:
            await self.membership.release(names)
        except Exception:
            logger.debug("pushapp hub %s: leaving layer groups failed", self.node_id, exc_info=True)

    def _welcome(self, conn: Connection, streams: dict[str, tuple[str, int]] | None = None) -> str:
        interval = push_settings.PING_INTERVAL if push_settings.PING_NOT_RESPONSE_LIMIT else 0
        return welcome_frame(conn.client_id, conn.uid, interval, client_proof(conn.client_id), streams)

    async def disconnect(self, conn: Connection) -> bool:
        """Forget a connection: it leaves every group and its uid, and its session is gone."""
        self.welcomes.forget(conn)
        removed = self.registry.remove(conn)
        if removed is None:
            return False
        await self.presence.disconnected(conn, removed.uid, removed.groups)
        names = [group_layer_group(g) for g in removed.groups]
        if removed.uid is not None:
            names.append(uid_layer_group(removed.uid))
        await self.membership.release(names)
        return True

    async def close(self, conn: Connection, code: int, message: Payload | None = None) -> None:
        """Forget ``conn``, then send ``message`` (if any) and the close frame after anything still queued."""
        await self.disconnect(conn)
        telemetry.stats.closes[str(int(code))] += 1
        try:
            await conn.sink.close(conn, code, message)
        except Exception:  # the socket may already be gone; closing it is all we wanted
            logger.debug("closing %s failed", conn.client_id, exc_info=True)

    async def send(self, conn: Connection, text: str) -> None:
        """Write a server frame (pong, error) to ``conn``, through the same path as its pushes."""
        await conn.sink.send(conn, text)

    # -- membership --------------------------------------------------------------------------------

    async def join(self, conn: Connection, group: str) -> None:
        if group in conn.groups:
            return
        name = group_layer_group(group)
        await self.membership.hold([name])
        if not self.registry.join(conn, group):  # closed, or joined, while we waited for the layer
            await self.membership.release([name])
            return
        await self.presence.joined(conn, group)

    async def leave(self, conn: Connection, group: str) -> None:
        if self.registry.leave(conn, group):
            await self.presence.left(conn, group)
            await self.membership.release([group_layer_group(group)])

    async def bind(self, conn: Connection, uid: str | None) -> None:
        """Bind ``uid`` (None unbinds). A connection has at most one uid; binding again moves it."""
        if conn.uid == uid:
            return
        if uid is not None:
            await self.membership.hold([uid_layer_group(uid)])
        changed, old = self.registry.bind(conn, uid)
        if not changed:
            if uid is not None:
                await self.membership.release([uid_layer_group(uid)])
            return
        await self.presence.bound(conn, old)
        if old is not None:
            await self.membership.release([uid_layer_group(old)])

    async def set_session(self, conn: Connection, session: dict[str, Any]) -> None:
        conn.session = session
        await self.presence.session_changed(conn)

    # -- the layer side ----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        receive = self.layer.receive
        handlers = self._handlers
        while True:
            try:
                message = await receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pushapp hub %s: receiving from the channel layer failed", self.node_id)
                await asyncio.sleep(1.0)
                continue
            handler = handlers.get(message.get("type", ""))
            if handler is None:
                continue
            try:
                await handler(message)
            except Exception:
                logger.exception("pushapp hub %s: bad layer message %r", self.node_id, message.get("type"))

    async def _on_push(self, message: wire.Push) -> None:
        message_id = message.get("m")
        if message_id and self._dedupe.seen(message_id):
            return
        stream, offset = message.get("s"), message.get("o")
        if stream is not None and offset is not None:
            epoch = message["e"]
            entry = Entry(offset, wire.payload_of(message), tuple(message.get("x", ())))
            entries, lost = await self.streams.arrange(stream, epoch, entry)
            for each in entries:
                await self._deliver_stored(stream, epoch, each)
            if lost:
                await self._tell_missed(stream)
            return
        targets = self.registry.targets(message["k"], message.get("to"), message.get("x"), live=True)
        if targets:
            payload = wire.payload_of(message)
            await self.deliver(targets, payload if message.get("f") else push_payload(payload))

    async def _deliver_stored(self, stream: str, epoch: str, entry: Entry) -> None:
        targets = stream_targets(self.registry, stream, entry.exclude)
        if targets:
            payload = stream_payload(entry.payload, stream, epoch, entry.offset)
            await self.deliver(targets, payload, stream, Position(epoch, entry.offset))

    async def _tell_missed(self, stream: str | None) -> None:
        """Tell the connections that may have missed pushes (on ``stream``; None: everyone) to refetch."""
        targets = list(self.registry) if stream is None else stream_targets(self.registry, stream)
        frame = missed_frame(stream)  # once, for every recipient
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
        """Hand one payload and all its recipients to the sink (each sink, if several serve this hub).
        Connections still being welcomed get it later, from their pending buffer. ``targets`` may be a
        registry index's live set: it is read before the first await."""
        if self.welcomes:
            targets = self.welcomes.hold_back(targets, payload, stream, position)
        sinks = self._sinks
        if len(sinks) == 1:
            for sink in sinks.values():
                await sink.deliver(targets, payload)
            return
        by_sink: dict[Sink, list[Connection]] = {}
        for conn in targets:
            by_sink.setdefault(conn.sink, []).append(conn)
        for sink, conns in by_sink.items():
            await sink.deliver(conns, payload)

    async def _on_control(self, message: wire.Control) -> None:
        self._background(self._control_and_reply(message))

    async def _control_and_reply(self, message: wire.Control) -> None:
        started = time.perf_counter()
        try:
            value = await control.run(
                self, self.registry.get(message["cid"]), message["op"], message.get("a")
            )
        except Exception:
            logger.exception("pushapp hub %s: control %r failed", self.node_id, message.get("op"))
            value = None
        telemetry.stats.control_handled += 1
        telemetry.stats.control_seconds += time.perf_counter() - started
        reply_to, request_id = message.get("r"), message.get("i")
        if reply_to and request_id is not None:
            await self.layer.send(reply_to, wire.reply(request_id, value))

    async def _on_ungroup(self, message: wire.Ungroup) -> None:
        group = message["g"]
        members = self.registry.ungroup(group)
        if members:
            await self.presence.ungrouped(group, members)
            await self.membership.release([group_layer_group(group)] * len(members))

    async def _on_ready(self, message: wire.Ready) -> None:
        self._listening.set()

    async def _on_probe(self, message: wire.Probe) -> None:
        self._probe.received(message)

    async def _redis_lost(self) -> None:
        """Presence found this node's data gone: Redis restarted empty, whether or not a probe noticed.
        Its layer groups (core layer) and its history went with it: rejoin, and heal what can be."""
        await self.membership.rejoin()
        await self._heal()

    async def _heal(self) -> bool:
        """Deliver from the history what this hub missed, and tell every connection that pushes without
        history may be lost; write presence again. False if Redis failed us meanwhile."""
        try:
            await self.presence.resync()
            caught_up = await self.streams.catch_up()
        except Exception:
            logger.warning(
                "pushapp hub %s: healing after an outage failed; retrying", self.node_id, exc_info=True
            )
            return False
        for stream, epoch, entries, lost in caught_up:
            for entry in entries:
                await self._deliver_stored(stream, epoch, entry)
            if lost:
                await self._tell_missed(stream)
        await self._tell_missed(None)
        return True

    async def _on_report(self, message: wire.Report) -> None:
        now = time.monotonic()
        if now - self._reported >= 0.5:  # several dashboards ask: one report per interval is enough
            self._reported = now
            self._background(push_report(self.node_id, self.info_pairs))

    def _on_slow(self, conn: Connection) -> None:
        self._background(self.close(conn, CloseCode.TOO_SLOW))

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background_tasks.add(task)  # keep a reference until done, or it may be collected
        task.add_done_callback(self._background_tasks.discard)
