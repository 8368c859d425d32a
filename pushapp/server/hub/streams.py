"""Pushes on streams with history, in order, each once: the last position this hub delivered per stream,
and a read-back from the history when a push arrives after a gap (a lost publish, a subscription that
dropped, two senders that overtook each other)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable

from ... import history
from ...history.base import Ask, Entry, Position, Read
from ...runtime.registry import Connection, Registry

Reader = Callable[[list[Ask]], Awaitable[dict[str, Read]]]


class StreamOrder:
    def __init__(self, read: Reader) -> None:
        self.positions: dict[str, Position] = {}
        self._streams_by_group: dict[str, str] = {}
        self._read = read

    async def arrange(self, stream: str, epoch: str, entry: Entry) -> tuple[list[Entry], bool]:
        """The pushes to deliver, in order, now that ``entry`` arrived; True when some before it could not
        be found (the clients must be told they may have missed pushes)."""
        last = self.positions.get(stream)
        if last is None:
            self._streams_by_group[history.layer_group_of(stream)] = stream
        if last is None or last.epoch != epoch or entry.offset == last.offset + 1:
            self.positions[stream] = Position(epoch, entry.offset)
            return [entry], False
        if entry.offset <= last.offset:
            return [], False  # delivered already, read back after a gap
        entries, lost = await self.heal(stream, last)
        if not entries or entries[-1].offset < entry.offset:
            entries.append(entry)
        self.positions[stream] = Position(epoch, entries[-1].offset)
        return entries, lost

    async def heal(self, stream: str, since: Position) -> tuple[list[Entry], bool]:
        """The pushes of ``stream`` after ``since`` from the history; True if they are not all there."""
        limits = history.config().for_stream(stream)
        if limits is None:
            return [], True
        read = (await self._read([Ask(stream, limits.size, limits.ttl, since)]))[stream]
        if read.entries is None:
            return [], True
        return list(read.entries), False

    async def catch_up(self) -> list[tuple[str, str, list[Entry], bool]]:
        """After this hub's subscriptions were down: per followed stream, the pushes it missed since its
        position (advanced past them), and whether some could not be found."""
        result = []
        for stream, since in list(self.positions.items()):
            entries, lost = await self.heal(stream, since)
            if entries:
                self.positions[stream] = Position(since.epoch, entries[-1].offset)
            result.append((stream, since.epoch, entries, lost))
        return result

    def left(self, layer_group: str) -> None:
        """The hub left ``layer_group``: pushes of its stream no longer reach it, so its position here goes
        stale. Forgotten, the stream starts again from the next push that arrives."""
        stream = self._streams_by_group.pop(layer_group, None)
        if stream is not None:
            self.positions.pop(stream, None)


def stream_targets(registry: Registry, stream: str, exclude: Iterable[str] = ()) -> Collection[Connection]:
    """The local connections that follow ``stream``."""
    kind, _, name = stream.partition(":")
    if kind == "uid":
        return registry.targets("uid", [name], list(exclude))
    if kind == "group":
        return registry.targets("grp", [name], list(exclude))
    return registry.targets("all", None, list(exclude))
