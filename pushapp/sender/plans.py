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
    kind: wire.Kind,
    kept: list[tuple[str, str, Limits]],
    payload: Payload,
    exclude: list[str] | None,
    version: int | None = None,
    ack_within: float | None = None,
) -> list[Op]:
    """One stored push per stream with history (``kept``: key, stream, its limits): each stream has its own
    offsets (docs/recovery.md)."""
    return [
        Op(
            "group_send",
            layer_group_of(stream),
            wire.push(kind, [key], payload, exclude, stream, version=version),
            limits,
            ack_within=ack_within,
        )
        for key, stream, limits in kept
    ]


#: The longest idempotency key (it is hashed before it is stored).
MAX_KEY_LENGTH = 256


def _keyed(ops: list[Op], idempotency_key: str | None) -> list[Op]:
    """``ops`` as one send of ``idempotency_key`` (docs/delivery.md)."""
    if idempotency_key is None:
        return ops
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
        raise ValueError(f"idempotency_key must be a str of 1 to {MAX_KEY_LENGTH} characters")
    return [op._replace(key=idempotency_key) for op in ops]


def _version(version: object, plain: bool) -> int | None:
    """A send's ``version``: an int from 0 to 2**53 - 1, on streams with history only (``plain``: some
    target keeps none)."""
    if version is None:
        return None
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**53:
        raise ValueError("version must be an int from 0 to 2**53 - 1")
    if plain:
        raise ValueError("version needs history on every stream the send goes to (PUSHAPP['HISTORY'])")
    return version


def _ack_within(seconds: object, plain: bool) -> float | None:
    """``send_to_uid``'s ``ack_within``: seconds > 0, on uid streams with history only (``plain``: they keep
    none)."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < 10**9:
        raise ValueError("ack_within must be a number of seconds > 0")
    if plain:
        raise ValueError("ack_within needs history on uid streams (PUSHAPP['HISTORY']['uid'])")
    return float(seconds)


def send_to_all(
    data: Any,
    client_ids: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
    *,
    idempotency_key: str | None = None,
    version: int | None = None,
) -> list[Op]:
    """Send ``data`` to every connection, or only to ``client_ids``, minus ``exclude``. ``idempotency_key``
    and ``version``: docs/delivery.md."""
    payload = encode_payload(data)
    skip = validate_client_ids(exclude) if exclude is not None else []
    if client_ids is None:
        limits = history.config().for_all() if payload[0] is not None else None
        v = _version(version, limits is None)
        if limits is not None:
            message = wire.push("all", None, payload, skip, ALL_STREAM, version=v)
            return _keyed([Op("group_send", ALL_GROUP, message, limits)], idempotency_key)
        return _keyed([Op("group_send", ALL_GROUP, wire.push("all", None, payload, skip))], idempotency_key)
    _version(version, True)
    excluded = set(skip)
    ids = [c for c in _unique(validate_client_ids(client_ids)) if c not in excluded]
    return _keyed(_to_hubs(ids, payload), idempotency_key)


def send_to_client(client_id: str, data: Any, *, idempotency_key: str | None = None) -> list[Op]:
    """Send ``data`` to one connection; an offline client silently gets nothing."""
    return _keyed(_to_hubs([validate_client_id(client_id)], encode_payload(data)), idempotency_key)


def send_to_uid(
    uid: str | int | Iterable[str | int],
    data: Any,
    *,
    idempotency_key: str | None = None,
    version: int | None = None,
    ack_within: float | None = None,
) -> list[Op]:
    """Send ``data`` to every connection bound to the uid(s): all of a user's tabs and devices.
    ``idempotency_key``, ``version`` and ``ack_within`` (seconds): docs/delivery.md."""
    uids = [normalize_uid(uid)] if type(uid) is str else _unique(normalize_uid(u) for u in one_or_many(uid))
    payload = encode_payload(data)
    limits = history.config().for_uid() if payload[0] is not None else None  # bytes are never kept
    if limits is None:
        if version is not None or ack_within is not None:  # refused: no history to order or ack by
            _version(version, True)
            _ack_within(ack_within, True)
        ops = _to_layer_groups("uid", uids, uid_layer_group, payload)
        return ops if idempotency_key is None else _keyed(ops, idempotency_key)
    kept = [(u, uid_stream(u), limits) for u in uids]
    ops = _to_streams("uid", kept, payload, None, _version(version, False), _ack_within(ack_within, False))
    return _keyed(ops, idempotency_key)


def send_to_group(
    group: str | Iterable[str],
    data: Any,
    exclude: Iterable[str] | None = None,
    *,
    idempotency_key: str | None = None,
    version: int | None = None,
) -> list[Op]:
    """Send ``data`` to the members of the group(s) minus ``exclude``; a member of several gets one copy
    (one per stream, for groups with history). ``idempotency_key`` and ``version``: docs/delivery.md."""
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
    ops = _to_streams("grp", kept, payload, skip, _version(version, bool(plain)))
    return _keyed(ops + _to_layer_groups("grp", plain, group_layer_group, payload, skip), idempotency_key)


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
