"""Redis clients as pushapp makes them: a stale pooled connection (Redis restarted, a proxy dropped it)
is retried on a fresh one, a few times within a short deadline, instead of failing the first call after
every outage. A call made while Redis is really down still fails, at the call. Clients that carry sends
pass ``retries=0``: sends have their own policy (:mod:`pushapp.sender.retry`), which must not run twice."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio as aredis
from channels_redis.utils import decode_hosts
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

RETRIES = 3
_ERRORS = [ConnectionError, TimeoutError]

#: A Redis of the channel layer's ``hosts``: its address and the client options channels-redis passes on.
Host = tuple[str, dict[str, Any]]


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=0.5, base=0.05)  # 0.05, 0.1, 0.2 s: about 0.35 s in all


def sync_client(url: str, options: dict[str, Any], retries: int = RETRIES) -> redis.Redis:
    return redis.Redis.from_url(url, retry=Retry(_backoff(), retries), retry_on_error=_ERRORS, **options)


def async_client(url: str, options: dict[str, Any], retries: int = RETRIES) -> aredis.Redis:
    return aredis.Redis.from_url(
        url, retry=AsyncRetry(_backoff(), retries), retry_on_error=_ERRORS, **options
    )


def layer_hosts(config: dict[str, Any]) -> list[Host]:
    """The Redis servers of a channels-redis layer's ``CONFIG``, in its order (its shards)."""
    hosts = []
    for host in decode_hosts(config.get("hosts")):
        options = {k: v for k, v in host.items() if k not in ("address", "master_name", "sentinels")}
        hosts.append((host["address"], options))
    return hosts


class LoopClients:
    """Async clients to ``hosts``, one set per event loop: redis-py's asyncio connections belong to the loop
    that opened them. Closed loops are forgotten."""

    def __init__(self, hosts: list[Host], retries: int = RETRIES) -> None:
        self.hosts = hosts
        self.retries = retries
        self._clients: dict[asyncio.AbstractEventLoop, list[aredis.Redis]] = {}

    def get(self) -> list[aredis.Redis]:
        loop = asyncio.get_running_loop()
        clients = self._clients.get(loop)
        if clients is None:
            for stale in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[stale]
            clients = self._clients[loop] = [async_client(u, o, self.retries) for u, o in self.hosts]
        return clients

    async def aclose(self) -> None:
        """Close the running loop's clients (tests, shutdown); the next :meth:`get` opens new ones."""
        for client in self._clients.pop(asyncio.get_running_loop(), []):
            await client.aclose()
