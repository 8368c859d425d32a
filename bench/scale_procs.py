"""The processes of ``python -m bench.scale``: the layer over several Redis servers, ``manage.py pushserve``
as the server, several ``bench.serve`` daphne servers started at once, and client processes that each
connect to a server of their own.

``python -m bench.scale_procs pushserve <pushserve options>`` runs ``manage.py pushserve`` in a process
that Linux kills if the orchestrator dies (its workers follow: they drain when the supervisor dies).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.lifetime import die_with_parent
from bench.pool import CALL_TIMEOUT, ClientPool
from bench.procs import START_TIMEOUT, STOP_TIMEOUT, ChildError, Environment, Server, _kill, spawn
from tests.support.pushserve import STARTED

_LISTENING = re.compile(r"pushserve: listening on 127\.0\.0\.1:(\d+)")


@dataclasses.dataclass(frozen=True)
class ShardedEnvironment(Environment):
    """An :class:`Environment` whose channel layer has one host per URL of ``shard_urls``
    (``BENCH_REDIS_URLS``); ``redis_url`` is the first of them (presence lives there)."""

    shard_urls: tuple[str, ...] = ()

    def env(self, role: str) -> dict[str, str]:
        env = super().env(role)
        if self.shard_urls:
            env["BENCH_REDIS_URLS"] = ",".join(self.shard_urls)
        return env


def start_servers(environment: Environment, count: int, server: str = "daphne") -> list[Server]:
    """``count`` ``bench.serve`` servers, each logging to a directory of its own under the environment's.

    One after the other, from this thread: a child asks Linux to kill it when the thread that started it
    exits (bench/lifetime.py), so a thread pool would take its servers with it."""
    return [
        Server(dataclasses.replace(environment, log_dir=environment.log_dir / f"server{number}"), server)
        for number in range(count)
    ]


class PushServe:
    """``manage.py pushserve --workers N --port 0`` on the environment's settings; waits until every
    worker serves. ``pid`` is the supervisor's; ``worker_pids`` are the processes that hold connections."""

    def __init__(self, environment: Environment, workers: int, drain: float = 1.0) -> None:
        self.name = "pushserve"
        self._log = environment.log("pushserve")
        self.log_path = Path(self._log.name)
        args = [
            "-m",
            "bench.scale_procs",
            "pushserve",
            f"--workers={workers}",
            "--port=0",
            f"--drain={drain}",
        ]
        self.process = spawn(args, environment.env("pushserve"), self._log, pipes=False)
        deadline = time.monotonic() + START_TIMEOUT
        serving = [
            re.compile(rf"pushserve worker {slot} \(generation 1\) serving") for slot in range(workers)
        ]
        while True:
            text = self.log_path.read_text(errors="replace")
            listening = _LISTENING.search(text)
            if listening and all(pattern.search(text) for pattern in serving):
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise ChildError(f"pushserve did not start its {workers} workers; see {self.log_path}")
            time.sleep(0.1)
        self.port = int(listening.group(1))
        self.worker_pids = [int(match.group(3)) for match in STARTED.finditer(text) if match.group(2) == "1"]

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Two SIGTERMs (drain, then close what is left at once); SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        self.kill()

    def kill(self) -> None:
        _kill(self.process)
        self._log.close()


class SpreadPool(ClientPool):
    """Client processes that each connect to a server (port) of their own, with groups per process."""

    def connect_each(self, slices: list[dict[str, Any]], concurrency: int, timeout: float) -> dict[str, Any]:
        """One slice per client process: ``{"port", "start", "stop", "groups"}``; connections
        ``start..stop-1`` (the uids) to that port, their tokens in those groups."""
        commands = [
            {
                "op": "connect",
                "system": self.system,
                "group": piece["groups"][0],
                "concurrency": concurrency,
                "timeout": timeout,
                **piece,
            }
            for piece in slices
        ]
        replies = self._all(commands, timeout + CALL_TIMEOUT)
        self.connected = max(piece["stop"] for piece in slices)
        return {
            "opened": sum(r["opened"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "errors": [e for r in replies for e in r["errors"]][:5],
            "seconds": max(r["seconds"] for r in replies),
        }

    def arm_each(self, run: int, per_conn: list[int], latency: bool = False) -> int:
        """Arm ``run`` with each process's connections expecting its own count; the total expected."""
        commands = [{"op": "arm", "run": run, "per_conn": n, "latency": latency} for n in per_conn]
        return sum(int(r["expected"]) for r in self._all(commands, CALL_TIMEOUT))


def _pushserve(argv: list[str]) -> None:
    die_with_parent()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", "pushserve", *argv])


if __name__ == "__main__":
    if sys.argv[1:2] != ["pushserve"]:
        sys.exit("usage: python -m bench.scale_procs pushserve [pushserve options]")
    _pushserve(sys.argv[2:])
