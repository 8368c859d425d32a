"""A separate process that calls ``pushapp.gateway``'s sync functions on request.

It plays "the rest of the Django project" (a view, a management command, a worker): plain sync code in
another process than any server. Protocol, one JSON object per line: the test writes
``{"fn": "send_to_uid", "args": [...], "kwargs": {...}}`` to stdin, the producer answers on stdout with
``{"ok": result}`` or ``{"error": message, "type": exception class name}``. Its first line is
``{"ready": true}`` once Django is set up (or an error line if that failed). Bytes travel as
``{"__bytes__": base64}``; tuples and sets arrive as lists.

Run as ``python -m tests.support.producer`` with DJANGO_SETTINGS_MODULE set; logs go to stderr.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import sys
import traceback
from typing import Any, TextIO

BYTES_KEY = "__bytes__"


def encode(value: Any) -> Any:
    """Turn ``value`` into something ``json.dumps`` can write and :func:`decode` can restore."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {BYTES_KEY: base64.b64encode(bytes(value)).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [encode(item) for item in value]
        try:
            return sorted(items)  # a stable order, so tests can compare lists
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    return value


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (tuples and sets stay lists)."""
    if isinstance(value, dict):
        if value.keys() == {BYTES_KEY}:
            return base64.b64decode(value[BYTES_KEY])
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def error_reply(exc: BaseException) -> dict[str, str]:
    return {"error": str(exc), "type": type(exc).__name__}


def serve(gateway: Any, requests: TextIO, replies: TextIO) -> None:
    """Answer each request line with one reply line until stdin closes."""
    from django.core.serializers.json import DjangoJSONEncoder

    for line in requests:
        if not line.strip():
            continue
        try:
            request = decode(json.loads(line))
            fn = request["fn"]
            if not isinstance(fn, str) or fn.startswith("_"):
                raise AttributeError(f"pushapp.gateway has no public function {fn!r}")
            result = getattr(gateway, fn)(*request.get("args", ()), **request.get("kwargs", {}))
            reply = json.dumps({"ok": encode(result)}, cls=DjangoJSONEncoder)
        except Exception as exc:
            traceback.print_exc()
            reply = json.dumps(error_reply(exc))
        replies.write(reply + "\n")
        replies.flush()


def main() -> int:
    # Keep stdout for protocol lines only: anything else that writes to fd 1 (print, a C library, a
    # logging handler made for stdout) ends up on stderr instead.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        import django

        django.setup()
        from pushapp import gateway
    except Exception as exc:
        traceback.print_exc()
        replies.write(json.dumps(error_reply(exc)) + "\n")
        replies.flush()
        return 1
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    serve(gateway, sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
