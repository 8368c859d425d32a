"""Connection tokens: what they carry, and every way they are refused."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.test import override_settings

from pushapp.exceptions import InvalidToken, TokenExpired
from pushapp.tokens import (
    Identity,
    client_proof,
    issue_token,
    token_for_user,
    verify_client_proof,
    verify_token,
)


def test_round_trip_carries_uid_and_groups() -> None:
    assert verify_token(issue_token(42, ["a", "b"])) == Identity(uid="42", groups=("a", "b"))
    assert verify_token(issue_token()) == Identity()


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
