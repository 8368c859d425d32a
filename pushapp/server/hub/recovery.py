"""Welcoming a connection that follows streams with history: its positions in the welcome, the pushes it
missed replayed in order, and none lost or doubled against the live pushes that arrive meanwhile.

While this runs the connection is already registered, so live pushes reach it, but they are held back;
they are released after the replay, minus those the replay already carried. After it, pushes up to the
positions read may still be on their way (sent before the read, arriving after): a floor per stream
skips them until one passes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from ... import history
from ...history.base import Ask, Position, Read
from ...protocol.frames import Payload, recovered_frame, stream_payload
from ...runtime import telemetry
from ...runtime.registry import Connection

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
) -> dict[str, Position]:
    """Read the streams (one round trip), welcome, replay what ``recover`` asks for, release ``held``.

    Returns each stream's position as read: pushes up to it may still be on their way to this hub, and
    must not reach the connection a second time (the hub's floor for it)."""
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
        telemetry.stats.recoveries["recovered" if results[stream] else "failed"] += 1
        if found is not None and found.entries is not None:
            for entry in found.entries:
                if conn.client_id not in entry.exclude:
                    await write(stream_payload(entry.payload, stream, found.position.epoch, entry.offset))
                    telemetry.stats.replayed += 1
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
    return {stream: read.position for stream, read in reads.items()}


class Welcomes:
    """The connections of one hub being welcomed with history, and the floors of those just welcomed."""

    def __init__(self) -> None:
        self.pending: dict[Connection, list[Held]] = {}
        self.floors: dict[Connection, dict[str, Position]] = {}

    def __bool__(self) -> bool:
        return bool(self.pending or self.floors)

    async def welcome(
        self,
        conn: Connection,
        streams: list[str],
        recover: dict[str, Position] | None,
        register: Callable[[], None],
        welcome: Callable[[dict[str, tuple[str, int]]], Awaitable[None]],
        write: Callable[[Payload], Awaitable[None]],
        frame: Callable[[str], Awaitable[None]],
    ) -> None:
        held = self.pending[conn] = []
        register()
        try:
            floors = await welcome_and_replay(
                conn, streams, recover, held, history.get_history().aread, welcome, write, frame
            )
        finally:
            del self.pending[conn]
        self.floors[conn] = floors

    def hold_back(
        self, targets: Iterable[Connection], payload: Payload, stream: str | None, position: Position | None
    ) -> list[Connection]:
        """The targets that get ``payload`` now: not those being welcomed (held for them), nor those whose
        welcome already carried it."""
        ready = []
        for conn in targets:
            held = self.pending.get(conn)
            if held is not None:
                held.append((payload, stream, position))
                continue
            floors = self.floors.get(conn)
            if floors is not None and stream is not None and position is not None and stream in floors:
                floor = floors[stream]
                if floor.epoch == position.epoch and position.offset <= floor.offset:
                    continue
                del floors[stream]  # pushes come in order: none at or below the floor will follow
                if not floors:
                    del self.floors[conn]
            ready.append(conn)
        return ready

    def forget(self, conn: Connection) -> None:
        self.floors.pop(conn, None)
