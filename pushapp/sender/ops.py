"""What a plan hands a carrier: the layer operations of one send, each decided once, by the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from ..conf import push_settings
from ..history.base import Guard, Limits


class Op(NamedTuple):
    """One layer operation of a send: ``send`` to a hub channel or ``group_send`` to a layer group.

    ``limits`` is set when the push (a ``pushapp.push`` on stream ``message["s"]``) is kept in that stream's
    history, and says how much of it. The plan read ``PUSHAPP["HISTORY"]``; carriers read only this, so a
    push is carried as it was planned, also when that is later (``on_commit=True``).

    ``key``: the send's idempotency key, on each of its ops (docs/delivery.md); ``ack_within``: the seconds
    the uid has to acknowledge this push (an op with ``limits`` on a uid stream).
    """

    method: Literal["send", "group_send"]
    name: str
    message: Mapping[str, Any]
    limits: Limits | None = None
    key: str | None = None
    ack_within: float | None = None


def sends(ops: list[Op]) -> list[list[Op]]:
    """``ops`` cut into what is carried as one: the consecutive ops of one idempotency key together (one
    send, claimed once), every other op alone."""
    found: list[list[Op]] = []
    for op in ops:
        if op.key is not None and found and found[-1][0].key == op.key:
            found[-1].append(op)
        else:
            found.append([op])
    return found


def guard_of(op: Op, folded: bool) -> Guard | None:
    """What the store must do besides storing ``op``'s push: claim its key, when it is the send's only op
    (``folded``: the claim goes in the store's own call), and schedule its deadline."""
    key = op.key if folded else None
    if key is None and op.ack_within is None:
        return None
    return Guard(key, push_settings.IDEMPOTENCY_TTL, op.ack_within)
