"""Redis clients as pushapp makes them: a stale pooled connection (Redis restarted, a proxy dropped it, a
Sentinel promoted another server) is retried on a fresh one, a few times within a short deadline, instead of
failing the first call after every outage. A call made while Redis is really down still fails, at the call.
Clients that carry sends pass ``retries=0``: sends have their own policy (:mod:`pushapp.sender.retry`),
which must not run twice.

A Redis is named the way channels-redis names it in a layer's ``hosts``: ``{"address": url, …}``,
``{"host": …, "port": …}``, or ``{"sentinels": [(host, port), …], "master_name": …, "sentinel_kwargs": …}``
for a master found through Sentinel; each connection (a new one after a failover too) asks the Sentinels
where the master is now.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aredis
from channels_redis.utils import decode_hosts
from redis.asyncio.retry import Retry as AsyncRetry
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel

RETRIES = 3
_ERRORS = [ConnectionError, TimeoutError]

#: One Redis of the channel layer's ``hosts`` (or ``PRESENCE_REDIS_URL``), decoded as channels-redis does.
Host = Mapping[str, Any]


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=0.5, base=0.05)  # 0.05, 0.1, 0.2 s: about 0.35 s in all


def as_host(value: str | Mapping[str, Any]) -> Host:
    """A URL, or a ``hosts`` entry as it is."""
    return {"address": value} if isinstance(value, str) else dict(value)


def _sentinel(host: Host) -> tuple[str, list[Any], dict[str, Any] | None, dict[str, Any]] | None:
    """The master's name, the Sentinels, their own options and the master's, for a Sentinel ``host``."""
    if "master_name" not in host:
        return None
    options = {k: v for k, v in host.items() if k not in ("master_name", "sentinels", "sentinel_kwargs")}
    return host["master_name"], list(host["sentinels"]), host.get("sentinel_kwargs"), options


def _client(host: Host, redis_class: Any, sentinel_class: Any, retry: dict[str, Any]) -> Any:
    sentinel = _sentinel(host)
    if sentinel is not None:
        name, sentinels, sentinel_kwargs, options = sentinel
        found = sentinel_class(sentinels, sentinel_kwargs=sentinel_kwargs)
        return found.master_for(name, redis_class=redis_class, **retry, **options)
    options = dict(host)
    if "address" in options:
        return redis_class.from_url(options.pop("address"), **retry, **options)
    return redis_class(**retry, **options)


def sync_client(host: Host, retries: int = RETRIES) -> redis.Redis:
    retry = {"retry": Retry(_backoff(), retries), "retry_on_error": _ERRORS}
    client: redis.Redis = _client(host, redis.Redis, Sentinel, retry)
    return client


def async_client(host: Host, retries: int = RETRIES) -> aredis.Redis:
    retry = {"retry": AsyncRetry(_backoff(), retries), "retry_on_error": _ERRORS}
    client: aredis.Redis = _client(host, aredis.Redis, AsyncSentinel, retry)
    return client


async def amaster_address(host: Host) -> tuple[str, int]:
    """Where a Sentinel ``host``'s master is now (for connections pushapp opens itself)."""
    sentinel = _sentinel(host)
    assert sentinel is not None
    name, sentinels, sentinel_kwargs, _ = sentinel
    found = AsyncSentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
    try:
        address: tuple[str, int] = await found.discover_master(name)
    finally:
        for client in found.sentinels:
            await client.aclose()
    return address


def layer_hosts(config: Mapping[str, Any]) -> list[Host]:
    """The Redis servers of a channels-redis layer's ``CONFIG``, in its order (its shards)."""
    return [dict(host) for host in decode_hosts(config.get("hosts"))]


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
            clients = self._clients[loop] = [async_client(h, self.retries) for h in self.hosts]
        return clients

    async def aclose(self) -> None:
        """Close the running loop's clients (tests, shutdown); the next :meth:`get` opens new ones."""
        for client in self._clients.pop(asyncio.get_running_loop(), []):
            await client.aclose()
