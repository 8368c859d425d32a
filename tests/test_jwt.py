"""JWTAuthenticator: JSON Web Tokens minted by another system (HS256, RS256, ES256), with a configured key
or the keys of a JWKS URL (a real HTTP server here, its requests counted), pushapp's clock-skew rule, 4001
for a bad token and 4002 for an expired one; and a token minted by Node's built-in crypto connecting to
a real daphne server and receiving a push."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.checks import CheckMessage
from django.test import override_settings

from pushapp import checks, gateway
from pushapp.authn import jwks as jwks_module
from pushapp.authn.jwks import KeySet
from pushapp.authn.jwt import JWTVerifier, KeysUnavailable
from pushapp.codes import CloseCode
from pushapp.exceptions import InvalidToken, TokenExpired
from pushapp.tokens import CLOCK_SKEW
from tests.conftest import ClusterFactory
from tests.support.communicators import Client, clean_hub, open_socket
from tests.support.wsclients import PushSocket, closed_with

REPO = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
MINT = REPO / "tests" / "js" / "mint_jwt.js"

SECRET = "a-shared-secret-of-at-least-32-bytes!"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
AUTHENTICATOR = "pushapp.auth.JWTAuthenticator"


def pem(key: Any, private: bool = False) -> str:
    if private:
        return str(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
        )
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "42", "iat": now, "exp": now + 600, **extra}


def mint(key: Any = SECRET, alg: str = "HS256", kid: str | None = None, **extra: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**extra), key, algorithm=alg, headers=headers)


def settings_for(**jwt_settings: Any) -> dict[str, Any]:
    return {"AUTHENTICATOR": AUTHENTICATOR, "JWT": jwt_settings}


HS256 = settings_for(ALGORITHMS=["HS256"], KEY=SECRET)
RS256 = settings_for(ALGORITHMS=["RS256"], KEY=pem(RSA_KEY))


def verify(token: str, pushapp: dict[str, Any], verifier: JWTVerifier | None = None) -> Any:
    with override_settings(PUSHAPP=pushapp):
        return (verifier or JWTVerifier()).verify(token)


# -- a configured key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pushapp", "key", "alg"),
    [
        (HS256, SECRET, "HS256"),
        (RS256, RSA_KEY, "RS256"),
        (settings_for(ALGORITHMS=["ES256"], KEY=pem(EC_KEY)), EC_KEY, "ES256"),
    ],
)
def test_a_good_token_is_its_subs_identity(pushapp: dict[str, Any], key: Any, alg: str) -> None:
    token = mint(key, alg, groups=["room:1", "staff"])
    payload = jwt.decode(token, options={"verify_signature": False})
    identity = verify(token, pushapp)
    assert (identity.uid, identity.groups) == ("42", ("room:1", "staff"))
    assert (identity.issued, identity.expires) == (payload["iat"], payload["exp"])


def test_a_bad_signature_is_4001() -> None:
    with pytest.raises(InvalidToken) as refused:
        verify(mint("another-secret-of-at-least-32-bytes!!"), HS256)
    assert refused.value.close_code == CloseCode.AUTH_FAILED == 4001
    assert not isinstance(refused.value, TokenExpired)
    with pytest.raises(InvalidToken):
        verify(mint(RSA_KEY, "RS256")[:-4] + "AAAA", RS256)
    with pytest.raises(InvalidToken):
        verify("not.a.jwt", HS256)


def _hs256_signed_with(secret: bytes, payload: dict[str, Any]) -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    head = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}"
    signature = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    return f"{head}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def test_algorithm_confusion_and_none_are_refused() -> None:
    """An HS256 token whose secret is the RSA public key (which anyone may have) is refused, even with
    HS256 allowed next to RS256 (a configuration the checks refuse, E051); so is alg "none"."""
    forged = _hs256_signed_with(pem(RSA_KEY).encode(), claims(sub="admin"))
    with pytest.raises(InvalidToken, match="not allowed"):
        verify(forged, RS256)
    with pytest.raises(InvalidToken):
        verify(forged, settings_for(ALGORITHMS=["RS256", "HS256"], KEY=pem(RSA_KEY)))
    unsigned = jwt.encode(claims(), None, algorithm="none")
    for allowed in (["HS256"], ["HS256", "none"]):
        with pytest.raises(InvalidToken):
            verify(unsigned, settings_for(ALGORITHMS=allowed, KEY=SECRET))


def test_an_expired_token_is_4002() -> None:
    now = int(time.time())
    with pytest.raises(TokenExpired) as refused:
        verify(mint(iat=now - 700, exp=now - 1), HS256)
    assert refused.value.close_code == CloseCode.TOKEN_EXPIRED == 4002


def test_dates_ahead_follow_pushapps_clock_skew() -> None:
    """nbf and iat may be ahead of this server's clock by CLOCK_SKEW seconds, not more (4001)."""
    now = int(time.time())
    assert verify(mint(nbf=now + CLOCK_SKEW - 5, iat=now + CLOCK_SKEW - 5), HS256).uid == "42"
    for dated in ({"nbf": now + CLOCK_SKEW + 30}, {"iat": now + CLOCK_SKEW + 30}):
        with pytest.raises(InvalidToken, match="future") as refused:
            verify(mint(**dated), HS256)
        assert not isinstance(refused.value, TokenExpired)
    with pytest.raises(InvalidToken, match="nbf"):
        verify(mint(nbf="soon"), HS256)
    with pytest.raises(InvalidToken, match="exp"):  # JSON's NaN would never expire
        verify(mint(exp=float("nan")), HS256)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"sub": None}, "sub"),
        ({"exp": None}, "exp"),
        ({"sub": ""}, "uid"),
        ({"groups": "room:1"}, "not a list"),
        ({"groups": ["ok", 7]}, "group"),
        ({"groups": [""]}, "group"),
    ],
)
def test_a_token_without_a_valid_identity_is_4001(changes: dict[str, Any], why: str) -> None:
    payload = {k: v for k, v in {**claims(), **changes}.items() if v is not None}
    with pytest.raises(InvalidToken, match=why) as refused:
        verify(jwt.encode(payload, SECRET, algorithm="HS256"), HS256)
    assert refused.value.close_code == 4001


