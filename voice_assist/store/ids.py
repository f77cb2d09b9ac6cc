"""Call ids: validated so that no id can name a path outside the data directory."""

from __future__ import annotations

import re
import uuid

from voice_assist.errors import StoreError

CALL_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class InvalidCallIdError(StoreError):
    """A call id that does not match ``^[A-Za-z0-9_-]{1,64}$``."""


def validate_call_id(call_id: str) -> str:
    """Return ``call_id`` unchanged, or raise :class:`InvalidCallIdError`."""
    if not isinstance(call_id, str) or not CALL_ID_RE.fullmatch(call_id):
        raise InvalidCallIdError(
            f"invalid call id {call_id!r}: use 1-64 characters from A-Z a-z 0-9 _ -"
        )
    return call_id


def new_call_id() -> str:
    """A fresh random call id (32 hex digits)."""
    return uuid.uuid4().hex
