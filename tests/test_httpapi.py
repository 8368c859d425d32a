"""The HTTP API: keys, batches, one result per command, and nothing run when the request is bad."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import AsyncClient, Client, override_settings

from pushapp.protocol.frames import MAX_JSON_DEPTH
from pushapp.protocol.names import new_client_id, new_node_id
from pushapp.testing import PushClient, Pushes
from tests.conftest import ClusterFactory
from tests.support.communicators import clean_hub  # noqa: F401
from tests.support.wsclients import PushSocket

KEY = "k-all"
KEYS = {KEY: "*", "k-send": ["send_to_uid", "sendToGroup"]}

pytestmark = pytest.mark.usefixtures("db")


@pytest.fixture(autouse=True)
def api_keys() -> Any:
    with override_settings(PUSHAPP={"API_KEYS": KEYS, "API_MAX_COMMANDS": 3, "API_MAX_BODY_SIZE": 2000}):
        yield


def post(body: Any, key: str | None = KEY, raw: str | None = None) -> Any:
    headers = {} if key is None else {"Authorization": f"apikey {key}"}
    data = raw if raw is not None else json.dumps(body)
    return Client().post("/pushapp/api/", data, content_type="application/json", headers=headers)


def cid() -> str:
    return new_client_id(new_node_id())


def test_a_batch_runs_in_order_with_one_result_each(pushes: Pushes) -> None:
    client = cid()
    response = post(
        {
            "commands": [
                {"method": "send_to_uid", "params": {"uid": 42, "data": {"hi": 1}}},
                {"method": "joinGroup", "params": {"client_id": client, "group": "room"}},
                {"method": "send_to_group", "params": {"group": "room", "data": "hello"}},
            ]
        }
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"results": [{"result": None}, {"result": True}, {"result": None}]}
    pushes.assert_sent(to_uid="42", data={"hi": 1})
    pushes.assert_sent(to_group="room", data="hello")
    pushes.assert_operation("join_group", client, "room")


def test_queries_answer(pushes: Pushes) -> None:
    response = post({"commands": [{"method": "is_uid_online", "params": {"uid": "nobody"}}]})
    assert response.json() == {"results": [{"result": False}]}


@pytest.mark.parametrize(
    "key, status", [(None, 401), ("", 401), ("wrong", 401), ("k-al", 401), ("k-all-", 401)]
)
def test_a_bad_key_is_401_and_runs_nothing(pushes: Pushes, key: str | None, status: int) -> None:
    response = post({"commands": [{"method": "send_to_uid", "params": {"uid": 1, "data": 1}}]}, key=key)
    assert response.status_code == status
    assert response.json()["error"] == "bad_key"
    assert response["WWW-Authenticate"] == "apikey"
    pushes.assert_nothing_sent()


def test_the_scheme_must_be_apikey(pushes: Pushes) -> None:
    response = Client().post(
        "/pushapp/api/", "{}", content_type="application/json", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 401


def test_a_key_calls_only_its_methods(pushes: Pushes) -> None:
    ok = post({"commands": [{"method": "sendToGroup", "params": {"group": "g", "data": 1}}]}, key="k-send")
    assert ok.status_code == 200
    refused = post(
        {
            "commands": [
                {"method": "send_to_uid", "params": {"uid": 1, "data": 1}},
                {"method": "send_to_all", "params": {"data": 1}},
            ]
        },
        key="k-send",
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "forbidden_method",
        "detail": "This API key may not call send_to_all.",
        "command": 1,
    }
    assert len(pushes.sent) == 1  # only the first request's


@pytest.mark.parametrize(
    "body, code, command",
    [
        (
            {"commands": [{"method": "send_to_uid", "params": {"uid": 1, "data": 1}}, {"method": "nope"}]},
            "unknown_method",
            1,
        ),
        ({"commands": [{"method": "send_to_uid", "params": {"uid": 1}}]}, "bad_params", 0),
        ({"commands": [{"method": "send_to_uid", "params": {"uid": 1, "data": 1, "x": 2}}]}, "bad_params", 0),
        ({"commands": [{"method": "send_to_uid", "params": {"uid": True, "data": 1}}]}, "bad_params", 0),
        (
            {"commands": [{"method": "join_group", "params": {"client_id": "x", "group": "g"}}]},
            "bad_params",
            0,
        ),
        (
            {"commands": [{"method": "join_group", "params": {"client_id": cid(), "group": ""}}]},
            "bad_params",
            0,
        ),
        (
            {"commands": [{"method": "set_session", "params": {"client_id": cid(), "session": [1]}}]},
            "bad_params",
            0,
        ),
        ({"commands": [{"method": "get_uid_list_by_group", "params": {"group": 5}}]}, "bad_params", 0),
        ({"commands": ["send_to_uid"]}, "bad_command", 0),
        ({"commands": [{"method": "send_to_uid", "params": [1]}]}, "bad_command", 0),
        ({"commands": {}}, "bad_body", None),
        ([], "bad_body", None),
        ({"commands": [{"method": "get_all_uid_count"}] * 4}, "too_many_commands", None),
    ],
)
def test_a_bad_batch_is_400_naming_the_problem_and_runs_nothing(
    pushes: Pushes, body: Any, code: str, command: int | None
) -> None:
    response = post(body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == code
    assert answer.get("command") == command
    assert answer["detail"]
    pushes.assert_nothing_sent()
    assert pushes.operations == []


def test_bad_json_and_oversize_bodies_are_400(pushes: Pushes) -> None:
    assert post(None, raw="{").json()["error"] == "bad_json"
    big = {"commands": [{"method": "send_to_uid", "params": {"uid": 1, "data": "x" * 3000}}]}
    response = post(big)
    assert (response.status_code, response.json()["error"]) == (400, "body_too_large")
    pushes.assert_nothing_sent()


def test_bodies_nested_past_max_json_depth_are_400_bad_json(pushes: Pushes) -> None:
    """Not a 500 with a traceback, and the same on every Python (pushapp's limit, not the parser's)."""
    params = '{"uid": 1, "data": ' + "[" * (MAX_JSON_DEPTH - 4) + "]" * (MAX_JSON_DEPTH - 4) + "}"
    fits = '{"commands": [{"method": "send_to_uid", "params": ' + params + "}]}"
    assert post(None, raw=fits).status_code == 200
    for depth in (MAX_JSON_DEPTH + 1, 1000):
        response = post(None, raw="[" * depth + "]" * depth)
        assert (response.status_code, response.json()["error"]) == (400, "bad_json")
    assert len(pushes.sent) == 1


def test_only_post(pushes: Pushes) -> None:
    response = Client().get("/pushapp/api/", headers={"Authorization": f"apikey {KEY}"})
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_no_csrf_token_is_needed(pushes: Pushes) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/pushapp/api/",
        json.dumps({"commands": [{"method": "send_to_all", "params": {"data": 1}}]}),
        content_type="application/json",
        headers={"Authorization": f"apikey {KEY}"},
    )
    assert response.status_code == 200


def test_no_keys_configured_refuses_everything(pushes: Pushes) -> None:
    with override_settings(PUSHAPP={}):
        assert post({"commands": []}).status_code == 401


def test_a_failing_command_reports_its_error_and_the_others_run(
    pushes: Pushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pushapp import httpapi

    def broken(**params: Any) -> Any:
        raise ConnectionError("redis is away")

    monkeypatch.setitem(httpapi.METHODS, "get_all_uid_count", broken)
    response = post(
        {
            "commands": [
                {"method": "get_all_uid_count"},
                {"method": "send_to_uid", "params": {"uid": 1, "data": 1}},
            ]
        }
    )
    results = response.json()["results"]
    assert results[0] == {"error": {"code": "failed", "detail": "ConnectionError: redis is away"}}
    assert results[1] == {"result": None}
    pushes.assert_sent(to_uid=1, data=1)


@pytest.mark.parametrize(
    "keys, ok",
    [
        ({"a": "*"}, True),
        ({"a": ["send_to_uid", "isUidOnline"]}, True),
        ({"a": ["send_to_nobody"]}, False),
        ({"a": "send_to_uid"}, False),
        ({"": "*"}, False),
    ],
)
def test_check_e020(keys: dict[str, Any], ok: bool) -> None:
    with override_settings(PUSHAPP={"API_KEYS": keys}):
        ids = [m.id for m in run_checks()]
    assert ("pushapp.E020" not in ids) is ok


async def test_a_post_reaches_a_connected_client(clean_hub: None) -> None:  # noqa: F811
    async with PushClient(uid=7) as client:
        response = await AsyncClient().post(
            "/pushapp/api/",
            json.dumps({"commands": [{"method": "send_to_uid", "params": {"uid": "7", "data": {"n": 1}}}]}),
            content_type="application/json",
            headers={"Authorization": f"apikey {KEY}"},
        )
        assert response.status_code == 200
        assert await client.receive() == {"n": 1}


async def test_a_session_update_over_max_session_size_is_that_commands_error(clean_hub: None) -> None:  # noqa: F811
    async with PushClient(uid=7) as client:
        commands = [
            {
                "method": "update_session",
                "params": {"client_id": client.client_id, "session": {"a": "x" * 60}},
            },
            {
                "method": "update_session",
                "params": {"client_id": client.client_id, "session": {"b": "y" * 60}},
            },
        ]
        with override_settings(PUSHAPP={"API_KEYS": {KEY: "*"}, "MAX_SESSION_SIZE": 100}):
            response = await AsyncClient().post(
                "/pushapp/api/",
                json.dumps({"commands": commands}),
                content_type="application/json",
                headers={"Authorization": f"apikey {KEY}"},
            )
        first, second = response.json()["results"]
        assert first == {"result": True}
        assert second["error"]["code"] == "session_too_large"


def test_curl_to_one_server_pushes_to_a_socket_on_another(
    cluster: ClusterFactory, layer: str, sockets: list[PushSocket]
) -> None:
    """What a PHP or Node service does: one POST, to any server process, reaches the user anywhere."""
    env = {"PUSHAPP_TEST_SETTINGS": json.dumps({"API_KEYS": {"secret": ["send_to_uid", "is_uid_online"]}})}
    c = cluster(layer, producer=False, env=env)
    socket = PushSocket(c.servers[1].ws_url(), uid="u9")
    sockets.append(socket)
    body = {
        "commands": [
            {"method": "isUidOnline", "params": {"uid": "u9"}},
            {"method": "send_to_uid", "params": {"uid": "u9", "data": {"from": "php"}}},
        ]
    }
    request = urllib.request.Request(
        c.servers[0].http_url + "/pushapp/api/",
        data=json.dumps(body).encode(),
        headers={"Authorization": "apikey secret", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"results": [{"result": True}, {"result": None}]}
    assert socket.recv() == {"from": "php"}
    request.add_header("Authorization", "apikey wrong")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    refused.value.close()
