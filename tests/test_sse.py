"""The SSE transport through real servers: daphne processes and pushserve's native server on a real
Redis, a producer in another process, and a raw HTTP client reading the event stream (docs/sse.md)."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from pushapp.tokens import issue_token
from tests.conftest import ClusterFactory
from tests.support.processes import ProcessConfig
from tests.support.pushserve import PushServe
from tests.support.sseclient import SseStream, get_ticket, http_call
from tests.support.waiting import wait_until

HISTORY = {"HISTORY": {"uid": {"size": 20, "ttl": 600}, "group": {"size": 20, "ttl": 600}}}
SETTINGS = {**HISTORY, "AUTHORIZE_SUBSCRIBE": "tests.test_sse.allow_rooms"}


def allow_rooms(uid: str | None, session: dict[str, Any], scope: dict[str, Any], group: str) -> bool:
    """The servers' AUTHORIZE_SUBSCRIBE: any group named room-…"""
    return group.startswith("room-")


def env() -> dict[str, str]:
    return {"PUSHAPP_TEST_SETTINGS": json.dumps(SETTINGS)}


@pytest.fixture
def streams() -> Any:
    opened: list[SseStream] = []
    yield opened
    for stream in opened:
        stream.close()


def open_stream(streams: list[SseStream], base: str, **kwargs: Any) -> SseStream:
    stream = SseStream(base, **kwargs)
    streams.append(stream)
    return stream


def next_of(stream: SseStream, kind: str) -> Any:
    """The next frame of ``kind`` (the read timeout is the deadline)."""
    while (frame := stream.frame())["type"] != kind:
        pass
    return frame


@pytest.mark.parametrize("server", ["daphne", "native"])
def test_a_push_from_another_process_arrives_and_a_missed_one_is_recovered(
    cluster: ClusterFactory, streams: list[SseStream], server: str
) -> None:
    c = cluster("core", servers=1, env=env(), server=server)
    base = c.servers[0].http_url
    first = open_stream(streams, base, uid="u1")
    sse = first.welcome["sse"]
    assert sse["post"] == f"/ws/push/sse/{first.client_id}/" and sse["proof"]
    c.producer.call("send_to_uid", "u1", {"n": 1})
    push = next_of(first, "push")
    assert (push["stream"], push["offset"], push["data"]) == ("uid:u1", 1, {"n": 1})
    last_id = first.last_id
    assert last_id
    first.close()

    c.producer.call("send_to_uid", "u1", {"n": 2})
    c.producer.call("send_to_uid", "u1", {"n": 3})
    c.producer.call("flush")
    again = open_stream(streams, base, uid="u1", last_event_id=last_id)
    missed = [again.frame() for _ in range(2)]
    assert [(p["offset"], p["data"]) for p in missed] == [(2, {"n": 2}), (3, {"n": 3})]
    assert again.frame() == {"type": "recovered", "streams": {"uid:u1": True}}
    c.producer.call("send_to_uid", "u1", {"n": 4})
    assert next_of(again, "push")["offset"] == 4


def test_the_last_event_id_also_goes_in_the_query(cluster: ClusterFactory, streams: list[SseStream]) -> None:
    c = cluster("core", servers=1, env=env())
    base = c.servers[0].http_url
    first = open_stream(streams, base, uid="u2")
    last_id = first.last_id  # the welcome's: the positions it started from
    assert last_id
    first.close()
    c.producer.call("send_to_uid", "u2", "while away")
    c.producer.call("flush")
    ticket = get_ticket(base, issue_token("u2"))
    again = open_stream(streams, base, ticket=ticket, query=f"&last_event_id={last_id}")
    assert next_of(again, "push")["data"] == "while away"
    assert again.frame()["type"] == "recovered"


