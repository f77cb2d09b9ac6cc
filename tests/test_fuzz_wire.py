"""The fuzzed sequences over real websockets, through the real server (uvicorn, the
websocket runner, the engine): every connection ends with a protocol close code, never
1011 "internal error", nothing is logged as an error, and the server stays healthy.

A small budget here; ``voice-assist bench fuzz --wire N`` runs more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from benchmarks import fuzz, fuzzing
from voice_assist.config import Settings, load_settings
from voice_assist.server.local import ServerThread
from voice_assist.store import Store

pytestmark = pytest.mark.model

KEY = "fuzz-wire-test-key"


@pytest.fixture(scope="module")
def wire_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        env={},
        overrides={
            "server": {
                "secret": "fuzz-wire-test-secret",
                "ingest_keys": [KEY],
                "max_message_bytes": 65536,
                "idle_timeout_s": 2.0,
                "start_timeout_s": 2.0,
                "max_connections_per_key": 1000,
            },
            "store": {"data_dir": str(tmp_path_factory.mktemp("fuzz-wire"))},
        },
    )


@pytest.fixture(scope="module")
def srv(wire_settings: Settings) -> Iterator[ServerThread]:
    store = Store.open(wire_settings)
    server = ServerThread(wire_settings, store=store).start()
    yield server
    server.stop()
    store.close()


@pytest.mark.parametrize(
    ("kind", "strategy"),
    [
        ("native", fuzzing.native_sessions),
        ("twilio", fuzzing.twilio_sessions),
        ("audiohook", fuzzing.audiohook_sessions),
    ],
)
def test_fuzzed_sessions_over_the_wire(
    srv: ServerThread, kind: str, strategy: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    result = fuzz._wire_target(srv.ws_url, kind, strategy, KEY, examples=12)
    assert result["crashes"] == 0, result.get("failure")
    assert result["sequences"] >= 12
    assert "1011" not in result["close_codes"]
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("voice_assist")]
    assert not errors
    assert httpx.get(f"{srv.base_url}/healthz", timeout=10).status_code == 200
