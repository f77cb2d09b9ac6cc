"""Logging helpers: structured ``call_id``/``channel`` fields on every pipeline log line."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class CallLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes messages with ``call_id=... channel=...`` and passes them as ``extra`` too."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs.setdefault("extra", {}).update(extra)
        prefix = " ".join(f"{k}={v}" for k, v in extra.items() if v is not None)
        return (f"[{prefix}] {msg}" if prefix else msg), kwargs


def call_logger(name: str, call_id: str, channel: str | None = None) -> CallLogger:
    return CallLogger(logging.getLogger(name), {"call_id": call_id, "channel": channel})
