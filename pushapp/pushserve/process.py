"""The daphne server of one worker: an adopted socket, pushapp's signals, the drain and the GC policy.

With ``--push-server native`` (the default) the push path is served by pushapp's own WebSocket server
(:mod:`pushapp.server.sockets.front`): the worker accepts on the socket itself and hands every other
request to daphne. With ``--push-server daphne`` daphne accepts and serves everything.

Imported by :mod:`.worker` only after ``daphne.server`` has installed Twisted's asyncio reactor.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from typing import Any

from daphne.access import AccessLogGenerator
from daphne.server import Server
from twisted.internet import reactor as _reactor

from ..conf import push_settings
from ..server.hub import get_hub, running_hub, stop_hub
from ..server.hub.drain import Drain
from ..server.sockets.daphne import adopt_connection, forwarded_address
from ..server.sockets.front import PushFront
from ..server.sockets.native import NativeWebSocket, peer_address
from .gcpolicy import TICK, GcPolicy

logger = logging.getLogger("pushapp.pushserve")
reactor: Any = _reactor  # Twisted types the reactor as a module

#: Daphne requires an endpoint description; the worker adopts its inherited socket itself instead.
_ADOPTED = "adopted"
#: Heartbeats a worker writes per ``--worker-timeout``: one late beat is not yet silence.
HEARTBEATS = 5


class WorkerProcess(Server):
    def __init__(self, application: Any, args: argparse.Namespace, family: socket.AddressFamily) -> None:
        access_log = None
        if args.access_log:
            stream = sys.stdout if args.access_log == "-" else open(args.access_log, "a", buffering=1)  # noqa: SIM115
            access_log = AccessLogGenerator(stream)
        proxy = args.proxy_headers
        super().__init__(
            application,
            endpoints=[_ADOPTED],
            signal_handlers=False,  # ours, below: SIGTERM drains instead of stopping the reactor
            action_logger=access_log,
            websocket_timeout=-1,  # pushapp's heartbeat decides when a connection is dead
            proxy_forwarded_address_header="X-Forwarded-For" if proxy else None,
            proxy_forwarded_port_header="X-Forwarded-Port" if proxy else None,
            proxy_forwarded_proto_header="X-Forwarded-Proto" if proxy else None,
            verbosity=args.verbosity,
            ready_callable=self._adopt,
        )
        self.endpoints: list[str] = []  # nothing for daphne to listen on: _adopt does it
        self.args = args
        self.family = family
        self.ports: list[Any] = []
        self.front: PushFront | None = None
        self.gc = GcPolicy(lambda: len(getattr(self, "connections", ())) + NativeWebSocket.live)
        self._drain: Drain | None = None

    def _adopt(self) -> None:
        """Before the reactor runs: serve on the inherited socket, take SIGTERM, say ready once running."""
        os.set_blocking(self.args.fd, False)  # Twisted accepts until EAGAIN: a blocking accept would hang
        if self.args.push_server == "native":
            self.front = PushFront(
                socket.socket(fileno=self.args.fd),
                self.application,
                "/" + push_settings.PATH,
                adopt_connection(self.http_factory),
                forwarded_address if self.args.proxy_headers else peer_address,
                shared=True,  # the other workers, and a reload's next generation, accept on it too
            )
        else:
            port = reactor.adoptStreamPort(self.args.fd, self.family, self.http_factory)
            os.close(self.args.fd)  # Twisted holds its own duplicate
            self.listen_success(port)
            self.ports.append(port)
        loop = asyncio.get_event_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_term)
        reactor.callWhenRunning(self._ready)

    def _ready(self) -> None:
        if self.front is not None:
            self.front.start()
        self._hub = asyncio.ensure_future(get_hub())  # in presence from the start, connections or not
        self.gc.start()
        self._tick_gc()
        try:
            os.write(self.args.ready_fd, b"ready\n")
        except OSError:
            os.close(self.args.ready_fd)
            raise
        if self.args.worker_timeout > 0:
            os.set_blocking(self.args.ready_fd, False)
            self._beat()
        else:
            os.close(self.args.ready_fd)
        logger.info("pushserve worker %s (generation %s) serving", self.args.worker, self.args.generation)

    def _beat(self) -> None:
        """Tell the supervisor, from the event loop, that the loop runs: its watchdog kills a worker silent
        for ``--worker-timeout``."""
        try:
            os.write(self.args.ready_fd, b".")
        except BlockingIOError:
            pass  # the supervisor has not read the last ones: they say as much
        except OSError:  # nobody reads the pipe (a worker started on its own, as the tests do)
            os.close(self.args.ready_fd)
            return
        reactor.callLater(self.args.worker_timeout / HEARTBEATS, self._beat)

    def _tick_gc(self) -> None:
        self.gc.tick()
        reactor.callLater(TICK, self._tick_gc)

    def _on_term(self) -> None:
        if self._drain is not None:
            logger.info("pushserve worker %s: second SIGTERM, closing the rest now", self.args.worker)
            self._drain.hurry()
            return
        hub = running_hub()
        self._drain = Drain(hub, self.args.drain)
        self._draining = asyncio.ensure_future(self._drain_and_stop())

    async def _drain_and_stop(self) -> None:
        for port in self.ports:
            port.stopListening()  # the other workers keep accepting on the shared socket
        if self.front is not None:
            self.front.close()
        assert self._drain is not None
        count = len(self._drain.hub.registry) if self._drain.hub is not None else 0
        logger.info(
            "pushserve worker %s: draining %d connections over %.1f s",
            self.args.worker,
            count,
            self.args.drain,
        )
        try:
            if self._drain.hub is not None:
                await self._drain.run()
            await stop_hub()  # leaves the layer groups, removes this node's presence
        except Exception:
            logger.exception("pushserve worker %s: drain failed", self.args.worker)
        logger.info("pushserve worker %s: drained, exiting", self.args.worker)
        reactor.stop()