def test_audience_issuer_and_the_groups_claim() -> None:
    pushapp = settings_for(
        ALGORITHMS=["HS256"], KEY=SECRET, AUDIENCE="push", ISSUER="https://id.example", GROUPS_CLAIM="roles"
    )
    good = mint(aud="push", iss="https://id.example", roles=["editors"], groups=["ignored"])
    assert verify(good, pushapp).groups == ("editors",)
    for bad in (
        mint(aud="other", iss="https://id.example"),
        mint(aud="push", iss="https://evil.example"),
        mint(iss="https://id.example"),
    ):
        with pytest.raises(InvalidToken):
            verify(bad, pushapp)
    assert verify(mint(groups=["x"]), {**HS256, "JWT": {**HS256["JWT"], "GROUPS_CLAIM": None}}).groups == ()


# -- a JWKS URL ------------------------------------------------------------------------------------------


class JWKSServer:
    """A real HTTP server publishing a JWKS (``keys``, changeable) and counting the requests."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, key: Any, kid: str, alg: str) -> None:
        jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(key.public_key()))
        self.keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    server = JWKSServer()
    server.publish(RSA_KEY, "rsa-1", "RS256")
    server.publish(EC_KEY, "ec-1", "ES256")
    yield server
    server.close()


class Clock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def jwks_settings(url: str, **more: Any) -> dict[str, Any]:
    return settings_for(ALGORITHMS=["RS256", "ES256"], JWKS_URL=url, **more)


def test_jwks_keys_are_fetched_once_and_cached_for_their_ttl(jwks: JWKSServer) -> None:
    clock = Clock()
    verifier = JWTVerifier({jwks.url: KeySet(jwks.url, clock)})
    pushapp = jwks_settings(jwks.url, JWKS_CACHE=300)
    for _ in range(5):
        assert verify(mint(RSA_KEY, "RS256", kid="rsa-1"), pushapp, verifier).uid == "42"
        assert verify(mint(EC_KEY, "ES256", kid="ec-1"), pushapp, verifier).uid == "42"
    assert jwks.requests == 1
    clock.now += 301  # stale: fetched again
    verify(mint(RSA_KEY, "RS256", kid="rsa-1"), pushapp, verifier)
    assert jwks.requests == 2


def test_an_unknown_kid_refetches_at_most_once_per_interval(jwks: JWKSServer) -> None:
    """A rotated key is found by a refetch; made-up key ids cannot make the server hammer the URL."""
    clock = Clock()
    verifier = JWTVerifier({jwks.url: KeySet(jwks.url, clock)})
    pushapp = jwks_settings(jwks.url, JWKS_MIN_INTERVAL=30)
    verify(mint(RSA_KEY, "RS256", kid="rsa-1"), pushapp, verifier)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.publish(new_key, "rsa-2", "RS256")
    for kid in ("rsa-2", "made-up", "rsa-2", "another"):  # all within the interval: no fetch
        with pytest.raises(InvalidToken, match="no key"):
            verify(mint(new_key, "RS256", kid=kid), pushapp, verifier)
    assert jwks.requests == 1
    clock.now += 30
    assert verify(mint(new_key, "RS256", kid="rsa-2"), pushapp, verifier).uid == "42"
    assert jwks.requests == 2
    for _ in range(10):
        with pytest.raises(InvalidToken, match="no key"):
            verify(mint(new_key, "RS256", kid="made-up"), pushapp, verifier)
    assert jwks.requests == 2


def test_a_jwks_key_serves_its_own_algorithm_only(jwks: JWKSServer) -> None:
    """An HS256 token is refused before any key is looked at; an ES256 token naming the RSA key is too."""
    pushapp = jwks_settings(jwks.url)
    verifier = JWTVerifier()
    with pytest.raises(InvalidToken, match="not allowed"):
        verify(_hs256_signed_with(pem(RSA_KEY).encode(), claims()), pushapp, verifier)
    assert jwks.requests == 0
    with pytest.raises(InvalidToken):
        verify(mint(EC_KEY, "ES256", kid="rsa-1"), pushapp, verifier)


async def test_an_unreachable_jwks_closes_1013_and_is_not_hammered(
    jwks: JWKSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key fetched yet: try again later (1013); once it answers, tokens verify. The fetches run in
    another thread than the event loop's."""
    fetched_on: list[int] = []
    real_fetch = jwks_module.fetch_keys

    def fetch_keys(url: str, timeout: float) -> Any:
        fetched_on.append(threading.get_ident())
        return real_fetch(url, timeout)

    monkeypatch.setattr(jwks_module, "fetch_keys", fetch_keys)
    jwks.status = 500
    clock = Clock()
    verifier = JWTVerifier({jwks.url: KeySet(jwks.url, clock)})
    token = mint(RSA_KEY, "RS256", kid="rsa-1")
    with override_settings(PUSHAPP=jwks_settings(jwks.url, JWKS_MIN_INTERVAL=10)):
        for _ in range(5):
            with pytest.raises(KeysUnavailable) as refused:
                await verifier.averify(token)
            assert refused.value.close_code == CloseCode.TRY_AGAIN_LATER
        assert jwks.requests == 1
        jwks.status = 200
        clock.now += 10
        assert (await verifier.averify(token)).uid == "42"
        assert jwks.requests == 2
    assert len(fetched_on) == 2 and threading.get_ident() not in fetched_on


