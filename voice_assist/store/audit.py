"""The access audit log (who read which stored call) and the token revocation list.

Every read of a stored call through the server (detail, replay data, audio, replay feed,
listing, CSV export, scorecards) adds one :class:`AccessRecord`; the rows have no foreign
key to ``calls``, so they outlive a deleted call.  ``revoked_tokens`` names tokens (by
``jti``, or the fingerprint of :func:`voice_assist.server.auth.token_id`) the server
refuses before they expire.  Writes go through the store's write engine, on the caller's
thread (the server calls them from its worker threads).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from voice_assist.errors import StoreError
from voice_assist.store import schema

RESOURCES = (
    "detail",
    "replay-data",
    "audio",
    "replay-feed",
    "replay-page",
    "list",
    "csv",
    "scorecards",
    "scorecard",
)
"""What was read: ``list``/``csv``/``scorecards``/``scorecard`` name no single call."""
MAX_AUDIT_LIMIT = 10_000
MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRecord:
    """One read: who (role, agent id, token id), what (resource, call), when, from where."""

    role: str
    agent_id: str | None
    token_id: str | None
    resource: str
    call_id: str | None
    client: str | None
    query: str | None = None
    """The request's query string, for reads of many calls (listing, CSV, scorecards)."""
    at_ms: int = 0
    """Epoch milliseconds; 0 means "now" when it is written."""
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at_ms": self.at_ms,
            "role": self.role,
            "agent_id": self.agent_id,
            "token_id": self.token_id,
            "resource": self.resource,
            "call_id": self.call_id,
            "client": self.client,
            "query": self.query,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditQuery:
    call_id: str | None = None
    since_ms: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokedToken:
    token_id: str
    revoked_at_ms: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "revoked_at_ms": self.revoked_at_ms,
            "reason": self.reason,
        }


def record_access(engine: sa.Engine, record: AccessRecord) -> None:
    if record.resource not in RESOURCES:
        raise StoreError(f"unknown audit resource {record.resource!r}")
    row = record.to_json()
    del row["id"]
    row["at_ms"] = record.at_ms or int(time.time() * 1000)
    row["client"] = (record.client or None) and record.client[:64]
    with engine.begin() as conn:
        conn.execute(schema.access_audit.insert(), [row])


def list_access(engine: sa.Engine, query: AuditQuery) -> list[AccessRecord]:
    """Audit rows, newest first."""
    if not 1 <= query.limit <= MAX_AUDIT_LIMIT:
        raise StoreError(f"limit must be between 1 and {MAX_AUDIT_LIMIT}")
    t = schema.access_audit
    stmt = sa.select(t).order_by(t.c.at_ms.desc(), t.c.id.desc()).limit(query.limit)
    if query.call_id is not None:
        stmt = stmt.where(t.c.call_id == query.call_id)
    if query.since_ms is not None:
        stmt = stmt.where(t.c.at_ms >= query.since_ms)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [AccessRecord(**dict(row)) for row in rows]


def revoke_token(engine: sa.Engine, token_id: str, *, reason: str = "") -> RevokedToken:
    """Add ``token_id`` to the revocation list (again: keeps the first time and reason)."""
    if not token_id or len(token_id) > 64:
        raise StoreError("a token id is 1-64 characters")
    if len(reason) > MAX_REASON_CHARS:
        raise StoreError(f"a revocation reason is at most {MAX_REASON_CHARS} characters")
    t = schema.revoked_tokens
    with engine.begin() as conn:
        found = conn.execute(sa.select(t).where(t.c.token_id == token_id)).mappings().first()
        if found is not None:
            return RevokedToken(**dict(found))
        entry = RevokedToken(
            token_id=token_id, revoked_at_ms=int(time.time() * 1000), reason=reason
        )
        conn.execute(t.insert(), [entry.to_json()])
    return entry


def revoked_tokens(engine: sa.Engine) -> list[RevokedToken]:
    t = schema.revoked_tokens
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.revoked_at_ms)).mappings().all()
    return [RevokedToken(**dict(row)) for row in rows]


def revoked_token_ids(engine: sa.Engine) -> frozenset[str]:
    t = schema.revoked_tokens
    with engine.connect() as conn:
        return frozenset(conn.execute(sa.select(t.c.token_id)).scalars())
