"""Call store: every call's events, timeline and audio, kept as the call goes.

SQLite (WAL) in the data directory by default, PostgreSQL (or any SQLAlchemy URL) by
changing ``store.database_url``; audio as one stereo FLAC per call in
``<data_dir>/audio``.  Start with :meth:`Store.open`; the runtime records a call through
:meth:`Store.recorder`.
"""

from __future__ import annotations

from voice_assist.store.archive import AudioArchiveError
from voice_assist.store.ids import CALL_ID_RE, InvalidCallIdError, new_call_id, validate_call_id
from voice_assist.store.reader import CallPage, CallSummary, CorruptCallError, Waveform
from voice_assist.store.recorder import CallRecorder
from voice_assist.store.store import Store

__all__ = [
    "CALL_ID_RE",
    "AudioArchiveError",
    "CallPage",
    "CallRecorder",
    "CallSummary",
    "CorruptCallError",
    "InvalidCallIdError",
    "Store",
    "Waveform",
    "new_call_id",
    "validate_call_id",
]
