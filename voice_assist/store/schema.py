"""The call store schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times: ``*_at_ms`` columns are wall-clock epoch milliseconds (UTC); every other ``*_ms``
column is call-relative media time, like the events.  JSON columns are stored as text
and parsed by :mod:`voice_assist.store.reader`, so one damaged row gives an error for
its own call instead of breaking a listing.  The transcript search index depends on the
database (FTS5, or a ``tsvector`` column) and is made by :mod:`voice_assist.store.search`,
not from this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

CALL_STATUSES = ("live", "ended", "interrupted")
AUDIO_STATES = ("none", "recording", "final", "damaged", "deleted")  # deleted: by retention

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at_ms", sa.BigInteger, nullable=False),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("agent_id", sa.String(128), nullable=False, index=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False, index=True),
    sa.Column("ended_at_ms", sa.BigInteger),
    sa.Column("duration_ms", sa.BigInteger, nullable=False, default=0),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("end_reason", sa.Text),
    sa.Column("max_distress", sa.Float, index=True),
    sa.Column("meta", sa.Text, nullable=False, default="{}"),
    sa.Column("audio_state", sa.String(16), nullable=False, default="none"),
    sa.Column("audio_frames", sa.BigInteger, nullable=False, default=0),
    sa.Column("heartbeat_at_ms", sa.BigInteger, nullable=False),
    sa.Column("dropped_items", sa.Integer, nullable=False, default=0),
    sa.Column("dropped_audio_ms", sa.BigInteger, nullable=False, default=0),
    # the call's figures, set when it ends (store/summary.py); NULL while it is live
    sa.Column("n_episodes", sa.Integer),
    sa.Column("n_acknowledged", sa.Integer),
    sa.Column("n_unacknowledged", sa.Integer),
    sa.Column("n_prompts", sa.Integer),
    sa.Column("n_followed", sa.Integer),
    sa.Column("n_dismissed", sa.Integer),
    sa.Column("n_expired", sa.Integer),
    sa.Column("n_script", sa.Integer),
    sa.Column("agent_talk_ratio", sa.Float),
    sa.Column("overtalk_ms", sa.BigInteger),
    sa.Index("ix_calls_agent_started", "agent_id", "started_at_ms"),
    sa.Index("ix_calls_duration", "duration_ms"),
    sa.Index("ix_calls_episodes", "n_episodes"),
    sa.Index("ix_calls_unacknowledged", "n_unacknowledged"),
    sa.Index("ix_calls_dismissed", "n_dismissed"),
    sa.Index("ix_calls_script", "n_script"),
)

SUMMARY_COLUMNS = (
    "n_episodes", "n_acknowledged", "n_unacknowledged", "n_prompts", "n_followed",
    "n_dismissed", "n_expired", "n_script", "agent_talk_ratio", "overtalk_ms",
)  # fmt: skip
"""Columns of ``calls`` that :mod:`voice_assist.store.summary` fills when a call ends
(schema version 2): the figures the calls page filters and sorts on and the agent
scorecards add up, so neither reads a call's own rows."""


def _call_ref() -> sa.ForeignKey:
    return sa.ForeignKey("calls.id", ondelete="CASCADE")


utterances = sa.Table(
    "utterances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(64), _call_ref(), nullable=False),
    sa.Column("utterance_id", sa.String(128), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("words", sa.Text, nullable=False, default="[]"),
    sa.Index("ix_utterances_call_start", "call_id", "start_ms"),
)

timeline = sa.Table(
    "timeline",
    metadata,
    sa.Column("call_id", sa.String(64), _call_ref(), primary_key=True),
    sa.Column("t_ms", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("distress", sa.Float),
    sa.Column("level", sa.String(16)),
    sa.Column("customer_pitch_st", sa.Float),
    sa.Column("customer_loudness_db", sa.Float),
    sa.Column("agent_pitch_st", sa.Float),
    sa.Column("agent_loudness_db", sa.Float),
)

waveform = sa.Table(
    "waveform",
    metadata,
    sa.Column("call_id", sa.String(64), _call_ref(), primary_key=True),
    sa.Column("chunk_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("hop_ms", sa.Integer, nullable=False),
    sa.Column("customer", sa.LargeBinary, nullable=False),
    sa.Column("agent", sa.LargeBinary, nullable=False),
)

episodes = sa.Table(
    "episodes",
    metadata,
    sa.Column("call_id", sa.String(64), _call_ref(), primary_key=True),
    sa.Column("episode_id", sa.String(128), primary_key=True),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger),
    sa.Column("peak", sa.Float, nullable=False),
    sa.Column("cause", sa.Text, nullable=False, default="[]"),
)

prompts = sa.Table(
    "prompts",
    metadata,
    sa.Column("call_id", sa.String(64), _call_ref(), primary_key=True),
    sa.Column("prompt_id", sa.String(128), primary_key=True),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("suggested_phrase", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False, default="{}"),
    sa.Column("ttl_ms", sa.BigInteger, nullable=False),
    sa.Column("episode_id", sa.String(128)),
    sa.Column("shown_ms", sa.BigInteger),
    sa.Column("ack_action", sa.String(16)),
    sa.Column("ack_ms", sa.BigInteger),
    sa.Column("cleared_ms", sa.BigInteger),
    sa.Column("clear_reason", sa.String(16)),
)

empathy = sa.Table(
    "empathy",
    metadata,
    sa.Column("call_id", sa.String(64), _call_ref(), primary_key=True),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("episodes", sa.Integer, nullable=False),
    sa.Column("acknowledged", sa.Integer, nullable=False),
    sa.Column("ack_latency_ms", sa.Text, nullable=False, default="[]"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("call_id", sa.String(64), _call_ref(), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

access_audit = sa.Table(  # schema version 3; no foreign key: it outlives deleted calls
    "access_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("agent_id", sa.String(128)),
    sa.Column("token_id", sa.String(64)),
    sa.Column("resource", sa.String(32), nullable=False),
    sa.Column("call_id", sa.String(64)),
    sa.Column("client", sa.String(64)),
    sa.Column("query", sa.Text),
    sa.Index("ix_access_audit_at", "at_ms"),
    sa.Index("ix_access_audit_call_at", "call_id", "at_ms"),
)

revoked_tokens = sa.Table(  # schema version 3
    "revoked_tokens",
    metadata,
    sa.Column("token_id", sa.String(64), primary_key=True),
    sa.Column("revoked_at_ms", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
)

AUDIT_TABLES = (access_audit, revoked_tokens)
"""Who read which call, and which tokens are revoked (schema version 3)."""

CALL_TABLES = (utterances, timeline, waveform, episodes, prompts, empathy, events)
"""Per-call tables (rows keyed by ``call_id``), in no particular order."""