# -- the consumer: 4001, 4002, the expiry sweep and in-band refresh ---------------------------------------


async def auth(token: str) -> tuple[Any, Client | None]:
    communicator = await open_socket()
    await communicator.send_json_to({"type": "auth", "token": token})
    output = await communicator.receive_output(3)
    if output["type"] == "websocket.close":
        return output["code"], None
    welcome = json.loads(output["text"])
    return welcome, Client(communicator, welcome)


@pytest.mark.usefixtures(clean_hub.__name__)
async def test_the_consumer_closes_expired_jwt_connections_with_4002_unless_refreshed() -> None:
    quick_sweep = {"PING_INTERVAL": 0.1, "PING_NOT_RESPONSE_LIMIT": 1000}
    with override_settings(PUSHAPP={**HS256, **quick_sweep}):
        now = int(time.time())
        assert (await auth(mint(sub="late", iat=now - 100, exp=now - 1)))[0] == 4002
        assert (await auth(mint("another-secret-of-at-least-32-bytes!!")))[0] == 4001
        welcome, stale = await auth(mint(sub="s", exp=now + 2))
        assert welcome["uid"] == "s" and welcome["expires"] == now + 2
        _, fresh = await auth(mint(sub="f", exp=now + 60))
        assert stale is not None and fresh is not None
        await fresh.send({"type": "refresh", "token": mint(sub="f", exp=now + 600)})
        assert await fresh.receive() == {"type": "refreshed", "expires": now + 600}
        await fresh.send({"type": "refresh", "token": mint(sub="someone-else")})
        assert (await fresh.receive())["code"] == "refresh_refused"
        while (output := await stale.communicator.receive_output(10))["type"] != "websocket.close":
            pass
        assert output["code"] == 4002
        await gateway.asend_to_uid("f", "refreshed in time")
        assert await fresh.receive() == "refreshed in time"
        await fresh.close()