def test_a_posted_subscribe_then_a_group_push_arrives_also_through_another_process(
    cluster: ClusterFactory, layer: str, streams: list[SseStream]
) -> None:
    c = cluster(layer, servers=2, env=env())
    held, other = (s.http_url for s in c.servers)
    ticket = get_ticket(other, issue_token("u3"))
    stream = open_stream(streams, held, ticket=ticket)
    reused = open_stream(streams, other, ticket=ticket)  # once in the cluster, not once per process
    assert (reused.status, reused.error) == (401, {"error": "bad_ticket"})
    assert stream.post({"type": "subscribe", "group": "room-1"}) == (204, None)
    assert next_of(stream, "subscribed")["group"] == "room-1"
    c.producer.call("send_to_group", "room-1", "hello room")
    assert next_of(stream, "push")["data"] == "hello room"

    # The POST lands on the other server process: the channel layer takes it to the stream's.
    stream.base = other
    assert stream.post({"type": "subscribe", "group": "room-2"}) == (204, None)
    assert next_of(stream, "subscribed")["group"] == "room-2"
    c.producer.call("send_to_group", "room-2", "hello again")
    assert next_of(stream, "push")["data"] == "hello again"
    assert stream.post({"type": "subscribe", "group": "secret"}) == (204, None)
    refused = stream.frame()
    assert refused["type"] == "error" and refused.get("group", "secret") == "secret"


def test_bad_input_is_refused_and_the_server_serves_on(
    cluster: ClusterFactory, streams: list[SseStream]
) -> None:
    c = cluster("core", servers=1, env=env())
    base = c.servers[0].http_url
    ticket = get_ticket(base, issue_token("u4"))
    stream = open_stream(streams, base, ticket=ticket)
    reused = open_stream(streams, base, ticket=ticket)
    assert (reused.status, reused.error) == (401, {"error": "bad_ticket"})
    forged = open_stream(streams, base, ticket=ticket[:-2] + "xx")
    assert (forged.status, forged.error) == (401, {"error": "bad_ticket"})
    json_body = {"Content-Type": "application/json"}
    assert http_call(base, "POST", "/pushapp/sse-ticket/", b'{"token": "nope"}', json_body) == (
        401,
        {"error": "bad_token"},
    )
    assert http_call(base, "POST", "/pushapp/sse-ticket/", b"[", json_body) == (400, {"error": "bad_request"})

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    token = issue_token("u4").encode()
    status, body = http_call(base, "POST", "/pushapp/sse-ticket/", b"token=" + token, form)
    assert status == 200 and set(body) == {"ticket", "expires"}
    assert http_call(base, "GET", "/pushapp/sse-ticket/")[0] == 405
    assert http_call(base, "GET", "/ws/push/sse/")[1] == {"error": "bad_ticket"}

    ping = {"type": "ping"}
    assert stream.post(ping, proof="forged") == (403, {"error": "bad_proof"})
    assert stream.post(None, raw=b"{not json") == (400, {"error": "bad_json"})
    assert stream.post({"type": "auth"}) == (400, {"error": "bad_frame"})
    assert stream.post(None, raw=b'"' + b"x" * 70000 + b'"') == (413, {"error": "too_large"})
    gone = "f" * 48
    headers = {"X-Pushapp-Proof": "x"}
    assert http_call(base, "POST", f"/ws/push/sse/{gone}/", b"{}", headers)[0] == 403
    assert stream.post(ping) == (204, None)
    assert next_of(stream, "pong") == {"type": "pong"}

    stream.close()  # the server notices the client left: its client id is unknown from then on
    wait_until(lambda: stream.post(ping)[0] == 404, "the closed stream's client id is unknown")
    fresh = open_stream(streams, base, uid="u4")
    c.producer.call("send_to_uid", "u4", "still serving")
    assert next_of(fresh, "push")["data"] == "still serving"


def test_a_server_shutting_down_sends_event_close(cluster: ClusterFactory, streams: list[SseStream]) -> None:
    c = cluster("core", servers=1, env=env())
    stream = open_stream(streams, c.servers[0].http_url, uid="u5")
    c.servers[0].terminate()
    fields = stream.event()
    while fields.get("event") != "close":
        fields = stream.event()
    assert json.loads(fields["data"]) == {"code": 1012, "reason": "service_restart"}
    with pytest.raises(ConnectionError):
        stream.event()


