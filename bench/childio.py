"""The child side of the orchestrator's JSON-lines protocol: one command per stdin line, one reply each.

stdout carries replies only: anything else that writes to fd 1 (a library's print, a logging handler made
for stdout) is sent to stderr, which the orchestrator keeps as the child's log.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO


def reply_stream() -> TextIO:
    """A private handle on the original stdout; fd 1 and ``sys.stdout`` become stderr."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return replies


def write_reply(stream: TextIO, reply: dict[str, Any]) -> None:
    stream.write(json.dumps(reply, separators=(",", ":")) + "\n")
    stream.flush()


def error_reply(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}"}
