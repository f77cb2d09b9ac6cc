"""Credentials at the edge: signed feed tokens and ingest API keys.

Tokens (overlay, wall board, stored calls) are ``<payload>.<signature>``: the payload is
base64url JSON ``{"v": 1, "role": "agent"|"supervisor"|"qa", "agent_id": ..., "iat": s,
"exp": s, "jti": id}`` and the signature is base64url HMAC-SHA256 of the payload text with
the server secret.  What each role may do:

==============  ===================================================================
``agent``       the overlay and the agent feed, for that agent's live calls only;
                no stored call (the stored-call API and pages answer 403)
``supervisor``  the wall board and supervisor feed; stored calls, replay, scorecards
``qa``          stored calls, replay and scorecards; no live feed (403)
==============  ===================================================================
Verification compares signatures with :func:`hmac.compare_digest` and checks the
expiry.  ``jti`` (16 random hex) names a token for the audit log and the revocation list;
a token signed before ``jti`` existed is named by :func:`token_id` instead: ``fp-`` and
the first 16 hex of the SHA-256 of its signature.  Ingest API keys are compared the same
way, against every configured key.

Nothing here logs a secret, a token or a key; :func:`key_fingerprint` gives a short,
non-reversible label for logs and per-key connection counts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from voice_assist.errors import AuthError, ForbiddenError

Role = Literal["agent", "supervisor", "qa"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "qa")
STORED_CALL_ROLES: tuple[Role, ...] = ("supervisor", "qa")
"""Who may read stored calls, replays and scorecards."""
TOKEN_VERSION = 1
MAX_TOKEN_CHARS = 2048
MAX_AGENT_ID_CHARS = 128
MAX_TOKEN_ID_CHARS = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenClaims:
    """What a verified token says: who, in which role, until when (Unix seconds)."""

    role: Role
    agent_id: str | None
    issued_at_s: int
    expires_at_s: int
    token_id: str = ""
    """The token's ``jti``, or ``fp-...`` for a token signed without one (:func:`token_id`)."""


def generate_secret() -> str:
    """A fresh random signing secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def generate_ingest_key() -> str:
    return "vak_" + secrets.token_urlsafe(24)


def sign_token(
    secret: str,
    *,
    role: Role,
    agent_id: str | None = None,
    ttl_s: int,
    now_s: float | None = None,
) -> str:
    """Sign a token for ``role`` (an agent token needs ``agent_id``) valid for ``ttl_s``."""
    if not secret:
        raise AuthError("no token secret configured (set server.secret or VOICE_ASSIST_SECRET)")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; use one of {list(ROLES)}")
    if role == "agent":
        if not agent_id or len(agent_id) > MAX_AGENT_ID_CHARS:
            raise AuthError("an agent token needs an agent id (1-128 characters)")
    elif agent_id is not None:
        raise AuthError(f"a {role} token carries no agent id")
    if ttl_s <= 0:
        raise AuthError("token ttl must be positive")
    now = int(time.time() if now_s is None else now_s)
    claims = {
        "v": TOKEN_VERSION,
        "role": role,
        "agent_id": agent_id,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
    }
    payload = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify_token(
    secret: str,
    token: str | None,
    *,
    role: Role | Collection[Role] | None = None,
    now_s: float | None = None,
) -> TokenClaims:
    """Check a token's signature, expiry and (optionally) role: one role or any of several.

    Raises
    ------
    AuthError
        ``missing token``, ``malformed token``, ``bad token signature``, ``token expired``
        or ``token role ... not allowed here``.  The message never echoes the token.
    """
    if not token:
        raise AuthError("missing token")
    if not secret:
        raise AuthError("server has no token secret")
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise AuthError("malformed token")
    payload, signature = token.split(".")
    if not hmac.compare_digest(_signature(secret, payload).encode(), signature.encode()):
        raise AuthError("bad token signature")
    try:
        claims = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error) as exc:
        raise AuthError("malformed token") from exc
    if not isinstance(claims, dict) or claims.get("v") != TOKEN_VERSION:
        raise AuthError("malformed token")
    token_role = claims.get("role")
    agent_id = claims.get("agent_id")
    exp, iat = claims.get("exp"), claims.get("iat")
    if token_role not in ROLES or not isinstance(exp, int) or not isinstance(iat, int):
        raise AuthError("malformed token")
    if token_role == "agent" and not (isinstance(agent_id, str) and agent_id):
        raise AuthError("malformed token")
    jti = claims.get("jti")
    if jti is not None and not (isinstance(jti, str) and 0 < len(jti) <= MAX_TOKEN_ID_CHARS):
        raise AuthError("malformed token")
    now = time.time() if now_s is None else now_s
    if now >= exp:
        raise AuthError("token expired")
    check_role(token_role, role)
    return TokenClaims(
        role=token_role,
        agent_id=agent_id if token_role == "agent" else None,
        issued_at_s=iat,
        expires_at_s=exp,
        token_id=jti if jti is not None else _fingerprint_id(signature),
    )


def check_role(token_role: str, role: Role | Collection[Role] | None) -> None:
    """Raise ForbiddenError unless ``token_role`` is ``role`` (or one of them; None: any)."""
    allowed = (role,) if isinstance(role, str) else role
    if allowed is not None and token_role not in allowed:
        raise ForbiddenError(f"token role {token_role!r} not allowed here")


def token_id(token: str) -> str:
    """The id a token is revoked by: its ``jti``, or ``fp-`` + 16 hex of its signature.

    The signature is not checked (revoking a forged token harms nobody).

    Raises
    ------
    AuthError
        ``malformed token``: not ``<payload>.<signature>`` with a JSON payload.
    """
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise AuthError("malformed token")
    payload, signature = token.split(".")
    try:
        claims = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error) as exc:
        raise AuthError("malformed token") from exc
    if not isinstance(claims, dict):
        raise AuthError("malformed token")
    jti = claims.get("jti")
    if isinstance(jti, str) and 0 < len(jti) <= MAX_TOKEN_ID_CHARS:
        return jti
    return _fingerprint_id(signature)


def _fingerprint_id(signature: str) -> str:
    return "fp-" + hashlib.sha256(signature.encode()).hexdigest()[:16]


class IngestKeys:
    """The configured ingest API keys; :meth:`match` compares in constant time per key."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(k.encode() for k in keys if k)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def match(self, candidate: str | None) -> str:
        """Return the key's fingerprint when ``candidate`` is a configured key.

        Raises
        ------
        AuthError
            When no key was presented, none is configured, or it matches none.
        """
        if not candidate:
            raise AuthError("missing API key")
        if not self._keys:
            raise AuthError("ingest is disabled: no API keys configured")
        given = candidate.encode()
        found = False
        for key in self._keys:  # every key is compared, so timing says nothing of which
            found |= hmac.compare_digest(key, given)
        if not found:
            raise AuthError("invalid API key")
        return key_fingerprint(candidate)


def key_fingerprint(key: str) -> str:
    """A short label for a key (first 8 hex of its SHA-256), safe for logs."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def bearer(headers: Mapping[str, str]) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header, if any."""
    value = headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return None


def token_from(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """Feed token from ``?token=`` (browsers cannot set websocket headers) or a Bearer header."""
    return query.get("token") or bearer(headers)


def ingest_key_from(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """Ingest key from ``Authorization: Bearer``, ``X-API-KEY`` or ``?key=`` (in that order)."""
    return bearer(headers) or headers.get("x-api-key") or query.get("key") or None


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return _b64encode(digest)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
