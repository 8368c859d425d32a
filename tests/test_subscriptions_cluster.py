"""Subscriptions on a real daphne server: the hook runs there, and the membership it grants is the
cluster's, as after join_group: another process's send and queries see it."""

from __future__ import annotations

import json

from tests.conftest import ClusterFactory
from tests.support.wsclients import PushSocket


def test_a_subscription_on_one_server_is_a_membership_everywhere(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    hook = {"AUTHORIZE_SUBSCRIBE": "tests.test_subscriptions.can_subscribe"}
    c = cluster("pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(hook)})
    page = PushSocket(c.servers[0].ws_url(), uid=5)
    sockets.append(page)
    page.send({"type": "subscribe", "group": "user:5:orders"})
    assert page.recv() == {"type": "subscribed", "group": "user:5:orders"}
    page.send({"type": "subscribe", "group": "user:6:orders"})
    refused = page.recv()
    assert (refused["code"], refused["group"]) == ("subscribe_refused", "user:6:orders")
    assert c.producer.call("get_client_id_list_by_group", "user:5:orders") == [page.client_id]
    assert c.producer.call("get_all_group_id_list") == ["user:5:orders"]
    c.producer.call("send_to_group", "user:5:orders", {"order": 1})
    assert page.recv() == {"order": 1}
