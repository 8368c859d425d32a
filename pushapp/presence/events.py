"""Presence events, once per cluster: a uid's first connection anywhere and its last one gone, a uid's
first and last membership of a group.

They are decided where presence is written, atomically: the presence writer of each hub sends *deltas*
(a connection counted for a uid, or for a uid in a group, or no longer) and the store — the Redis script,
or :class:`Counts` for the one-process memory backend — answers with the *transitions*, the deltas that
took a count from 0 to 1 or from 1 to 0. Only the one call that crossed zero sees a transition, so exactly
one process fires each signal; a crashed process's counts are released by the heartbeat that reaps it.

A delta or transition is a string: ``"+"`` or ``"-"``, then a field naming what is counted:
``"u" + uid``, or ``"g" + len(group) + ":" + group + uid``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..conf import push_settings
from ..protocol.frames import dumps
from ..runtime.registry import Connection
from ..signals import dispatch, group_member_joined, group_member_left, uid_offline, uid_online
from .base import EmitFrame

logger = logging.getLogger(__name__)


def uid_field(uid: str) -> str:
    return "u" + uid


def group_field(group: str, uid: str) -> str:
    return f"g{len(group)}:{group}{uid}"


def _counted(uid: str | None, groups: Iterable[str], sign: str) -> list[str]:
    """A connection of ``uid`` in ``groups``: the uid first when it comes, last when it goes."""
    if uid is None:  # anonymous connections have no presence events
        return []
    group_deltas = [sign + group_field(g, uid) for g in groups]
    uid_delta = sign + uid_field(uid)
    return [uid_delta, *group_deltas] if sign == "+" else [*group_deltas, uid_delta]


def connected(conn: Connection) -> list[str]:
    return _counted(conn.uid, conn.groups, "+")


def disconnected(uid: str | None, groups: Iterable[str]) -> list[str]:
    return _counted(uid, groups, "-")


def joined(conn: Connection, group: str) -> list[str]:
    return [] if conn.uid is None else ["+" + group_field(group, conn.uid)]


def left(conn: Connection, group: str) -> list[str]:
    return [] if conn.uid is None else ["-" + group_field(group, conn.uid)]


def bound(conn: Connection, old_uid: str | None) -> list[str]:
    return disconnected(old_uid, conn.groups) + connected(conn)


def ungrouped(group: str, conns: Iterable[Connection]) -> list[str]:
    return [d for conn in conns for d in left(conn, group)]


def net(transitions: Iterable[str]) -> list[str]:
    """Transitions of one atomic step, minus those that undo each other (a node re-registering its state
    drops and re-adds its counts: nothing happened for uids that are still there)."""
    balance: dict[str, int] = {}
    for transition in transitions:
        balance[transition[1:]] = balance.get(transition[1:], 0) + (1 if transition[0] == "+" else -1)
    return [("+" if value > 0 else "-") + field for field, value in balance.items() if value]


class Counts:
    """The memory backend's store: counts per field, per node and in all (one process, several loops)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: dict[str, int] = {}
        self._nodes: dict[str, dict[str, int]] = {}

    def apply(self, node: str, deltas: Iterable[str]) -> list[str]:
        out: list[str] = []
        with self._lock:
            mine = self._nodes.setdefault(node, {})
            for delta in deltas:
                field = delta[1:]
                if delta[0] == "+":
                    mine[field] = mine.get(field, 0) + 1
                    self._total[field] = self._total.get(field, 0) + 1
                    if self._total[field] == 1:
                        out.append(delta)
                elif mine.get(field, 0) > 0:
                    mine[field] -= 1
                    if not mine[field]:
                        del mine[field]
                    self._total[field] -= 1
                    if self._total[field] == 0:
                        del self._total[field]
                        out.append(delta)
        return out

    def release(self, node: str) -> list[str]:
        """Forget a node's counts (it stopped): the transitions that makes."""
        out: list[str] = []
        with self._lock:
            for field, n in self._nodes.pop(node, {}).items():
                self._total[field] -= n
                if self._total[field] <= 0:
                    del self._total[field]
                    out.append("-" + field)
        return out


