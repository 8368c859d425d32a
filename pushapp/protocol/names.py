"""Validation of client ids, uids and group names, and their safe mapping onto channel-layer names.

Channel layers accept only ASCII ``[a-zA-Z0-9._-]`` names under 100 characters; a uid such as an e-mail
address or a 300-character unicode group name would break ``group_add``. Every user-facing name is
therefore hashed into a fixed-length layer name, and the original travels inside the message.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Iterable

from ..exceptions import InvalidClientId, InvalidGroup, InvalidUid

#: Longest uid or group name accepted, in characters.
MAX_NAME_LENGTH = 1024

NODE_ID_LENGTH = 16  # hex characters: 64 random bits naming one hub (one server process)
CLIENT_ID_LENGTH = NODE_ID_LENGTH + 32  # plus 128 random bits per connection
_CLIENT_ID_RE = re.compile(rf"[0-9a-f]{{{CLIENT_ID_LENGTH}}}")

#: Layer group every hub joins: the target of ``send_to_all``.
ALL_GROUP = "pushapp.all"


def new_node_id() -> str:
    return secrets.token_hex(NODE_ID_LENGTH // 2)


def new_client_id(node_id: str) -> str:
    """A routable, unguessable, never reused client id: the hub's node id plus 128 random bits."""
    return node_id + secrets.token_hex(16)


def validate_client_id(client_id: object) -> str:
    if not isinstance(client_id, str) or not _CLIENT_ID_RE.fullmatch(client_id):
        raise InvalidClientId(f"{client_id!r} is not a pushapp client id (48 lowercase hex characters)")
    return client_id


def validate_client_ids(client_ids: Iterable[object]) -> list[str]:
    if isinstance(client_ids, (str, bytes)):
        return [validate_client_id(client_ids)]
    return [validate_client_id(cid) for cid in client_ids]


def node_of(client_id: str) -> str:
    return client_id[:NODE_ID_LENGTH]


def _check_text(value: str, exc: type[ValueError], what: str) -> str:
    if not value or len(value) > MAX_NAME_LENGTH:
        raise exc(f"{what} must be 1 to {MAX_NAME_LENGTH} characters long, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise exc(f"{what} {value!r} is not valid unicode text") from err
    return value


def normalize_uid(uid: object) -> str:
    """Uids are strings on the wire; ``42`` and ``"42"`` are the same user."""
    if isinstance(uid, bool) or not isinstance(uid, (str, int)):
        raise InvalidUid(f"a uid must be a str or an int, got {type(uid).__name__}")
    return _check_text(str(uid), InvalidUid, "a uid")


def validate_group(group: object) -> str:
    if not isinstance(group, str):
        raise InvalidGroup(f"a group name must be a str, got {type(group).__name__}")
    return _check_text(group, InvalidGroup, "a group name")


def one_or_many(value: object) -> list[object]:
    """GatewayClient takes a single name or a list of them; so do we."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


@functools.lru_cache(maxsize=4096)
def _digest(value: str) -> str:
    """Layer group names hash the uid or group (any length, any characters) to a fixed, safe name. The
    busiest names come back on every send: the last 4,096 are remembered. Not more: a server process's
    12,500 connections kept 12,500 entries, 180 bytes each, for names hashed once per connect (c100k)."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=16).hexdigest()


def uid_layer_group(uid: str) -> str:
    return "pushapp.u." + _digest(uid)


def group_layer_group(group: str) -> str:
    return "pushapp.g." + _digest(group)


def probe_layer_group(node_id: str) -> str:
    """The layer group only this hub is in: probing it shows whether the hub's groups still work."""
    return "pushapp.p." + node_id


def hub_channel(node_id: str) -> str:
    return "pushapp.hub." + node_id


def reply_channel() -> str:
    return "pushapp.reply." + secrets.token_hex(12)
