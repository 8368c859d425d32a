"""How each system pushes from sync Django code (a view, a task, a script): the calls being compared.

pushapp: ``pushapp.gateway.send_to_group`` / ``send_to_uid``. Baseline: what Channels' docs show,
``async_to_sync(channel_layer.group_send)(group, {"type": ..., ...})`` wrapped anew at each call site.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SYSTEMS = ("pushapp", "baseline")


@dataclass(frozen=True)
class Sender:
    to_group: Callable[[str, str], Any]
    to_uid: Callable[[str, str], Any]


def pushapp_sender() -> Sender:
    from pushapp.gateway import send_to_group, send_to_uid

    return Sender(to_group=send_to_group, to_uid=send_to_uid)


def baseline_sender() -> Sender:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from bench.baseline.consumers import MESSAGE_TYPE, user_group

    layer = get_channel_layer()

    def to_group(group: str, text: str) -> None:
        async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "text": text})

    def to_uid(uid: str, text: str) -> None:
        async_to_sync(layer.group_send)(user_group(uid), {"type": MESSAGE_TYPE, "text": text})

    return Sender(to_group=to_group, to_uid=to_uid)


def sender_for(system: str) -> Sender:
    if system == "pushapp":
        return pushapp_sender()
    if system == "baseline":
        return baseline_sender()
    raise ValueError(f"system must be one of {SYSTEMS}, not {system!r}")
