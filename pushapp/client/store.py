"""Where a client keeps its positions between runs: a :class:`PositionStore`.

The client loads them once when it starts and saves them (all of them, a few bytes per stream) at most
once per ``ack_interval`` while they change, and when it closes. A position is saved once the application
handled its push (docs/client.md, "Delivery guarantees").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .items import Position


@runtime_checkable
class PositionStore(Protocol):
    """Anything with these two coroutines: a file, a database row, a key in Redis."""

    async def load(self) -> dict[str, Position]:
        """Every stream's saved position (``{}`` the first time)."""
        ...

    async def save(self, positions: Mapping[str, Position]) -> None:
        """Replace what was saved with ``positions``."""
        ...


class MemoryPositionStore:
    """The default: positions live as long as the process (a reconnect recovers, a restart does not)."""

    def __init__(self) -> None:
        self._positions: dict[str, Position] = {}

    async def load(self) -> dict[str, Position]:
        return dict(self._positions)

    async def save(self, positions: Mapping[str, Position]) -> None:
        self._positions = dict(positions)


def decode(text: str) -> dict[str, Position]:
    """Positions from their JSON, ``{stream: {"offset": int, "epoch": str}}``; entries that are not well
    formed are left out (the server would ignore them anyway)."""
    try:
        raw: Any = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    positions = {}
    for stream, entry in raw.items():
        if isinstance(entry, dict):
            offset, epoch = entry.get("offset"), entry.get("epoch")
            if isinstance(offset, int) and not isinstance(offset, bool) and isinstance(epoch, str):
                positions[stream] = Position(offset, epoch)
    return positions


def encode(positions: Mapping[str, Position]) -> str:
    return json.dumps(
        {stream: {"offset": p.offset, "epoch": p.epoch} for stream, p in sorted(positions.items())}
    )


class FilePositionStore:
    """Positions in a JSON file: a restarted process recovers where the last one stopped. Every save
    writes a temporary file next to it, flushes it to disk and renames it over the old one
    (``os.replace``), so a crash leaves the old file or the new one, never half of one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    async def load(self) -> dict[str, Position]:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except FileNotFoundError:
            return {}
        return decode(text)

    async def save(self, positions: Mapping[str, Position]) -> None:
        await asyncio.to_thread(self._write, encode(positions))

    def _write(self, text: str) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
