"""The caller half of request and reply over the channel layer: how any process asks the hub that owns a
client id. The answering half is :mod:`pushapp.server.hub.control`; the messages are in
:mod:`pushapp.protocol.wire`."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from ..conf import push_settings
from ..presence import get_backend
from ..protocol import wire
from ..protocol.names import hub_channel, node_of, reply_channel
from ..runtime import telemetry
from ..runtime.layer import ChannelLayer
from ..runtime.perloop import PerLoop, wait_until_receiving
from .retry import aretry

logger = logging.getLogger(__name__)


class Caller:
    """One reply channel per event loop, and the futures waiting on it."""

    def __init__(self, layer: ChannelLayer) -> None:
        self.layer = layer
        self.channel = reply_channel()
        self._ids = itertools.count()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._receive_loop(), name="pushapp-replies")
        await wait_until_receiving(self.layer, self.channel, self.ready)

    async def call(self, op: str, client_id: str, arg: Any = None) -> Any:
        """Run ``op`` on the hub that owns ``client_id`` and return its answer; None if it does not
        answer in time."""
        request_id = str(next(self._ids))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[request_id] = future
        node = node_of(client_id)
        channel = hub_channel(node)
        alive = asyncio.ensure_future(_node_alive(node))
        # Never cancelled: cancelling a Redis command in flight throws its connection away (a new one
        # per call). Kept referenced until done; its answer is simply not needed once the reply is in.
        _checks.add(alive)
        alive.add_done_callback(_checks.discard)
        started = time.perf_counter()
        try:
            request = wire.control(op, client_id, arg, self.channel, request_id)
            await aretry(lambda: self.layer.send(channel, request))
            # Asked at once, beside the call: a client id of a server that is gone gets its answer now,
            # not after CONTROL_TIMEOUT.
            deadline = loop.time() + push_settings.CONTROL_TIMEOUT
            done, _ = await asyncio.wait(
                {future, alive}, timeout=push_settings.CONTROL_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
            if future not in done and alive in done and alive.result() is False:
                return None
            return await asyncio.wait_for(future, max(deadline - loop.time(), 0))
        except TimeoutError:
            logger.warning(
                "pushapp: no answer from %s to %r on %s; treating the client as offline",
                channel,
                op,
                client_id,
            )
            return None
        finally:
            self._pending.pop(request_id, None)
            telemetry.stats.control_calls.observe(time.perf_counter() - started)

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pushapp: receiving replies failed")
                await asyncio.sleep(1.0)
                continue
            if message.get("type") == wire.READY:
                self.ready.set()
                continue
            future = self._pending.get(message.get("i", ""))
            if future is not None and not future.done():
                future.set_result(message.get("v"))


_checks: set[asyncio.Future[bool | None]] = set()


async def _node_alive(node: str) -> bool | None:
    """Whether presence knows server process ``node`` as alive; None when it cannot tell."""
    try:
        return await get_backend().anode_alive(node)
    except Exception:
        return None


_callers: PerLoop[Caller] = PerLoop()


async def get_caller(layer: ChannelLayer) -> Caller:
    """The running loop's caller for ``layer``, started on first use."""
    return await _callers.get(lambda: Caller(layer), key=id(layer))
