"""The benchmark message: the same bytes for both systems, carrying its run, sequence and send time.

``{"r":<run>,"t":<time.time() at the send call>,"s":<seq>,"p":"xxx…"}`` padded to the wanted size.
Clients recognise a run by the prefix ``{"r":<run>,`` (a bytes comparison, no JSON parsing), so a late
message from an earlier run is never counted; they parse the JSON only when they need ``t``. pushapp
sends the message, a str, as the data of its push envelope, ``{"type":"push","data":"{\"r\":…"}``:
clients recognise that prefix too, and with history on, the envelope that carries a stream position first.
"""

from __future__ import annotations

import json


def message(run: int, seq: int, sent_at: float, size: int = 100) -> str:
    head = f'{{"r":{run},"t":{sent_at:.6f},"s":{seq},"p":"'
    return head + "x" * max(size - len(head) - 2, 0) + '"}'


def run_prefix(run: int) -> bytes:
    return f'{{"r":{run},'.encode("ascii")


def data_prefix(run: int) -> bytes:
    """The run prefix as it starts the ``data`` of a pushapp envelope: the message JSON-escaped."""
    return json.dumps(run_prefix(run).decode("ascii")).encode("ascii")[:-1]


def enveloped_prefix(run: int) -> bytes:
    """The run prefix as it starts a pushapp push envelope (the message JSON-escaped in ``data``)."""
    return b'{"type":"push","data":' + data_prefix(run)


STREAM_ENVELOPE = b'{"type":"push","stream":'
_DATA_KEY = b',"data":'


def in_stream_envelope(payload: bytes, data: bytes) -> bool:
    """Whether ``payload`` is a push on a stream with history (its position before ``data``) whose data
    starts with ``data``."""
    if not payload.startswith(STREAM_ENVELOPE):
        return False
    at = payload.find(_DATA_KEY)
    return at > 0 and payload.startswith(data, at + len(_DATA_KEY))


def sent_at(payload: bytes) -> float:
    value = json.loads(payload)
    if value.get("type") == "push":
        value = json.loads(value["data"])
    return float(value["t"])
