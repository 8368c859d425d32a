"""A raw SSE client (``http.client``, no EventSource library) for tests against real servers: a ticket,
then a ``text/event-stream`` read event by event with a deadline on every read."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlsplit

from pushapp.tokens import issue_token


def http_call(
    base: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request on a fresh connection: the status and the JSON body (None when empty)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def get_ticket(base: str, token: str) -> str:
    status, body = http_call(
        base,
        "POST",
        "/pushapp/sse-ticket/",
        json.dumps({"token": token}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, (status, body)
    return str(body["ticket"])


class SseStream:
    """One SSE connection, opened with a fresh ticket (or ``ticket``), welcomed in the constructor."""

    def __init__(
        self,
        base: str,
        uid: str | None = None,
        groups: tuple[str, ...] = (),
        last_event_id: str | None = None,
        ticket: str | None = None,
        path: str = "/ws/push/sse/",
        query: str = "",
    ) -> None:
        self.base = base
        ticket = ticket or get_ticket(base, issue_token(uid, groups))
        url = urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", f"{path}?ticket={quote(ticket)}{query}", headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.last_id: str | None = last_event_id
        if self.status != 200:
            self.error = json.loads(self.response.read())
            return
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")
        self.welcome = self.frame()  # or the close of a connection refused after its ticket
        self.client_id: str = self.welcome.get("client_id", "")

    def event(self) -> dict[str, str]:
        """The next event (comments skipped): its ``id``, ``event`` and ``data`` fields. Raises
        TimeoutError when nothing comes within the read timeout, ConnectionError at the end."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                raise ConnectionError("the stream ended")
            text = line.decode("utf-8").rstrip("\n")
            if text == "":
                if fields:
                    if "id" in fields:
                        self.last_id = fields["id"]
                    return fields
                continue
            if text.startswith(":"):  # a comment: the heartbeat
                continue
            name, _, value = text.partition(": ")
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value

    def frame(self) -> Any:
        """The next event's data, decoded (``event: close`` included: check ``type``)."""
        fields = self.event()
        frame = json.loads(fields["data"])
        if fields.get("event") == "close":
            return {"type": "sse.close", **frame}
        return frame

    def post(self, frame: Any, proof: str | None = None, raw: bytes | None = None) -> tuple[int, Any]:
        """POST a client frame where the welcome said, with its proof (or ``proof``)."""
        sse = self.welcome["sse"]
        body = raw if raw is not None else json.dumps(frame).encode()
        headers = {"Content-Type": "application/json", "X-Pushapp-Proof": proof or sse["proof"]}
        return http_call(self.base, "POST", sse["post"], body, headers)

    def close(self) -> None:
        self.conn.close()
