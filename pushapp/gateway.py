"""Push to connections from any Django code: GatewayClient's API with Django's names.

Every function is a coroutine function prefixed ``a`` with a sync twin without the prefix
(``asend_to_uid`` / ``send_to_uid``). Sends go over the channel layer to the hubs of the server processes;
per-connection operations (join, bind, session, close) are routed to the one hub that owns the client id,
which answers once the change is in effect, so a send that follows sees it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec

from asgiref.sync import sync_to_async
from django.db import transaction

from . import history
from .conf import push_settings
from .exceptions import NestingTooDeep, SessionTooLarge
from .presence import get_backend
from .protocol import wire
from .protocol.frames import MAX_JSON_DEPTH, dumps, encode_payload, too_deep
from .protocol.names import normalize_uid, validate_client_id, validate_group
from .queries import (  # the query API is part of the one surface GatewayClient users know
    aare_uids_online,
    aget_all_client_count,
    aget_all_client_id_list,
    aget_all_client_sessions,
    aget_all_group_client_id_count,
    aget_all_group_client_id_list,
    aget_all_group_id_list,
    aget_all_group_uid_count,
    aget_all_group_uid_list,
    aget_all_uid_count,
    aget_all_uid_list,
    aget_client_count_by_group,
    aget_client_count_by_groups,
    aget_client_id_by_uid,
    aget_client_id_list_by_group,
    aget_client_ids_by_uids,
    aget_client_sessions_by_group,
    aget_uid_by_client_id,
    aget_uid_count_by_group,
    aget_uid_list_by_group,
    ais_online,
    ais_uid_online,
    are_uids_online,
    get_all_client_count,
    get_all_client_id_list,
    get_all_client_sessions,
    get_all_group_client_id_count,
    get_all_group_client_id_list,
    get_all_group_id_list,
    get_all_group_uid_count,
    get_all_group_uid_list,
    get_all_uid_count,
    get_all_uid_list,
    get_client_count_by_group,
    get_client_count_by_groups,
    get_client_id_by_uid,
    get_client_id_list_by_group,
    get_client_ids_by_uids,
    get_client_sessions_by_group,
    get_uid_by_client_id,
    get_uid_count_by_group,
    get_uid_list_by_group,
    is_online,
    is_uid_online,
)
from .runtime.layer import get_layer
from .runtime.twins import name_twins, refuse_running_loop, sync_twin
from .sender import capture, plans
from .sender.ops import Op
from .sender.plans import SPREAD_LIMIT
from .sender.publish import apublish, flush, publish
from .sender.rpc import get_caller
from .tokens import CLOCK_SKEW, revocation_keys, session_hash

logger = logging.getLogger(__name__)

P = ParamSpec("P")


async def _control(op: str, client_id: object, arg: Any = None) -> Any:
    """Run ``op`` on the hub that owns ``client_id`` and return its answer (None if nobody answers)."""
    recorder = capture.active()
    if recorder is not None:
        answer = recorder.record_operation(op, validate_client_id(client_id), arg)
        if not recorder.deliver:
            return answer
    caller = await get_caller(get_layer())
    return await caller.call(op, validate_client_id(client_id), arg)


def _session(value: object) -> dict[str, Any]:
    """Sessions are stored as JSON values, so what comes back is what Redis would give, in every layer."""
    if not isinstance(value, Mapping):
        raise TypeError(f"a session must be a dict, got {type(value).__name__}")
    if too_deep(dict(value)):
        raise NestingTooDeep(f"a session nests deeper than {MAX_JSON_DEPTH} (MAX_JSON_DEPTH)")
    result: dict[str, Any] = json.loads(dumps(dict(value)))
    return result


# -- sends ---------------------------------------------------------------------------------------------
# Their plans (validation, encoding, routing) are in pushapp.sender.plans; here they get their twins.


def _on_commit(ops: list[Op], using: str | None) -> None:
    """Publish ``ops`` once the transaction of ``using`` commits (at once outside one; never after a
    rollback). Validation and encoding already happened, at the call. ``robust``: the data is committed
    by then, so a send that fails (Redis away) is logged, not raised into the code that committed."""
    transaction.on_commit(functools.partial(publish, ops), using=using, robust=True)


async def _aon_commit(ops: list[Op], using: str | None) -> None:
    # Django's transactions are sync: register on the thread-sensitive executor, where async code's ORM
    # calls (and their atomic blocks) run.
    await sync_to_async(_on_commit, thread_sensitive=True)(ops, using)


def _send_twins(
    plan: Callable[P, list[Op]],
) -> tuple[Callable[..., Coroutine[Any, Any, None]], Callable[..., None]]:
    """The async send and its sync twin, both taking ``on_commit=`` and ``using=`` besides the plan's."""

    async def afunc(*args: Any, on_commit: bool = False, using: str | None = None, **kwargs: Any) -> None:
        if on_commit:
            await _aon_commit(plan(*args, **kwargs), using)
        else:
            await apublish(plan(*args, **kwargs))

    def func(*args: Any, on_commit: bool = False, using: str | None = None, **kwargs: Any) -> None:
        refuse_running_loop(func.__name__)
        ops = plan(*args, **kwargs)
        if on_commit:
            _on_commit(ops, using)
        else:
            publish(ops)

    afunc, func = name_twins(plan, afunc, func)
    afunc.__module__ = func.__module__ = __name__  # the public face: where help() and pickle look
    return afunc, func


