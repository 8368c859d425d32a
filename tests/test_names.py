"""Names: ids are routable and unguessable; any uid or group maps onto a valid channel-layer name."""

from __future__ import annotations

import re

import pytest
from channels.layers import BaseChannelLayer

from pushapp.protocol.names import (
    group_layer_group,
    new_client_id,
    new_node_id,
    node_of,
    normalize_uid,
    one_or_many,
    uid_layer_group,
)


def test_client_id_routes_to_its_node() -> None:
    node = new_node_id()
    cid = new_client_id(node)
    assert re.fullmatch(r"[0-9a-f]{48}", cid)
    assert node_of(cid) == node
    assert len({new_client_id(node) for _ in range(1000)}) == 1000


@pytest.mark.parametrize("name", ["ann@example.com", "研发部", "x" * 1024, "a b/c:d*", "💥"])
def test_layer_names_are_valid_for_any_name(name: str) -> None:
    layer = BaseChannelLayer()
    for mapped in (group_layer_group(name), uid_layer_group(name)):
        assert layer.require_valid_group_name(mapped)
        assert len(mapped) < 100
    assert group_layer_group(name) != uid_layer_group(name)


def test_uids_are_strings() -> None:
    assert normalize_uid(42) == normalize_uid("42") == "42"


def test_one_or_many() -> None:
    assert one_or_many("a") == ["a"]
    assert one_or_many(["a", "b"]) == ["a", "b"]
    assert one_or_many(("a",)) == ["a"]
