"""A client's positions on its streams, two of each: what it received (what a reconnect recovers from)
and what the application handled (what is saved, and acknowledged). Plain state, no I/O."""

from __future__ import annotations

from typing import Any

from .items import Position, Push

#: The server reads at most this many streams of an auth frame's ``recover``.
MAX_RECOVER = 256


def position_of(entry: Any) -> Position | None:
    """A position of a welcome's ``streams``, if well formed."""
    if not isinstance(entry, dict):
        return None
    offset, epoch = entry.get("offset"), entry.get("epoch")
    if isinstance(offset, int) and not isinstance(offset, bool) and isinstance(epoch, str):
        return Position(offset, epoch)
    return None


class Positions:
    def __init__(self, saved: dict[str, Position]) -> None:
        self.received = dict(saved)
        self.handled = dict(saved)
        self.changed = False  # handled moved since the last save
        self.unacked: dict[str, int] = {}  # per stream, the highest handled offset not acknowledged yet
        self._welcome: dict[str, Position] = {}

    def recover(self) -> dict[str, dict[str, Any]]:
        """The auth frame's ``recover``: the last push received on each stream."""
        items = list(self.received.items())[-MAX_RECOVER:]
        return {stream: {"offset": p.offset, "epoch": p.epoch} for stream, p in items}

    def welcome(self, streams: Any) -> None:
        """A stream this client has no position for (or one from a lost epoch) starts where the server is;
        one it never had is handled from there on (nothing before it was ever meant for this client)."""
        self._welcome = {}
        for stream, entry in (streams if isinstance(streams, dict) else {}).items():
            now = position_of(entry)
            if now is None:
                continue
            self._welcome[stream] = now
            known = self.received.get(stream)
            if known is None or known.epoch != now.epoch:
                self.received[stream] = now
            if stream not in self.handled:
                self.handled[stream] = now
                self.changed = True

    def receive(self, push: Push) -> bool:
        """Whether ``push`` is new (not one this client already received); moves the stream on."""
        position = push.position
        if position is None or push.stream is None:
            return True
        known = self.received.get(push.stream)
        if known is not None and known.epoch == position.epoch and position.offset <= known.offset:
            return False
        self.received[push.stream] = position
        return True

    def unrecovered(self, stream: str) -> Position | None:
        """A stream the server could not replay goes on from the welcome's position; returned, to be
        handled once the application has seen the notice."""
        now = self._welcome.get(stream)
        if now is None:
            self.received.pop(stream, None)
            return None
        known = self.received.get(stream)
        if known is None or known.epoch != now.epoch or known.offset < now.offset:
            self.received[stream] = now
        return now

    def handle(self, stream: str, position: Position, ack: bool) -> None:
        """The application is done with everything up to ``position`` on ``stream``."""
        known = self.handled.get(stream)
        if known is not None and known.epoch == position.epoch and position.offset <= known.offset:
            return
        self.handled[stream] = position
        self.changed = True
        if ack:
            self.unacked[stream] = position.offset