@dataclass(frozen=True)
class Event:
    kind: str  # "online", "offline", "join", "leave"
    uid: str
    group: str | None = None


def decode(transition: str) -> Event:
    sign, field = transition[0], transition[1:]
    if field[0] == "u":
        return Event("online" if sign == "+" else "offline", field[1:])
    length, _, rest = field[1:].partition(":")
    size = int(length)
    return Event("join" if sign == "+" else "leave", rest[size:], rest[:size])


def presence_frame(event: Event) -> str:
    return dumps({"type": "presence", "group": event.group, "event": event.kind, "uid": event.uid})


def wants_frames(group: str) -> bool:
    return any(fnmatchcase(group, pattern) for pattern in push_settings.PRESENCE_FRAMES)


async def signal(event: Event) -> None:
    """The signal of one event, sender None."""
    if event.group is None:
        await dispatch(uid_online if event.kind == "online" else uid_offline, None, uid=event.uid)
        return
    joined = group_member_joined if event.kind == "join" else group_member_left
    await dispatch(joined, None, uid=event.uid, group=event.group)


#: Seconds over which an opted-in group's presence frames are coalesced per (uid, group): the first goes
#: out at once, what follows within the window goes out once at its end, and only if it changed the state
#: the members last heard. A client that toggles subscribe and unsubscribe makes at most two frames per
#: window, not one per toggle times the room's size (88 toggles made 8,800 deliveries in a room of 50).
FRAME_WINDOW = 0.25


class Emitter:
    """Fires a writer's events in order, in a task of its own: receivers never hold up presence writes.
    Every event's signal fires; frames go out through ``emit``, the sender's, which the hub handed the
    writer, coalesced per (uid, group) over :data:`FRAME_WINDOW`."""

    def __init__(self, emit: EmitFrame) -> None:
        self._emit_frame = emit
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: (uid, group) in its window -> the kind of the frame last sent, and the last event since (None:
        #: none). Events of one key alternate (join, leave, ...): the last one says the state.
        self._frames: dict[tuple[str, str], tuple[str, Event | None]] = {}
        self._flushing: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def _opens_window(self, event: Event) -> bool:
        """True when ``event``'s frame goes out now (its key had no window); else it waits for the end."""
        key = (event.uid, event.group or "")
        window = self._frames.get(key)
        if window is not None:
            self._frames[key] = (window[0], event)
            return False
        self._frames[key] = (event.kind, None)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().call_later(FRAME_WINDOW, self._flush)
        return True

    def _flush(self) -> None:
        self._flushing = None
        frames = [last for sent, last in self._frames.values() if last is not None and last.kind != sent]
        self._frames.clear()
        self._post(frames)

    def _post(self, frames: list[Event]) -> None:
        if frames:
            task = asyncio.ensure_future(self._send(frames))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, frames: list[Event]) -> None:
        for event in frames:
            try:
                await self._emit_frame(event.group or "", presence_frame(event))
            except Exception:
                logger.exception("pushapp: the presence frame of %r could not be sent", event)

    def emit(self, transitions: Iterable[str]) -> None:
        for transition in transitions:
            self._queue.put_nowait(decode(transition))
        if self._task is None and not self._queue.empty():
            self._task = asyncio.create_task(self._run(), name="pushapp-presence-events")

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await signal(event)
                if event.group is not None and wants_frames(event.group) and self._opens_window(event):
                    await self._send([event])  # in order with the other keys' first frames
            except Exception:
                logger.exception("pushapp: a receiver of the presence event %r failed", event)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Fire what is queued, then stop (the writer is stopping)."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._flushing is not None:
            self._flushing.cancel()
            self._flush()
        await asyncio.gather(*self._sending, return_exceptions=True)
