"""What a history backend does: store a push in its stream, and read streams back. A store never sends:
the sender's carrier sends what it stored (or, on Redis, runs the store's script that does both at once).

Beside the pushes it keeps what depends on their positions (docs/delivery.md): the idempotency keys of
sends, the last version stored per stream, the offsets each uid acknowledged, and the deadlines of pushes
sent with ``ack_within``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..protocol.frames import Payload

#: Epochs name a stream's incarnation (a client's position is valid only in its epoch): unique, not secret.
#: Every append carries one in case its stream is new, so it must be cheap: os.urandom, behind
#: secrets.token_hex, costs 13 µs a call on some machines. Seeded from os.urandom, again in a forked child.
_epochs = random.Random()
os.register_at_fork(after_in_child=_epochs.seed)


def new_epoch() -> str:
    return f"{_epochs.getrandbits(64):016x}"


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
    version: int | None = None


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
    last: bool = False  # no ``since``: read the stream's last push (``latest``), if it still has it


@dataclass(frozen=True)
class Guard:
    """What a send asks of the store besides storing: ``key``, its idempotency key, claimed for ``key_ttl``
    seconds with the store (a second store under it stores nothing); ``ack_within``: the seconds the
    stream's uid has to acknowledge the push before it is due (:meth:`History.adue`)."""

    key: str | None = None
    key_ttl: float = 300
    ack_within: float | None = None


@dataclass(frozen=True)
class Due:
    """A push sent with ``ack_within`` that no connection of its uid acknowledged in time."""

    stream: str
    offset: int
    payload: Payload


def encode_entry(payload: Payload, exclude: list[str] | None, version: int | None = None) -> bytes:
    """A stored push: the excluded client ids (and ``;`` and its version, if it has one), then ``t`` and
    JSON text or ``b`` and bytes."""
    text, data = payload
    head = ",".join(exclude or ()) + ("" if version is None else f";{version}")
    return (
        head.encode("ascii")
        + b"|"
        + (b"t" + text.encode("utf-8") if text is not None else b"b" + (data or b""))
    )


def decode_entry(offset: int, raw: bytes) -> Entry:
    head, _, body = raw.partition(b"|")
    ids, _, version = head.decode("ascii").partition(";")
    exclude = tuple(ids.split(",")) if ids else ()
    payload: Payload = (body[1:].decode("utf-8"), None) if body[:1] == b"t" else (None, bytes(body[1:]))
    return Entry(offset, payload, exclude, int(version) if version else None)


class History:
    @classmethod
    def from_settings(cls, layer_options: dict[str, Any]) -> History:
        return cls()

    async def astore(
        self, message: Mapping[str, Any], limits: Limits, guard: Guard | None = None
    ) -> dict[str, Any] | None:
        """Store the push ``message`` (a ``pushapp.push`` with ``s``) in its stream; return it as the stream's
        clients must get it: with the stream's new offset and epoch (``o``, ``e``). None when it is not
        stored, and must not be sent: its ``guard.key`` was claimed already, or its version (``v``) is not
        above the stream's last one (each counted in ``drops``)."""
        raise NotImplementedError

    async def aclaim(self, key: str, ttl: float, token: str = "") -> bool:
        """Claim the idempotency key ``key`` for ``ttl`` seconds; False if it is claimed already (but by a
        claim with the same non-empty ``token``: this one, retried after its answer was lost)."""
        raise NotImplementedError

    async def aack(self, stream: str, uid: str, offset: int, ttl: float) -> bool:
        """Record that a connection of ``uid`` acknowledged ``stream`` up to ``offset`` (the highest one
        counts), for ``ttl`` seconds; False, recording nothing, when ``offset`` is beyond the stream's
        head."""
        raise NotImplementedError

    async def aacked(self, stream: str, uid: str) -> int | None:
        """The highest offset of ``stream`` a connection of ``uid`` acknowledged (None: none, or the stream
        started a new epoch since)."""
        raise NotImplementedError

    async def adue(self, limit: int = 100) -> list[Due]:
        """Claim, each once in the cluster, the pushes whose ``ack_within`` passed unacknowledged."""
        raise NotImplementedError

    async def aread(self, asks: list[Ask]) -> dict[str, Read]:
        """Read several streams back, in one round trip where the backend can."""
        raise NotImplementedError
