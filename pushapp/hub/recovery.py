"""Welcoming a connection that follows streams with history: its positions in the welcome, the pushes it
missed replayed in order, and none lost or doubled against the live pushes that arrive meanwhile.

While this runs the connection is already registered, so live pushes reach it, but the hub holds them in
its pending buffer; they are released after the replay, minus those the replay already carried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .. import history
from ..history.base import Ask, Position, Read
from ..protocol import Payload, recovered_frame, stream_payload
from ..registry import Connection

#: A push held for a connection being welcomed: its payload, and its stream and position if it has one.
Held = tuple[Payload, str | None, Position | None]


async def welcome_and_replay(
    conn: Connection,
    streams: list[str],
    recover: dict[str, Position] | None,
    held: list[Held],
    read: Callable[[list[Ask]], Awaitable[dict[str, Read]]],
    welcome: Callable[[dict[str, tuple[str, int]]], Awaitable[None]],
    write: Callable[[Payload], Awaitable[None]],
    frame: Callable[[str], Awaitable[None]],
) -> None:
    """Read the streams (one round trip), welcome, replay what ``recover`` asks for, release ``held``."""
    config = history.config()
    asks = []
    for stream in streams:
        limits = config.for_stream(stream)
        if limits is not None:
            asks.append(Ask(stream, limits.size, limits.ttl, (recover or {}).get(stream)))
    reads = await read(asks)
    await welcome({stream: (r.position.epoch, r.position.offset) for stream, r in reads.items()})
    results: dict[str, bool] = {}
    for stream in recover or {}:
        found = reads.get(stream)
        results[stream] = found is not None and found.entries is not None
        if found is not None and found.entries is not None:
            for entry in found.entries:
                if conn.client_id not in entry.exclude:
                    await write(stream_payload(entry.payload, stream, found.position.epoch, entry.offset))
    while held:
        payload, held_stream, position = held.pop(0)
        replayed = reads.get(held_stream) if held_stream is not None else None
        if (
            replayed is not None
            and position is not None
            and position.epoch == replayed.position.epoch
            and position.offset <= replayed.position.offset
        ):
            continue  # in the replay already, or older than the position the welcome gave
        await write(payload)
    if recover is not None:
        await frame(recovered_frame(results))
