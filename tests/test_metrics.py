"""The metrics/ scrape URL: never open, guarded by a bearer token and/or an IP allow-list, and what it shows.

In one process (the memory presence backend) here; tests/test_pushserve.py scrapes a real pushserve.
"""

from __future__ import annotations

import os
import socket
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.core.checks import run_checks
from django.test import Client as HttpClient
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from pushapp.runtime import telemetry
from pushapp.server import limits
from pushapp.server.hub import running_hub
from tests.support.communicators import clean_hub, connect

URL = "/pushapp/metrics/"


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels (parsed by prometheus-client itself)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_without_protection_the_url_does_not_exist() -> None:
    assert HttpClient().get(URL).status_code == 404


@override_settings(PUSHAPP={"METRICS_TOKEN": "s3cret"})
def test_the_token_is_required_as_a_bearer_header() -> None:
    client = HttpClient()
    missing = client.get(URL)
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get(URL, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(URL, headers={"Authorization": "Basic s3cret"}).status_code == 401
    ok = client.get(URL, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain; version=0.0.4")
    assert client.post(URL, headers={"Authorization": "Bearer s3cret"}).status_code == 405


@override_settings(PUSHAPP={"METRICS_ALLOWED_IPS": ["10.0.0.0/8", "::1"]})
def test_the_ip_allow_list() -> None:
    assert HttpClient(REMOTE_ADDR="10.1.2.3").get(URL).status_code == 200
    assert HttpClient(REMOTE_ADDR="::1").get(URL).status_code == 200
    assert HttpClient(REMOTE_ADDR="192.168.1.1").get(URL).status_code == 403


@override_settings(PUSHAPP={"METRICS_ALLOWED_IPS": ["127.0.0.1"], "METRICS_TOKEN": "t"})
def test_with_both_a_scrape_must_pass_both() -> None:
    assert HttpClient(REMOTE_ADDR="127.0.0.1").get(URL).status_code == 401
    assert (
        HttpClient(REMOTE_ADDR="10.0.0.1").get(URL, headers={"Authorization": "Bearer t"}).status_code == 403
    )
    assert (
        HttpClient(REMOTE_ADDR="127.0.0.1").get(URL, headers={"Authorization": "Bearer t"}).status_code == 200
    )


def _metrics_errors() -> list[str]:
    return [e.id for e in run_checks() if e.id in ("pushapp.E008", "pushapp.E009")]


def test_checks_for_bad_networks_and_a_missing_prometheus_client() -> None:
    with override_settings(PUSHAPP={"METRICS_ALLOWED_IPS": ["10.0.0.0/8", "not-a-net"]}):
        assert _metrics_errors() == ["pushapp.E009"]
    with (
        override_settings(PUSHAPP={"METRICS_TOKEN": "t"}),
        mock.patch("pushapp.checks.importlib.util.find_spec", return_value=None),
    ):
        assert _metrics_errors() == ["pushapp.E008"]
    with override_settings(PUSHAPP={"METRICS_TOKEN": "t"}):
        assert _metrics_errors() == []


@pytest.mark.usefixtures(clean_hub.__name__)
@override_settings(PUSHAPP={"METRICS_TOKEN": "t"})
async def test_the_scrape_shows_each_node_the_totals_and_this_process() -> None:
    before = telemetry.stats.client_messages
    a = await connect(uid="ann", groups=("lobby",))
    b = await connect(uid="bob", groups=("lobby", "room"))
    await a.send({"type": "message", "data": 1})
    hub = running_hub()
    assert hub is not None
    hub.counters.delivered = 7
    closes_before = telemetry.stats.closes["4004"]
    telemetry.stats.recoveries["recovered"] += 1  # as a reconnect with history would count it
    limits.refused["frame_rate"] += 1  # as a client sending too fast would count it
    await hub.close(hub.registry.get(b.client_id), 4004)  # type: ignore[arg-type]

    def scrape() -> bytes:
        response = HttpClient().get(URL, headers={"Authorization": "Bearer t"})
        assert response.status_code == 200
        return bytes(response.content)

    await a.send({"type": "message", "data": 2})
    await a.send({"type": "ping"})
    assert await a.receive() == {"type": "pong"}  # the consumer has handled both frames
    got = samples(await sync_to_async(scrape)())
    node = (("node", hub.node_id),)
    assert got[("pushapp_connections", node)] == 1
    assert got[("pushapp_uids", node)] == 1
    assert got[("pushapp_groups", node)] == 1
    assert got[("pushapp_deliveries_total", node)] == 7
    assert got[("pushapp_client_messages_total", node)] == before + 2
    assert got[("pushapp_closes_total", (("code", "4004"), *node))] == closes_before + 1
    recovered = got.get(("pushapp_recoveries_total", (*node, ("result", "recovered"))), 0.0)
    assert recovered == telemetry.stats.recoveries["recovered"]
    assert got[("pushapp_refused_total", (*node, ("reason", "frame_rate")))] == limits.refused["frame_rate"]
    assert ("pushapp_dropped_bytes_total", node) in got
    info = got[
        (
            "pushapp_node_info",
            tuple(
                sorted(
                    {
                        "node": hub.node_id,
                        "host": socket.gethostname(),
                        "pid": str(os.getpid()),
                        "service": "",
                        "bind": "",
                        "worker": "",
                        "generation": "",
                    }.items()
                )
            ),
        )
    ]
    assert info == 1
    assert got[("pushapp_cluster_nodes", ())] == 1
    assert got[("pushapp_cluster_connections", ())] == 1
    assert got[("pushapp_cluster_uids", ())] == 1
    assert got[("pushapp_cluster_groups", ())] == 1
    process = (("process", f"{socket.gethostname()}:{os.getpid()}"),)
    assert got[("pushapp_control_call_seconds_count", process)] >= 0
    assert ("pushapp_sync_send_queue_depth", process) in got
    assert ("pushapp_sync_send_failures_total", process) in got
    assert ("pushapp_send_dropped_total", (*process, ("reason", "limit"))) in got
    await a.close()
    await b.close()


@pytest.mark.usefixtures(clean_hub.__name__)
@override_settings(PUSHAPP={"METRICS_TOKEN": "t"})
async def test_refused_authentications_are_counted_by_reason() -> None:
    from tests.support.communicators import open_socket

    before = telemetry.stats.auth_failures["InvalidToken"]
    communicator = await open_socket()
    await communicator.send_to(text_data='{"type": "auth", "token": "forged:token"}')
    assert (await communicator.receive_output(3))["code"] == 4001
    assert telemetry.stats.auth_failures["InvalidToken"] == before + 1
