"""Who is online, cluster-wide: GatewayClient's query API with Django's names.

Each query has a sync function and an ``a``-prefixed async twin (``is_uid_online`` /
``ais_uid_online``). Answers come from the presence backend (docs/presence.md): with Redis, one round
trip per call whatever the number of server processes, through a sync Redis client for sync callers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from .bridge import plan_twins
from .names import normalize_uid, one_or_many, validate_client_id, validate_group
from .presence import get_backend

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Plan(Generic[R]):
    """One raw presence operation and how to turn its result into the answer."""

    op: str
    args: tuple[str, ...]
    finish: Callable[[Any], R]


async def _aask(step: Plan[R]) -> R:
    return step.finish(await get_backend().aop(step.op, *step.args))


def _ask(step: Plan[R]) -> R:
    return step.finish(get_backend().op(step.op, *step.args))


def _twins(plan: Callable[P, Plan[R]]) -> tuple[Callable[P, Coroutine[Any, Any, R]], Callable[P, R]]:
    return plan_twins(plan, _aask, _ask)


def _group_or_all(group: object) -> str:
    """``""`` means every client, as in GatewayClient."""
    return "" if group == "" else validate_group(group)


def _uids(uids: Iterable[str | int]) -> list[str]:
    return list(dict.fromkeys(normalize_uid(u) for u in one_or_many(uids)))


def _pairs(flat: list[Any]) -> dict[str, Any]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _sessions(flat: list[Any]) -> dict[str, dict[str, Any]]:
    return {cid: json.loads(raw) if raw else {} for cid, raw in _pairs(flat).items()}


def _is_online(client_id: str) -> Plan[bool]:
    """Whether the connection is open on any server process."""
    return Plan("is_online", (validate_client_id(client_id),), bool)


def _is_uid_online(uid: str | int) -> Plan[bool]:
    """Whether any connection is bound to ``uid``."""
    return Plan("uid_cids", (normalize_uid(uid),), lambda lists: bool(lists[0]))


def _are_uids_online(uids: Iterable[str | int]) -> Plan[dict[str, bool]]:
    """``{uid: online}`` for each uid (GatewayClient's isUidsOnline)."""
    names = _uids(uids)
    return Plan(
        "uid_cids", tuple(names), lambda lists: {u: bool(c) for u, c in zip(names, lists, strict=True)}
    )


def _get_client_id_by_uid(uid: str | int) -> Plan[list[str]]:
    """Client ids of every connection bound to ``uid``."""
    return Plan("uid_cids", (normalize_uid(uid),), lambda lists: list(lists[0]))


def _get_client_ids_by_uids(uids: Iterable[str | int]) -> Plan[dict[str, list[str]]]:
    """``{uid: [client ids]}`` (GatewayClient's batchGetClientIdByUid)."""
    names = _uids(uids)
    return Plan("uid_cids", tuple(names), lambda lists: dict(zip(names, map(list, lists), strict=True)))


def _get_uid_by_client_id(client_id: str) -> Plan[str | None]:
    """The uid bound to the connection, or None (unbound or offline)."""
    return Plan("uid_of", (validate_client_id(client_id),), lambda uid: uid or None)


def _get_client_id_list_by_group(group: str) -> Plan[list[str]]:
    """Client ids of the group's members (``""``: every client)."""
    return Plan("group_cids", (_group_or_all(group),), lambda lists: list(lists[0]))


def _get_client_count_by_group(group: str = "") -> Plan[int]:
    """How many connections are in the group (``""``: every client)."""
    return Plan("group_counts", (_group_or_all(group),), lambda counts: int(counts[0]))


def _get_client_count_by_groups(groups: Iterable[str]) -> Plan[dict[str, int]]:
    """``{group: count}`` (GatewayClient's batchGetClientIdCountByGroup)."""
    names = list(dict.fromkeys(_group_or_all(g) for g in one_or_many(groups)))
    return Plan("group_counts", tuple(names), lambda counts: dict(zip(names, map(int, counts), strict=True)))


def _get_client_sessions_by_group(group: str) -> Plan[dict[str, dict[str, Any]]]:
    """``{client id: session}`` of the group's members (``""``: every client)."""
    return Plan("group_sessions", (_group_or_all(group),), _sessions)


def _get_uid_list_by_group(group: str) -> Plan[list[str]]:
    """The distinct uids bound to the group's members."""
    return Plan("group_uids", (validate_group(group),), list)


def _get_uid_count_by_group(group: str) -> Plan[int]:
    """How many distinct uids the group's members are bound to."""
    return Plan("group_uids", (validate_group(group),), len)


def _get_all_client_id_list() -> Plan[list[str]]:
    """Every connected client id."""
    return Plan("group_cids", ("",), lambda lists: list(lists[0]))


def _get_all_client_count() -> Plan[int]:
    """How many connections are open, cluster-wide."""
    return Plan("group_counts", ("",), lambda counts: int(counts[0]))


def _get_all_client_sessions(group: str | None = None) -> Plan[dict[str, dict[str, Any]]]:
    """``{client id: session}`` of every connection, or of the group's members."""
    return Plan("group_sessions", ("" if group is None else validate_group(group),), _sessions)


def _get_all_uid_list() -> Plan[list[str]]:
    """Every uid that has a connection."""
    return Plan("all_uids", (), list)


def _get_all_uid_count() -> Plan[int]:
    """How many distinct uids have a connection."""
    return Plan("all_uids", (), len)


def _get_all_group_id_list() -> Plan[list[str]]:
    """Every group that has a member."""
    return Plan("all_groups", (), list)


def _get_all_group_uid_list() -> Plan[dict[str, list[str]]]:
    """``{group: [uids]}`` for every group (groups whose members have no uid map to ``[]``)."""
    return Plan("all_group_members", ("uids",), lambda flat: {g: list(u) for g, u in _pairs(flat).items()})


def _get_all_group_uid_count() -> Plan[dict[str, int]]:
    """``{group: number of distinct uids}`` for every group."""
    return Plan("all_group_members", ("uids",), lambda flat: {g: len(u) for g, u in _pairs(flat).items()})


def _get_all_group_client_id_list() -> Plan[dict[str, list[str]]]:
    """``{group: [client ids]}`` for every group."""
    return Plan("all_group_members", ("cids",), lambda flat: {g: list(c) for g, c in _pairs(flat).items()})


def _get_all_group_client_id_count() -> Plan[dict[str, int]]:
    """``{group: number of connections}`` for every group."""
    return Plan("all_group_members", ("cids",), lambda flat: {g: len(c) for g, c in _pairs(flat).items()})


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