@pytest.mark.usefixtures(clean_hub.__name__)
async def test_revoke_uid_refuses_the_jwts_issued_before_it() -> None:
    """``iat`` is when a JWT was issued: a revocation closes the uid's connections with 4008 and refuses
    the JWTs issued before it; one issued after is welcome."""
    with override_settings(PUSHAPP=HS256):
        now = int(time.time())
        _, open_before = await auth(mint(sub="r", iat=now - 10))
        assert open_before is not None
        await gateway.arevoke_uid("r")
        while (output := await open_before.communicator.receive_output(5))["type"] != "websocket.close":
            pass
        assert output["code"] == 4008
        assert (await auth(mint(sub="r", iat=now - 10)))[0] == 4008
        welcome, after = await auth(mint(sub="r", iat=now + CLOCK_SKEW // 2))
        assert welcome["uid"] == "r" and after is not None
        await after.close()


# -- checks and the optional extra -----------------------------------------------------------------------


def jwt_ids(pushapp: dict[str, Any]) -> list[str]:
    with override_settings(PUSHAPP=pushapp):
        found: list[CheckMessage] = checks.check_jwt()
        return [message.id or "" for message in found]


def test_the_checks_name_each_misconfiguration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jwt_ids({}) == []  # not used: nothing to check
    assert jwt_ids(HS256) == jwt_ids(RS256) == jwt_ids(jwks_settings("https://id.example/jwks")) == []
    assert jwt_ids({"AUTHENTICATOR": AUTHENTICATOR}) == ["pushapp.E052"]
    assert jwt_ids(settings_for(ALGORITHMS=["HS256"], KEY=SECRET, LEEWAY=5)) == ["pushapp.E050"]
    assert jwt_ids(settings_for(ALGORITHMS="HS256", KEY=SECRET)) == ["pushapp.E050"]
    assert jwt_ids(settings_for(ALGORITHMS=["HS256"], JWKS_URL="file:///etc/passwd")) == ["pushapp.E050"]
    assert jwt_ids(settings_for(ALGORITHMS=["none"], KEY=SECRET)) == ["pushapp.E051"]
    assert jwt_ids(settings_for(ALGORITHMS=[], KEY=SECRET)) == ["pushapp.E051"]
    assert jwt_ids(settings_for(ALGORITHMS=["HS256", "RS256"], KEY=SECRET)) == ["pushapp.E051"]
    assert jwt_ids(settings_for(ALGORITHMS=["HS256"], JWKS_URL="https://id.example/jwks")) == ["pushapp.E051"]
    assert jwt_ids(settings_for(ALGORITHMS=["RS256"])) == ["pushapp.E052"]
    assert jwt_ids(settings_for(ALGORITHMS=["RS256"], KEY="k", JWKS_URL="https://x/jwks")) == ["pushapp.E052"]
    monkeypatch.setattr(checks, "_installed", lambda module: module != "jwt")
    assert jwt_ids(HS256) == ["pushapp.E053"]
    monkeypatch.setattr(checks, "_installed", lambda module: module != "cryptography")
    assert jwt_ids(HS256) == []
    assert jwt_ids(RS256) == ["pushapp.E053"]


def test_pushapp_works_without_pyjwt() -> None:
    """Without the jwt extra: pushapp imports, its checks pass, and nothing imported PyJWT."""
    script = (
        "import sys; sys.modules['jwt'] = None\n"  # import jwt now fails, as when it is not installed
        "import django; django.setup()\n"
        "import pushapp.auth, pushapp.checks, pushapp.consumer, pushapp.gateway\n"
        "from django.core.management import call_command; call_command('check')\n"
        "assert sys.modules['jwt'] is None\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# -- a token minted by another language connects to a real server ----------------------------------------


def node_mint(alg: str, key: str, payload: dict[str, Any], kid: str | None = None) -> str:
    assert NODE is not None
    request = json.dumps({"alg": alg, "key": key, "kid": kid, "claims": payload})
    result = subprocess.run([NODE, str(MINT)], input=request, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: no other language to mint a JWT with")
@pytest.mark.parametrize(
    ("pushapp", "alg", "key"),
    [
        (HS256, "HS256", SECRET),
        (RS256, "RS256", pem(RSA_KEY, private=True)),
        (settings_for(ALGORITHMS=["ES256"], KEY=pem(EC_KEY)), "ES256", pem(EC_KEY, private=True)),
    ],
)
def test_node_minted_tokens_verify(pushapp: dict[str, Any], alg: str, key: str) -> None:
    identity = verify(node_mint(alg, key, claims(sub="node", groups=["a", "b"])), pushapp)
    assert (identity.uid, identity.groups) == ("node", ("a", "b"))


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: no other language to mint a JWT with")
def test_a_jwt_minted_by_node_connects_to_a_real_server_and_receives_a_push(
    cluster: ClusterFactory, sockets: list[PushSocket]
) -> None:
    """HS256 on one daphne, RS256 on another of the same cluster; the producer pushes to both uids."""
    c = cluster("pubsub", servers=1, env={"PUSHAPP_TEST_SETTINGS": json.dumps(HS256)})
    rs_server = c.add_server({"PUSHAPP_TEST_SETTINGS": json.dumps(RS256)})
    hs_token = node_mint("HS256", SECRET, claims(sub="node-hs", groups=["lobby"]))
    rs_token = node_mint("RS256", pem(RSA_KEY, private=True), claims(sub="node-rs", groups=["lobby"]))
    hs = PushSocket(c.servers[0].ws_url(), token=hs_token)
    rs = PushSocket(rs_server.ws_url(), token=rs_token)
    sockets += [hs, rs]
    assert (hs.welcome["uid"], rs.welcome["uid"]) == ("node-hs", "node-rs")
    assert hs.welcome["expires"] == json.loads(base64.urlsafe_b64decode(hs_token.split(".")[1] + "=="))["exp"]
    c.producer.call("send_to_uid", "node-hs", "hello from django")
    assert hs.recv() == "hello from django"
    c.producer.call("send_to_group", "lobby", "to the lobby")
    assert hs.recv() == rs.recv() == "to the lobby"
    now = int(time.time())
    expired = node_mint("HS256", SECRET, {"sub": "node-hs", "iat": now - 100, "exp": now - 1})
    assert closed_with(c.servers[0].ws_url(), json.dumps({"type": "auth", "token": expired})) == 4002
    forged = node_mint("HS256", "not-the-secret-not-the-secret-not-it", claims(sub="node-hs"))
    assert closed_with(c.servers[0].ws_url(), json.dumps({"type": "auth", "token": forged})) == 4001
