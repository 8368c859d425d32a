"""pushapp's daphne integration trims autobahn's per-connection costs without changing what it does."""

from __future__ import annotations

import pprint
import re

from daphne.ws_protocol import WebSocketFactory

from pushapp.server.sockets.daphne import _Later, _lean_protocols


def test_the_protocol_class_carries_the_factory_settings_and_log_arguments_wait() -> None:
    import autobahn.twisted.websocket as twisted_websocket
    import autobahn.websocket.protocol as websocket_protocol

    factory = WebSocketFactory(None)
    factory.setProtocolOptions(autoPingTimeout=7, allowNullOrigin=True)
    original = factory.protocol
    _lean_protocols(factory)
    lean = factory.protocol
    assert issubclass(lean, original) and lean is not original
    assert lean.__module__ == "daphne.ws_protocol"  # how pushapp recognises daphne's protocol
    assert (lean.autoPingTimeout, lean.allowNullOrigin) == (7, True)
    assert lean.perMessageCompressionAccept(["offer"]) is None  # a function stays a plain function

    logged = websocket_protocol.pformat([("autoPingTimeout", 7, "WebSocketFactory")])
    assert isinstance(logged, _Later)  # made only if a debug line is written
    assert f"{logged}" == pprint.pformat([("autoPingTimeout", 7, "WebSocketFactory")])
    assert websocket_protocol.pformat({"a": 1}) == "{'a': 1}"  # Timings.__str__ needs a str at once
    for module in (websocket_protocol, twisted_websocket):
        assert "_lean_protocols" in f"{module.hltype(_lean_protocols)}"
        assert re.sub(r"\x1b\[[0-9;]*m", "", f"{module.hlval(3)}") == "3"  # click's colours aside

    _lean_protocols(factory)  # once per server
    assert factory.protocol is lean
