"""The plans of sends: validation, encoding and routing, without sending. Each returns the ops a carrier
takes as they are (:mod:`pushapp.sender.publish`), with every decision in them: the hub channel or layer
group, and for a push kept in a stream's history, that stream's limits (``PUSHAPP["HISTORY"]`` is read
here, once per send). The gateway's functions, the HTTP API's batches, presence frames and the hubs' live
reports all push through these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import history
from ..history import ALL_STREAM, group_stream, layer_group_of, uid_stream
from ..history.base import Limits
from ..protocol import wire
from ..protocol.frames import Payload, encode_payload
from ..protocol.names import (
    ALL_GROUP,
    group_layer_group,
    hub_channel,
    node_of,
    normalize_uid,
    one_or_many,
    uid_layer_group,
    validate_client_id,
    validate_client_ids,
    validate_group,
)
from .ops import Op

#: A send to more uids or groups than this goes as one message to every server process, instead of one
#: per uid or group: linear in the names either way, never one message per name carrying every name.
SPREAD_LIMIT = 16


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _to_hubs(client_ids: list[str], payload: Payload) -> list[Op]:
    """Route by client id: its first half names the hub that holds it, so no lookup is needed."""
    by_node: dict[str, list[str]] = {}
    for client_id in client_ids:
        by_node.setdefault(node_of(client_id), []).append(client_id)
    return [Op("send", hub_channel(node), wire.push("cid", ids, payload)) for node, ids in by_node.items()]


def _to_layer_groups(
    kind: wire.Kind,
    keys: list[str],
    layer_group: Callable[[str], str],
    payload: Payload,
    exclude: list[str] | None = None,
    frame: bool = False,
) -> list[Op]:
    """To the layer group of each uid or group (``layer_group(key)``), or to every process past
    :data:`SPREAD_LIMIT`."""
    if not keys:
        return []
    if len(keys) > SPREAD_LIMIT:
        return [Op("group_send", ALL_GROUP, wire.push(kind, keys, payload, exclude))]
    if kind == "uid":  # a connection has one uid: no copy can reach it twice
        ops = []  # a loop: a comprehension costs a function call on Python 3.11, on the sync send's path
        for key in keys:
            ops.append(Op("group_send", layer_group(key), wire.push(kind, [key], payload)))
        return ops
    message = wire.push(kind, keys, payload, exclude, frame=frame)
    return [Op("group_send", name, message) for name in _unique(map(layer_group, keys))]


def _to_streams(
    kind: wire.Kind, kept: list[tuple[str, str, Limits]], payload: Payload, exclude: list[str] | None
) -> list[Op]:
    """One stored push per stream with history (``kept``: key, stream, its limits): each stream has its own
    offsets (docs/recovery.md)."""
    return [
        Op("group_send", layer_group_of(stream), wire.push(kind, [key], payload, exclude, stream), limits)
        for key, stream, limits in kept
    ]


def send_to_all(
    data: Any, client_ids: Iterable[str] | None = None, exclude: Iterable[str] | None = None
) -> list[Op]:
    """Send ``data`` to every connection, or only to ``client_ids``, minus ``exclude``."""
    payload = encode_payload(data)
    skip = validate_client_ids(exclude) if exclude is not None else []
    if client_ids is None:
        limits = history.config().for_all() if payload[0] is not None else None
        if limits is not None:
            return [Op("group_send", ALL_GROUP, wire.push("all", None, payload, skip, ALL_STREAM), limits)]
        return [Op("group_send", ALL_GROUP, wire.push("all", None, payload, skip))]
    excluded = set(skip)
    return _to_hubs([c for c in _unique(validate_client_ids(client_ids)) if c not in excluded], payload)


def send_to_client(client_id: str, data: Any) -> list[Op]:
    """Send ``data`` to one connection; an offline client silently gets nothing."""
    return _to_hubs([validate_client_id(client_id)], encode_payload(data))


def send_to_uid(uid: str | int | Iterable[str | int], data: Any) -> list[Op]:
    """Send ``data`` to every connection bound to the uid(s): all of a user's tabs and devices."""
    uids = [normalize_uid(uid)] if type(uid) is str else _unique(normalize_uid(u) for u in one_or_many(uid))
    payload = encode_payload(data)
    limits = history.config().for_uid() if payload[0] is not None else None  # bytes are never kept
    if limits is not None:
        return _to_streams("uid", [(u, uid_stream(u), limits) for u in uids], payload, None)
    return _to_layer_groups("uid", uids, uid_layer_group, payload)


def send_to_group(group: str | Iterable[str], data: Any, exclude: Iterable[str] | None = None) -> list[Op]:
    """Send ``data`` to the members of the group(s) minus ``exclude``; a member of several gets one copy
    (one per stream, for groups with history)."""
    groups = _unique(validate_group(g) for g in one_or_many(group))
    skip = validate_client_ids(exclude) if exclude is not None else None
    payload = encode_payload(data)
    config = history.config()
    kept: list[tuple[str, str, Limits]] = []
    plain: list[str] = []
    for g in groups:
        limits = config.for_group(g) if payload[0] is not None else None
        if limits is not None:
            kept.append((g, group_stream(g), limits))
        else:
            plain.append(g)
    ops = _to_streams("grp", kept, payload, skip)
    return ops + _to_layer_groups("grp", plain, group_layer_group, payload, skip)


def ungroup(group: str) -> list[Op]:
    """Empty ``group`` in every server process."""
    name = validate_group(group)
    return [Op("group_send", group_layer_group(name), wire.ungroup(name))]


def revoke(uid: str, session: str | None, when: float) -> list[Op]:
    """To every hub (revocations are few, and each hub refuses earlier tokens itself): close the
    connections of ``uid`` (of the session hash ``session`` only, when given) with 4008."""
    return [Op("group_send", ALL_GROUP, wire.revoke(uid, session, when))]


def frame_to_group(group: str, frame: str) -> list[Op]:
    """A server frame (``presence``) to ``group``'s members, written to them as it is: never kept."""
    return _to_layer_groups("grp", [group], group_layer_group, (frame, None), frame=True)


#: Each send's plan by name (the HTTP API batches them).
SEND_PLANS: dict[str, Callable[..., list[Op]]] = {
    "send_to_all": send_to_all,
    "send_to_client": send_to_client,
    "send_to_uid": send_to_uid,
    "send_to_group": send_to_group,
    "ungroup": ungroup,
}
