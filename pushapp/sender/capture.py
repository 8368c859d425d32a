"""Where :func:`pushapp.testing.capture_pushes` plugs in: sends and per-connection operations are handed
to the active recorder before (or instead of) going to the channel layer.

It lives at the bottom of the package so that :mod:`pushapp.sender.publish` and :mod:`pushapp.gateway` can ask
it without importing the test helpers; nothing is recorded unless a test installed a recorder.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from .ops import Op


class Recorder(Protocol):
    #: True: record, then carry out as usual; False: record only (no channel layer, no Redis).
    deliver: bool

    def record_sends(self, ops: list[Op]) -> None: ...

    def record_operation(self, op: str, client_id: str, arg: Any) -> Any:
        """Record an operation; return the answer the gateway gives when not delivering."""
        ...


_lock = threading.Lock()
_stack: list[Recorder] = []


def active() -> Recorder | None:
    """The innermost recorder installed, or None (the normal case)."""
    return _stack[-1] if _stack else None


def install(recorder: Recorder) -> None:
    with _lock:
        _stack.append(recorder)


def uninstall(recorder: Recorder) -> None:
    with _lock:
        _stack.remove(recorder)
