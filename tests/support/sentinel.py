"""A Redis that fails over, as production runs it: a master, a replica and three Sentinels, each its own
redis-server process on a free port. :meth:`SentinelGroup.kill_master` SIGKILLs the master;
:meth:`SentinelGroup.master_port` says which one the Sentinels name now."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import RedisServer, find_redis_server, free_port, ping
from tests.support.waiting import wait_until

MASTER_NAME = "pushapp"
#: How long a master must be silent before the Sentinels agree it is down (Sentinel's own default: 30 s).
DOWN_AFTER_MS = 1000


class Sentinel:
    def __init__(self, directory: Path, master_port: int) -> None:
        self.directory = directory
        self.port = free_port()
        config = directory / f"sentinel-{self.port}.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self._log = open(directory / f"sentinel-{self.port}.log", "ab")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            [find_redis_server(), str(config), "--sentinel"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not ping(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server --sentinel did not start on {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self._log.close()


class SentinelGroup:
    """Master, replica, three Sentinels; ``host`` is the channels-redis ``hosts`` entry that finds them."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="pushapp-sentinel-"))
        self.master = RedisServer(self.directory / "master").start()
        self.replica = RedisServer(
            self.directory / "replica", extra_args=("--replicaof", "127.0.0.1", str(self.master.port))
        )
        self.replica.start()
        self.sentinels: list[Sentinel] = []
        try:
            wait_until(self._replica_in_sync, "the replica to sync with the master")
            self.sentinels = [Sentinel(self.directory, self.master.port) for _ in range(3)]
            wait_until(self._sentinels_know_each_other, "the Sentinels to find each other and the replica")
        except BaseException:
            self.stop()
            raise

    @property
    def host(self) -> dict[str, Any]:
        return {
            "sentinels": [["127.0.0.1", s.port] for s in self.sentinels],
            "master_name": MASTER_NAME,
            "socket_timeout": None,
        }

    def master_port(self) -> int:
        """The master's port as the first Sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                reply = redis.Redis(port=sentinel.port, socket_timeout=1).sentinel_get_master_addr_by_name(
                    MASTER_NAME
                )
                return int(reply[1])
            except redis.RedisError:
                continue
        raise RuntimeError("no Sentinel answers")

    def kill_master(self) -> None:
        self.master.kill()

    def _replica_in_sync(self) -> bool:
        info = redis.Redis(port=self.replica.port, socket_timeout=1).info("replication")
        return bool(info.get("master_link_status") == "up")

    def _sentinels_know_each_other(self) -> bool:
        client = redis.Redis(port=self.sentinels[0].port, socket_timeout=1)
        master = client.sentinel_master(MASTER_NAME)
        return int(master["num-other-sentinels"]) == 2 and int(master["num-slaves"]) == 1

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.master.kill()
        self.replica.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SentinelGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
