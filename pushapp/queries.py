"""Who is online, cluster-wide: GatewayClient's query API with Django's names.

Each query has a sync function and an ``a``-prefixed async twin (``is_uid_online`` /
``ais_uid_online``). Answers come from the presence backend (docs/presence.md): with Redis, one round
trip per call whatever the number of server processes, through a sync Redis client for sync callers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from .presence import get_backend
from .presence.base import Backend
from .protocol.names import normalize_uid, one_or_many, validate_client_id, validate_group
from .runtime.twins import plan_twins

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Plan(Generic[R]):
    """One typed presence read, sync and async, and how to turn its result into the answer."""

    read: Callable[[Backend], Any]
    aread: Callable[[Backend], Awaitable[Any]]
    finish: Callable[[Any], R]


def _plan(
    read: Callable[[Backend], T], aread: Callable[[Backend], Awaitable[T]], finish: Callable[[T], R]
) -> Plan[R]:
    return Plan(read, aread, finish)


async def _aask(step: Plan[R]) -> R:
    return step.finish(await step.aread(get_backend()))


def _ask(step: Plan[R]) -> R:
    return step.finish(step.read(get_backend()))


def _twins(plan: Callable[P, Plan[R]]) -> tuple[Callable[P, Coroutine[Any, Any, R]], Callable[P, R]]:
    return plan_twins(plan, _aask, _ask)


def _group_or_all(group: object) -> str:
    """``""`` means every client, as in GatewayClient."""
    return "" if group == "" else validate_group(group)


def _uids(uids: Iterable[str | int]) -> list[str]:
    return list(dict.fromkeys(normalize_uid(u) for u in one_or_many(uids)))


def _first(lists: list[list[str]]) -> list[str]:
    return list(lists[0])


def _is_online(client_id: str) -> Plan[bool]:
    """Whether the connection is open on any server process."""
    cid = validate_client_id(client_id)
    return _plan(lambda b: b.is_online(cid), lambda b: b.ais_online(cid), bool)


def _is_uid_online(uid: str | int) -> Plan[bool]:
    """Whether any connection is bound to ``uid``."""
    names = [normalize_uid(uid)]
    return _plan(
        lambda b: b.uid_client_ids(names), lambda b: b.auid_client_ids(names), lambda ls: bool(ls[0])
    )


def _are_uids_online(uids: Iterable[str | int]) -> Plan[dict[str, bool]]:
    """``{uid: online}`` for each uid (GatewayClient's isUidsOnline)."""
    names = _uids(uids)
    return _plan(
        lambda b: b.uid_client_ids(names),
        lambda b: b.auid_client_ids(names),
        lambda lists: {u: bool(c) for u, c in zip(names, lists, strict=True)},
    )


def _get_client_id_by_uid(uid: str | int) -> Plan[list[str]]:
    """Client ids of every connection bound to ``uid``."""
    names = [normalize_uid(uid)]
    return _plan(lambda b: b.uid_client_ids(names), lambda b: b.auid_client_ids(names), _first)


def _get_client_ids_by_uids(uids: Iterable[str | int]) -> Plan[dict[str, list[str]]]:
    """``{uid: [client ids]}`` (GatewayClient's batchGetClientIdByUid)."""
    names = _uids(uids)
    return _plan(
        lambda b: b.uid_client_ids(names),
        lambda b: b.auid_client_ids(names),
        lambda lists: dict(zip(names, map(list, lists), strict=True)),
    )


def _get_uid_by_client_id(client_id: str) -> Plan[str | None]:
    """The uid bound to the connection, or None (unbound or offline)."""
    cid = validate_client_id(client_id)
    return _plan(lambda b: b.uid_of(cid), lambda b: b.auid_of(cid), lambda uid: uid or None)


def _members_of(group: str) -> Plan[list[str]]:
    groups = [group]
    return _plan(lambda b: b.group_client_ids(groups), lambda b: b.agroup_client_ids(groups), _first)


def _count_of(group: str) -> Plan[int]:
    groups = [group]
    return _plan(lambda b: b.group_counts(groups), lambda b: b.agroup_counts(groups), lambda c: int(c[0]))


def _sessions_of(group: str) -> Plan[dict[str, dict[str, Any]]]:
    return _plan(lambda b: b.group_sessions(group), lambda b: b.agroup_sessions(group), dict)


def _uids_of(group: str, finish: Callable[[list[str]], R]) -> Plan[R]:
    return _plan(lambda b: b.group_uids(group), lambda b: b.agroup_uids(group), finish)


def _group_members(uids: bool, finish: Callable[[dict[str, list[str]]], R]) -> Plan[R]:
    return _plan(lambda b: b.all_group_members(uids), lambda b: b.aall_group_members(uids), finish)


def _get_client_id_list_by_group(group: str) -> Plan[list[str]]:
    """Client ids of the group's members (``""``: every client)."""
    return _members_of(_group_or_all(group))


def _get_client_count_by_group(group: str = "") -> Plan[int]:
    """How many connections are in the group (``""``: every client)."""
    return _count_of(_group_or_all(group))


def _get_client_count_by_groups(groups: Iterable[str]) -> Plan[dict[str, int]]:
    """``{group: count}`` (GatewayClient's batchGetClientIdCountByGroup)."""
    names = list(dict.fromkeys(_group_or_all(g) for g in one_or_many(groups)))
    return _plan(
        lambda b: b.group_counts(names),
        lambda b: b.agroup_counts(names),
        lambda counts: dict(zip(names, map(int, counts), strict=True)),
    )


def _get_client_sessions_by_group(group: str) -> Plan[dict[str, dict[str, Any]]]:
    """``{client id: session}`` of the group's members (``""``: every client)."""
    return _sessions_of(_group_or_all(group))


def _get_uid_list_by_group(group: str) -> Plan[list[str]]:
    """The distinct uids bound to the group's members."""
    return _uids_of(validate_group(group), list)


def _get_uid_count_by_group(group: str) -> Plan[int]:
    """How many distinct uids the group's members are bound to."""
    return _uids_of(validate_group(group), len)


def _get_all_client_id_list() -> Plan[list[str]]:
    """Every connected client id."""
    return _members_of("")


def _get_all_client_count() -> Plan[int]:
    """How many connections are open, cluster-wide."""
    return _count_of("")


def _get_all_client_sessions(group: str | None = None) -> Plan[dict[str, dict[str, Any]]]:
    """``{client id: session}`` of every connection, or of the group's members."""
    return _sessions_of("" if group is None else validate_group(group))


def _get_all_uid_list() -> Plan[list[str]]:
    """Every uid that has a connection."""
    return _plan(lambda b: b.all_uids(), lambda b: b.aall_uids(), list)


def _get_all_uid_count() -> Plan[int]:
    """How many distinct uids have a connection."""
    return _plan(lambda b: b.all_uids(), lambda b: b.aall_uids(), len)


def _get_all_group_id_list() -> Plan[list[str]]:
    """Every group that has a member."""
    return _plan(lambda b: b.all_groups(), lambda b: b.aall_groups(), list)


def _get_all_group_uid_list() -> Plan[dict[str, list[str]]]:
    """``{group: [uids]}`` for every group (groups whose members have no uid map to ``[]``)."""
    return _group_members(True, dict)


def _get_all_group_uid_count() -> Plan[dict[str, int]]:
    """``{group: number of distinct uids}`` for every group."""
    return _group_members(True, lambda members: {g: len(u) for g, u in members.items()})


def _get_all_group_client_id_list() -> Plan[dict[str, list[str]]]:
    """``{group: [client ids]}`` for every group."""
    return _group_members(False, dict)


def _get_all_group_client_id_count() -> Plan[dict[str, int]]:
    """``{group: number of connections}`` for every group."""
    return _group_members(False, lambda members: {g: len(c) for g, c in members.items()})


ais_online, is_online = _twins(_is_online)
ais_uid_online, is_uid_online = _twins(_is_uid_online)
aare_uids_online, are_uids_online = _twins(_are_uids_online)
aget_client_id_by_uid, get_client_id_by_uid = _twins(_get_client_id_by_uid)
aget_client_ids_by_uids, get_client_ids_by_uids = _twins(_get_client_ids_by_uids)
aget_uid_by_client_id, get_uid_by_client_id = _twins(_get_uid_by_client_id)
aget_client_id_list_by_group, get_client_id_list_by_group = _twins(_get_client_id_list_by_group)
aget_client_count_by_group, get_client_count_by_group = _twins(_get_client_count_by_group)
aget_client_count_by_groups, get_client_count_by_groups = _twins(_get_client_count_by_groups)
aget_client_sessions_by_group, get_client_sessions_by_group = _twins(_get_client_sessions_by_group)
aget_uid_list_by_group, get_uid_list_by_group = _twins(_get_uid_list_by_group)
aget_uid_count_by_group, get_uid_count_by_group = _twins(_get_uid_count_by_group)
aget_all_client_id_list, get_all_client_id_list = _twins(_get_all_client_id_list)
aget_all_client_count, get_all_client_count = _twins(_get_all_client_count)
aget_all_client_sessions, get_all_client_sessions = _twins(_get_all_client_sessions)
aget_all_uid_list, get_all_uid_list = _twins(_get_all_uid_list)
aget_all_uid_count, get_all_uid_count = _twins(_get_all_uid_count)
aget_all_group_id_list, get_all_group_id_list = _twins(_get_all_group_id_list)
aget_all_group_uid_list, get_all_group_uid_list = _twins(_get_all_group_uid_list)
aget_all_group_uid_count, get_all_group_uid_count = _twins(_get_all_group_uid_count)
aget_all_group_client_id_list, get_all_group_client_id_list = _twins(_get_all_group_client_id_list)
aget_all_group_client_id_count, get_all_group_client_id_count = _twins(_get_all_group_client_id_count)

#: Each query's plan by name: its validation, without reading (the HTTP API checks a batch before running it).
PLANS: dict[str, Callable[..., Plan[Any]]] = {
    plan.__name__.lstrip("_"): plan
    for plan in (
        _is_online,
        _is_uid_online,
        _are_uids_online,
        _get_client_id_by_uid,
        _get_client_ids_by_uids,
        _get_uid_by_client_id,
        _get_client_id_list_by_group,
        _get_client_count_by_group,
        _get_client_count_by_groups,
        _get_client_sessions_by_group,
        _get_uid_list_by_group,
        _get_uid_count_by_group,
        _get_all_client_id_list,
        _get_all_client_count,
        _get_all_client_sessions,
        _get_all_uid_list,
        _get_all_uid_count,
        _get_all_group_id_list,
        _get_all_group_uid_list,
        _get_all_group_uid_count,
        _get_all_group_client_id_list,
        _get_all_group_client_id_count,
    )
}
