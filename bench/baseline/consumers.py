"""The consumer a typical Channels project writes for pushes.

It ``group_add``s itself to the broadcast group and to a per-user group named in the query string, says
``{"type": "welcome"}`` (so the bench clients know the joins are done, as with pushapp), and its handler
``self.send``s each message. Django code pushes with ``async_to_sync(layer.group_send)(group, event)``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

MESSAGE_TYPE = "bench.message"
WELCOME = '{"type":"welcome"}'


def user_group(uid: str) -> str:
    """The per-user group: the baseline's ``send_to_uid``."""
    return f"user.{uid}"


class BaselineConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.groups_joined = [*query.get("group", [])] + [user_group(u) for u in query.get("uid", [])]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send(text_data=WELCOME)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def bench_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])