def test_revocation_and_token_expiry_close_the_stream_with_their_codes(
    cluster: ClusterFactory, streams: list[SseStream]
) -> None:
    settings = {"TOKEN_MAX_AGE": 3, "PING_INTERVAL": 0.2, "PING_NOT_RESPONSE_LIMIT": 1}
    c = cluster("core", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(settings)})
    base = c.servers[0].http_url
    revoked = open_stream(streams, base, uid="u6")
    expiring = open_stream(streams, base, uid="u7")
    c.producer.call("revoke_uid", "u6")
    assert next_of(revoked, "sse.close") == {"type": "sse.close", "code": 4008, "reason": "revoked"}
    # Its heartbeats keep the stream from the sweep (a stream's client sends no pings) until its token
    # expires: then 4002, like a WebSocket's.
    assert next_of(expiring, "sse.close") == {"type": "sse.close", "code": 4002, "reason": "token_expired"}


def test_heartbeat_comments_flow(cluster: ClusterFactory, streams: list[SseStream]) -> None:
    c = cluster("core", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps({"PING_INTERVAL": 0.2})})
    stream = open_stream(streams, c.servers[0].http_url, uid="u8")
    while stream.response.readline() != b": ping\n":  # the read timeout is the deadline
        pass


def test_a_pushserve_drain_tells_the_stream_when_then_closes_it_1012(
    redis_url: str, prefix: str, migrated_db: Path, tmp_path: Path, streams: list[SseStream]
) -> None:
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_db, db)
    config = ProcessConfig(redis_url, layer="pubsub", prefix=prefix, db_path=str(db))
    server = PushServe(config, workers=1, drain=1)
    try:
        stream = open_stream(streams, server.http_url, uid="u9")
        server.signal(signal.SIGTERM)
        assert next_of(stream, "reconnect")["delay"] == 0.0
        assert next_of(stream, "sse.close") == {
            "type": "sse.close",
            "code": 1012,
            "reason": "service_restart",
        }
    finally:
        server.stop()


def test_per_ip_and_frame_rate_limits_apply_as_on_a_websocket(
    cluster: ClusterFactory, streams: list[SseStream]
) -> None:
    settings = {"MAX_CONNECTIONS_PER_IP": 1, "CLIENT_FRAMES_PER_SECOND": 1}
    c = cluster("core", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(settings)})
    base = c.servers[0].http_url
    first = open_stream(streams, base, uid="u10")
    assert first.welcome["type"] == "welcome"
    refused = open_stream(streams, base, uid="u10")
    assert refused.welcome == {"type": "sse.close", "code": 4006, "reason": "too_many_connections"}

    statuses = [first.post({"type": "ping"})[0] for _ in range(10)]  # a burst of twice the rate passes
    assert statuses[:2] == [204, 204] and set(statuses) <= {204, 404}
    assert next_of(first, "sse.close") == {"type": "sse.close", "code": 4007, "reason": "rate_limited"}


def test_a_stream_that_is_not_read_is_closed_4005(cluster: ClusterFactory, streams: list[SseStream]) -> None:
    c = cluster("core", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps({"MAX_BUFFERED_BYTES": 262144})})
    stalled = open_stream(streams, c.servers[0].http_url, uid="stalled")
    chunk = "x" * 65536

    def let_go() -> bool:
        c.producer.call("send_to_uid", "stalled", chunk)
        return not c.producer.call("is_online", stalled.client_id)

    wait_until(let_go, "the stalled stream closed", timeout=60, interval=0)
    # What it was sent, then the close, once it reads again.
    assert next_of(stalled, "sse.close") == {"type": "sse.close", "code": 4005, "reason": "too_slow"}
