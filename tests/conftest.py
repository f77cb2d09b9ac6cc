"""Shared fixtures: settings, the real Whisper model (loaded once), test audio."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from websockets.sync.client import ClientConnection, connect

from voice_assist.config import Settings, load_settings
from voice_assist.server.local import ServerThread
from voice_assist.store import Store

DATA = Path(__file__).parent / "data"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture(scope="session")
def whisper_model(settings: Settings):  # type: ignore[no-untyped-def]
    from voice_assist.asr.model import load_model

    return load_model(settings)


def wait_for(what: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    """Poll until ``what()`` is truthy (bounded, not a timing assertion); returns its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def read16k(name: str) -> np.ndarray:
    """A committed test clip as 16 kHz float32 (first channel for stereo)."""
    data, rate = sf.read(str(DATA / name), dtype="float32", always_2d=True)
    assert rate == 16000
    return data[:, 0]


# --- a real server in a thread, for modules that define ``server_settings`` -------------


@pytest.fixture(scope="module")
def store(server_settings: Settings) -> Iterator[Store]:
    s = Store.open(server_settings)
    yield s
    s.close()


@pytest.fixture(scope="module")
def srv(server_settings: Settings, store: Store) -> Iterator[ServerThread]:
    server = ServerThread(server_settings, store=store).start()
    yield server
    server.stop()


@pytest.fixture
def wsc() -> Iterator[Callable[..., ClientConnection]]:
    """Open websockets that are closed when the test ends."""
    opened: list[ClientConnection] = []

    def open_ws(url: str, **kw: Any) -> ClientConnection:
        ws = connect(url, **kw).__enter__()
        opened.append(ws)
        return ws

    yield open_ws
    for ws in opened:
        ws.close()
