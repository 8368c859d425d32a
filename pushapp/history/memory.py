"""History in this process's memory: the embedded default, beside the in-memory channel layer.

The same semantics as the Redis backend, stream for stream: offsets from 1 per epoch, ``size`` pushes
kept, a stream idle for ``ttl`` seconds forgotten (its next push starts a new epoch).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..protocol.wire import payload_of
from .base import Ask, Entry, History, Limits, Position, Read


class _Stream:
    def __init__(self, size: int) -> None:
        self.epoch = secrets.token_hex(8)
        self.offset = 0
        self.entries: deque[tuple[float, Entry]] = deque(maxlen=size)
        self.touched = time.monotonic()


class MemoryHistory(History):
    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    def _stream(self, stream: str, size: int, ttl: float) -> _Stream:
        now = time.monotonic()
        found = self._streams.get(stream)
        if found is None or now - found.touched > ttl or found.entries.maxlen != size:
            found = self._streams[stream] = _Stream(size)
        found.touched = now
        return found

    async def astore(self, message: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
        stream = self._stream(message["s"], limits.size, limits.ttl)
        stream.offset += 1
        entry = Entry(stream.offset, payload_of(message), tuple(message.get("x", ())))  # type: ignore[arg-type]
        stream.entries.append((time.monotonic(), entry))
        return {**message, "o": stream.offset, "e": stream.epoch}

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        result = {}
        now = time.monotonic()
        for ask in asks:
            stream = self._stream(ask.stream, ask.size, ask.ttl)
            position = Position(stream.epoch, stream.offset)
            result[ask.stream] = Read(position, _since(stream, ask, now))
        return result


def _since(stream: _Stream, ask: Ask, now: float) -> list[Entry] | None:
    since = ask.since
    if since is None or since.epoch != stream.epoch or since.offset > stream.offset:
        return None
    wanted = [entry for at, entry in stream.entries if entry.offset > since.offset and now - at <= ask.ttl]
    first = since.offset + 1
    if stream.offset >= first and (not wanted or wanted[0].offset != first):
        return None  # the oldest missed push is gone
    return wanted
