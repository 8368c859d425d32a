"""The internal protocol: every message pushapp sends itself over the channel layer, built only here.

Keys are one letter because every push carries them through Redis. The legend:

``pushapp.push`` — a send, to a hub channel (client ids) or a layer group (uids, groups, everyone)
    ``k`` kind: ``"cid"``, ``"uid"``, ``"grp"`` or ``"all"``; ``to`` the client ids, uids or group names
    (absent: every connection); ``t`` text or ``b`` bytes, exactly one; ``x`` client ids to exclude;
    ``m`` a message id, set when the message goes to several layer groups, so that a hub that is in
    more than one of them delivers it once; ``s`` the stream, for a push on a stream with history, and
    then ``o`` its offset and ``e`` its epoch, set when it is stored (docs/recovery.md); ``v`` its
    version, on a versioned send (docs/delivery.md); ``f`` set: ``t`` is a server frame (``presence``),
    written as it is instead of wrapped as a push (never on a stream).
``pushapp.ctl`` — a per-connection operation, to the hub that owns the client id
    ``op`` the operation (see :mod:`pushapp.server.hub.control`); ``cid`` the client id; ``a`` its argument;
    ``r`` the reply channel and ``i`` the request id (both absent: nobody waits for the answer).
``pushapp.reply`` — the answer to a ``pushapp.ctl``: ``i`` the request id, ``v`` the value.
``pushapp.ungroup`` — empty a group in every process: ``g`` the group name.
``pushapp.ready`` — a process sends it to its own new channel, to learn when its subscription is live.
``pushapp.revoke`` — access ended, to every hub: ``u`` the uid; ``s`` the hash of one Django session
    (absent: all of the uid's); ``w`` when (unix seconds). Each hub closes those connections with 4008 and
    refuses, from then on, tokens issued before ``w`` for them.
``pushapp.probe`` — a hub sends it to its own probe group every second: ``i`` a sequence number. When
    it stops coming back, the hub's subscriptions or group memberships were lost (docs/recovery.md).
"""

from __future__ import annotations

import secrets
from typing import Any, Literal, NotRequired, TypedDict

from .frames import Payload

PUSH = "pushapp.push"
CONTROL = "pushapp.ctl"
REPLY = "pushapp.reply"
UNGROUP = "pushapp.ungroup"
READY = "pushapp.ready"
PROBE = "pushapp.probe"
REPORT = "pushapp.report"
REVOKE = "pushapp.revoke"

#: The answer of a session write (``session_set``, ``session_update``) that would be over MAX_SESSION_SIZE.
SESSION_TOO_LARGE = "session_too_large"

Kind = Literal["cid", "uid", "grp", "all"]


class Push(TypedDict):
    type: str
    k: Kind
    to: NotRequired[list[str]]
    t: NotRequired[str]
    b: NotRequired[bytes]
    x: NotRequired[list[str]]
    m: NotRequired[str]
    s: NotRequired[str]
    o: NotRequired[int]
    e: NotRequired[str]
    v: NotRequired[int]
    f: NotRequired[int]


class Control(TypedDict):
    type: str
    op: str
    cid: str
    a: Any
    r: NotRequired[str]
    i: NotRequired[str]


class Reply(TypedDict):
    type: str
    i: str
    v: Any


class Ungroup(TypedDict):
    type: str
    g: str


class Report(TypedDict):
    type: str


class Ready(TypedDict):
    type: str


class Revoke(TypedDict):
    type: str
    u: str
    s: NotRequired[str]
    w: float


class Probe(TypedDict):
    type: str
    i: int


def push(
    kind: Kind,
    to: list[str] | None,
    payload: Payload,
    exclude: list[str] | None = None,
    stream: str | None = None,
    frame: bool = False,
    version: int | None = None,
) -> Push:
    """One send. Aimed at several uids or groups, it carries an id for the receiving hubs' dedupe; on a
    stream with history, the stream (its offset and epoch are added when it is stored). ``frame``: the
    payload is a server frame, not application data to wrap."""
    text, data = payload
    message: Push = {"type": PUSH, "k": kind}
    if to is not None:
        message["to"] = to
    if text is not None:
        message["t"] = text
    else:
        message["b"] = data or b""
    if exclude:
        message["x"] = exclude
    if to is not None and len(to) > 1 and kind in ("uid", "grp"):
        message["m"] = secrets.token_hex(8)
    if stream is not None:
        message["s"] = stream
    if version is not None:
        message["v"] = version
    if frame:
        message["f"] = 1
    return message


def payload_of(message: Push) -> Payload:
    return message.get("t"), message.get("b")


def control(
    op: str, client_id: str, arg: Any, reply_to: str | None = None, request_id: str | None = None
) -> Control:
    message: Control = {"type": CONTROL, "op": op, "cid": client_id, "a": arg}
    if reply_to is not None and request_id is not None:
        message["r"] = reply_to
        message["i"] = request_id
    return message


def reply(request_id: str, value: Any) -> Reply:
    return {"type": REPLY, "i": request_id, "v": value}


def ungroup(group: str) -> Ungroup:
    return {"type": UNGROUP, "g": group}


def ready() -> Ready:
    return {"type": READY}


def probe(sequence: int) -> Probe:
    return {"type": PROBE, "i": sequence}


def report() -> Report:
    """To every hub, from one whose connections watch the dashboard: push your live report now."""
    return {"type": REPORT}


def revoke(uid: str, session: str | None, when: float) -> Revoke:
    """To every hub: close the connections of ``uid`` (of ``session`` only, when given) with 4008, and
    refuse the tokens issued for them before ``when``."""
    message: Revoke = {"type": REVOKE, "u": uid, "w": when}
    if session is not None:
        message["s"] = session
    return message
