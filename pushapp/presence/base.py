"""What a presence backend provides: typed reads (each with an ``a``-prefixed async twin) and a writer
per hub. The writer is given what it needs from the hub, so presence never imports the hub (nor the
sender above it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..runtime.registry import Connection, Registry

#: pushstats fields of a node, as field/value pairs.
InfoPairs = Callable[[], list[str]]
#: What a writer awaits when it finds Redis lost its data: the hub rejoins its layer groups.
OnLost = Callable[[], Awaitable[None]]
#: How a writer pushes a presence frame to a group's members, ``emit(group, frame)``: through the sender's
#: plans and carrier, as every push goes (:func:`pushapp.sender.publish.apublish_frame`).
EmitFrame = Callable[[str, str], Awaitable[None]]


#: Seconds an admission counts toward its uid's cap before presence holds the connection itself.
ADMISSION_SECONDS = 30.0


@dataclass(frozen=True)
class Admission:
    """A connection of ``uid`` asking in as ``client_id``, under ``MAX_CONNECTIONS_PER_UID`` (``cap``)."""

    uid: str
    client_id: str
    cap: int


@dataclass(frozen=True)
class NodeInfo:
    """One server process as presence last heard of it."""

    node: str
    heartbeat_age: float
    info: dict[str, str]


class Writer:
    """A hub's hooks into presence. Each is awaited after the hub's own state changed, and returns once
    the change is visible to every reader, so an answer sent to a caller afterwards agrees with queries.
    This one writes nothing: for backends that read the registries directly."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def resync(self) -> None:
        """Write this node's whole state again (its store may have lost it, e.g. a Redis restart)."""

    async def connected(self, conn: Connection) -> None:
        pass

    async def disconnected(self, conn: Connection, uid: str | None, groups: list[str]) -> None:
        pass

    async def joined(self, conn: Connection, group: str) -> None:
        pass

    async def left(self, conn: Connection, group: str) -> None:
        pass

    async def bound(self, conn: Connection, old_uid: str | None) -> None:
        pass

    async def session_changed(self, conn: Connection) -> None:
        pass

    async def ungrouped(self, group: str, conns: list[Connection]) -> None:
        pass


class Backend:
    """The reads every backend answers, in the same shapes. ``""`` as a group means every connection."""

    @classmethod
    def from_settings(cls, layer_options: dict[str, Any]) -> Backend:
        """The backend for these settings; ``layer_options`` is the channel layer's ``CONFIG``."""
        return cls()

    def writer(
        self, node_id: str, registry: Registry, info: InfoPairs, on_lost: OnLost, emit: EmitFrame
    ) -> Writer:
        return Writer()

    def is_online(self, client_id: str) -> bool:
        raise NotImplementedError

    async def ais_online(self, client_id: str) -> bool:
        raise NotImplementedError

    def uid_of(self, client_id: str) -> str | None:
        raise NotImplementedError

    async def auid_of(self, client_id: str) -> str | None:
        raise NotImplementedError

    def uid_client_ids(self, uids: list[str]) -> list[list[str]]:
        """Per uid, the client ids bound to it."""
        raise NotImplementedError

    async def auid_client_ids(self, uids: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def group_client_ids(self, groups: list[str]) -> list[list[str]]:
        """Per group, its members' client ids."""
        raise NotImplementedError

    async def agroup_client_ids(self, groups: list[str]) -> list[list[str]]:
        raise NotImplementedError

    def group_counts(self, groups: list[str]) -> list[int]:
        raise NotImplementedError

    async def agroup_counts(self, groups: list[str]) -> list[int]:
        raise NotImplementedError

    def group_sessions(self, group: str) -> dict[str, dict[str, Any]]:
        """``{client id: session}`` of the group's members."""
        raise NotImplementedError

    async def agroup_sessions(self, group: str) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def group_uids(self, group: str) -> list[str]:
        """The distinct uids of the group's members."""
        raise NotImplementedError

    async def agroup_uids(self, group: str) -> list[str]:
        raise NotImplementedError

    def all_uids(self) -> list[str]:
        raise NotImplementedError

    async def aall_uids(self) -> list[str]:
        raise NotImplementedError

    def all_groups(self) -> list[str]:
        raise NotImplementedError

    async def aall_groups(self) -> list[str]:
        raise NotImplementedError

    def all_group_members(self, uids: bool) -> dict[str, list[str]]:
        """``{group: [client ids]}``, or ``{group: [distinct uids]}`` when ``uids``, for every group."""
        raise NotImplementedError

    async def aall_group_members(self, uids: bool) -> dict[str, list[str]]:
        raise NotImplementedError

    async def anode_alive(self, node_id: str) -> bool:
        """Whether the server process ``node_id`` is alive (its heartbeat is fresh)."""
        raise NotImplementedError

    async def aadmit(self, admission: Admission) -> str:
        """``"ok"`` (the client id now counts toward its uid's cap) or ``"full"``: checked and reserved in
        one atomic step for the whole cluster."""
        raise NotImplementedError

    async def arevoke(self, keys: list[str], when: float, keep: float) -> None:
        """Remember that access ``keys`` (``"u:<uid>"``, ``"s:<session hash>"``) was revoked at ``when``
        (unix seconds), for ``keep`` seconds: every hub that starts meanwhile reads it."""
        raise NotImplementedError

    async def arevocations(self) -> dict[str, float]:
        """Every revocation remembered, ``{key: when}``."""
        raise NotImplementedError

    def nodes(self) -> list[NodeInfo]:
        raise NotImplementedError

    async def anodes(self) -> list[NodeInfo]:
        raise NotImplementedError