asend_to_all, send_to_all = _send_twins(plans.send_to_all)
asend_to_client, send_to_client = _send_twins(plans.send_to_client)
asend_to_uid, send_to_uid = _send_twins(plans.send_to_uid)
asend_to_group, send_to_group = _send_twins(plans.send_to_group)
aungroup, ungroup = _send_twins(plans.ungroup)


# -- per-connection operations -----------------------------------------------------------------------
# Their sync forms first write out this thread's queued sync sends, so they come after them.


async def aclose_client(client_id: str, message: Any = None) -> bool:
    """Send ``message`` (if given) and close the connection with code 1000. False if it was not online."""
    arg = None if message is None else list(encode_payload(message))
    return bool(await _control("close", client_id, arg))


async def adestroy_client(client_id: str) -> bool:
    """Close the connection at once with code 4004. False if it was not online."""
    return bool(await _control("destroy", client_id))


async def abind_uid(client_id: str, uid: str | int) -> bool:
    """Bind the connection to ``uid``; a connection has one uid, so binding again moves it."""
    return bool(await _control("bind", client_id, normalize_uid(uid)))


async def aunbind_uid(client_id: str, uid: str | int | None = None) -> bool:
    """Unbind the connection's uid (only if it is ``uid``, when given)."""
    return bool(await _control("unbind", client_id, None if uid is None else normalize_uid(uid)))


async def ajoin_group(client_id: str, group: str) -> bool:
    """Add the connection to ``group``; a send to the group that follows this call reaches it. False if
    the client is not online, or is in ``MAX_GROUPS_PER_CONNECTION`` groups already."""
    return bool(await _control("join", client_id, validate_group(group)))


async def aleave_group(client_id: str, group: str) -> bool:
    return bool(await _control("leave", client_id, validate_group(group)))


def _session_written(answer: Any) -> bool:
    if answer == wire.SESSION_TOO_LARGE:
        raise SessionTooLarge(
            f"the session would be over PUSHAPP['MAX_SESSION_SIZE'] ({push_settings.MAX_SESSION_SIZE} bytes)"
        )
    return bool(answer)


async def aset_session(client_id: str, session: Mapping[str, Any]) -> bool:
    """Replace the connection's session dict. False if the client is not online; :class:`SessionTooLarge`
    (nothing changed) if it would be over ``MAX_SESSION_SIZE`` bytes as JSON."""
    return _session_written(await _control("session_set", client_id, _session(session)))


async def aupdate_session(client_id: str, session: Mapping[str, Any]) -> bool:
    """Merge ``session`` into the connection's session dict. False if the client is not online;
    :class:`SessionTooLarge` (nothing changed) if the merged session would be over ``MAX_SESSION_SIZE``."""
    return _session_written(await _control("session_update", client_id, _session(session)))


async def aget_session(client_id: str) -> dict[str, Any] | None:
    """The connection's session dict, or None when it is not online."""
    result: dict[str, Any] | None = await _control("session_get", client_id)
    return result


# -- delivery receipts --------------------------------------------------------------------------------


async def aget_acked_offset(uid: str | int, stream: str | None = None) -> int | None:
    """The highest offset of ``stream`` (default: the uid's own stream, ``uid:<uid>``) that any connection
    of ``uid`` acknowledged, in the whole cluster; None when none did (or the stream started a new epoch
    since, or its acknowledgements expired with its history). docs/delivery.md."""
    name = normalize_uid(uid)
    if stream is not None and not isinstance(stream, str):
        raise TypeError("stream must be a str, e.g. 'uid:42' or 'group:news'")
    return await history.get_history().aacked(stream or history.uid_stream(name), name)


