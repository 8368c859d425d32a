"""What one client may cost a server process: connection caps per process, per IP and per uid, and a
rate of frames per connection. Going over one closes the connection with a documented code; each refusal
is counted, and logged at most once per interval per reason, so an attack cannot flood the log."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from ..codes import CloseCode
from ..conf import push_settings
from ..runtime import telemetry

logger = logging.getLogger(__name__)

#: Seconds between two log lines about the same reason.
LOG_INTERVAL = 10.0

#: Refusals by reason since the process started (pushstats and the metrics read them).
refused: Counter[str] = Counter()
#: Exceptions raised by the project's code (hooks, signal receivers) that the server survived, by where.
failed: Counter[str] = Counter()
_logged: dict[str, float] = {}


def report(reason: str, detail: str) -> None:
    """Count a refusal; log it unless this reason was logged less than LOG_INTERVAL ago."""
    refused[reason] += 1
    now = time.monotonic()
    if now - _logged.get(reason, -LOG_INTERVAL) >= LOG_INTERVAL:
        logger.warning("pushapp: refused (%s): %s; %d of this kind so far", reason, detail, refused[reason])
        _logged[reason] = now


def report_failure(where: str, detail: str, error: BaseException | None = None) -> None:
    """Count an exception the project's code raised into the server (call it from an ``except``, or give
    it as ``error``); log it, with its traceback, at most once per LOG_INTERVAL per place: a client cannot
    flood the log by sending the frame that makes a receiver raise."""
    failed[where] += 1
    now = time.monotonic()
    key = "failed:" + where
    if now - _logged.get(key, -LOG_INTERVAL) >= LOG_INTERVAL:
        exc_info = error if error is not None else True
        logger.warning("pushapp: %s raised: %s; %d so far", where, detail, failed[where], exc_info=exc_info)
        _logged[key] = now


def client_ip(scope: dict[str, Any]) -> str:
    """The peer address of the socket (behind a proxy: the proxy's, unless the server is told otherwise,
    e.g. daphne's --proxy-headers)."""
    client = scope.get("client")
    return str(client[0]) if client else "?"


class Gate:
    """This process's open connections by state and IP."""

    def __init__(self) -> None:
        self.unauthenticated = 0
        self.unauthenticated_by_ip: Counter[str] = Counter()
        self.by_ip: Counter[str] = Counter()

    def enter_unauthenticated(self, ip: str) -> str | None:
        """Admit a connection that has not authenticated yet; the reason when it is one too many."""
        if self.unauthenticated >= push_settings.MAX_UNAUTHENTICATED:
            return "unauthenticated"
        if self.unauthenticated_by_ip[ip] >= push_settings.MAX_UNAUTHENTICATED_PER_IP:
            return "unauthenticated_per_ip"
        self.unauthenticated += 1
        self.unauthenticated_by_ip[ip] += 1
        return None

    def leave_unauthenticated(self, ip: str) -> None:
        self.unauthenticated -= 1
        self.unauthenticated_by_ip[ip] -= 1
        if not self.unauthenticated_by_ip[ip]:
            del self.unauthenticated_by_ip[ip]

    def enter(self, ip: str) -> str | None:
        """Admit an authenticated connection; the reason when it is one too many."""
        limit = push_settings.MAX_CONNECTIONS_PER_IP
        if limit is not None and self.by_ip[ip] >= limit:
            return "connections_per_ip"
        self.by_ip[ip] += 1
        return None

    def leave(self, ip: str) -> None:
        self.by_ip[ip] -= 1
        if not self.by_ip[ip]:
            del self.by_ip[ip]


class FrameRate:
    """A token bucket of client frames: ``CLIENT_FRAMES_PER_SECOND``, with bursts up to twice that."""

    __slots__ = ("last", "tokens")

    def __init__(self) -> None:
        self.tokens = 2.0 * push_settings.CLIENT_FRAMES_PER_SECOND
        self.last = time.monotonic()

    def take(self) -> bool:
        rate = push_settings.CLIENT_FRAMES_PER_SECOND
        if not rate:
            return True
        now = time.monotonic()
        self.tokens = min(2.0 * rate, self.tokens + (now - self.last) * rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def control_frame_refusal(rate: FrameRate, ping: bool, backlog: int) -> int | None:
    """The close code a client's control frame (ping, pong or close) earns, or None: answer it as usual.

    The server answers these itself, below the application: uncounted, a client that pings and never
    reads grew a server by 90 MB a second. Each takes a token of the connection's ``rate`` (4007 past it),
    and a pong is a reply like any other: one that would wait behind more than ``MAX_BUFFERED_BYTES``
    unsent (``backlog``) closes the client with 4005 instead. Counted and logged as the other refusals."""
    if not rate.take():
        report("frame_rate", "a client sends control frames too fast")
        code = CloseCode.RATE_LIMITED
    elif ping and backlog > push_settings.MAX_BUFFERED_BYTES:
        report("slow_client", f"a client does not read its pongs ({backlog} bytes wait)")
        code = CloseCode.TOO_SLOW
    else:
        return None
    telemetry.stats.closes[str(int(code))] += 1
    return int(code)


gate = Gate()  # one per process: the caps are per server process
