"""Pushes on streams with history, in order, each once: the last position this hub delivered per stream,
and a read-back from the history when a push arrives after a gap (a lost publish, a subscription that
dropped, two senders that overtook each other).

:class:`StreamOrder` only decides: what to deliver now, or which :class:`Gap` to read first. The hub
reads the gaps (one round trip for all of them) and hands each read to :meth:`StreamOrder.fill`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from ... import history
from ...history.base import Ask, Entry, Position, Read
from ...runtime.registry import Connection, Registry


@dataclass(frozen=True)
class Delivery:
    """Pushes of one stream to deliver, in order; ``missed``: some before them cannot be found, and the
    stream's followers must be told they may have missed pushes."""

    stream: str
    epoch: str
    entries: list[Entry]
    missed: bool = False


@dataclass(frozen=True)
class Gap:
    """The pushes of ``stream`` after ``since`` that this hub may not have had: read them with ``ask``
    (None: the stream keeps no history), then :meth:`StreamOrder.fill`. ``entry`` is the push that came
    after the gap (None when catching up after an outage)."""

    stream: str
    since: Position
    ask: Ask | None
    entry: Entry | None = None


def _gap(stream: str, since: Position, entry: Entry | None = None) -> Gap:
    limits = history.config().for_stream(stream)
    return Gap(stream, since, None if limits is None else Ask(stream, limits.size, limits.ttl, since), entry)


class StreamOrder:
    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self._streams_by_group: dict[str, str] = {}

    def arrange(self, stream: str, epoch: str, entry: Entry) -> Delivery | Gap:
        """What to do now that ``entry`` arrived: deliver it (or nothing, if it was read back already), or
        read the gap before it first."""
        last = self.positions.get(stream)
        if last is None:
            self._streams_by_group[history.layer_group_of(stream)] = stream
        if last is None or last.epoch != epoch or entry.offset == last.offset + 1:
            self.positions[stream] = Position(epoch, entry.offset)
            return Delivery(stream, epoch, [entry])
        if entry.offset <= last.offset:
            return Delivery(stream, epoch, [])  # delivered already, read back after a gap
        return _gap(stream, last, entry)

    def gaps(self) -> list[Gap]:
        """After this hub's subscriptions were down: every followed stream since its position."""
        return [_gap(stream, since) for stream, since in self.positions.items()]

    def fill(self, gap: Gap, read: Read | None) -> Delivery:
        """What to deliver of ``gap`` now that it was read (None: it could not be): the pushes read, then the
        one that came after it, each only if past the stream's position (advanced past them)."""
        found = None if read is None else read.entries
        entries = [] if found is None else list(found)
        if gap.entry is not None and (not entries or entries[-1].offset < gap.entry.offset):
            entries.append(gap.entry)
        last = self.positions.get(gap.stream)
        if last is not None and last.epoch == gap.since.epoch:  # else forgotten, or a new epoch, meanwhile
            entries = [entry for entry in entries if entry.offset > last.offset]  # delivered meanwhile
            if entries:
                self.positions[gap.stream] = Position(last.epoch, entries[-1].offset)
        return Delivery(gap.stream, gap.since.epoch, entries, found is None)

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
