"""Welcoming a connection that follows streams with history: its positions in the welcome, the pushes it
missed replayed in order, and none lost or doubled against the live pushes that arrive meanwhile.

:func:`replay` decides what to write from the history's reads alone; the hub reads, welcomes and writes.
While that runs the connection is already registered, so live pushes reach it, but :class:`Welcomes`
holds them back; they are released after the replay, minus those the replay already carried. After it,
pushes up to the positions read may still be on their way (sent before the read, arriving after): a floor
per stream skips them until one passes it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ... import history
from ...history.base import Ask, Position, Read
from ...protocol.frames import Payload, recovered_frame, stream_payload
from ...runtime import telemetry
from ...runtime.registry import Connection

#: A push held for a connection being welcomed: its payload, and its stream and position if it has one.
Held = tuple[Payload, str | None, Position | None]
#: What the hub writes to a connection being welcomed: a push's payload, or a server frame's text.
Write = Payload | str


@dataclass(frozen=True)
class Replay:
    """What welcoming one connection with history writes, and what it leaves behind."""

    positions: dict[str, Position]  # each stream as read: in the welcome, then the connection's floors
    writes: list[Write]  # in order: the pushes it missed, the held ones not among them, ``recovered``
    recovered: dict[str, bool] | None  # per stream ``recover`` asked for, whether it was replayed
    replayed: int  # pushes replayed from the history

    @property
    def welcome(self) -> dict[str, tuple[str, int]]:
        """The positions as the welcome names them, ``{stream: (epoch, offset)}``."""
        return {stream: (at.epoch, at.offset) for stream, at in self.positions.items()}


def asks(
    streams: Iterable[str], recover: Mapping[str, Position] | None, latest: Collection[str] = ()
) -> list[Ask]:
    """What to read of ``streams`` for a welcome: where each one is, and what came after ``recover``; for
    those of ``latest`` that ``recover`` does not name, the last push."""
    config = history.config()
    found = []
    for stream in streams:
        limits = config.for_stream(stream)
        if limits is not None:
            since = (recover or {}).get(stream)
            last = since is None and stream in latest
            found.append(Ask(stream, limits.size, limits.ttl, since, last))
    return found


def entry_payloads(stream: str, read: Read, client_id: str) -> list[Payload]:
    """The pushes of a read, as the connection ``client_id`` gets them (none it is excluded from)."""
    return [
        stream_payload(entry.payload, stream, read.position.epoch, entry.offset, entry.version)
        for entry in read.entries or ()
        if client_id not in entry.exclude
    ]


def carried(positions: Mapping[str, Position], stream: str | None, position: Position | None) -> bool:
    """Whether a push at ``position`` on ``stream`` is in a replay up to ``positions`` already, or older than
    the position its welcome gave."""
    floor = positions.get(stream) if stream is not None else None
    return (
        floor is not None
        and position is not None
        and position.epoch == floor.epoch
        and position.offset <= floor.offset
    )


def replay(
    reads: Mapping[str, Read],
    recover: Mapping[str, Position] | None,
    held: Iterable[Held],
    client_id: str,
    latest: Collection[str] = (),
) -> Replay:
    """What to write to the connection ``client_id`` after its welcome: the pushes of ``reads`` that
    ``recover`` asks for (none it is excluded from), the last push of each stream of ``latest`` it does
    not recover, then the live pushes ``held`` meanwhile that those do not carry, then the ``recovered``
    frame if it asked."""
    positions = {stream: read.position for stream, read in reads.items()}
    writes: list[Write] = []
    results: dict[str, bool] = {}
    for stream in recover or {}:
        found = reads.get(stream)
        results[stream] = found is not None and found.entries is not None
        if found is not None:
            writes += entry_payloads(stream, found, client_id)
    replayed = len(writes)
    for stream in latest:
        found = reads.get(stream)
        if found is not None and stream not in (recover or {}):
            writes += entry_payloads(stream, found, client_id)
    writes += [payload for payload, stream, position in held if not carried(positions, stream, position)]
    if recover is not None:
        writes.append(recovered_frame(results))
    return Replay(positions, writes, results if recover is not None else None, replayed)


class Welcomes:
    """The connections of one hub being welcomed with history, and the floors of those just welcomed."""

    def __init__(self) -> None:
        self.pending: dict[Connection, list[Held]] = {}
        self.floors: dict[Connection, dict[str, Position]] = {}

    def __bool__(self) -> bool:
        return bool(self.pending or self.floors)

    def hold(self, conn: Connection) -> None:
        """Hold ``conn``'s live pushes from now until its welcome is written."""
        self.pending[conn] = []

    def replay(
        self,
        conn: Connection,
        reads: Mapping[str, Read],
        recover: Mapping[str, Position] | None,
        latest: Collection[str] = (),
    ) -> Replay:
        """:func:`replay` for ``conn``, of the pushes held for it so far; counted for the metrics."""
        held = self.pending[conn]
        decided = replay(reads, recover, list(held), conn.client_id, latest)
        held.clear()
        if decided.positions:
            self.floors.setdefault(conn, {}).update(decided.positions)
        for ok in (decided.recovered or {}).values():
            telemetry.stats.recoveries["recovered" if ok else "failed"] += 1
        telemetry.stats.replayed += decided.replayed
        return decided

    def release(self, conn: Connection) -> list[Write] | None:
        """The pushes held for ``conn`` while the last writes were awaited, minus those its replay carried;
        None when there were none: its welcome is over, and from now on its floors apply instead."""
        held = self.pending[conn]
        if not held:
            del self.pending[conn]
            return None
        self.pending[conn] = []
        positions = self.floors.get(conn, {})
        return [payload for payload, stream, position in held if not carried(positions, stream, position)]

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
                if carried(floors, stream, position):
                    continue
                del floors[stream]  # pushes come in order: none at or below the floor will follow
                if not floors:
                    del self.floors[conn]
            ready.append(conn)
        return ready

    def forget(self, conn: Connection) -> None:
        self.pending.pop(conn, None)
        self.floors.pop(conn, None)


async def write_out(welcomes: Welcomes, conn: Connection, writes: list[Write]) -> None:
    """Write what a replay decided, then what was held meanwhile, until nothing more is held."""
    sink = conn.sink
    pending: list[Write] | None = writes
    while pending is not None:
        for write in pending:
            await (sink.send(conn, write) if isinstance(write, str) else sink.deliver([conn], write))
        pending = welcomes.release(conn)
