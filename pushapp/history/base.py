"""What a history backend does: store a push in its stream, and read streams back. A store never sends:
the sender's carrier sends what it stored (or, on Redis, runs the store's script that does both at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..protocol.frames import Payload


@dataclass(frozen=True)
class Limits:
    size: int  # pushes kept per stream
    ttl: float  # seconds a push is kept (and a stream without pushes lives)


@dataclass(frozen=True)
class Entry:
    """One stored push of a stream."""

    offset: int
    payload: Payload
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Position:
    epoch: str
    offset: int


@dataclass(frozen=True)
class Read:
    """A stream as read back: where it is now, and the pushes after the asked position.

    ``entries`` is None when they could not all be found (too old, another epoch, a position from the
    future): recovery of that stream fails and the client must refetch.
    """

    position: Position
    entries: list[Entry] | None = field(default=None)


@dataclass(frozen=True)
class Ask:
    """Read ``stream``; ``since`` is the position to replay from (None: the current position only)."""

    stream: str
    size: int
    ttl: float
    since: Position | None = None


def encode_entry(payload: Payload, exclude: list[str] | None) -> bytes:
    """A stored push: the excluded client ids, then ``t`` and JSON text or ``b`` and bytes."""
    text, data = payload
    head = (",".join(exclude or ())).encode("ascii") + b"|"
    return head + (b"t" + text.encode("utf-8") if text is not None else b"b" + (data or b""))


def decode_entry(offset: int, raw: bytes) -> Entry:
    head, _, body = raw.partition(b"|")
    exclude = tuple(head.decode("ascii").split(",")) if head else ()
    payload: Payload = (body[1:].decode("utf-8"), None) if body[:1] == b"t" else (None, bytes(body[1:]))
    return Entry(offset, payload, exclude)


class History:
    @classmethod
    def from_settings(cls, layer_options: dict[str, Any]) -> History:
        return cls()

    async def astore(self, message: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
        """Store the push ``message`` (a ``pushapp.push`` with ``s``) in its stream; return it as the stream's
        clients must get it: with the stream's new offset and epoch (``o``, ``e``)."""
        raise NotImplementedError

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        """Read several streams back, in one round trip where the backend can."""
        raise NotImplementedError
