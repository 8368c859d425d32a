"""Run one ASGI server in this very process (so its pid is the one to measure and profile).

``python -m bench.serve daphne|native|uvicorn <module:app> <port>``. Raises the open-file limit first, then
runs the server with WebSocket keepalive pings pushed out of the measurement window (both systems alike),
no access log, and a listen backlog large enough for thousands of clients connecting at once. ``native``
is daphne with pushapp's own server on the push path (``pushserve --push-server native``); so is
``daphne`` with BENCH_PUSH_SERVER=native (for harnesses that name the server ``daphne``).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import time
from typing import Any

from bench.gclog import GC_LOG_MS, GC_LOG_PREFIX
from bench.lifetime import die_with_parent, raise_nofile_limit

BACKLOG = 4096
NO_PING = 86400  # seconds: daphne has no "off" for its keepalive pings
TRACE_PREFIX = "bench.serve tracemalloc:"


def run_daphne(app: str, port: int) -> None:
    from daphne.cli import CommandLineInterface

    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={BACKLOG}"
    # -v 0: no access log (daphne's default of -v 1 formats and prints a line per connection and request)
    argv = ["-e", endpoint, "-v", "0", "--ping-interval", str(NO_PING), app]
    CommandLineInterface().run(argv)


def run_native(app: str, port: int) -> None:
    """Daphne behind pushapp's front end on one socket, as a ``pushserve --push-server native`` worker."""
    import socket

    from daphne.server import Server
    from daphne.utils import import_by_path

    application = import_by_path(app)  # sets Django up
    from pushapp.conf import push_settings
    from pushapp.server.sockets.daphne import adopt_connection
    from pushapp.server.sockets.front import PushFront

    sock = socket.create_server(("127.0.0.1", port), backlog=BACKLOG)

    def ready() -> None:
        from twisted.internet import reactor

        front = PushFront(sock, application, "/" + push_settings.PATH, adopt_connection(server.http_factory))
        reactor.callWhenRunning(front.start)  # type: ignore[attr-defined]
        print(
            f"Listening on TCP address 127.0.0.1:{port} (pushapp's push server)", file=sys.stderr, flush=True
        )

    server = Server(
        application, endpoints=["unused"], ping_interval=NO_PING, verbosity=0, ready_callable=ready
    )
    server.endpoints = []  # the front end accepts on the socket itself
    server.run()


def run_uvicorn(app: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        backlog=BACKLOG,
        lifespan="off",
        access_log=False,
        log_level="warning",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        ws=os.environ.get("BENCH_UVICORN_WS", "auto"),  # websockets, websockets-sansio, wsproto
    )


def log_slow_gc() -> None:
    """Log every garbage-collector pass slower than GC_LOG_MS (bench/gclog.py reads the lines back).

    With thousands of connections a full collection walks every object they hold, and the server does
    nothing else meanwhile: the pause shows up in the latencies, and this says when and how long.
    """
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        took = (time.perf_counter() - started[0]) * 1000
        if took >= GC_LOG_MS:
            print(
                f"{GC_LOG_PREFIX} at={time.time():.6f} generation={info['generation']} ms={took:.2f} "
                f"collected={info['collected']}",
                file=sys.stderr,
                flush=True,
            )

    gc.callbacks.append(callback)


def trace_memory_on_signal() -> None:
    """Diagnostics, off unless BENCH_TRACEMALLOC=1 (tracing slows the server down): the first SIGUSR1
    takes a tracemalloc snapshot, each later one logs how much each source file's allocations grew
    since then (each source line's, with BENCH_TRACEMALLOC=lineno). Used to see what an idle connection
    holds (docs/performance.md)."""
    import tracemalloc

    tracemalloc.start()
    first: list[tracemalloc.Snapshot] = []
    key = "lineno" if os.environ.get("BENCH_TRACEMALLOC") == "lineno" else "filename"

    def on_signal(signum: int, frame: Any) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        if not first:
            first.append(snapshot)
            print(f"{TRACE_PREFIX} reference snapshot taken", file=sys.stderr, flush=True)
            return
        for stat in snapshot.compare_to(first[0], key):
            if stat.size_diff > 0:
                frame = stat.traceback[0]
                where = f"{frame.filename}:{frame.lineno}" if key == "lineno" else frame.filename
                print(
                    f"{TRACE_PREFIX} {stat.size_diff} {stat.count_diff} {where}", file=sys.stderr, flush=True
                )
        print(f"{TRACE_PREFIX} end", file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, on_signal)


GARBAGE_PREFIX = "bench.serve garbage:"


def report_garbage_on_signal() -> None:
    """Diagnostics, off unless BENCH_GC_GARBAGE=1: each SIGUSR2 runs a full collection that keeps what it
    finds unreachable (``gc.DEBUG_SAVEALL``) and logs the types of those objects, most common first, then
    drops them, and leaves automatic collection off. The first signal clears what start-up left; the next
    says what the traffic since made in reference cycles: garbage only a full collection frees, the more of
    it the more of those pauses."""

    def on_signal(signum: int, frame: Any) -> None:
        from collections import Counter

        gc.set_debug(gc.DEBUG_SAVEALL)
        found = gc.collect()
        gc.set_debug(0)
        gc.disable()
        kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
        gc.garbage.clear()
        print(f"{GARBAGE_PREFIX} {found} objects", file=sys.stderr, flush=True)
        for kind, count in kinds.most_common(25):
            print(f"{GARBAGE_PREFIX} {count} {kind}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR2, on_signal)


def apply_gc_policy() -> None:
    """BENCH_GC_POLICY=1: the garbage-collector handling of pushserve's workers, the very same code
    (pushapp.pushserve.gcpolicy), on this daphne. bench/gcfanout.py compares fan-outs with and without it."""
    import daphne.server  # noqa: F401  (installs the asyncio reactor before Twisted is imported)
    from twisted.internet import reactor

    def start() -> None:
        from pushapp.pushserve.gcpolicy import TICK, GcPolicy
        from pushapp.server.hub import all_hubs

        policy = GcPolicy(lambda: sum(len(hub.registry) for hub in all_hubs()))

        def tick() -> None:
            policy.tick()
            reactor.callLater(TICK, tick)  # type: ignore[attr-defined]

        policy.start()
        tick()

    reactor.callWhenRunning(start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("server", choices=["daphne", "native", "uvicorn"])
    parser.add_argument("app")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    die_with_parent()
    raise_nofile_limit()
    log_slow_gc()
    if os.environ.get("BENCH_TRACEMALLOC"):
        trace_memory_on_signal()
    if os.environ.get("BENCH_GC_GARBAGE") == "1":
        report_garbage_on_signal()
    if os.environ.get("BENCH_GC_POLICY") == "1":
        apply_gc_policy()
    sys.path.insert(0, ".")
    if args.server == "native" or (
        args.server == "daphne" and os.environ.get("BENCH_PUSH_SERVER") == "native"
    ):
        run_native(args.app, args.port)
    elif args.server == "daphne":
        run_daphne(args.app, args.port)
    else:
        run_uvicorn(args.app, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
