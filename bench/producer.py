"""The producer: plain sync Django code in its own process, pushing the way each system is used.

``python -m bench.producer <pushapp|baseline>`` with that system's settings. Commands are JSON lines on
stdin (``fanout``, ``burst``, ``unicast``, ``presence``, ``steady``, ``recovery``), one reply line
each. Every message carries ``time.time()`` taken just before its send call, so clients measure from the
call, not from when Redis saw it.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any, TextIO

from bench.childio import error_reply, reply_stream, write_reply
from bench.lifetime import die_with_parent
from bench.payload import message
from bench.senders import SYSTEMS, Sender, sender_for


def fanout(sender: Sender, group: str, run: int, size: int) -> dict[str, Any]:
    sent = time.time()
    sender.to_group(group, message(run, 0, sent, size))
    return {"sent": sent, "call_seconds": time.time() - sent}


def burst(sender: Sender, group: str, run: int, count: int, size: int) -> dict[str, Any]:
    """``count`` messages back to back to one group."""
    first = time.time()
    for seq in range(count):
        sender.to_group(group, message(run, seq, time.time(), size))
    return {"first": first, "end": time.time()}


def unicast(sender: Sender, run: int, count: int, uids: int, size: int) -> dict[str, Any]:
    """``count`` sends to one uid each, round robin over uids ``0..uids-1``."""
    first = time.time()
    for seq in range(count):
        sender.to_uid(str(seq % uids), message(run, seq, time.time(), size))
    return {"first": first, "end": time.time()}


def steady(sender: Sender, group: str, run: int, count: int, rate: float, size: int) -> dict[str, Any]:
    """``count`` messages to one group, ``rate`` per second on a fixed schedule: the soak's traffic."""
    first, start = time.time(), time.monotonic()
    for seq in range(count):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sender.to_group(group, message(run, seq, time.time(), size))
    return {"first": first, "end": time.time(), "sent": count}


def recovery(port: int, missed: int, repeats: int, size: int) -> dict[str, Any]:
    """Time reconnects that recover ``missed`` pushes (history on): a client connects, leaves, misses them,
    and comes back with its position; from its auth frame to the ``recovered`` frame."""
    import json

    from websockets.sync.client import connect

    from pushapp import gateway
    from pushapp.tokens import issue_token

    url = f"ws://127.0.0.1:{port}/ws/push/"
    timings, complete = [], True
    for attempt in range(repeats):
        uid = f"recovery-{attempt}"
        stream, token = f"uid:{uid}", issue_token(uid)
        with connect(url, origin="http://127.0.0.1", compression=None) as ws:  # type: ignore[arg-type]
            ws.send(json.dumps({"type": "auth", "token": token}))
            position = json.loads(ws.recv(timeout=30))["streams"][stream]
        for seq in range(missed):
            gateway.send_to_uid(uid, message(0, seq, time.time(), size))
        gateway.flush()
        with connect(url, origin="http://127.0.0.1", compression=None) as ws:  # type: ignore[arg-type]
            started = time.perf_counter()
            ws.send(json.dumps({"type": "auth", "token": token, "recover": {stream: position}}))
            replayed = 0
            while (frame := json.loads(ws.recv(timeout=30)))["type"] != "recovered":
                replayed += frame["type"] == "push"
            timings.append(time.perf_counter() - started)
        complete = complete and replayed == missed and frame["streams"].get(stream) is True
    return {"timings": timings, "complete": complete}


#: The presence queries timed by workload f: a count, an online check, and a cluster-wide total.
QUERIES = ("get_client_count_by_group", "is_uid_online", "get_all_client_count")


def presence(group: str, count: int) -> dict[str, Any]:
    """Time each query ``count`` times from sync code (pushapp only: the baseline cannot ask)."""
    from pushapp import queries

    calls = {
        "get_client_count_by_group": lambda: queries.get_client_count_by_group(group),
        "is_uid_online": lambda: queries.is_uid_online("0"),
        "get_all_client_count": queries.get_all_client_count,
    }
    timings: dict[str, list[float]] = {name: [] for name in QUERIES}
    for _ in range(count):
        for name in QUERIES:
            started = time.perf_counter()
            calls[name]()
            timings[name].append(time.perf_counter() - started)
    return {"timings": timings, "members": queries.get_client_count_by_group(group)}


def serve(sender: Sender, requests: TextIO, replies: TextIO) -> None:
    import json

    for line in requests:
        if not line.strip():
            continue
        try:
            command = json.loads(line)
            op, run, size = command["op"], int(command.get("run", 0)), int(command.get("size", 100))
            if op == "fanout":
                reply = fanout(sender, command["group"], run, size)
            elif op == "burst":
                reply = burst(sender, command["group"], run, int(command["count"]), size)
            elif op == "unicast":
                reply = unicast(sender, run, int(command["count"]), int(command["uids"]), size)
            elif op == "presence":
                reply = presence(command["group"], int(command["count"]))
            elif op == "steady":
                count, rate = int(command["count"]), float(command["rate"])
                reply = steady(sender, command["group"], run, count, rate, size)
            elif op == "recovery":
                port, missed, repeats = int(command["port"]), int(command["missed"]), int(command["repeats"])
                reply = recovery(port, missed, repeats, size)
            else:
                raise ValueError(f"unknown command {op!r}")
        except Exception as exc:
            traceback.print_exc()
            reply = error_reply(exc)
        write_reply(replies, reply)


def main() -> int:
    system = sys.argv[1] if len(sys.argv) > 1 else ""
    if system not in SYSTEMS:
        print(f"usage: python -m bench.producer {'|'.join(SYSTEMS)}", file=sys.stderr)
        return 2
    die_with_parent()
    replies = reply_stream()
    import django

    django.setup()
    write_reply(replies, {"ready": True})
    serve(sender_for(system), sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
