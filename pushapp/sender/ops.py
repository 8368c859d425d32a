"""What a plan hands a carrier: the layer operations of one send, each decided once, by the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from ..history.base import Limits


class Op(NamedTuple):
    """One layer operation of a send: ``send`` to a hub channel or ``group_send`` to a layer group.

    ``limits`` is set when the push (a ``pushapp.push`` on stream ``message["s"]``) is kept in that stream's
    history, and says how much of it. The plan read ``PUSHAPP["HISTORY"]``; carriers read only this, so a
    push is carried as it was planned, also when that is later (``on_commit=True``).
    """

    method: Literal["send", "group_send"]
    name: str
    message: Mapping[str, Any]
    limits: Limits | None = None
