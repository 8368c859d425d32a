"""The process-level resources a supervisor sets up once for all its workers."""

from __future__ import annotations

import resource
import socket

#: Connections the kernel queues before a worker accepts them; Twisted's own default (50) drops SYNs
#: when thousands of clients reconnect at once. Linux caps it at net.core.somaxconn.
DEFAULT_BACKLOG = 4096


def open_listener(bind: str, port: int, backlog: int = DEFAULT_BACKLOG) -> socket.socket:
    """A listening TCP socket the workers inherit (IPv6 when ``bind`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind.strip("[]"), port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the open-file soft limit to the hard limit (one descriptor per connection); the new limits.

    Children inherit it, so the supervisor raises it once for every worker.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # not allowed here (a container's limit): keep what we have
    return soft, hard
