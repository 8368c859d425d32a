"""A client process: holds a slice of the benchmark's connections and counts what they receive.

``python -m bench.clients`` with the system's Django settings in the environment (pushapp clients mint
their own tokens with ``pushapp.tokens.issue_token``). Commands arrive as JSON lines on stdin, one reply
line each on stdout (see ``Clients.handle``). Nothing here runs in a server process.

Per message the work is: a bytes prefix check, two counters, and for fan-out runs one ``json.loads``
to read the send time. Receipt times are ``time.time()`` when the bytes were read.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import random
import sys
import threading
import time
import traceback
from typing import Any
from urllib.parse import urlencode

from bench.childio import error_reply, reply_stream, write_reply
from bench.lean_ws import HandshakeError, LeanWebSocket, OnMessage
from bench.lifetime import die_with_parent, raise_nofile_limit
from bench.payload import data_prefix, enveloped_prefix, in_stream_envelope, run_prefix, sent_at

ORIGIN = "http://127.0.0.1"  # the servers sit behind AllowedHostsOriginValidator
PUSHAPP_PATH = "/ws/push/"
BASELINE_PATH = "/ws/base/"
CONNECT_ATTEMPTS = 3
#: Reconnects after a lost connection (the c100k storm): random(0, min(cap, base * 2^attempt)) seconds
#: before each attempt, pushapp.js's policy with its defaults.
RECONNECT_BASE, RECONNECT_CAP = 1.0, 30.0


class Sink:
    """What the connections of this process received in the current run."""

    def __init__(self) -> None:
        self.arm(-1, 0, None, latency=False)

    def arm(self, run: int, per_conn: int, unicast: tuple[int, int] | None, latency: bool) -> None:
        """Start counting ``run``: each connection expects ``per_conn`` messages, or, for a unicast run
        of ``count`` sends round-robin over uids ``0..uids-1``, its share of them."""
        self.prefix = run_prefix(run)
        self.enveloped = enveloped_prefix(run)
        self.data = data_prefix(run)
        self.per_conn = per_conn
        self.unicast = unicast
        self.latency = latency
        self.count = 0
        self.foreign = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []

    def expected(self, index: int) -> int:
        if self.unicast is None:
            return self.per_conn
        count, uids = self.unicast
        if index >= uids:
            return 0
        return count // uids + (1 if index < count % uids else 0)

    def on_message(self, conn: LeanWebSocket, payload: bytes, now: float) -> None:
        if (
            not payload.startswith(self.prefix)
            and not payload.startswith(self.enveloped)
            and not in_stream_envelope(payload, self.data)
        ):
            self.foreign += 1
            return
        conn.received += 1
        self.count += 1
        if not self.first:
            self.first = now
        if now > self.last:
            self.last = now
        if self.latency:
            self.latencies.append(now - sent_at(payload))


class Clients:
    """The connections of this process and the commands that drive them."""

    def __init__(self) -> None:
        self.sink = Sink()
        self.conns: list[LeanWebSocket] = []
        self._churners: list[asyncio.Task[None]] = []
        self.churn_stats = {"reconnects": 0, "failures": 0, "deliveries": 0}
        # For reconnects: where each connection index connects, and its place in ``conns``.
        self._targets: dict[int, tuple[str, int, str, str | None, str | None]] = {}
        self._slots: dict[int, int] = {}
        self.reconnecting = False
        self._reopening: set[asyncio.Task[None]] = set()
        self.storm = {"reconnected": 0, "failures": 0, "last": 0.0}
        self._renewed: set[int] = set()  # connections opened again since reconnect(True)

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "connect":
            return await self.connect(command)
        if op == "arm":
            return self.arm(command)
        if op == "status":
            return self.status()
        if op == "collect":
            return self.collect()
        if op == "close":
            return await self.close(float(command.get("timeout", 10.0)))
        if op == "churn_start":
            return self.churn_start(command)
        if op == "churn_stop":
            return await self.churn_stop()
        if op == "reconnect":
            return self.reconnect(bool(command["on"]))
        if op == "storm_status":
            return {
                **self.storm,
                "renewed": len(self._renewed),
                "open": self._open_count(),
                "pending": len(self._reopening),
            }
        if op == "ping":
            return {"pong": True}
        raise ValueError(f"unknown command {op!r}")

    async def connect(self, command: dict[str, Any]) -> dict[str, Any]:
        """Open connections ``start..stop-1`` (the index is the uid), a few handshakes at a time; pushapp
        tokens carry ``groups`` if the command has it (bench/scale.py), else ``[group]``."""
        started = time.monotonic()
        system, port, group = command["system"], int(command["port"]), command["group"]
        start, stop = int(command["start"]), int(command["stop"])
        source = command.get("source")  # a local address of its own (c100k: past 28k ports per address)
        semaphore = asyncio.Semaphore(int(command.get("concurrency", 32)))
        deadline = started + float(command.get("timeout", 120.0))
        errors: list[str] = []
        tokens = _tokens(system, range(start, stop), command.get("groups") or [group])

        async def one(index: int) -> None:
            async with semaphore:
                for attempt in range(CONNECT_ATTEMPTS):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        errors.append(f"{index}: no time left")
                        return
                    try:
                        conn = await asyncio.wait_for(
                            self._open(system, port, group, index, tokens.get(index), source=source),
                            min(remaining, 30.0),
                        )
                    except (OSError, HandshakeError, TimeoutError) as err:
                        if attempt == CONNECT_ATTEMPTS - 1:
                            errors.append(f"{index}: {type(err).__name__}: {err}")
                        continue
                    self._targets[index] = (system, port, group, tokens.get(index), source)
                    self._slots[index] = len(self.conns)
                    self.conns.append(conn)
                    self._watch(conn)
                    return

        await asyncio.gather(*(one(i) for i in range(start, stop)))
        gc.freeze()  # the connections live until the end: keep them out of every future GC pass
        return {
            "opened": stop - start - len(errors),
            "failed": len(errors),
            "errors": errors[:5],
            "seconds": time.monotonic() - started,
        }

    def churn_start(self, command: dict[str, Any]) -> dict[str, Any]:
        """Connections ``start..stop-1`` that each live about ``lifetime`` seconds and reconnect, until
        ``churn_stop``: the soak's churn. Kept apart from ``conns``: what they miss while reconnecting is
        not a loss, so they are counted apart too."""
        system, port, group = command["system"], int(command["port"]), command["group"]
        indices = range(int(command["start"]), int(command["stop"]))
        tokens = _tokens(system, indices, [group])
        lifetime = float(command["lifetime"])
        self._churners = [
            asyncio.ensure_future(self._churn(system, port, group, i, tokens.get(i), lifetime))
            for i in indices
        ]
        return {"churners": len(indices)}

    async def _churn(
        self, system: str, port: int, group: str, index: int, token: str | None, life: float
    ) -> None:
        rng = random.Random(index)
        stats = self.churn_stats

        def count(conn: LeanWebSocket, payload: bytes, now: float) -> None:
            stats["deliveries"] += 1

        await asyncio.sleep(rng.uniform(0, life))  # spread the reconnects out
        while True:
            try:
                conn = await asyncio.wait_for(self._open(system, port, group, index, token, count), 30.0)
            except (OSError, HandshakeError, TimeoutError):
                stats["failures"] += 1
                await asyncio.sleep(life)
                continue
            stats["reconnects"] += 1
            try:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * life)
                conn.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(conn.closed), 10.0)
            finally:
                conn.abort()

    async def churn_stop(self) -> dict[str, Any]:
        for task in self._churners:
            task.cancel()
        await asyncio.gather(*self._churners, return_exceptions=True)
        self._churners = []
        return dict(self.churn_stats)

    async def _open(
        self,
        system: str,
        port: int,
        group: str,
        index: int,
        token: str | None,
        on_message: OnMessage | None = None,
        source: str | None = None,
    ) -> LeanWebSocket:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[None] = loop.create_future()
        closed: asyncio.Future[None] = loop.create_future()
        if system == "pushapp":
            path = PUSHAPP_PATH
            first: bytes | None = json.dumps({"type": "auth", "token": token}).encode("utf-8")
        else:
            path = f"{BASELINE_PATH}?{urlencode({'group': group, 'uid': str(index)})}"
            first = None
        host = f"127.0.0.1:{port}"
        transport, conn = await loop.create_connection(
            lambda: LeanWebSocket(
                index, host, path, ORIGIN, first, on_message or self.sink.on_message, opened, closed
            ),
            "127.0.0.1",
            port,
            local_addr=(source, 0) if source else None,
        )
        try:
            await opened
        except BaseException:
            transport.abort()
            raise
        return conn

    def reconnect(self, on: bool) -> dict[str, Any]:
        """From now on (``on``), a connection that closes is opened again as pushapp.js would."""
        self.reconnecting = on
        self.storm = {"reconnected": 0, "failures": 0, "last": 0.0}
        self._renewed.clear()
        return {"reconnecting": on}

    def _watch(self, conn: LeanWebSocket) -> None:
        conn.closed.add_done_callback(lambda _closed: self._lost(conn))

    def _lost(self, conn: LeanWebSocket) -> None:
        if self.reconnecting and self.conns[self._slots[conn.index]] is conn:
            task = asyncio.ensure_future(self._reopen(conn.index))
            self._reopening.add(task)
            task.add_done_callback(self._reopening.discard)

    async def _reopen(self, index: int) -> None:
        system, port, group, token, source = self._targets[index]
        attempt = 0
        while self.reconnecting:
            await asyncio.sleep(random.random() * min(RECONNECT_CAP, RECONNECT_BASE * 2**attempt))
            attempt += 1
            try:
                conn = await asyncio.wait_for(
                    self._open(system, port, group, index, token, source=source), 30
                )
            except (OSError, HandshakeError, TimeoutError):
                self.storm["failures"] += 1
                continue
            self.conns[self._slots[index]] = conn
            self.storm["reconnected"] += 1
            self.storm["last"] = time.time()
            self._renewed.add(index)
            self._watch(conn)
            return

    def arm(self, command: dict[str, Any]) -> dict[str, Any]:
        unicast = command.get("unicast")
        self.sink.arm(
            int(command["run"]),
            int(command.get("per_conn", 0)),
            (int(unicast[0]), int(unicast[1])) if unicast else None,
            bool(command.get("latency", False)),
        )
        for conn in self.conns:
            conn.received = 0
        expected = sum(self.sink.expected(conn.index) for conn in self.conns)
        return {"expected": expected}

    def status(self) -> dict[str, Any]:
        return {"count": self.sink.count, "last": self.sink.last, "open": self._open_count()}

    def collect(self) -> dict[str, Any]:
        sink = self.sink
        lost = duplicates = 0
        for conn in self.conns:
            gap = sink.expected(conn.index) - conn.received
            if gap > 0:
                lost += gap
            else:
                duplicates -= gap
        return {
            "count": sink.count,
            "lost": lost,
            "duplicates": duplicates,
            "foreign": sink.foreign,
            "first": sink.first,
            "last": sink.last,
            "open": self._open_count(),
            "latencies": [round(x, 6) for x in sink.latencies],
        }

    async def close(self, timeout: float) -> dict[str, Any]:
        """Closing handshakes for every connection; those that do not finish in time are aborted."""
        self.reconnecting = False
        for conn in self.conns:
            conn.close()
        pending = [conn.closed for conn in self.conns if not conn.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        aborted = 0
        for conn in self.conns:
            if not conn.closed.done():
                aborted += 1
                conn.abort()
        closed = len(self.conns)
        self.conns = []
        self._slots.clear()
        gc.unfreeze()
        return {"closed": closed, "aborted": aborted}

    def _open_count(self) -> int:
        return sum(1 for conn in self.conns if conn.transport is not None)


def _tokens(system: str, indices: range, groups: list[str]) -> dict[int, str]:
    """pushapp tokens for uids ``indices``, all in ``groups``; minted here with the shared SECRET_KEY."""
    if system != "pushapp":
        return {}
    from pushapp.tokens import issue_token

    return {i: issue_token(str(i), groups) for i in indices}


async def serve(replies: Any) -> None:
    """Run commands from stdin in order until it closes."""
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line)
        loop.call_soon_threadsafe(commands.put_nowait, None)

    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    clients = Clients()
    while (line := await commands.get()) is not None:
        if not line.strip():
            continue
        try:
            reply = await clients.handle(json.loads(line))
        except Exception as exc:
            traceback.print_exc()
            reply = error_reply(exc)
        write_reply(replies, reply)
    for conn in clients.conns:
        conn.abort()


def main() -> int:
    die_with_parent()
    raise_nofile_limit()
    replies = reply_stream()
    import django

    django.setup()
    write_reply(replies, {"ready": True})
    asyncio.run(serve(replies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
