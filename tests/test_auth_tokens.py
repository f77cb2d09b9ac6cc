"""Signed feed tokens and ingest keys (voice_assist.server.auth), without a server."""

from __future__ import annotations

import base64
import json

import pytest

from voice_assist.errors import AuthError
from voice_assist.server import auth

SECRET = "s3cret-for-tests-only"


def test_agent_token_round_trip() -> None:
    token = auth.sign_token(SECRET, role="agent", agent_id="a42", ttl_s=60, now_s=1000)
    claims = auth.verify_token(SECRET, token, role="agent", now_s=1030)
    assert claims.role == "agent"
    assert claims.agent_id == "a42"
    assert claims.expires_at_s == 1060
    assert claims.issued_at_s == 1000


def test_supervisor_token_has_no_agent() -> None:
    token = auth.sign_token(SECRET, role="supervisor", ttl_s=60, now_s=1000)
    claims = auth.verify_token(SECRET, token, now_s=1001)
    assert claims.role == "supervisor"
    assert claims.agent_id is None
    with pytest.raises(AuthError):
        auth.sign_token(SECRET, role="supervisor", agent_id="a1", ttl_s=60)


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token(token: str | None) -> None:
    with pytest.raises(AuthError, match="missing token"):
        auth.verify_token(SECRET, token)


def test_expired_token() -> None:
    token = auth.sign_token(SECRET, role="agent", agent_id="a1", ttl_s=60, now_s=1000)
    with pytest.raises(AuthError, match="expired"):
        auth.verify_token(SECRET, token, now_s=1060)


def test_wrong_secret_is_a_bad_signature() -> None:
    token = auth.sign_token("another-secret", role="supervisor", ttl_s=60)
    with pytest.raises(AuthError, match="signature"):
        auth.verify_token(SECRET, token)


def test_forged_payload_is_refused() -> None:
    """Turning an agent token into a supervisor token breaks the signature."""
    token = auth.sign_token(SECRET, role="agent", agent_id="a1", ttl_s=60)
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(role="supervisor", agent_id=None, exp=claims["exp"] + 10**6)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthError, match="signature"):
        auth.verify_token(SECRET, f"{forged}.{signature}")


@pytest.mark.parametrize("token", ["abc", "a.b.c", "x" * 5000, "Zm9v.YmFy", "!!!.???"])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(AuthError) as info:
        auth.verify_token(SECRET, token)
    assert token not in str(info.value) or len(token) < 4


def test_role_is_enforced_and_error_does_not_echo_token() -> None:
    token = auth.sign_token(SECRET, role="agent", agent_id="a1", ttl_s=60)
    with pytest.raises(AuthError, match="not allowed") as info:
        auth.verify_token(SECRET, token, role="supervisor")
    assert token not in str(info.value)
    assert SECRET not in str(info.value)


def test_signing_needs_a_secret_and_an_agent() -> None:
    with pytest.raises(AuthError, match="secret"):
        auth.sign_token("", role="supervisor", ttl_s=60)
    with pytest.raises(AuthError, match="agent id"):
        auth.sign_token(SECRET, role="agent", ttl_s=60)
    with pytest.raises(AuthError, match="ttl"):
        auth.sign_token(SECRET, role="supervisor", ttl_s=0)


def test_generated_secrets_differ() -> None:
    assert auth.generate_secret() != auth.generate_secret()
    assert len(auth.generate_secret()) >= 40
    assert auth.generate_ingest_key().startswith("vak_")


def test_ingest_keys() -> None:
    keys = auth.IngestKeys(["k-one", "k-two"])
    assert keys.match("k-two") == auth.key_fingerprint("k-two")
    assert "k-two" not in keys.match("k-two")
    for bad in ("k-three", "k-on", "k-one ", "K-ONE"):
        with pytest.raises(AuthError, match="invalid API key") as info:
            keys.match(bad)
        assert bad not in str(info.value)
    with pytest.raises(AuthError, match="missing"):
        keys.match(None)
    with pytest.raises(AuthError, match="no API keys configured"):
        auth.IngestKeys([]).match("anything")


def test_credential_sources() -> None:
    headers = {"authorization": "Bearer tok-1"}
    assert auth.token_from({}, headers) == "tok-1"
    assert auth.token_from({"token": "tok-q"}, headers) == "tok-q"
    assert auth.token_from({}, {"authorization": "Basic abc"}) is None
    assert auth.ingest_key_from({}, {"x-api-key": "k"}) == "k"
    assert auth.ingest_key_from({"key": "kq"}, {}) == "kq"
    assert auth.ingest_key_from({"key": "kq"}, {"authorization": "Bearer kb"}) == "kb"
    assert auth.ingest_key_from({}, {}) is None
