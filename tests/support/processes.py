"""Real processes for the integration tests: daphne servers and a producer, sharing one Redis.

Each child's output is drained by a thread into memory (a full pipe would block the child) and kept for
failure messages. Every child is killed at the latest when the test session's interpreter exits.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from tests.support.producer import decode, encode

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("PUSHAPP_TEST_START_TIMEOUT", "30"))
STOP_TIMEOUT = 15.0
CALL_TIMEOUT = 30.0

# daphne logs this at INFO (shown at its default --verbosity 1) via logging.basicConfig, i.e. on stderr.
_LISTENING = re.compile(r"Listening on TCP address [0-9.]+:(\d+)")
_SERVING = re.compile(r"pushserve worker \d+ \(generation \d+\) serving")
#: What serves the push path: daphne itself, or pushapp's own server in front of daphne (a pushserve
#: worker started alone on a socket opened here).
SERVERS = ("daphne", "native")


@dataclass(frozen=True)
class ProcessConfig:
    """What every process of one cluster shares; turned into the env ``tests.settings_redis`` reads."""

    redis_url: str
    layer: str = "core"
    prefix: str = "pushapp-test."
    db_path: str | None = None
    settings: str = "tests.settings_redis"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PUSHAPP_TEST_DB", None)
        env.update(
            DJANGO_SETTINGS_MODULE=self.settings,
            REDIS_URL=self.redis_url,
            PUSHAPP_TEST_LAYER=self.layer,
            PUSHAPP_TEST_PREFIX=self.prefix,
            PYTHONUNBUFFERED="1",
        )
        if self.db_path:
            env["PUSHAPP_TEST_DB"] = self.db_path
        env.update(extra or {})
        return env


class _Drain:
    """Reads a child's pipe to its end in a daemon thread, keeping the text and waking up waiters."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._lines: list[str] = []
        self._closed = False
        self._cond = threading.Condition()
        threading.Thread(target=self._run, args=(stream,), name=name, daemon=True).start()

    def _run(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                with self._cond:
                    self._lines.append(raw.decode("utf-8", errors="replace"))
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return "".join(self._lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first line matching ``pattern``; None if the pipe closed or ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if match := pattern.search(line):
                        return match
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)


def _end(process: subprocess.Popen[bytes], kill: bool) -> int:
    """Signal the child and reap it; escalate to SIGKILL if it ignores SIGTERM."""
    if process.poll() is None:
        if kill:
            process.kill()
        else:
            process.terminate()
    try:
        return process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def answers_http(port: int, deadline: float, process: subprocess.Popen[bytes]) -> bool:
    """Poll until the server on ``port`` answers an HTTP request (any status), it exits, or the deadline."""
    while process.poll() is None and time.monotonic() < deadline:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=max(0.1, deadline - time.monotonic())
        )
        try:
            connection.request("GET", "/harness-readiness-probe/")  # a 404 is an answer
            connection.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
        finally:
            connection.close()
    return False


class _Killable(Protocol):
    def kill(self) -> int: ...


_live: set[_Killable] = set()


def kill_all() -> None:
    """Kill every child still running: the last line of defence when fixture finalizers did not run."""
    for child in list(_live):
        child.kill()


atexit.register(kill_all)


