"""Connection tokens: what they carry, and every way they are refused."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.core import signing
from django.test import override_settings

from pushapp.exceptions import InvalidToken, TokenExpired
from pushapp.tokens import (
    CLOCK_SKEW,
    client_proof,
    granted_groups,
    groups_grant,
    issue_token,
    session_hash,
    token_for_user,
    verify_client_proof,
    verify_token,
)

ALICE = mock.Mock(is_authenticated=True, pk=1)


def test_round_trip_carries_uid_and_groups() -> None:
    before = time.time()
    identity = verify_token(issue_token(42, ["a", "b"]))
    assert (identity.uid, identity.groups, identity.session) == ("42", ("a", "b"), None)
    assert before - 0.001 <= identity.issued <= time.time()  # to the millisecond, rounded down
    assert identity.expires == identity.issued + 3600
    anonymous = verify_token(issue_token())
    assert (anonymous.uid, anonymous.groups) == (None, ())


def test_a_token_carries_a_hash_of_its_session_not_the_session() -> None:
    identity = verify_token(issue_token(1, session_key="abcdefghijklmnop"))
    assert identity.session == session_hash("abcdefghijklmnop")
    assert identity.session is not None and "abcdefghijklmnop" not in identity.session
    assert session_hash("abcdefghijklmnop") != session_hash("abcdefghijklmnoq")
    assert session_hash(None) is None and session_hash("") is None


@pytest.mark.parametrize("bad", [None, "", 42, "garbage", "a:b:c"])
def test_malformed(bad: object) -> None:
    with pytest.raises(InvalidToken):
        verify_token(bad)


def test_tampered_and_other_salt() -> None:
    token = issue_token("1")
    with pytest.raises(InvalidToken):
        verify_token(token[:-1] + ("A" if token[-1] != "A" else "B"))
    with override_settings(PUSHAPP={"TOKEN_SALT": "rotated"}), pytest.raises(InvalidToken):
        verify_token(token)


def test_expiry_follows_token_max_age() -> None:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 100):
        token = issue_token("1")
    with pytest.raises(TokenExpired), override_settings(PUSHAPP={"TOKEN_MAX_AGE": 50}):
        verify_token(token)
    with override_settings(PUSHAPP={"TOKEN_MAX_AGE": 500}):
        assert verify_token(token).uid == "1"


def test_token_for_user() -> None:
    user = mock.Mock(is_authenticated=True, pk=7)
    assert verify_token(token_for_user(user)).uid == "7"
    anonymous = mock.Mock(is_authenticated=False, pk=None)
    assert verify_token(token_for_user(anonymous)).uid is None


def test_client_proof() -> None:
    cid = "ab" * 24
    assert verify_client_proof(cid, client_proof(cid))
    assert not verify_client_proof("cd" * 24, client_proof(cid))
    assert not verify_client_proof(cid, None)


@pytest.mark.parametrize(
    "payload",
    [
        [1],
        "x",
        None,
        {"u": [1]},
        {"u": True},
        {"u": ""},
        {"u": {"a": 1}},
        {"g": "x"},
        {"g": [1]},
        {"g": {"a": 1}},
        {"g": [""]},
        {"u": "1", "g": ["x" * 1025]},
    ],
    ids=lambda payload: repr(payload)[:30],
)
def test_signed_payload_of_the_wrong_shape_is_an_invalid_token(payload: object) -> None:
    """Signed with our key and salt, yet not an identity: refused (4001), not an error in the server."""
    token = signing.dumps(payload, salt="pushapp.token", compress=True)
    with pytest.raises(InvalidToken) as raised:
        verify_token(token)
    assert type(raised.value) is InvalidToken


def test_future_dated_token_is_refused() -> None:
    now = time.time()
    with mock.patch("django.core.signing.time.time", return_value=now + CLOCK_SKEW + 30):
        ahead = issue_token("1")
    with mock.patch("django.core.signing.time.time", return_value=now + CLOCK_SKEW - 30):
        within_skew = issue_token("1")
    with pytest.raises(InvalidToken):
        verify_token(ahead)
    assert verify_token(within_skew).uid == "1"


def test_grant_expires_after_grant_max_age() -> None:
    with mock.patch("django.core.signing.time.time", return_value=time.time() - 100):
        grant = groups_grant(ALICE, ["room"])
    with override_settings(PUSHAPP={"GRANT_MAX_AGE": 50}), pytest.raises(signing.SignatureExpired):
        granted_groups(ALICE, grant)
    with override_settings(PUSHAPP={"GRANT_MAX_AGE": 500}):
        assert granted_groups(ALICE, grant) == ["room"]


def test_grant_is_revoked_by_a_new_token_salt() -> None:
    grant = groups_grant(ALICE, ["room"])
    with override_settings(PUSHAPP={"TOKEN_SALT": "rotated"}), pytest.raises(signing.BadSignature):
        granted_groups(ALICE, grant)
    with override_settings(PUSHAPP={"TOKEN_SALT": "rotated"}):
        assert granted_groups(ALICE, groups_grant(ALICE, ["room"])) == ["room"]


def test_future_dated_grant_is_refused() -> None:
    with mock.patch("django.core.signing.time.time", return_value=time.time() + CLOCK_SKEW + 30):
        grant = groups_grant(ALICE, ["room"])
    with pytest.raises(signing.BadSignature):
        granted_groups(ALICE, grant)


def test_grant_without_a_timestamp_is_refused() -> None:
    """A grant of the old format (a plain signature, valid forever) no longer passes."""
    old = signing.Signer(salt="pushapp.token-groups").sign_object([str(ALICE.pk), ["room"]], compress=True)
    with pytest.raises(signing.BadSignature):
        granted_groups(ALICE, old)
