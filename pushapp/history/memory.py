"""History in this process's memory: the embedded default, beside the in-memory channel layer.

The same semantics as the Redis backend, stream for stream: offsets from 1 per epoch, ``size`` pushes
kept, a stream idle for ``ttl`` seconds forgotten (its next push starts a new epoch); idempotency keys,
versions, acknowledgements and deadlines too, for this process alone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..protocol.wire import payload_of
from ..runtime import telemetry
from .base import Ask, Due, Entry, Guard, History, Limits, Position, Read, new_epoch


class _Stream:
    def __init__(self, size: int) -> None:
        self.epoch = new_epoch()
        self.offset = 0
        self.version: int | None = None
        self.entries: deque[tuple[float, Entry]] = deque(maxlen=size)
        self.touched = time.monotonic()
        self.acked: dict[str, int] = {}  # per uid, the highest offset acknowledged


class MemoryHistory(History):
    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._keys: dict[str, float] = {}  # idempotency key -> when its claim ends (monotonic)
        self._deadlines: list[tuple[float, str, str, Entry]] = []  # (due, stream, epoch, entry)

    def _stream(self, stream: str, size: int, ttl: float) -> _Stream:
        now = time.monotonic()
        found = self._streams.get(stream)
        if found is None or now - found.touched > ttl or found.entries.maxlen != size:
            found = self._streams[stream] = _Stream(size)
        found.touched = now
        return found

    def _claim(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        if self._keys.get(key, 0.0) > now:
            telemetry.stats.drops["duplicate"] += 1
            return False
        if len(self._keys) > 1000:  # forget the claims that ended, now and then
            self._keys = {k: until for k, until in self._keys.items() if until > now}
        self._keys[key] = now + ttl
        return True

    async def astore(
        self, message: Mapping[str, Any], limits: Limits, guard: Guard | None = None
    ) -> dict[str, Any] | None:
        if guard is not None and guard.key is not None and not self._claim(guard.key, guard.key_ttl):
            return None
        stream = self._stream(message["s"], limits.size, limits.ttl)
        version = message.get("v")
        if version is not None and stream.version is not None and version <= stream.version:
            telemetry.stats.drops["version"] += 1
            return None
        stream.offset += 1
        if version is not None:
            stream.version = version
        exclude = tuple(message.get("x", ()))
        entry = Entry(stream.offset, payload_of(message), exclude, version)  # type: ignore[arg-type]
        stream.entries.append((time.monotonic(), entry))
        if guard is not None and guard.ack_within is not None:
            due = time.monotonic() + guard.ack_within
            self._deadlines.append((due, message["s"], stream.epoch, entry))
        return {**message, "o": stream.offset, "e": stream.epoch}

    async def aclaim(self, key: str, ttl: float, token: str = "") -> bool:
        return self._claim(key, ttl)

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        result = {}
        now = time.monotonic()
        for ask in asks:
            stream = self._stream(ask.stream, ask.size, ask.ttl)
            position = Position(stream.epoch, stream.offset)
            result[ask.stream] = Read(
                position, _last(stream, ask, now) if ask.last else _since(stream, ask, now)
            )
        return result

    async def aack(self, stream: str, uid: str, offset: int, ttl: float) -> bool:
        found = self._streams.get(stream)
        if found is None or offset > found.offset:
            return False
        found.acked[uid] = max(found.acked.get(uid, 0), offset)
        return True

    async def aacked(self, stream: str, uid: str) -> int | None:
        found = self._streams.get(stream)
        return None if found is None else found.acked.get(uid)

    async def adue(self, limit: int = 100) -> list[Due]:
        now = time.monotonic()
        due = [d for d in self._deadlines if d[0] <= now][:limit]
        if not due:
            return []
        self._deadlines = [d for d in self._deadlines if d not in due]
        found = []
        for _, name, epoch, entry in due:
            stream = self._streams.get(name)
            acked = stream.acked.get(name[4:], 0) if stream is not None and stream.epoch == epoch else 0
            if entry.offset > acked:
                found.append(Due(name, entry.offset, entry.payload))
        return found


def _last(stream: _Stream, ask: Ask, now: float) -> list[Entry]:
    if not stream.entries:
        return []
    at, entry = stream.entries[-1]
    return [entry] if entry.offset == stream.offset and now - at <= ask.ttl else []


def _since(stream: _Stream, ask: Ask, now: float) -> list[Entry] | None:
    since = ask.since
    if since is None or since.epoch != stream.epoch or since.offset > stream.offset:
        return None
    wanted = [entry for at, entry in stream.entries if entry.offset > since.offset and now - at <= ask.ttl]
    first = since.offset + 1
    if stream.offset >= first and (not wanted or wanted[0].offset != first):
        return None  # the oldest missed push is gone
    return wanted
