"""Redaction end to end: a call that reads a card number, through the real server.

The committed clip (``tests/data/card_call_en.flac``, made by
``scripts/make_redaction_clip.py``) has the agent ask for the card number and the
customer read it in two pieces with a pause (two utterances), then the expiry date, the
security code and an email address.  Whatever the ASR makes of it, no part of the
store (any text column of any row of the call), the REST detail, the replay data and
feed, the live agent and supervisor feeds or the logs may hold seven of its digits in a
row, and the archived FLAC is silent where the numbers were read.  Also here: AudioHook
``paused`` and native ``pause``/``resume`` store no audio of the paused span.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa
from conftest import DATA
from redaction_util import leaks
from websockets.sync.client import ClientConnection

from voice_assist.audio import pcm
from voice_assist.config import Settings, load_settings
from voice_assist.server import auth
from voice_assist.server.audiohook import format_duration
from voice_assist.server.ingest_client import stream_call
from voice_assist.server.local import ServerThread
from voice_assist.store import Store, schema

pytestmark = pytest.mark.model

SECRET = "redaction-test-secret-0123456789"
KEY = "redaction-test-ingest-key"
AGENT = "pci-agent"
CLIP = DATA / "card_call_en.flac"
META = json.loads(CLIP.with_suffix(".json").read_text())
CARD: str = META["card"]
SR = 16000


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        env={},
        overrides={
            "server": {"secret": SECRET, "ingest_keys": [KEY], "idle_timeout_s": 5.0},
            "store": {"data_dir": str(tmp_path_factory.mktemp("redaction-data"))},
        },
    )


def token(role: auth.Role, agent_id: str | None = None) -> str:
    return auth.sign_token(SECRET, role=role, agent_id=agent_id, ttl_s=600)


def read_until_ended(ws: ClientConnection, call_id: str, timeout_s: float = 60.0) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append(msg)
        if msg.get("type") == "call_ended" and msg.get("call_id") == call_id:
            return seen
    raise AssertionError("no call_ended")


def stored(store: Store, call_id: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        store.flush()
        call = store.get_call(call_id)
        if call.status != "live" or time.monotonic() > deadline:
            return call
        time.sleep(0.2)


def stored_texts(store: Store, call_id: str) -> list[str]:
    """Every text value of every row of the call, in every table."""
    out: list[str] = []
    with store.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if "call_id" in table.c:
                for row in conn.execute(sa.select(table).where(table.c.call_id == call_id)):
                    out += [v for v in row if isinstance(v, str)]
    return out


def muted_share(archived: np.ndarray, spoken: np.ndarray, start_ms: int, end_ms: int) -> float:
    """Share of the voiced 20 ms frames of ``spoken`` in the span that are silent archived."""
    hop = SR // 50
    voiced = muted = 0
    for a in range(start_ms * 16, min(end_ms * 16, len(spoken), len(archived)) - hop, hop):
        if np.sqrt(np.mean(spoken[a : a + hop] ** 2)) < 0.02:
            continue
        voiced += 1
        muted += float(np.max(np.abs(archived[a : a + hop]))) < 2e-3
    return muted / max(voiced, 1)


def test_a_card_read_on_a_call_is_kept_nowhere(
    srv: ServerThread,
    store: Store,
    wsc: Callable[..., ClientConnection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    audio, rate = sf.read(str(CLIP), dtype="float32", always_2d=True)
    assert rate == SR and audio.shape[1] == 2
    agent = wsc(f"{srv.ws_url}/v1/agent?token={token('agent', AGENT)}")
    assert json.loads(agent.recv(timeout=10))["type"] == "hello"
    supervisor = wsc(f"{srv.ws_url}/v1/supervisor?token={token('supervisor')}")
    assert json.loads(supervisor.recv(timeout=10))["type"] == "hello"
    supervisor.send(json.dumps({"type": "subscribe", "calls": "*"}))

    result = asyncio.run(
        stream_call(
            f"{srv.ws_url}/v1/ingest", api_key=KEY, agent_id=AGENT, audio=audio, rate_hz=SR,
            speed=0,
        )
    )  # fmt: skip
    call_id = result.call_id
    assert call_id and result.stopped and not result.errors
    live_agent = read_until_ended(agent, call_id)
    live_supervisor = read_until_ended(supervisor, call_id)
    assert stored(store, call_id).status == "ended"

    # the live feeds: redacted finals (and partials) only
    agent_lines = [m for m in live_agent if m["type"] == "transcript"]
    finals = [m for m in agent_lines if m["is_final"]]
    said = " ".join(m["text"] for m in finals if m["channel"] == "customer")
    assert "[CARD]" in said and "[EMAIL]" in said, said
    assert "three times" in said  # ordinary speech is left alone
    for feed in (live_agent, live_supervisor):
        for m in feed:
            if m["type"] in ("transcript", "snapshot", "call_detail"):
                assert not leaks(json.dumps(m), CARD), m
    assert "smith" not in json.dumps(live_agent).lower()

    # the store: every text of every row; the REST detail; the replay data and feed
    texts = stored_texts(store, call_id)
    assert any("[CARD]" in t for t in texts)
    assert not any(leaks(t, CARD) for t in texts)
    assert not any("smith" in t.lower() for t in texts)
    bearer = {"Authorization": f"Bearer {token('supervisor')}"}
    with httpx.Client(base_url=srv.base_url, headers=bearer, timeout=30) as http:
        for path in (f"/api/calls/{call_id}", f"/api/calls/{call_id}/replay-data"):
            body = http.get(path)
            assert body.status_code == 200
            assert not leaks(body.text, CARD) and "smith" not in body.text.lower()
        assert "[CARD]" in http.get(f"/api/calls/{call_id}").text
        flac = http.get(f"/api/calls/{call_id}/audio")
        assert flac.status_code == 200
    replay = wsc(f"{srv.ws_url}/v1/replay/{call_id}?speed=max&token={token('supervisor')}")
    replayed = []
    while not replayed or replayed[-1]["type"] != "replay_end":
        replayed.append(json.loads(replay.recv(timeout=30)))
    assert any(m["type"] == "transcript" and "[CARD]" in m["text"] for m in replayed)
    assert not leaks(json.dumps(replayed), CARD)

    # the audio archive: silent where the card, expiry, code and address were read
    archived, _ = sf.read(str(store.audio_dir / f"{call_id}.flac"), dtype="float32", always_2d=True)
    shares = {}
    for seg in META["segments"]:
        share = muted_share(archived[:, 0], audio[:, 0], seg["start_ms"], seg["end_ms"])
        shares[seg["text"]] = share
        if seg["label"] in ("card", "expiry", "cvv", "email"):
            assert share >= 0.95, (seg["text"], share)
    assert shares["I have called three times about this bill."] < 0.1

    # the server's logs of the call (not this test's clients'): no card digits, no secret, no key
    server = [
        r
        for r in caplog.records
        if not r.name.startswith(("websockets.client", "httpx", "httpcore"))
    ]
    bad = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in server
        if SECRET in r.getMessage() or KEY in r.getMessage() or leaks(r.getMessage(), CARD)
    ]
    assert bad == []
    assert any(call_id in r.getMessage() for r in server)


def test_audiohook_paused_span_stores_no_audio(
    srv: ServerThread, store: Store, wsc: Callable[..., ClientConnection]
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/audiohook", additional_headers={"X-API-KEY": KEY})
    sid = "5f0c9a1e-8c1c-4f0e-9b64-3f1c6b1f2a77"
    seq = 0

    def msg(kind: str, position_ms: int, serverseq: int, **params: Any) -> str:
        nonlocal seq
        seq += 1
        return json.dumps({"version": "2", "id": sid, "type": kind, "seq": seq,
                           "serverseq": serverseq, "position": format_duration(position_ms),
                           "parameters": params})  # fmt: skip

    ws.send(msg("open", 0, 0, organizationId="o", conversationId="c",
                participant={"id": "p"}, customConfig={"agent_id": "ah-pci"},
                media=[{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                        "rate": 8000}]))  # fmt: skip
    assert json.loads(ws.recv(timeout=15))["type"] == "opened"
    frame = pcm.mulaw_encode(
        (0.01 * np.random.default_rng(1).standard_normal(320)).astype(np.float32)
    )
    for _ in range(50):  # 1 s before the secure flow
        ws.send(frame)
    ws.send(msg("paused", 1000, 1))
    ws.send(msg("resumed", 1000, 1, start="PT1S", discarded="PT4S"))
    for _ in range(50):  # 1 s after it
        ws.send(frame)
    ws.send(msg("close", 6000, 1, reason="end"))
    assert json.loads(ws.recv(timeout=60))["type"] == "closed"
    (call,) = store.list_calls(agent_id="ah-pci").calls
    call = stored(store, call.call_id)
    assert call.audio_frames == 2 * SR  # the 4 s paused: nothing of it
    assert call.duration_ms == 2000


def test_native_pause_stores_no_audio(
    srv: ServerThread, store: Store, wsc: Callable[..., ClientConnection]
) -> None:
    ws = wsc(f"{srv.ws_url}/v1/ingest", additional_headers={"Authorization": f"Bearer {KEY}"})
    media = {"encoding": "pcm_s16le", "sample_rate": 16000, "channels": 2}
    ws.send(json.dumps({"type": "start", "agent_id": "native-pci", "media": media}))
    started = json.loads(ws.recv(timeout=15))
    call_id = started["call_id"]
    second = pcm.pcm16_encode((0.01 * np.ones(2 * SR)).astype(np.float32))  # 1 s, 2 channels
    ws.send(second)
    ws.send(json.dumps({"type": "pause"}))
    assert json.loads(ws.recv(timeout=15))["type"] == "paused"
    for _ in range(3):  # 3 s of the secure flow, dropped
        ws.send(second)
    ws.send(json.dumps({"type": "resume"}))
    resumed = json.loads(ws.recv(timeout=15))
    assert resumed["type"] == "resumed" and resumed["discarded_ms"] == 3000
    assert resumed["t_ms"] == 1000  # the media clock skips the paused span
    ws.send(second)
    ws.send(json.dumps({"type": "stop"}))
    assert json.loads(ws.recv(timeout=60))["type"] == "stopped"
    call = stored(store, call_id)
    assert call.audio_frames == 2 * SR and call.duration_ms == 2000
