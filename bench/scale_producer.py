"""The producer of ``python -m bench.scale``: bench/producer.py's sends, plus ``send_to_all`` and sends to
a list of uids, from plain sync Django code in its own process.

``python -m bench.scale_producer`` with the pushapp settings; JSON-line commands on stdin, one reply each:
``fanout``, ``burst``, ``unicast`` (as in bench/producer.py), ``all`` (``count`` calls of ``send_to_all``)
and ``uids`` (``count`` calls of ``send_to_uid`` to the list of uids ``0..uids-1``).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

from bench import producer
from bench.childio import error_reply, reply_stream, write_reply
from bench.lifetime import die_with_parent
from bench.payload import message
from bench.senders import Sender, pushapp_sender


def to_all(run: int, count: int, size: int) -> dict[str, Any]:
    from pushapp import gateway

    first = time.time()
    for seq in range(count):
        gateway.send_to_all(message(run, seq, time.time(), size))
    gateway.flush()
    return {"first": first, "end": time.time()}


def to_uid_list(run: int, count: int, uids: int, size: int) -> dict[str, Any]:
    """``count`` sends, each one call to the uids ``0..uids-1`` together."""
    from pushapp import gateway

    targets = [str(uid) for uid in range(uids)]
    first = time.time()
    for seq in range(count):
        gateway.send_to_uid(targets, message(run, seq, time.time(), size))
    gateway.flush()
    return {"first": first, "end": time.time()}


def handle(sender: Sender, command: dict[str, Any]) -> dict[str, Any]:
    op, run, size = command["op"], int(command.get("run", 0)), int(command.get("size", 100))
    if op == "fanout":
        return producer.fanout(sender, command["group"], run, size)
    if op == "burst":
        return producer.burst(sender, command["group"], run, int(command["count"]), size)
    if op == "unicast":
        return producer.unicast(sender, run, int(command["count"]), int(command["uids"]), size)
    if op == "all":
        return to_all(run, int(command["count"]), size)
    if op == "uids":
        return to_uid_list(run, int(command["count"]), int(command["uids"]), size)
    if op == "presence":  # bench/c100k.py: are the counts exact yet
        from pushapp import gateway

        return {"clients": gateway.get_all_client_count(), "uids": gateway.get_all_uid_count()}
    raise ValueError(f"unknown command {op!r}")


def main() -> int:
    die_with_parent()
    replies = reply_stream()
    import django

    django.setup()
    from pushapp.gateway import SPREAD_LIMIT

    sender = pushapp_sender()
    # Beyond SPREAD_LIMIT uids a send goes to every process at once: the orchestrator measures that case.
    write_reply(replies, {"ready": True, "spread_limit": SPREAD_LIMIT})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(sender, json.loads(line))
        except Exception as exc:
            traceback.print_exc()
            reply = error_reply(exc)
        write_reply(replies, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
