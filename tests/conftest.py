"""Fixtures for the integration tests: a private Redis, per-test prefixes, clusters of real processes.

Tests that use any of the process fixtures are marked ``integration`` automatically, so
``pytest -m "not integration"`` runs the fast in-process tests only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Protocol

import pytest

from tests.support.cluster import LAYERS, Cluster
from tests.support.processes import REPO_ROOT, ProcessConfig
from tests.support.processes import kill_all as kill_processes
from tests.support.redis_server import ExternalRedis, RedisServer
from tests.support.redis_server import kill_all as kill_redis_servers
from tests.support.wheel import InstalledWheel
from tests.support.wsclients import PushSocket

# The plugin users get through pushapp's pytest11 entry point; this checkout is not installed.
pytest_plugins = ["pushapp.testing"]

INTEGRATION_FIXTURES = {
    "redis_server",
    "redis_url",
    "private_redis",
    "migrated_db",
    "cluster",
    "installed_wheel",
}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A CI timeout sends SIGTERM; as a KeyboardInterrupt it still lets pytest run the finalizers and
    # atexit handlers that kill the child processes, instead of leaving them running.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_sessionfinish() -> None:
    kill_processes()
    kill_redis_servers()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | ExternalRedis]:
    """The Redis of the whole session: ``REDIS_URL`` if set, else a private redis-server."""
    if url := os.environ.get("REDIS_URL"):
        yield ExternalRedis(url)
        return
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer | ExternalRedis) -> str:
    return redis_server.url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may restart or kill."""
    if os.environ.get("REDIS_URL"):
        pytest.skip(ExternalRedis.skip_reason)
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture(params=LAYERS)
def layer(request: pytest.FixtureRequest) -> str:
    """Each channels-redis layer in turn: a cross-process test runs on both."""
    return str(request.param)


@pytest.fixture
def sockets() -> Iterator[list[PushSocket]]:
    """Real WebSocket clients a test opens, closed after it."""
    opened: list[PushSocket] = []
    yield opened
    for socket in opened:
        socket.close()


@pytest.fixture
def prefix() -> str:
    """A channel-layer prefix of this test alone: no test sees another test's groups or messages."""
    return f"pt{secrets.token_hex(6)}."


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """pushapp as users get it: the sdist and wheel built with ``python -m build``, the wheel installed with
    its redis extra into a fresh virtualenv of this interpreter (pip picks the newest Django it supports).
    Nothing of the checkout is on that virtualenv's path. Built once per session."""
    return InstalledWheel.build(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    """A migrated SQLite file; each cluster gets a copy, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    env = ProcessConfig(redis_url, db_path=str(path)).env()
    result = subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"migrate failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return path


class ClusterFactory(Protocol):
    def __call__(
        self,
        layer: str = "core",
        servers: int = 2,
        *,
        producer: bool = True,
        redis: RedisServer | ExternalRedis | None = None,
        prefix: str | None = None,
        env: Mapping[str, str] | None = None,
        server: str = "daphne",
    ) -> Cluster: ...


@pytest.fixture
def cluster(
    redis_server: RedisServer | ExternalRedis, prefix: str, migrated_db: Path, tmp_path: Path
) -> Iterator[ClusterFactory]:
    """``cluster(layer="core" | "pubsub", servers=2)``: started processes, killed after the test.

    They share the session's Redis (or ``redis=``, e.g. ``private_redis``), this test's prefix and a fresh
    copy of the migrated database; ``env`` adds environment variables (e.g. settings overrides).
    """
    made: list[Cluster] = []
    test_prefix = prefix

    def make(
        layer: str = "core",
        servers: int = 2,
        *,
        producer: bool = True,
        redis: RedisServer | ExternalRedis | None = None,
        prefix: str | None = None,
        env: Mapping[str, str] | None = None,
        server: str = "daphne",
    ) -> Cluster:
        db = tmp_path / f"cluster{len(made)}.sqlite3"
        shutil.copyfile(migrated_db, db)
        config = ProcessConfig(
            (redis or redis_server).url, layer=layer, prefix=prefix or test_prefix, db_path=str(db)
        )
        new = Cluster(config, env, server)
        made.append(new)
        return new.start(servers, producer)

    yield make
    for each in made:
        each.kill()
