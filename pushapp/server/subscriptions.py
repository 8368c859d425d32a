"""Client subscriptions: ``{"type": "subscribe", "group": …}`` from the client, decided by the project.

``PUSHAPP["AUTHORIZE_SUBSCRIBE"]`` names a function (sync, run in a worker thread where the ORM is safe,
or async) called with the connection's ``uid``, ``session``, ``scope`` and the ``group``; it returns True
to allow, anything else to refuse, or raises :class:`~pushapp.exceptions.SubscriptionRefused` to refuse
with a reason. Without one, every subscription is refused: the server decides who hears what. An allowed
subscription is the same membership as ``join_group`` (presence and everything else apply).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.utils.module_loading import import_string

from ..conf import push_settings
from ..exceptions import InvalidGroup, SubscriptionRefused
from ..protocol.frames import dumps
from ..protocol.names import validate_group
from ..runtime.registry import Connection
from .hub import control, receipts, recovery
from .limits import report_failure

#: Group names pushapp keeps for itself (``pushapp.watch``): refused before the project's hook is asked.
RESERVED = "pushapp."

SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"


@functools.cache
def _load(path: str) -> Callable[..., Any]:
    hook: Callable[..., Any] = import_string(path)
    return hook


async def _decide(conn: Connection, scope: dict[str, Any], group: str) -> str | None:
    """None when the hook allows ``group``, else the reason it is refused."""
    path = push_settings.AUTHORIZE_SUBSCRIBE
    if not path:
        return "subscriptions are not enabled on this server"
    if group.startswith(RESERVED):  # pushapp's own (the dashboard's reports): never the hook's to give
        return "group names starting with 'pushapp.' are reserved"
    hook = _load(path)
    kwargs = {"uid": conn.uid, "session": dict(conn.session), "scope": scope, "group": group}
    try:
        if inspect.iscoroutinefunction(hook):
            allowed = await hook(**kwargs)
        else:
            allowed = await database_sync_to_async(hook)(**kwargs)
    except SubscriptionRefused as refused:
        return str(refused) or "not allowed"
    except Exception:  # the project's hook: counted, its traceback logged at most once per 10 s
        report_failure("AUTHORIZE_SUBSCRIBE", f"{path} on group {group!r}")
        return "the server could not decide"
    return None if allowed is True else "not allowed"


def _refusal(code: str, detail: str, group: Any) -> str:
    frame = {"type": "error", "code": code, "detail": detail, "group": group}
    return dumps(frame)


async def handle(hub: control.Parts, conn: Connection, scope: dict[str, Any], frame: dict[str, Any]) -> None:
    """Answer a ``subscribe`` or ``unsubscribe`` frame: ``subscribed`` / ``unsubscribed``, or an error."""
    kind = frame["type"]
    wants_latest = kind == SUBSCRIBE and frame.get("latest") is True
    latest: list[recovery.Write] = []
    try:
        group = validate_group(frame.get("group"))
    except InvalidGroup as err:
        await conn.sink.send(conn, _refusal("bad_group", str(err), frame.get("group")))
        return
    if kind == SUBSCRIBE:
        reason = await _decide(conn, scope, group)
        if reason is not None:
            await conn.sink.send(conn, _refusal("subscribe_refused", reason, group))
            return
        if wants_latest:  # its stream's last push, after the answer (docs/delivery.md)
            joined, latest = await receipts.join_latest(hub, conn, group)
        else:
            joined = await control.join(hub, conn, group)
        if not joined:
            if wants_latest:
                await recovery.write_out(hub.welcomes, conn, latest)
            limit = push_settings.MAX_GROUPS_PER_CONNECTION
            await conn.sink.send(
                conn, _refusal("too_many_groups", f"a connection is in {limit} groups at most", group)
            )
            return
        answer = "subscribed"
    else:
        await control.leave(hub, conn, group)
        answer = "unsubscribed"
    if conn in hub.registry:  # not closed while the hook decided
        await conn.sink.send(conn, dumps({"type": answer, "group": group}))
    if wants_latest:
        await recovery.write_out(hub.welcomes, conn, latest)
