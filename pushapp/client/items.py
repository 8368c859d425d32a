"""What a :class:`~pushapp.client.Client` hands the application: pushes, and notices that some were missed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Position:
    """Where a client is on a stream with history: the last push seen (docs/recovery.md)."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Push:
    """One push: ``data`` is the application's payload (decoded JSON, or ``bytes`` for a binary push).
    ``stream``, ``offset`` and ``epoch`` are set on a stream with history, ``version`` on a versioned send."""

    data: Any
    stream: str | None = None
    offset: int | None = None
    epoch: str | None = None
    version: int | None = None

    @property
    def position(self) -> Position | None:
        if self.stream is None or self.offset is None or self.epoch is None:
            return None
        return Position(self.offset, self.epoch)


@dataclass(frozen=True, slots=True)
class Missed:
    """Pushes may have been lost: refetch the state of ``stream`` (``None``: of everything without
    history). ``reason`` is ``"missed"`` (the server's ``missed`` frame: it lost its subscriptions for a
    while) or ``"recovery"`` (a reconnect could not replay what was missed: ``recovered`` said ``false``)."""

    stream: str | None
    reason: str = "missed"