# -- access ------------------------------------------------------------------------------------------


async def _arevoke(uid: str, session_key: str | None) -> None:
    """Remember the revocation for the hubs that start later, then tell every running hub: each closes
    what is open and refuses the tokens issued before it (4008)."""
    # To the millisecond, as tokens are dated: one minted in the same millisecond after it is not refused.
    session, when = session_hash(session_key), math.floor(time.time() * 1000) / 1000
    keys = revocation_keys(None if session else uid, session)
    await get_backend().arevoke(keys, when, push_settings.TOKEN_MAX_AGE + CLOCK_SKEW)
    await apublish(plans.revoke(uid, session, when))


async def arevoke_uid(uid: str | int) -> None:
    """End ``uid``'s access: every connection of it in the cluster closes with 4008 ("access revoked":
    do not reconnect with the same token), and every token issued for it before this call is refused
    with 4008 at its handshake. Tokens minted afterwards work."""
    await _arevoke(normalize_uid(uid), None)


async def arevoke_session(uid: str | int, session_key: str) -> None:
    """End the access of one Django session of ``uid`` (a logout): the connections whose token was
    minted in it close with 4008, and its tokens are refused."""
    await _arevoke(normalize_uid(uid), session_key)


revoke_uid = sync_twin(arevoke_uid, before=flush)
revoke_session = sync_twin(arevoke_session, before=flush)
close_client = sync_twin(aclose_client, before=flush)
destroy_client = sync_twin(adestroy_client, before=flush)
bind_uid = sync_twin(abind_uid, before=flush)
unbind_uid = sync_twin(aunbind_uid, before=flush)
join_group = sync_twin(ajoin_group, before=flush)
leave_group = sync_twin(aleave_group, before=flush)
set_session = sync_twin(aset_session, before=flush)
update_session = sync_twin(aupdate_session, before=flush)
get_session = sync_twin(aget_session, before=flush)
get_acked_offset = sync_twin(aget_acked_offset)

__all__ = [
    "SPREAD_LIMIT",
    "aare_uids_online",
    "abind_uid",
    "aclose_client",
    "adestroy_client",
    "aget_acked_offset",
    "aget_all_client_count",
    "aget_all_client_id_list",
    "aget_all_client_sessions",
    "aget_all_group_client_id_count",
    "aget_all_group_client_id_list",
    "aget_all_group_id_list",
    "aget_all_group_uid_count",
    "aget_all_group_uid_list",
    "aget_all_uid_count",
    "aget_all_uid_list",
    "aget_client_count_by_group",
    "aget_client_count_by_groups",
    "aget_client_id_by_uid",
    "aget_client_id_list_by_group",
    "aget_client_ids_by_uids",
    "aget_client_sessions_by_group",
    "aget_session",
    "aget_uid_by_client_id",
    "aget_uid_count_by_group",
    "aget_uid_list_by_group",
    "ais_online",
    "ais_uid_online",
    "ajoin_group",
    "aleave_group",
    "are_uids_online",
    "arevoke_session",
    "arevoke_uid",
    "asend_to_all",
    "asend_to_client",
    "asend_to_group",
    "asend_to_uid",
    "aset_session",
    "aunbind_uid",
    "aungroup",
    "aupdate_session",
    "bind_uid",
    "close_client",
    "destroy_client",
    "flush",
    "get_acked_offset",
    "get_all_client_count",
    "get_all_client_id_list",
    "get_all_client_sessions",
    "get_all_group_client_id_count",
    "get_all_group_client_id_list",
    "get_all_group_id_list",
    "get_all_group_uid_count",
    "get_all_group_uid_list",
    "get_all_uid_count",
    "get_all_uid_list",
    "get_client_count_by_group",
    "get_client_count_by_groups",
    "get_client_id_by_uid",
    "get_client_id_list_by_group",
    "get_client_ids_by_uids",
    "get_client_sessions_by_group",
    "get_session",
    "get_uid_by_client_id",
    "get_uid_count_by_group",
    "get_uid_list_by_group",
    "is_online",
    "is_uid_online",
    "join_group",
    "leave_group",
    "revoke_session",
    "revoke_uid",
    "send_to_all",
    "send_to_client",
    "send_to_group",
    "send_to_uid",
    "set_session",
    "unbind_uid",
    "ungroup",
    "update_session",
]
