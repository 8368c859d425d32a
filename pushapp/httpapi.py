"""``POST …/api/``: the gateway over HTTP, for services written in other languages (docs/http-api.md).

A request carries a batch, ``{"commands": [{"method": "send_to_uid", "params": {…}}, …]}``, and is
authenticated by an API key from ``PUSHAPP["API_KEYS"]`` in ``Authorization: apikey <key>``; no cookie, so
no CSRF. The whole batch is checked before anything runs: a malformed request, an unknown method or a bad
parameter is a 400 naming it, and nothing was done. Then each command runs in order; consecutive sends go
out together (one pipelined Redis write on the pub/sub layer). The answer has one result or error per
command.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import gateway, queries
from .conf import push_settings
from .exceptions import SessionTooLarge
from .gatewayclient import Gateway
from .protocol.frames import loads
from .protocol.names import normalize_uid, validate_client_id, validate_group
from .sender.ops import Op
from .sender.plans import SEND_PLANS
from .sender.publish import publish

logger = logging.getLogger(__name__)

OPERATIONS = (
    "close_client",
    "destroy_client",
    "bind_uid",
    "unbind_uid",
    "join_group",
    "leave_group",
    "set_session",
    "update_session",
    "get_session",
    "get_acked_offset",
)

#: Every method by its Python name: the sync gateway function.
METHODS: dict[str, Callable[..., Any]] = {
    name: getattr(gateway, name) for name in [*SEND_PLANS, *OPERATIONS, *queries.PLANS]
}

#: GatewayClient's camelCase names → the Python names.
ALIASES: dict[str, str] = {
    attr: value.__name__ for attr, value in vars(Gateway).items() if not attr.startswith("_")
}


def method_name(name: object) -> str | None:
    """The Python name of a method given by either name; None if there is no such method."""
    if not isinstance(name, str):
        return None
    name = ALIASES.get(name, name)
    return name if name in METHODS else None


class BadRequest(Exception):
    def __init__(self, code: str, detail: str, status: int = 400, command: int | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status, self.command = code, detail, status, command

    def response(self) -> JsonResponse:
        body: dict[str, Any] = {"error": self.code, "detail": self.detail}
        if self.command is not None:
            body["command"] = self.command
        return JsonResponse(body, status=self.status)


def _allowed_methods(request: HttpRequest) -> set[str] | None:
    """The methods the request's key may call (None: all); BadRequest 401 for a missing or unknown key.

    Every configured key is compared, in constant time, so the answer's timing tells nothing about them.
    """
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "apikey" or not given.strip():
        raise BadRequest("bad_key", "Send 'Authorization: apikey <key>', a key of PUSHAPP['API_KEYS'].", 401)
    given = given.strip()
    found: Any = None
    matched = False
    for key, methods in push_settings.API_KEYS.items():
        if constant_time_compare(given, str(key)) and not matched:
            matched, found = True, methods
    if not matched:
        raise BadRequest("bad_key", "This API key is not in PUSHAPP['API_KEYS'].", 401)
    if found == "*":
        return None
    return {name for name in map(method_name, found) if name is not None}


def _commands(request: HttpRequest) -> list[Any]:
    limit = push_settings.API_MAX_BODY_SIZE
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BadRequest("body_too_large", f"The body is larger than {limit} bytes (API_MAX_BODY_SIZE).")
    try:
        data = loads(body)
    except ValueError as err:
        raise BadRequest("bad_json", f"The body is not JSON: {err}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("commands"), list):
        raise BadRequest("bad_body", 'The body must be {"commands": [{"method": …, "params": {…}}, …]}.')
    commands: list[Any] = data["commands"]
    if len(commands) > push_settings.API_MAX_COMMANDS:
        raise BadRequest(
            "too_many_commands",
            f"{len(commands)} commands; one request may carry {push_settings.API_MAX_COMMANDS}.",
        )
    return commands


def _check_operation_params(arguments: Mapping[str, Any]) -> None:
    """What the per-connection operations validate, checked before the batch runs."""
    if "client_id" in arguments:
        validate_client_id(arguments["client_id"])
    if arguments.get("uid") is not None:
        normalize_uid(arguments["uid"])
    if "group" in arguments:
        validate_group(arguments["group"])
    if "session" in arguments and not isinstance(arguments["session"], dict):
        raise TypeError("session must be a JSON object")


class Command:
    """One checked command: its method and parameters, and for a send its layer operations."""

    def __init__(self, index: int, raw: Any, allowed: set[str] | None) -> None:
        if not isinstance(raw, dict) or not isinstance(raw.get("params", {}), dict):
            raise BadRequest("bad_command", 'A command is {"method": "…", "params": {…}}.', command=index)
        name = method_name(raw.get("method"))
        if name is None:
            raise BadRequest("unknown_method", f"No method {raw.get('method')!r}.", command=index)
        if allowed is not None and name not in allowed:
            raise BadRequest("forbidden_method", f"This API key may not call {name}.", 403, index)
        self.name = name
        self.params: dict[str, Any] = raw.get("params", {})
        self.ops: list[Op] | None = None
        try:
            bound = inspect.signature(METHODS[name]).bind(**self.params)
            if name in SEND_PLANS:
                self.ops = SEND_PLANS[name](**self.params)
            elif name in queries.PLANS:
                queries.PLANS[name](**self.params)
            else:
                _check_operation_params(bound.arguments)
        except (TypeError, ValueError) as err:
            raise BadRequest("bad_params", f"{name}: {err}", command=index) from None

    def run(self) -> Any:
        return METHODS[self.name](**self.params)


def _failed(err: Exception) -> dict[str, Any]:
    if isinstance(err, SessionTooLarge):  # the caller's input, not a failure of the server's
        return {"error": {"code": "session_too_large", "detail": str(err)}}
    logger.warning("pushapp HTTP API: a command failed", exc_info=err)
    return {"error": {"code": "failed", "detail": f"{type(err).__name__}: {err}"}}


def _send_all(sends: list[Command], results: list[dict[str, Any]]) -> None:
    """Carry out consecutive sends together, and wait until they are written, to report failures."""
    if not sends:
        return
    try:
        publish([op for command in sends for op in command.ops or ()])
        gateway.flush()
        outcome: dict[str, Any] = {"result": None}
    except Exception as err:
        outcome = _failed(err)
    results += [outcome] * len(sends)
    sends.clear()


@csrf_exempt  # called by services holding a key, never by browsers holding a session
@never_cache
def api(request: HttpRequest) -> JsonResponse:
    try:
        if request.method != "POST":
            raise BadRequest("method_not_allowed", "POST a JSON body.", 405)
        allowed = _allowed_methods(request)
        commands = [Command(i, raw, allowed) for i, raw in enumerate(_commands(request))]
    except BadRequest as err:
        response = err.response()
        if err.status == 401:
            response["WWW-Authenticate"] = "apikey"
        elif err.status == 405:
            response["Allow"] = "POST"
        return response
    results: list[dict[str, Any]] = []
    sends: list[Command] = []
    for command in commands:
        if command.ops is not None:
            sends.append(command)
            continue
        _send_all(sends, results)
        try:
            results.append({"result": command.run()})
        except Exception as err:
            results.append(_failed(err))
    _send_all(sends, results)
    return JsonResponse({"results": results})
