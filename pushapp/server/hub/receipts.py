"""Delivery receipts and what depends on them (docs/delivery.md): a client's ``ack`` frames, recorded per
uid and stream in the history; the sweep that claims the pushes sent with ``ack_within`` that nobody
acknowledged in time and fires ``push_unacknowledged`` for each; and a subscription's ``latest``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from ... import history
from ...conf import push_settings
from ...history.base import Ask
from ...protocol.frames import dumps, loads
from ...runtime.registry import Connection
from ...signals import push_unacknowledged
from ..limits import report_failure
from . import control, recovery

logger = logging.getLogger(__name__)

#: Ack refusals: ``{"type": "error", "code": "bad_ack", "reason": <one of these>, "detail": …,
#: "stream": …, "offset": …}`` (what the frame said, echoed). Nothing is recorded.
UNKNOWN_STREAM = "unknown_stream"  # not a stream that keeps history on this server
NOT_YOURS = "not_your_stream"  # a stream with history this connection does not follow
BAD_OFFSET = "bad_offset"  # not an integer >= 1
BEYOND_HEAD = "beyond_head"  # past the last push of the stream

_DETAILS = {
    UNKNOWN_STREAM: "this stream keeps no history",
    NOT_YOURS: "this connection does not follow that stream",
    BAD_OFFSET: "the offset must be an integer >= 1",
    BEYOND_HEAD: "the stream has no push at that offset yet",
}


def _refusal(reason: str, frame: dict[str, Any]) -> str:
    stream, offset = frame.get("stream"), frame.get("offset")
    return dumps(
        {
            "type": "error",
            "code": "bad_ack",
            "reason": reason,
            "detail": _DETAILS[reason],
            "stream": stream if isinstance(stream, (str, int, float, bool, type(None))) else None,
            "offset": offset if isinstance(offset, (str, int, float, bool, type(None))) else None,
        }
    )


def check(conn: Connection, frame: dict[str, Any]) -> str | None:
    """Why ``conn`` may not acknowledge what ``frame`` says (None: it may)."""
    stream, offset = frame.get("stream"), frame.get("offset")
    config = history.config()
    if not isinstance(stream, str) or config.for_stream(stream) is None:
        return UNKNOWN_STREAM
    if stream not in config.streams_of(conn.uid, conn.groups):
        return NOT_YOURS
    if not isinstance(offset, int) or isinstance(offset, bool) or not 1 <= offset < 2**53:
        return BAD_OFFSET
    return None


async def ack(conn: Connection, frame: dict[str, Any]) -> None:
    """``{"type": "ack", "stream": …, "offset": …}``: the highest offset any connection of the uid
    acknowledged counts, cluster-wide. A connection without a uid may ack; nothing is recorded for it."""
    reason = check(conn, frame)
    if reason is None and conn.uid is not None:
        stream, offset = frame["stream"], frame["offset"]
        limits = history.config().for_stream(stream)
        ttl = limits.ttl if limits is not None else 1.0
        if not await history.get_history().aack(stream, conn.uid, offset, ttl):
            reason = BEYOND_HEAD
    if reason is not None:
        await conn.sink.send(conn, _refusal(reason, frame))


async def fire_due() -> int:
    """Claim the pushes whose ``ack_within`` passed unacknowledged and fire ``push_unacknowledged`` for
    each; how many fired. A receiver that raises is reported; the others still run."""
    fired = 0
    for due in await history.get_history().adue():
        text = due.payload[0]
        data = loads(text) if text is not None else due.payload[1]
        uid, where = due.stream[4:], f"on {due.stream} offset {due.offset}"
        if push_unacknowledged.has_listeners(None):
            send = database_sync_to_async(push_unacknowledged.send_robust)
            answers = await send(None, uid=uid, data=data, stream=due.stream, offset=due.offset)
            for _, answer in answers:
                if isinstance(answer, Exception):
                    report_failure("a push_unacknowledged receiver", where, answer)
        fired += 1
    return fired


async def watch() -> None:
    """Every ``ACK_SWEEP_INTERVAL`` seconds, while uid streams keep history: :func:`fire_due`."""
    while True:
        await asyncio.sleep(push_settings.ACK_SWEEP_INTERVAL)
        if history.config().for_uid() is None:
            continue
        try:
            await fire_due()
        except Exception:
            logger.warning("pushapp: claiming unacknowledged pushes failed; retrying", exc_info=True)


async def join_latest(
    parts: control.Parts, conn: Connection, group: str
) -> tuple[bool, list[recovery.Write]]:
    """Join ``group`` (:func:`control.join`) and read its stream's last push, holding the live pushes that
    arrive meanwhile; whether it joined, and what to write after the answer, with
    :func:`recovery.write_out` (which must follow, joined or not: it releases what was held)."""
    stream = history.group_stream(group)
    limits = history.config().for_group(group)
    parts.welcomes.hold(conn)
    if not await control.join(parts, conn, group) or limits is None:
        return group in conn.groups, parts.welcomes.replay(conn, {}, None).writes
    try:
        reads = await history.get_history().aread([Ask(stream, limits.size, limits.ttl, None, True)])
    except BaseException:
        parts.welcomes.forget(conn)
        raise
    return True, parts.welcomes.replay(conn, reads, None, [stream]).writes
