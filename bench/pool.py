"""The client processes of one system, driven together: connect, arm a run, wait for it, collect.

Connection indices (which are also the uids) are dealt to the processes in contiguous slices as the
connection count grows, so each process knows which uids it holds.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from bench.procs import Child, ChildError, Environment

CALL_TIMEOUT = 60.0
POLL_INTERVAL = 0.1


@dataclass
class RunResult:
    """What the clients saw of one run (messages tagged with one run number)."""

    expected: int
    received: int
    lost: int
    duplicates: int
    first: float
    last: float
    open: int
    latencies: list[float] = field(default_factory=list)
    complete: bool = True


class ClientPool:
    def __init__(self, environment: Environment, processes: int) -> None:
        self.system = environment.system
        self.children: list[Child] = []
        try:
            for number in range(processes):
                self.children.append(Child(f"clients{number}", ["-m", "bench.clients"], environment))
            for child in self.children:
                child.wait_ready()
        except BaseException:
            self.kill()
            raise
        self.connected = 0

    def _all(self, commands: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        """Send one command to each process, then collect every reply (they work in parallel)."""
        for child, command in zip(self.children, commands, strict=True):
            child.send(command)
        deadline = time.monotonic() + timeout
        return [child.reply(max(deadline - time.monotonic(), 0.1)) for child in self.children]

    def grow(self, total: int, port: int, group: str, concurrency: int, timeout: float) -> dict[str, Any]:
        """Open connections ``connected..total-1``, split evenly over the processes."""
        start = self.connected
        new = total - start
        if new <= 0:
            return {"opened": 0, "failed": 0, "seconds": 0.0}
        share, extra = divmod(new, len(self.children))
        commands = []
        for number in range(len(self.children)):
            stop = start + share + (1 if number < extra else 0)
            commands.append(
                {
                    "op": "connect",
                    "system": self.system,
                    "port": port,
                    "group": group,
                    "start": start,
                    "stop": stop,
                    "concurrency": concurrency,
                    "timeout": timeout,
                }
            )
            start = stop
        replies = self._all(commands, timeout + CALL_TIMEOUT)
        self.connected = total
        failed = sum(r["failed"] for r in replies)
        return {
            "opened": sum(r["opened"] for r in replies),
            "failed": failed,
            "errors": [e for r in replies for e in r["errors"]][:5],
            "seconds": max(r["seconds"] for r in replies),
        }

    def arm(
        self, run: int, per_conn: int = 0, unicast: tuple[int, int] | None = None, latency: bool = False
    ) -> int:
        """Start counting ``run`` everywhere; return how many deliveries the clients expect in total."""
        command = {"op": "arm", "run": run, "per_conn": per_conn, "unicast": unicast, "latency": latency}
        replies = self._all([command] * len(self.children), CALL_TIMEOUT)
        return sum(int(r["expected"]) for r in replies)

    def wait(self, expected: int, settle: float, deadline: float) -> bool:
        """Poll until ``expected`` deliveries arrived (True), or nothing new came for ``settle`` seconds,
        or ``deadline`` (a monotonic time) passed (False)."""
        seen = -1
        changed = time.monotonic()
        while True:
            now = time.monotonic()
            count = sum(int(r["count"]) for r in self._all([{"op": "status"}] * len(self.children), 30.0))
            if count >= expected:
                return True
            if count != seen:
                seen, changed = count, now
            elif now - changed > settle or now > deadline:
                return False
            time.sleep(POLL_INTERVAL)

    def collect(self, expected: int, complete: bool) -> RunResult:
        replies = self._all([{"op": "collect"}] * len(self.children), CALL_TIMEOUT)
        return RunResult(
            expected=expected,
            received=sum(r["count"] for r in replies),
            lost=sum(r["lost"] for r in replies),
            duplicates=sum(r["duplicates"] for r in replies),
            first=min((r["first"] for r in replies if r["first"]), default=0.0),
            last=max((r["last"] for r in replies), default=0.0),
            open=sum(r["open"] for r in replies),
            latencies=[x for r in replies for x in r["latencies"]],
            complete=complete,
        )

    def churn_start(self, start: int, count: int, port: int, group: str, lifetime: float) -> None:
        """Connections ``start..start+count-1``, dealt to the processes, that reconnect continuously."""
        share, extra = divmod(count, len(self.children))
        commands = []
        for number in range(len(self.children)):
            stop = start + share + (1 if number < extra else 0)
            commands.append(
                {
                    "op": "churn_start",
                    "system": self.system,
                    "port": port,
                    "group": group,
                    "start": start,
                    "stop": stop,
                    "lifetime": lifetime,
                }
            )
            start = stop
        self._all(commands, CALL_TIMEOUT)

    def churn_stop(self) -> dict[str, int]:
        """Stop the churn; reconnects, failed reconnects and deliveries to the churning connections."""
        replies = self._all([{"op": "churn_stop"}] * len(self.children), CALL_TIMEOUT)
        return {key: sum(int(r[key]) for r in replies) for key in ("reconnects", "failures", "deliveries")}

    def close(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(ChildError):
            self._all([{"op": "close", "timeout": timeout}] * len(self.children), timeout + CALL_TIMEOUT)
        self.connected = 0

    def kill(self) -> None:
        for child in self.children:
            child.kill()
