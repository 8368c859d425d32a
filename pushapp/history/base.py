"""What a history backend does: append a push to a stream (and publish it), and read a stream back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..protocol.frames import Payload


class Sender(Protocol):
    """What a history backend sends through: the channel layer, or a wrapper that retries its sends.
    ``serialize`` is the pub/sub layer's, where there is one."""

    async def group_send(self, group: str, message: Mapping[str, Any]) -> None: ...


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

    async def apublish(self, layer: Sender, group: str, message: Mapping[str, Any], limits: Limits) -> None:
        """Store the push ``message`` (a ``pushapp.push`` with ``s``) in its stream and group_send it to
        ``group`` with the stream's new offset and epoch (``o``, ``e``)."""
        raise NotImplementedError

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        """Read several streams back, in one round trip where the backend can."""
        raise NotImplementedError
