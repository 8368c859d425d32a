"""The orchestrator's handles on its child processes: servers, client processes, producers.

Each child's stderr goes to a log file in the results directory (kept for post-mortems); children that
take commands speak JSON lines (bench/childio.py). Every child is registered and killed by
``kill_all()``, which the orchestrator runs in a ``finally`` and at exit; the children also ask Linux to
kill them if the orchestrator dies first (bench/lifetime.py).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.support.processes import answers_http
from tests.support.redis_server import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"pushapp": "bench.settings_pushapp", "baseline": "bench.settings_baseline"}
APPS = {"pushapp": "bench.asgi_pushapp:application", "baseline": "bench.baseline.asgi:application"}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

_live: set[subprocess.Popen[bytes]] = set()


def kill_all() -> None:
    """SIGKILL every child still running and reap it."""
    for process in list(_live):
        _kill(process)


atexit.register(kill_all)


def _kill(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.kill()
    try:
        code = process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
        code = -9
    _live.discard(process)
    return code


@dataclass(frozen=True)
class Environment:
    """What every process of one system shares: the Redis, the layer, the prefix, the settings."""

    redis_url: str
    system: str
    layer: str = "pubsub"
    log_dir: Path = REPO_ROOT / "bench" / "results" / "logs"
    history: bool = False  # pushapp with PUSHAPP["HISTORY"] (bench/settings_pushapp.py)

    def env(self, role: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in [k for k in env if k.startswith("PUSHAPP_")]:  # the test suite's knobs
            del env[name]
        env.update(
            DJANGO_SETTINGS_MODULE=SETTINGS[self.system],
            BENCH_REDIS_URL=self.redis_url,
            BENCH_LAYER=self.layer,
            BENCH_PREFIX=f"bench-{self.system}.",
            BENCH_ROLE=f"{self.system}-{role}",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(REPO_ROOT),
        )
        if self.history:
            env["BENCH_HISTORY"] = "1"
        return env

    def log(self, role: str) -> IO[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        name = f"{self.system}{'-history' if self.history else ''}-{role}.log"
        return open(self.log_dir / name, "wb")


def spawn(
    args: Sequence[str], env: Mapping[str, str], log: IO[bytes], pipes: bool
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=dict(env),
        stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
        stdout=subprocess.PIPE if pipes else log,
        stderr=log,
    )
    _live.add(process)
    return process


class ChildError(RuntimeError):
    pass


class Child:
    """A child taking JSON-line commands: ``call`` writes one and waits (with a deadline) for its reply."""

    def __init__(self, name: str, args: Sequence[str], environment: Environment) -> None:
        self.name = name
        self._log = environment.log(name)
        self.log_path = Path(self._log.name)
        self.process = spawn(args, environment.env(name), self._log, pipes=True)
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True).start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        with stdout:
            for raw in iter(stdout.readline, b""):
                self._replies.put(raw.decode("utf-8"))
        self._replies.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        self.reply(timeout)

    def send(self, command: Mapping[str, Any]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write((json.dumps(command) + "\n").encode("utf-8"))
            stdin.flush()
        except BrokenPipeError:
            raise ChildError(f"{self.name} has exited; see {self.log_path}") from None

    def reply(self, timeout: float) -> dict[str, Any]:
        reply = self.poll(timeout)
        if reply is None:
            raise ChildError(f"{self.name} did not answer within {timeout:.0f}s; see {self.log_path}")
        return reply

    def poll(self, timeout: float) -> dict[str, Any] | None:
        """The reply, or None if none came within ``timeout`` (a long command still running)."""
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            raise ChildError(f"{self.name} exited (code {self.process.wait()}); see {self.log_path}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise ChildError(f"{self.name}: {reply['error']}; see {self.log_path}")
        return reply

    def call(self, command: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self.send(command)
        return self.reply(timeout)

    def kill(self) -> None:
        _kill(self.process)
        if self.process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        self._log.close()


class Server:
    """``python -m bench.serve <server> <app> <port>``: the server runs in that very process (its pid is
    the one measured and profiled)."""

    def __init__(self, environment: Environment, server: str) -> None:
        self.name = f"{server}"
        self._log = environment.log(server)
        self.log_path = Path(self._log.name)
        errors = []
        for _ in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            args = ["-m", "bench.serve", server, APPS[environment.system], str(self.port)]
            self.process = spawn(args, environment.env(server), self._log, pipes=False)
            if answers_http(self.port, time.monotonic() + START_TIMEOUT, self.process):
                return
            errors.append(f"exit code {_kill(self.process)}")
        self._log.close()
        raise ChildError(f"{server} did not start ({', '.join(errors)}); see {self.log_path}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        _kill(self.process)
        self._log.close()