class DaphneProcess:
    """``daphne tests.asgi:application`` on ``port``; 0 (the default) lets the kernel pick one, found in
    daphne's log. A fixed port brings a restarted server back where its clients reconnect to.

    ``server="native"``: one pushserve worker with ``--push-server native`` instead (pushapp's own server on
    the push path, daphne behind it for the rest), on a listening socket this process opens and hands it.
    """

    def __init__(
        self,
        config: ProcessConfig,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
        port: int = 0,
        server: str = "daphne",
    ):
        if server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, not {server!r}")
        self.server = server
        self._port: int | None = None
        self._ready_read: int | None = None
        fds: tuple[int, ...] = ()
        if server == "daphne":
            args = [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "tests.asgi:application",
            ]
        else:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(1024)
            self._ready_read, ready_write = os.pipe()  # the worker writes "ready"; the log says it too
            fds = (listener.fileno(), ready_write)
            self._native_port = listener.getsockname()[1]
            args = [
                sys.executable,
                "-m",
                "pushapp.pushserve.worker",
                f"--fd={listener.fileno()}",
                f"--ready-fd={ready_write}",
                "--drain=0",
                "--push-server=native",
            ]
        try:
            self.process = subprocess.Popen(
                args,
                cwd=REPO_ROOT,
                env=config.env(extra_env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,  # the access log (verbosity 1)
                stderr=subprocess.STDOUT,  # the Python log, with the "Listening on" line
                pass_fds=fds,
            )
        finally:
            if server == "native":
                listener.close()  # the worker's now: a killed worker must leave nobody accepting
                os.close(ready_write)
        assert self.process.stdout is not None
        self._out = _Drain(self.process.stdout, f"{server}-{self.process.pid}")
        _live.add(self)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> int:
        """Block until daphne serves requests; return its port. On failure kill it and raise with its log.

        The "Listening on" line comes before Twisted's reactor runs: until then nothing answers and SIGTERM
        is not yet handled (it would kill daphne outright). An HTTP answer proves the reactor runs.
        """
        if self._port is None:
            deadline = time.monotonic() + timeout
            if self.server == "daphne":
                match = self._out.wait_for(_LISTENING, timeout)
                port = int(match.group(1)) if match is not None else None
            else:
                served = self._out.wait_for(_SERVING, timeout)
                port = self._native_port if served is not None else None
            if self._ready_read is not None:
                os.close(self._ready_read)
                self._ready_read = None
            if port is None or not answers_http(port, deadline, self.process):
                code = self.kill()
                raise RuntimeError(
                    f"{self.server} did not start serving (exit code {code}):\n{self.output()}"
                )
            self._port = port
        return self._port

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return self.wait_ready()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "/ws/push/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        """Everything daphne wrote so far (access log and Python log interleaved)."""
        return self._out.text()

    def terminate(self) -> int:
        """SIGTERM, daphne's graceful shutdown; return the exit code."""
        _live.discard(self)
        return _end(self.process, kill=False)

    def kill(self) -> int:
        """SIGKILL: the server vanishes without closing anything, as in a crash."""
        _live.discard(self)
        return _end(self.process, kill=True)

    def __enter__(self) -> DaphneProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


class ProducerError(Exception):
    """An exception raised inside the producer by a gateway call, re-raised in the test."""

    def __init__(self, type: str, message: str) -> None:
        super().__init__(f"{type}: {message}")
        self.type = type
        self.message = message


class Producer:
    """``python -m tests.support.producer``: calls ``pushapp.gateway`` from sync code, on request."""

    def __init__(
        self,
        config: ProcessConfig,
        extra_env: Mapping[str, str] | None = None,
        wait: bool = True,
        call_timeout: float = CALL_TIMEOUT,
    ):
        self.call_timeout = call_timeout
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.producer"],
            cwd=REPO_ROOT,
            env=config.env(extra_env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_replies, name=f"producer-{self.pid}", daemon=True).start()
        self._log = _Drain(self.process.stderr, f"producer-log-{self.pid}")
        self._lock = threading.Lock()
        self._ready = False
        _live.add(self)
        if wait:
            self.wait_ready()

    def _read_replies(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for raw in iter(self.process.stdout.readline, b""):
                self._replies.put(raw.decode("utf-8"))
        self._replies.put(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """The producer's stderr: tracebacks of failed calls, Django's log."""
        return self._log.text()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Block until Django is set up in the producer; raise ProducerError if that failed."""
        with self._lock:
            if not self._ready:
                self._reply(timeout)
                self._ready = True

    def call(self, fn: str, /, *args: Any, **kwargs: Any) -> Any:
        """``pushapp.gateway.<fn>(*args, **kwargs)`` in the producer; its result, or ProducerError."""
        self.wait_ready()
        line = json.dumps(encode({"fn": fn, "args": args, "kwargs": kwargs})) + "\n"
        with self._lock:
            stdin = self.process.stdin
            assert stdin is not None
            try:
                stdin.write(line.encode("utf-8"))
                stdin.flush()
            except BrokenPipeError:
                raise RuntimeError(f"the producer has exited:\n{self.output()}") from None
            return self._reply(self.call_timeout)

    def _reply(self, timeout: float) -> Any:
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            # Out of step with its replies now: it is no use any more.
            self.kill()
            raise TimeoutError(f"the producer did not answer within {timeout}s:\n{self.output()}") from None
        if line is None:
            raise RuntimeError(f"the producer exited (code {self.process.wait()}):\n{self.output()}")
        reply = json.loads(line)
        if "error" in reply:
            raise ProducerError(reply.get("type", "Exception"), reply["error"])
        return decode(reply.get("ok"))

    def close(self) -> int:
        """Close its stdin, which ends it; kill it if it doesn't exit."""
        _live.discard(self)
        self._close_stdin()
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        _live.discard(self)
        code = _end(self.process, kill=True)
        self._close_stdin()
        return code

    def _close_stdin(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
