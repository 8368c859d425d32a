"""GatewayClient names map onto the pushapp functions."""

from __future__ import annotations

from pushapp import gateway
from pushapp.gatewayclient import Gateway


def test_camel_case_names() -> None:
    assert Gateway.sendToUid is gateway.send_to_uid
    assert Gateway.destoryClient is gateway.destroy_client  # GatewayClient's spelling
    assert Gateway.destroyClient is gateway.destroy_client
    assert Gateway.getSession is gateway.get_session
    assert Gateway.joinGroup is gateway.join_group
