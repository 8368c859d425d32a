"""The benchmark message: the same bytes for both systems, carrying its run, sequence and send time.

``{"r":<run>,"t":<time.time() at the send call>,"s":<seq>,"p":"xxx…"}`` padded to the wanted size.
Clients recognise a run by the prefix ``{"r":<run>,`` (a bytes comparison, no JSON parsing), so a late
message from an earlier run is never counted; they parse the JSON only when they need ``t``. pushapp
sends the message, a str, as the data of its push envelope, ``{"type":"push","data":"{\"r\":…"}``:
clients recognise that prefix too.
"""

from __future__ import annotations

import json


def message(run: int, seq: int, sent_at: float, size: int = 100) -> str:
    head = f'{{"r":{run},"t":{sent_at:.6f},"s":{seq},"p":"'
    return head + "x" * max(size - len(head) - 2, 0) + '"}'


def run_prefix(run: int) -> bytes:
    return f'{{"r":{run},'.encode("ascii")


def enveloped_prefix(run: int) -> bytes:
    """The run prefix as it starts a pushapp push envelope (the message JSON-escaped in ``data``)."""
    return b'{"type":"push","data":' + json.dumps(run_prefix(run).decode("ascii")).encode("ascii")[:-1]


def sent_at(payload: bytes) -> float:
    value = json.loads(payload)
    if value.get("type") == "push":
        value = json.loads(value["data"])
    return float(value["t"])
