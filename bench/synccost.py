"""Workload e: what one sync push costs the calling code, and whether Redis connections pile up.

``python -m bench.synccost <pushapp|baseline> <thread|wsgi|worker> <calls> <connection_calls>`` prints one
JSON line. The three contexts are where sync Django code pushes from:

- ``thread``: a plain ``threading.Thread`` calling the sync function in a loop;
- ``wsgi``: Django's test ``Client`` requesting a sync view that pushes (the WSGI request cycle, no loop);
- ``worker``: a Celery-style worker loop on the main thread: decode a task message, look the task up,
  run it.

The time of the first ``calls`` pushes after one warm-up call is reported per call, in wall-clock time and
in the calling thread's own CPU time (``us_cpu_per_call``: the push alone, without the sender thread that
shares the GIL with it, nor what else runs on a shared machine); the process then keeps
going to ``connection_calls`` and counts its Redis connections (``CLIENT LIST`` entries carrying this
process's client name, see bench/settings_common.py) before the first push, after it, and at the end.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.lifetime import die_with_parent
from bench.payload import message
from bench.senders import SYSTEMS, sender_for

MODES = ("thread", "wsgi", "worker")
FLOOR = "floor"  # not a push: one blocking PUBLISH round trip with plain redis-py, for reference
ALONE = "alone"  # pushapp's sync send by itself: its sender thread kept waiting (see alone_mode)
#: Sends per paused round of ``alone``: below the publisher's queue bound (DirectPublisher.MAX_PENDING).
ROUND = 5000
UIDS = 1000
TEXT = message(-1, 0, 0.0)  # run -1: no client counts it


def redis_connections() -> int:
    """Connections to Redis named after this process (channels-redis passes ``client_name`` through)."""
    import redis

    name = f"{os.environ.get('BENCH_ROLE', 'bench')}-{os.getpid()}"
    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    try:
        return sum(1 for entry in client.client_list() if entry.get("name") == name)
    finally:
        client.close()


def measure(push: Callable[[int], float], calls: int, connection_calls: int) -> dict[str, Any]:
    """``push(i)`` does one push and returns the seconds attributable to it."""
    before = redis_connections()
    push(0)
    after_first = redis_connections()
    spent = 0.0
    started, cpu = time.perf_counter(), time.thread_time()
    for i in range(1, calls + 1):
        spent += push(i)
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
    for i in range(calls + 1, connection_calls):
        push(i)
    return {
        "calls": calls,
        "us_per_call": round(spent / calls * 1e6, 2),
        "us_per_iteration": round(elapsed / calls * 1e6, 2),
        "us_cpu_per_call": round(cpu / calls * 1e6, 2),
        "connection_calls": max(connection_calls, calls + 1),
        "redis_connections_before": before,
        "redis_connections_after_first_call": after_first,
        "redis_connections_after_all": redis_connections(),
    }


def thread_mode(system: str, calls: int, connection_calls: int) -> dict[str, Any]:
    to_uid = sender_for(system).to_uid

    def push(i: int) -> float:
        started = time.perf_counter()
        to_uid(str(i % UIDS), TEXT)
        return time.perf_counter() - started

    result: dict[str, Any] = {}

    def run() -> None:
        result.update(measure(push, calls, connection_calls))

    thread = threading.Thread(target=run, name="plain-thread")
    thread.start()
    thread.join()
    return result


def wsgi_mode(system: str, calls: int, connection_calls: int) -> dict[str, Any]:
    from django.test import Client

    from bench import urls

    urls.SENDER[:] = [sender_for(system)]
    client = Client()

    def push(i: int) -> float:
        spent = urls.SPENT[0]
        response = client.get("/bench/push/", {"uid": str(i % UIDS)})
        if response.status_code != 200:
            raise RuntimeError(f"the push view answered {response.status_code}")
        return urls.SPENT[0] - spent

    return measure(push, calls, connection_calls)


def worker_mode(system: str, calls: int, connection_calls: int) -> dict[str, Any]:
    to_uid = sender_for(system).to_uid

    def push_task(uid: str, text: str) -> None:
        to_uid(uid, text)

    tasks: dict[str, Callable[..., None]] = {"bench.push": push_task}

    def push(i: int) -> float:
        body = json.dumps({"task": "bench.push", "kwargs": {"uid": str(i % UIDS), "text": TEXT}})
        started = time.perf_counter()
        request = json.loads(body)
        tasks[request["task"]](**request["kwargs"])
        return time.perf_counter() - started

    return measure(push, calls, connection_calls)


def floor_mode(system: str, calls: int, connection_calls: int) -> dict[str, Any]:
    """What one synchronous round trip to this Redis costs here: the floor of any push that waits for
    Redis's answer (redis-py's own sync client, PUBLISH of a 100-byte message to nobody)."""
    import redis

    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    payload = TEXT.encode("utf-8")
    try:
        client.publish("bench.floor", payload)
        started = time.perf_counter()
        for _ in range(calls):
            client.publish("bench.floor", payload)
        elapsed = time.perf_counter() - started
    finally:
        client.close()
    return {"calls": calls, "us_per_call": round(elapsed / calls * 1e6, 2)}


def alone_mode(system: str, calls: int, connection_calls: int) -> dict[str, Any]:
    """What the calling code pays for one sync ``send_to_uid(uid, "x")`` when nothing else runs in the
    process: pushapp's own cost, with the smallest payload. Redis holds writes (``CLIENT PAUSE … WRITE``)
    during each round of :data:`ROUND` calls, so pushapp's sender thread waits in its first write instead
    of sharing the GIL with the caller; the sends are written after each round. The median round is
    reported, the machine being shared, and the best. pushapp only (the baseline's call waits for Redis,
    which is paused)."""
    import redis

    if system != "pushapp":
        raise SystemExit("the alone mode measures pushapp's queued sync send only")
    from pushapp import gateway

    to_uid = sender_for(system).to_uid
    client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    to_uid("0", "x")
    gateway.flush()
    rounds = []
    try:
        for start in range(0, calls, ROUND):
            client.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
            try:
                count = min(ROUND, calls - start)
                started = time.perf_counter()
                for i in range(start, start + count):
                    to_uid(str(i % UIDS), "x")
                rounds.append((time.perf_counter() - started) / count)
            finally:
                client.execute_command("CLIENT", "UNPAUSE")
            gateway.flush(timeout=30)
    finally:
        client.close()
    rounds.sort()
    return {
        "calls": calls,
        "us_per_call": round(rounds[len(rounds) // 2] * 1e6, 2),
        "us_per_call_best_round": round(rounds[0] * 1e6, 2),
    }


def main() -> int:
    modes = (*MODES, FLOOR, ALONE)
    if len(sys.argv) != 5 or sys.argv[1] not in SYSTEMS or sys.argv[2] not in modes:
        print(f"usage: python -m bench.synccost {'|'.join(SYSTEMS)} {'|'.join(modes)} CALLS CONNECTION_CALLS")
        return 2
    die_with_parent()
    system, mode, calls, connection_calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    import django

    django.setup()
    runs = {
        "thread": thread_mode,
        "wsgi": wsgi_mode,
        "worker": worker_mode,
        FLOOR: floor_mode,
        ALONE: alone_mode,
    }
    run = runs[mode]
    result = {"system": system, "mode": mode, **run(system, calls, connection_calls)}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
